//! The `file` source (plugins/file, written through the plugin kit) end to end: JSON-lines
//! files into Delta with `weir run`, read back by the independent Python reader; a second run
//! adds only the lines written since (positions = file + byte offset, stored in the table);
//! with `run_in_loop: true` it tails and a SIGTERM drains and commits.

use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::*;

fn lines(range: std::ops::Range<i64>) -> String {
    range
        .map(|i| {
            format!(
                "{{\"id\":{i},\"user\":\"u{}\",\"amount\":{}.5}}\n",
                i % 7,
                i
            )
        })
        .collect()
}

fn manifest(
    s: &Scratch,
    name: &str,
    inbox: &std::path::Path,
    run_in_loop: bool,
) -> std::path::PathBuf {
    s.write(
        &Manifest::new(name)
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .source_option("batch_size", 700)
            .source_option("batch_timeout", 1)
            .source_option("run_in_loop", run_in_loop)
            .source_option("poll_interval_ms", 50)
            .sink(s.join("lake"))
            .sink_option("dest_table", "events"),
    )
}

#[test]
fn json_lines_files_into_delta_then_only_new_lines_on_the_next_run() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let inbox = s.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let a = inbox.join("a.jsonl");
    let b = inbox.join("b.jsonl");
    append_text(&a, &lines(0..1500));
    // b ends with a line still being written: not read until its newline arrives.
    append_text(
        &b,
        &format!("{}{}", lines(1500..2500), "{\"id\":2500,\"user\":"),
    );
    std::fs::write(inbox.join("notes.txt"), lines(9000..9010)).expect("other file");
    let m = manifest(&s, "files", &inbox, false);
    let table = s.join("lake/events");

    let run = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = delta_summary(&table);
    assert_eq!(summary["rows"], 2500, "{summary}");
    assert_eq!(summary["distinct_ids"], 2500, "{summary}");
    assert_eq!(summary["id_max"], 2499, "{summary}");
    let columns: Vec<&str> = summary["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for c in ["id", "user", "amount", "_file_path", "_file_offset"] {
        assert!(columns.contains(&c), "{c} missing: {columns:?}");
    }
    // The positions in the table: each file's byte offset after its last complete line.
    let (ka, kb) = (a.display().to_string(), b.display().to_string());
    let stored = stored_positions(&table, "files", &[&ka, &kb]);
    let next = |k: &str| stored.iter().find(|p| p.key.as_str() == k).map(|p| p.next);
    assert_eq!(next(&ka), Some(lines(0..1500).len() as i64), "{stored:?}");
    assert_eq!(
        next(&kb),
        Some(lines(1500..2500).len() as i64),
        "{stored:?}"
    );

    // More lines in a, the end of b's half line, and a new file: the next run reads just those.
    append_text(&a, &lines(2501..2600));
    append_text(
        &b,
        &format!("\"u1\",\"amount\":1.5}}\n{}", lines(2600..2650)),
    );
    append_text(&inbox.join("c.jsonl"), &lines(2650..2700));
    let run = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = delta_summary(&table);
    assert_eq!(summary["rows"], 2700, "{summary}");
    assert_eq!(summary["distinct_ids"], 2700, "{summary}");

    // A third run with nothing new adds nothing.
    let run = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(delta_summary(&table)["rows"], 2700);
}

#[test]
fn run_in_loop_tails_new_lines_and_drains_on_sigterm() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let inbox = s.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let live = inbox.join("live.jsonl");
    append_text(&live, &lines(0..300));
    let m = manifest(&s, "tail", &inbox, true);
    let table = s.join("lake/events");
    let child = spawn(weir(&plugins).arg("run").arg(&m));
    wait_for("the first commit", Duration::from_secs(60), || {
        delta_commits(&table) >= 2
    });
    append_text(&live, &lines(300..800));
    append_text(&inbox.join("later.jsonl"), &lines(800..1000));
    wait_for("the tailed lines", Duration::from_secs(90), || {
        delta_summary(&table)["rows"] == 1000
    });
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("weir exits").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary = delta_summary(&table);
    assert_eq!(summary["rows"], 1000, "{summary}");
    assert_eq!(summary["distinct_ids"], 1000, "{summary}");
    // The file that appeared mid-run was claimed (its position stored with the data): a run
    // after the restart reads nothing again.
    let later = format!("weir/tail/{}", inbox.join("later.jsonl").display());
    assert!(summary["txn"][&later].as_i64().is_some(), "{summary}");
    let child = spawn(weir(&plugins).arg("run").arg(&m));
    append_text(&live, &lines(1000..1100));
    wait_for(
        "the lines after the restart",
        Duration::from_secs(90),
        || delta_summary(&table)["rows"].as_u64() >= Some(1100),
    );
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("weir exits").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary = delta_summary(&table);
    assert_eq!(summary["rows"], 1100, "{summary}");
    assert_eq!(summary["distinct_ids"], 1100, "{summary}");
}
