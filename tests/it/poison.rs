//! Hostile messages through NATS into Delta: values nested 1 to 2 000 levels deep, values of
//! several MiB, a field seen as every JSON kind (one kind per run, so the table's variant
//! columns are made across runs), a masked path whose parent is sometimes a string, and
//! values that are no JSON object. Every good record lands exactly once, every other one in
//! the dead-letter table exactly once and without the masked PII; every run exits 0 and the
//! Python reader reads both tables after each run.

use std::path::Path;
use weir_tests::nats::{json_ids, NatsServer};
use weir_tests::*;

/// The kinds of JSON value the field `f` takes, one per run.
const KINDS: [&str; 7] = ["7", "\"text\"", "2.5", "true", "{\"a\":1}", "[1,2]", "null"];
/// Depths of good records (the decoder keeps 16 levels as columns, the rest as JSON text).
const DEPTHS: [usize; 7] = [1, 16, 17, 50, 115, 200, 300];
const SSN: &str = "123-45-6789";
const MAX_BYTES: usize = 4 << 20;

/// `{"k<depth>_<n>": ...}` nested `levels` deep around `1`.
fn nested(levels: usize) -> String {
    let open: String = (0..levels)
        .rev()
        .map(|i| format!("{{\"k{levels}_{i}\":"))
        .collect();
    format!("{open}1{}", "}".repeat(levels))
}

