//! Batches cross the plugin boundary without copies: the `id` buffer the probe source made is
//! the very buffer the probe sink receives, through the host's batcher.

use weir_tests::manifest::Manifest;
use weir_tests::*;

fn addresses<'a>(log: &'a str, what: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split("addr=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

#[test]
fn million_row_batches_cross_without_copying_buffers() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let out_file = s.join("committed.jsonl");
    let manifest = s.write(
        &Manifest::new("zero-copy")
            .source("probe://?rows=1000000&batches=3")
            .source_option("batch_size", 1_000_000)
            .sink(format!("probe://?out={}", out_file.display())),
    );
    let out = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let made = addresses(&out.stderr, "probe source batch");
    let seen = addresses(&out.stderr, "probe sink batch");
    assert_eq!(made.len(), 3, "{}", out.stderr);
    assert_eq!(
        made, seen,
        "buffer addresses differ: a copy was made\n{}",
        out.stderr
    );
    assert!(
        made.iter().all(|a| a.starts_with("0x") && *a != "0x0"),
        "{made:?}"
    );
    let committed = std::fs::read_to_string(&out_file).expect("sink output");
    let rows: Vec<serde_json::Value> = committed
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["last"], 2_999_999);
    assert!(rows.iter().all(|r| r["rows"] == 1_000_000));
}
