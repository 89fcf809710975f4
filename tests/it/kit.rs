//! The plugin authors' kit end to end (issue 8, acceptance 1): `cargo xtask new-plugin` in a
//! temporary directory outside the workspace gives a crate that builds with one `cargo build`,
//! whose own test passes, and that the host runs a pipeline through.

use weir_tests::manifest::Manifest;
use weir_tests::*;

/// `xtask new-plugin NAME --kind KIND --path DIR/weir-plugin-NAME` with the built xtask.
fn generate(name: &str, kind: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let crate_dir = dir.join(format!("weir-plugin-{name}"));
    let out = output(
        std::process::Command::new(bin_dir().join("xtask"))
            .args(["new-plugin", name, "--kind", kind, "--path"])
            .arg(&crate_dir),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "src/config.rs",
        "tests/loads.rs",
    ] {
        assert!(
            crate_dir.join(f).is_file(),
            "no {f} in {}",
            crate_dir.display()
        );
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("[workspace]"), "{manifest}");
    assert!(
        manifest.contains(&format!("path = \"{}\"", root().join("sdk").display())),
        "{manifest}"
    );
    crate_dir
}

/// Outside the workspace: not under its root, so no parent workspace can capture the crate.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("weir-kit-")
        .tempdir()
        .expect("temp dir");
    assert!(!dir.path().starts_with(root()));
    dir
}

/// The generated crate's only weir dependency is weir-sdk (its test dependency adds a feature).
fn depends_on_the_sdk_only(crate_dir: &std::path::Path) {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    let deps: Vec<&str> = manifest
        .lines()
        .filter(|l| l.contains("path = ") || l.starts_with("weir"))
        .collect();
    assert!(
        deps.iter().all(|l| l.starts_with("weir-sdk = ")),
        "{deps:?}"
    );
}

#[test]
fn a_generated_sink_builds_passes_its_test_and_runs_in_the_host() {
    let tmp = outside();
    let crate_dir = generate("jsonl", "sink", tmp.path());
    depends_on_the_sdk_only(&crate_dir);
    cargo_out_of_tree(&crate_dir, &["build", "--quiet"]);
    let lib = out_of_tree_library("weir_plugin_jsonl");
    let tested = cargo_out_of_tree(&crate_dir, &["test"]);
    assert!(!tested.contains("FAILED"), "{tested}");

    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_plugin_generator"), lib]);
    let list = output(weir(&plugins).arg("plugins"));
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    assert!(list.stdout.contains("jsonl 0.1.0"), "{}", list.stdout);
    assert!(list.stdout.contains("jsonl://"), "{}", list.stdout);

    let out = s.join("events.jsonl");
    let manifest = s.write(
        &Manifest::new("to-jsonl")
            .source("generator://?count=3000")
            .source_option("batch_size", 1000)
            .sink("jsonl://")
            .sink_option("path", out.display().to_string()),
    );
    let run = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids: Vec<i64> = std::fs::read_to_string(&out)
        .expect("the sink's file")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["id"].as_i64().expect("an id")
        })
        .collect();
    assert_eq!(ids, (0..3000).collect::<Vec<_>>());

    // Every manifest of the plugin guide validates with the plugins it names installed.
    let guide = std::fs::read_to_string(root().join("docs/plugins.md")).expect("docs/plugins.md");
    let manifests = yaml_blocks(&guide);
    assert!(!manifests.is_empty(), "no yaml block in docs/plugins.md");
    for (i, yaml) in manifests.iter().enumerate() {
        let path = s.manifest(&format!("guide-{i}.yaml"), yaml);
        let out = output(weir(&plugins).arg("validate").arg(&path));
        assert_eq!(
            out.code,
            Some(0),
            "guide manifest {i}:\n{yaml}\n{}",
            out.stderr
        );
    }
}

/// The bodies of the ```yaml blocks of a markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start() == "```yaml" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn a_generated_source_builds_passes_its_test_and_runs_in_the_host() {
    let tmp = outside();
    let crate_dir = generate("counter", "source", tmp.path());
    depends_on_the_sdk_only(&crate_dir);
    cargo_out_of_tree(&crate_dir, &["build", "--quiet"]);
    let lib = out_of_tree_library("weir_plugin_counter");
    let tested = cargo_out_of_tree(&crate_dir, &["test"]);
    assert!(!tested.contains("FAILED"), "{tested}");

    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_plugin_delta"), lib]);
    let lake = s.join("lake");
    let manifest = s.write(
        &Manifest::new("from-counter")
            .source("counter://")
            .source_option("count", 2500)
            .source_option("max_per_poll", 300)
            .sink(&lake)
            .sink_option("dest_table", "ids"),
    );
    // Twice: the second run seeks to the table's stored position and adds nothing.
    for _ in 0..2 {
        let run = output(weir(&plugins).arg("run").arg(&manifest));
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let summary = delta_summary(&lake.join("ids"));
        assert_eq!(summary["rows"], 2500, "{summary}");
        assert_eq!(summary["distinct_ids"], 2500, "{summary}");
    }
}
