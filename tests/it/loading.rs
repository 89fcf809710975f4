//! Plugin discovery and loading: what `weir plugins` shows, and one clear line with exit code
//! 3 for a library that is not a plugin or was built for another ABI; exit code 2 for a scheme
//! no plugin serves.

use weir_tests::manifest::Manifest;
use weir_tests::*;

/// Ten generator events to the console, from `source`.
fn demo(source: &str) -> String {
    Manifest::new("d")
        .source(source)
        .sink("console://")
        .to_yaml()
}

#[test]
fn plugins_lists_names_versions_and_schemes() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let out = output(weir(&plugins).arg("plugins"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for needle in [
        "generator 0.1.0",
        "nats 0.1.0",
        "nats+jetstream://",
        "kafka 0.1.0",
        "kafka://",
        "delta 0.1.0",
        "postgres 0.1.0",
        "postgresql://",
        "iceberg 0.1.0",
        "iceberg+rest://",
        "console 0.1.0",
        "file 0.1.0",
        "generator://",
        "file://",
        "console://",
        "null://",
        "ABI 1",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle} in\n{}",
            out.stdout
        );
    }
    let json = output(weir(&plugins).args(["plugins", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("plugins --json");
    // generator, delta, console, nats, kafka, file, postgres, iceberg
    assert_eq!(doc["plugins"].as_array().map(Vec::len), Some(8));
}

#[test]
fn version_names_the_sdk_and_abi() {
    let out = output(std::process::Command::new(weir_bin()).arg("--version"));
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .contains(&format!("plugin ABI {}", weir_sdk::ABI_VERSION)),
        "{}",
        out.stdout
    );
}

fn refused(lib: &str) -> (Outcome, std::path::PathBuf) {
    let s = Scratch::new();
    let mut libs = shipped_plugins();
    libs.push(library(lib));
    let plugins = s.plugin_dir("plugins", &libs);
    let manifest = s.manifest("m.yaml", &demo("generator://?count=10"));
    let run = output(weir(&plugins).arg("run").arg(&manifest));
    let list = output(weir(&plugins).arg("plugins"));
    assert_eq!(list.code, Some(3), "{}", list.stderr);
    assert_eq!(list.stderr.lines().count(), 1, "{}", list.stderr);
    (run, plugins.join(format!("lib{lib}.so")))
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused_with_one_line() {
    let (out, path) = refused("weir_fixture_not_a_plugin");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].contains(&path.display().to_string()),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("not a weir plugin"), "{}", lines[0]);
}

#[test]
fn a_plugin_of_another_abi_is_refused_naming_both_versions() {
    let (out, path) = refused("weir_fixture_abi_mismatch");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    let line = lines[0];
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("ABI 999 (weir-sdk 99.0.0)"), "{line}");
    assert!(
        line.contains(&format!(
            "ABI {} (weir-sdk {})",
            weir_sdk::ABI_VERSION,
            weir_sdk::SDK_VERSION
        )),
        "{line}"
    );
}

#[test]
fn an_unserved_scheme_lists_the_installed_ones() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let manifest = s.manifest("m.yaml", &demo("mqtt://?count=10"));
    for cmd in ["run", "validate"] {
        let out = output(weir(&plugins).arg(cmd).arg(&manifest));
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(errors[0].contains("spec.source.address"), "{}", errors[0]);
        assert!(errors[0].contains("`mqtt`"), "{}", errors[0]);
        assert!(
            errors[0].contains("installed source schemes: file, generator"),
            "{}",
            errors[0]
        );
    }
}

