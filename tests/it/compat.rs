//! ABI compatibility (sdk `CHANGELOG.md`, "Versions"): a plugin built outside the workspace
//! against the previous compatible sdk (a verbatim copy of weir-sdk 0.1.0 under
//! `tests/fixtures/sdk-prev/`) loads and runs in the current host, both as a source and as a
//! sink. The refusal of another ABI is `loading::a_plugin_of_another_abi_is_refused_naming_both_versions`.

use weir_tests::manifest::Manifest;
use weir_tests::*;

/// Builds the fixture (incrementally, in the out-of-tree target dir) and returns its library.
fn previous_sdk_plugin() -> std::path::PathBuf {
    // --locked: the fixture's Cargo.lock is part of the fixture, as a plugin in the field has its own.
    cargo_out_of_tree(
        &root().join("tests/fixtures/sdk-prev"),
        &["build", "--locked", "--quiet"],
    );
    out_of_tree_library("weir_fixture_sdk_prev")
}

#[test]
fn a_plugin_built_with_the_previous_sdk_loads_and_runs_in_this_host() {
    assert_ne!(
        weir_sdk::SDK_VERSION,
        "0.1.0",
        "the fixture is the previous sdk: the current one must be newer"
    );
    let s = Scratch::new();
    let mut libs = shipped_plugins();
    libs.push(previous_sdk_plugin());
    let plugins = s.plugin_dir("plugins", &libs);

    let list = output(weir(&plugins).arg("plugins"));
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    assert!(
        list.stdout.contains("prev 0.1.0  (weir-sdk 0.1.0, ABI 1)"),
        "{}",
        list.stdout
    );

    // Old plugin as the source, into Delta; a second run resumes at the stored position.
    let table = s.join("lake/ids");
    let source = s.write(
        &Manifest::new("from-prev")
            .source("prev://?count=2500")
            .source_option("batch_size", 1000)
            .sink(s.join("lake"))
            .sink_option("dest_table", "ids"),
    );
    for _ in 0..2 {
        let run = output(weir(&plugins).arg("run").arg(&source));
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let summary = delta_summary(&table);
        assert_eq!(summary["rows"], 2500, "{summary}");
        assert_eq!(summary["distinct_ids"], 2500, "{summary}");
        assert_eq!(summary["id_max"], 2499, "{summary}");
    }

    // Old plugin as the sink: every batch the host exports arrives, with its positions.
    let out = s.join("commits.txt");
    let sink = s.write(
        &Manifest::new("to-prev")
            .source("generator://?count=1200")
            .source_option("batch_size", 500)
            .sink(format!("prev://?out={}", out.display())),
    );
    let run = output(weir(&plugins).arg("run").arg(&sink));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let text = std::fs::read_to_string(&out).expect("commit lines");
    let rows: usize = text
        .lines()
        .filter_map(|l| l.strip_prefix("rows="))
        .filter_map(|l| l.split(' ').next())
        .map(|n| n.parse::<usize>().expect("row count"))
        .sum();
    assert_eq!(rows, 1200, "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.ends_with("next=generator@1200")),
        "{text}"
    );
}

#[test]
fn a_previous_sdk_plugins_errors_keep_their_meaning_in_this_host() {
    let s = Scratch::new();
    let mut libs = shipped_plugins();
    libs.push(previous_sdk_plugin());
    let plugins = s.plugin_dir("plugins", &libs);
    let manifest = |name: &str, fail: &str| {
        let out = s.join(&format!("{name}.txt"));
        let path = s.write(
            &Manifest::new(name)
                .source("generator://?count=1200")
                .source_option("batch_size", 500)
                .sink(format!("prev://?out={}&fail={fail}", out.display())),
        );
        (path, out)
    };

    // sdk 0.1.2's positions-moved (a fatal error with the marker) is that kind here: the
    // pipeline restarts from the sink's positions and then runs to its end.
    let (path, out) = manifest("moved", "moved-once");
    let run = output(weir(&plugins).arg("run").arg(&path));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("restarting the pipeline to resume from the sink's stored positions"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("positions moved by another writer: prev is at 7"),
        "{}",
        run.stderr
    );
    assert!(out.with_extension("moved").exists());
    let text = std::fs::read_to_string(&out).expect("commit lines");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.ends_with("next=generator@1200")),
        "{text}"
    );

    // A configuration error found at run time is a bad manifest: exit 2, not retried.
    let (path, out) = manifest("config", "config");
    let run = output(weir(&plugins).arg("run").arg(&path));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("config error: prev: password refused"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing was committed");
}
