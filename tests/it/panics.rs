//! A plugin that panics ends the pipeline with exit code 1 and an error naming the plugin;
//! the process does not abort and everything committed before stays.

use weir_tests::manifest::Manifest;
use weir_tests::*;

#[test]
fn panic_in_poll_fails_the_run_and_keeps_committed_batches() {
    let s = Scratch::new();
    let plugins = s.plugin_dir(
        "plugins",
        &[library("weir_fixture_probe"), library("weir_plugin_delta")],
    );
    let table = s.join("table");
    let manifest = s.write(
        &Manifest::new("poll-panic")
            .source("probe://?rows=100&batches=10&panic_in_poll=4")
            .source_option("batch_size", 100)
            .sink(&table),
    );
    let out = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let errors = out.error_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("plugin `probe` panicked in poll"),
        "{}",
        errors[0]
    );

    // Polls 0..3 returned 400 rows before the panic; what the sink committed is in the
    // table, contiguous from 0, and its stored position says exactly how far.
    let summary = delta_summary(&table);
    let rows = summary["rows"].as_i64().expect("rows");
    assert!(rows >= 100 && rows % 100 == 0, "{summary}");
    assert_eq!(summary["distinct_ids"].as_i64(), Some(rows), "{summary}");
    assert_eq!(summary["id_min"], 0, "{summary}");
    assert_eq!(summary["id_max"].as_i64(), Some(rows - 1), "{summary}");
    assert_eq!(
        summary["txn"]["weir/poll-panic/probe"].as_i64(),
        Some(rows),
        "{summary}"
    );
    assert!(
        errors[0].contains(&format!("up to positions probe@{rows}")),
        "{}",
        errors[0]
    );
}

#[test]
fn panic_in_write_fails_the_run_and_keeps_committed_batches() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let out_file = s.join("committed.jsonl");
    let manifest = s.write(
        &Manifest::new("write-panic")
            .source("probe://?rows=100&batches=10")
            .source_option("batch_size", 100)
            .sink(format!(
                "probe://?out={}&panic_in_write=3",
                out_file.display()
            )),
    );
    let out = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let errors = out.error_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("plugin `probe` panicked in write"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("up to positions probe@300"),
        "{}",
        errors[0]
    );
    // The panic was logged through the host's log, under the plugin's name.
    assert!(out.stderr.contains("plugin=\"probe\""), "{}", out.stderr);

    let committed: Vec<serde_json::Value> = std::fs::read_to_string(&out_file)
        .expect("sink output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let firsts: Vec<i64> = committed
        .iter()
        .filter_map(|c| c["first"].as_i64())
        .collect();
    assert_eq!(firsts, [0, 100, 200]);
}