/// One round of messages: the good ones (ids from `base`) and the bad ones.
fn round(base: u64, kind: &str) -> (Vec<String>, Vec<String>) {
    let mut good = Vec::new();
    for j in 0..5 {
        good.push(format!(
            r#"{{"id":{},"f":{kind},"customer":{{"name":"c{j}","ssn":"{SSN}"}}}}"#,
            base + j
        ));
    }
    for (k, depth) in DEPTHS.iter().enumerate() {
        good.push(format!(
            r#"{{"id":{},"deep":{},"after":"z"}}"#,
            base + 100 + k as u64,
            nested(*depth)
        ));
    }
    good.push(format!(
        r#"{{"id":{},"blob":"{}"}}"#,
        base + 200,
        "x".repeat(3 << 20)
    ));
    let bad = vec![
        "not json {".to_string(),
        format!(
            r#"{{"id":{},"blob":"{}"}}"#,
            base + 501,
            "y".repeat((8 << 20) - 64)
        ),
        format!(r#"{{"id":{},"deep":{}}}"#, base + 502, nested(2_000)),
        format!(r#"{{"id":{},"customer":"ann {SSN}"}}"#, base + 503),
        "[1,2,3]".to_string(),
    ];
    (good, bad)
}

/// Good and bad messages interleaved, as one file of lines.
fn interleave(s: &Scratch, name: &str, good: &[String], bad: &[String]) -> std::path::PathBuf {
    let mut lines = Vec::new();
    let mut bad = bad.iter();
    for (i, g) in good.iter().enumerate() {
        lines.push(g.clone());
        if i % 3 == 1 {
            if let Some(b) = bad.next() {
                lines.push(b.clone());
            }
        }
    }
    lines.extend(bad.cloned());
    let path = s.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("messages file");
    path
}

fn all_text(table: &Path, s: &Scratch) -> String {
    delta_rows(table, s)
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_message_corrupts_the_table_crashes_the_host_or_stalls_the_pipeline() {
    let server = NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let (table, dead) = (s.join("lake/events"), s.join("lake/dead"));
    let m = s.write(
        &weir_tests::manifest::Manifest::new("poison")
            .source(format!(
                "nats+jetstream://{}?subject=events.>&durable=weir",
                server.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("batch_size", 4)
            .source_option("max_message_bytes", MAX_BYTES as u64)
            .source_option("dead_letter", dead.display().to_string())
            .source_option("mask", serde_json::json!({"customer.ssn": "redact"}))
            .sink(s.join("lake"))
            .sink_option("dest_table", "events"),
    );
    let (mut goods, mut bads) = (0u64, 0u64);
    for (r, kind) in KINDS.iter().enumerate() {
        let (good, bad) = round(r as u64 * 1_000, kind);
        let file = interleave(&s, &format!("round{r}.jsonl"), &good, &bad);
        let published = server.tool(&["publish-lines", "events.in", &file.display().to_string()]);
        assert_eq!(published["published"], (good.len() + bad.len()) as u64);
        goods += good.len() as u64;
        bads += bad.len() as u64;

        let out = output(weir(&plugins).arg("run").arg(&m));
        assert_eq!(out.code, Some(0), "round {r} ({kind}): {}", out.stderr);
        assert!(!out.stderr.contains("overflowed"), "{}", out.stderr);
        // Readable by the independent reader after every run, with every good record once.
        let ids = json_ids(&table);
        assert_eq!(ids["rows"], goods, "round {r} ({kind}): {ids}");
        assert_eq!(ids["distinct"], goods, "round {r}: {ids}");
        assert_eq!(delta_summary(&dead)["rows"], bads, "round {r}");
    }
    // A rerun with nothing new writes nothing twice.
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(json_ids(&table)["rows"], goods);

    let dead_rows = delta_rows(&dead, &s);
    assert_eq!(dead_rows.len() as u64, bads);
    let positions: std::collections::HashSet<String> = dead_rows
        .iter()
        .filter_map(|r| r["_position"].as_str().map(str::to_string))
        .collect();
    assert_eq!(positions.len() as u64, bads, "each dead letter once");
    let reasons: Vec<&str> = dead_rows
        .iter()
        .filter_map(|r| r["_error"].as_str())
        .collect();
    for needle in [
        "max_message_bytes",
        "hard limit",
        "the mask cannot apply",
        "not valid JSON",
        "not an object",
    ] {
        assert!(
            reasons.iter().filter(|r| r.contains(needle)).count() == KINDS.len(),
            "{needle}: {reasons:?}"
        );
    }
    // The pipeline masks, so dead letters keep a digest and the size, not the payload.
    let first = &dead_rows[0];
    assert!(first.get("value").is_none(), "{first}");
    assert_eq!(
        first["_value_sha256"].as_str().map(str::len),
        Some(64),
        "{first}"
    );
    assert!(first["_value_bytes"].as_i64().is_some(), "{first}");
    for t in [&table, &dead] {
        let text = all_text(t, &s);
        assert!(
            !text.contains(SSN),
            "the masked SSN leaked into {}",
            t.display()
        );
    }
    // Deep parts are JSON text below 16 levels, and the fields after them are kept.
    let rows = delta_rows(&table, &s);
    let deep = rows
        .iter()
        .find(|r| r["id"] == 103)
        .expect("the 50-level record");
    assert_eq!(deep["after"], "z", "{deep}");
    // In `deep`, or in `deep__v_json` when an earlier batch made `deep` another struct.
    let kept = format!("{}{}", deep["deep"], deep["deep__v_json"]);
    assert!(kept.contains("k50_0"), "{deep}");
}

#[test]
fn the_file_source_is_bounded_the_same_way() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let (table, dead) = (s.join("lake/events"), s.join("lake/dead"));
    let (good, bad) = round(0, "7");
    let file = interleave(&s, "in.jsonl", &good, &bad);
    let m = s.write(
        &weir_tests::manifest::Manifest::new("poison-file")
            .source(format!("file://{}", file.display()))
            .source_option("batch_size", 4)
            .source_option("max_message_bytes", MAX_BYTES as u64)
            .source_option("dead_letter", dead.display().to_string())
            .source_option("mask", serde_json::json!({"customer.ssn": "redact"}))
            .sink(s.join("lake"))
            .sink_option("dest_table", "events"),
    );
    for run in 0..2 {
        let out = output(weir(&plugins).arg("run").arg(&m));
        assert_eq!(out.code, Some(0), "run {run}: {}", out.stderr);
        assert!(!out.stderr.contains("overflowed"), "{}", out.stderr);
        // Readable by the independent reader, every good line once, every bad one dead once.
        let summary = delta_summary(&table);
        assert_eq!(summary["rows"], good.len() as u64, "run {run}: {summary}");
        assert_eq!(summary["distinct_ids"], good.len() as u64, "{summary}");
        assert_eq!(delta_summary(&dead)["rows"], bad.len() as u64, "run {run}");
    }
    let rows = delta_rows(&table, &s);
    let deep = rows
        .iter()
        .find(|r| r["id"] == 103)
        .expect("the 50-level line");
    assert_eq!(deep["after"], "z", "{deep}");
    assert!(deep["_file_offset"].as_i64().is_some(), "{deep}");
    let dead_rows = delta_rows(&dead, &s);
    assert!(
        dead_rows.iter().all(|r| r["_position"]
            .as_str()
            .is_some_and(|p| p.starts_with(&format!("{}@", file.display())))),
        "{dead_rows:?}"
    );
}
