//! `isolation: process`: a plugin that aborts, segfaults or overflows its stack in `poll` or in
//! `write`, in a child process of its own, fails its pipeline alone. One weir runs the six
//! crashing pipelines and a seventh in-process one; the host survives, the other pipeline
//! completes, each crashed pipeline restarts from its last commit and finishes with every id
//! exactly once (read back by the Python Delta reader, or from the probe sink's commit log
//! where the crashing plugin is the sink itself).

use std::path::Path;
use weir_tests::manifest::Manifest;
use weir_tests::*;

const ROWS: i64 = 100;
const BATCHES: i64 = 10;

/// The ids the probe sink committed, from its commit log (`first`..=`last` per commit).
fn probe_ids(out: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(out).expect("the probe sink's commit log");
    let mut ids = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a commit line");
        let (first, last) = (v["first"].as_i64(), v["last"].as_i64());
        if let (Some(first), Some(last)) = (first, last) {
            assert_eq!(v["rows"].as_i64(), Some(last - first + 1), "{line}");
            ids.extend(first..=last);
        }
    }
    ids.sort_unstable();
    ids
}

#[test]
fn a_crash_in_an_isolated_plugin_fails_and_restarts_its_pipeline_alone() {
    let s = Scratch::new();
    let plugins = s.plugin_dir(
        "plugins",
        &[
            library("weir_fixture_probe"),
            library("weir_plugin_delta"),
            library("weir_plugin_generator"),
        ],
    );
    let lake = s.join("lake");
    let dir = s.join("manifests");
    std::fs::create_dir_all(&dir).expect("manifest dir");
    let probe = format!("probe://?rows={ROWS}&batches={BATCHES}");
    let mut crashers = Vec::new();
    for (i, how) in ["abort", "segfault", "overflow"].into_iter().enumerate() {
        for call in ["poll", "write"] {
            let name = format!("{how}-in-{call}");
            let marker = s.join(&format!("{name}.crashed"));
            let crash = format!(
                "crash_in_{call}=3&crash={how}&crash_once={}",
                marker.display()
            );
            let out = s.join(&format!("{name}.jsonl"));
            let m = if call == "poll" {
                Manifest::new(&name)
                    .source(format!("{probe}&{crash}"))
                    .sink(&lake)
                    .sink_option("dest_table", name.as_str())
            } else {
                Manifest::new(&name)
                    .source(&probe)
                    .sink(format!("probe://?out={}&{crash}", out.display()))
            };
            // Half say so in the manifest; the others take the host's --isolation default.
            let m = m.source_option("batch_size", ROWS);
            let m = if i % 2 == 0 {
                m.source_option("isolation", "process")
            } else {
                m
            };
            m.write_in(&dir);
            crashers.push((name, call, marker, out));
        }
    }
    Manifest::new("bystander")
        .source("generator://?count=20000&seed=2")
        .source_option("batch_size", 500)
        .source_option("isolation", "none")
        .sink(&lake)
        .sink_option("dest_table", "events")
        .write_in(&dir);

    let out = output(
        weir(&plugins)
            .arg("run")
            .arg("--isolation")
            .arg("process")
            .arg("--restart-failed")
            .arg("always")
            .arg(&dir),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let events = delta_summary(&lake.join("events"));
    assert_eq!(events["rows"], 20000, "{events}");
    assert_eq!(events["distinct_ids"], 20000, "{events}");
    let n = ROWS * BATCHES;
    for (name, call, marker, probe_out) in &crashers {
        assert!(marker.exists(), "{name}: the plugin never crashed");
        let side = if *call == "poll" { "source" } else { "sink" };
        let named = format!("plugin `probe` 0.1.0 ({side} of pipeline `{name}`) crashed with SIG");
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(&named) && l.contains("(isolated in process"))
            .unwrap_or_else(|| panic!("{name}: no error names the crash: {}", out.stderr));
        assert!(line.contains(&format!("in `{call}`")), "{line}");
        assert!(line.contains("this pipeline alone fails"), "{line}");
        if *call == "poll" {
            let t = delta_summary(&lake.join(name));
            assert_eq!(t["rows"].as_i64(), Some(n), "{name}: {t}");
            assert_eq!(t["distinct_ids"].as_i64(), Some(n), "{name}: {t}");
            assert_eq!(t["id_min"], 0, "{name}: {t}");
            assert_eq!(t["id_max"].as_i64(), Some(n - 1), "{name}: {t}");
        } else {
            assert_eq!(probe_ids(probe_out), (0..n).collect::<Vec<_>>(), "{name}");
        }
    }
    // The child's own crash handler named the call too, saying only this pipeline fails.
    assert!(
        out.stderr
            .contains("this isolated plugin process dies, and the host fails and restarts this pipeline alone"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("restarting the failed pipeline").count(),
        crashers.len(),
        "{}",
        out.stderr
    );
}

#[test]
fn an_isolated_plugin_refusing_its_options_is_a_manifest_error() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let manifest = s.write(
        &Manifest::new("refused")
            .source("probe://?rows=many")
            .source_option("isolation", "process")
            .sink("probe://"),
    );
    let out = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let errors = out.error_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("spec.source: plugin `probe` refused the configuration")
            && errors[0].contains("`rows` must be a number"),
        "{}",
        errors[0]
    );
}