#[test]
fn validate_accepts_the_demo_and_reports_plugin_config_errors() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let out = output(
        weir(&plugins)
            .arg("validate")
            .arg(root().join("examples/demo.yaml")),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("valid"), "{}", out.stdout);
    // The generator needs a count unless it runs in a loop.
    let endless = s.manifest("m.yaml", &demo("generator://"));
    let out = output(weir(&plugins).arg("validate").arg(&endless));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.error_lines()[0].contains("plugin `generator`"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_plugin_directory_is_a_load_failure_that_says_what_to_do() {
    let s = Scratch::new();
    let manifest = s.manifest("m.yaml", &demo("generator://?count=10"));
    let out = output(weir(&s.join("missing")).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("plugin directory"), "{}", out.stderr);
}

#[test]
fn validate_reports_every_problem_of_each_broken_manifest_at_once_with_exit_2() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let dir = root().join("tests/manifests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("broken corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let out = output(weir(&plugins).arg("validate").arg(&f));
        assert_eq!(out.code, Some(2), "{}: {}", f.display(), out.stderr);
        let errors = out.error_lines();
        for expect in text.lines().filter_map(|l| l.strip_prefix("# expect: ")) {
            let (path, msg) = expect.split_once(": ").unwrap_or((expect, ""));
            let needle = format!("{}: {path}: ", f.display());
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains(&needle) && e.contains(msg.trim())),
                "{}: missing `{needle}{msg}` in\n{}",
                f.display(),
                out.stderr
            );
        }
    }
}

#[test]
fn every_good_corpus_manifest_and_example_validates_where_its_plugins_exist() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    for name in ["nats-current.yaml", "nats-legacy.yaml"] {
        let out = output(
            weir(&plugins)
                .arg("validate")
                .arg(root().join("tests/manifests/good").join(name)),
        );
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
    }
}

#[test]
fn validate_a_directory_reports_every_broken_manifest_in_it_at_once() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let dir = root().join("tests/manifests/broken");
    let count = std::fs::read_dir(&dir)
        .expect("broken corpus")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    let out = output(weir(&plugins).arg("validate").arg(&dir));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let files: std::collections::HashSet<&str> = out
        .error_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("weir: error: "))
        .filter_map(|l| l.split(".yaml").next())
        .collect();
    assert_eq!(files.len(), count, "{}", out.stderr);
    // A directory of good manifests validates, one line each.
    let good = s.join("good");
    std::fs::create_dir_all(&good).expect("dir");
    for name in ["nats-current.yaml", "nats-legacy.yaml"] {
        std::fs::copy(
            root().join("tests/manifests/good").join(name),
            good.join(name),
        )
        .expect("copy");
    }
    let out = output(weir(&plugins).arg("validate").arg(&good));
    assert_eq!(
        out.code,
        Some(2),
        "the two share a pipeline name: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pipeline names must differ"),
        "{}",
        out.stderr
    );
}

#[test]
fn dataos_depot_addresses_resolve_through_the_depots_file() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let depots = s.join("depots.yaml");
    std::fs::write(
        &depots,
        "depots:\n  lakehouse: {type: lakehouse, format: delta, warehouse: \"{LAKE_ROOT}\"}\n  other: {address: console://}\n",
    )
    .expect("depots file");
    let manifest = |sink: &str| {
        s.write(
            &Manifest::new("via-depot")
                .source("generator://?count=1500")
                .sink(sink)
                .sink_option("dest_table", "events"),
        )
    };
    let m = manifest("dataos://lakehouse?purpose=rw");
    let run = output(
        weir(&plugins)
            .arg("--depots")
            .arg(&depots)
            .env("LAKE_ROOT", &lake)
            .arg("run")
            .arg(&m),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(delta_summary(&lake.join("events"))["rows"], 1500);

    // No depots file: one error saying how to give it.
    let out = output(weir(&plugins).arg("validate").arg(&m));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--depots FILE (or WEIR_DEPOTS)"),
        "{}",
        out.stderr
    );
    // An unknown depot: the error names the file and the depots it has.
    let unknown = manifest("dataos://pgdepot?purpose=rw");
    let out = output(
        weir(&plugins)
            .env("WEIR_DEPOTS", &depots)
            .env("LAKE_ROOT", &lake)
            .arg("validate")
            .arg(&unknown),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let line = out.error_lines().join("\n");
    assert!(
        line.contains("spec.sink.address: depot `pgdepot` is not in")
            && line.contains("lakehouse, other"),
        "{line}"
    );
    // A depots file that needs a variable nobody set.
    let out = output(
        weir(&plugins)
            .arg("--depots")
            .arg(&depots)
            .arg("validate")
            .arg(&m),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("`LAKE_ROOT` is not set"),
        "{}",
        out.stderr
    );
}
