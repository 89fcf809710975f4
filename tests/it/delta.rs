//! The Delta sink end to end (issue 5): exactly-once under SIGKILLs and against a second
//! writer, merge, schema evolution, partitions, checkpoints and compaction, and S3 on a local
//! S3-compatible server (moto) with two concurrent writers. Tables are read back by the
//! independent Python reader (`deltalake`/`pyarrow`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::*;

const NONE: &serde_json::Value = &serde_json::Value::Null;

fn inspect(table: &Path, app_ids: &[&str]) -> serde_json::Value {
    delta_inspect(&table.display().to_string(), NONE, app_ids)
}

/// A generator -> Delta manifest into `<lake>/events`; the caller adds options.
fn generator_manifest(name: &str, source: &str, lake: &Path) -> Manifest {
    Manifest::new(name)
        .source(source)
        .sink(lake)
        .sink_option("dest_table", "events")
}

#[test]
fn twenty_sigkills_leave_each_id_exactly_once() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let table = lake.join("events");
    let manifest = s.write(
        &generator_manifest("crash", "generator://?rate=20000&seed=3", &lake)
            .source_option("run_in_loop", true)
            .source_option("batch_size", 2000)
            .source_option("batch_timeout", 1),
    );
    let mut clock = KillClock::new();
    for kill in 0..20 {
        let before = delta_commits(&table);
        let log = s.join(&format!("run-{kill}.log"));
        let mut child = spawn_run(&plugins, &manifest, &log);
        // Kill at a random moment once this process has written, so every restart resumes.
        wait_for(
            "a commit by the restarted process",
            Duration::from_secs(60),
            || delta_commits(&table) > before,
        );
        clock.kill(&mut child, 900, &log, &format!("kill {kill}"));
    }
    // A last run, drained by SIGTERM.
    let before = delta_commits(&table);
    let log = s.join("final.log");
    let child = spawn_run(&plugins, &manifest, &log);
    wait_for("a commit by the final run", Duration::from_secs(60), || {
        delta_commits(&table) > before
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.code, Some(0), "{text}");

    let t = inspect(&table, &["weir/crash/generator"]);
    let n = t["txn"]["weir/crash/generator"]
        .as_i64()
        .expect("stored position");
    assert!(n > 0, "{t}");
    assert_eq!(t["rows"].as_i64(), Some(n), "rows != stored position: {t}");
    assert_eq!(t["duplicates"], 0, "{t}");
    assert_eq!(t["distinct_ids"].as_i64(), Some(n), "{t}");
    assert_eq!(t["id_max"].as_i64(), Some(n - 1), "{t}");
    assert_eq!(t["missing_below_max"], 0, "{t}");
    // Our own reader agrees.
    assert_eq!(
        stored_positions(&table, "crash", &["generator"]),
        vec![weir_sdk::Position::new("generator", n)]
    );
}

#[test]
fn a_second_writer_of_the_same_positions_is_detected_and_nothing_is_doubled() {
    // Two processes run the same pipeline on one table: each batch one of them commits moves
    // the other's positions; the other drops its batch, restarts from the table and goes on.
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let table = lake.join("events");
    let manifest = s.write(
        &generator_manifest("twin", "generator://?count=30000&rate=10000&seed=5", &lake)
            .source_option("batch_size", 1000)
            .source_option("batch_timeout", 1),
    );
    let (la, lb) = (s.join("a.log"), s.join("b.log"));
    let a = spawn_run(&plugins, &manifest, &la);
    let b = spawn_run(&plugins, &manifest, &lb);
    let (oa, ob) = (wait_exit(a), wait_exit(b));
    let (ta, tb) = (
        std::fs::read_to_string(&la).unwrap_or_default(),
        std::fs::read_to_string(&lb).unwrap_or_default(),
    );
    assert_eq!(oa.code, Some(0), "{ta}");
    assert_eq!(ob.code, Some(0), "{tb}");
    assert!(
        ta.contains("positions moved by another writer")
            || tb.contains("positions moved by another writer"),
        "neither process saw the other's commits:\n{ta}\n---\n{tb}"
    );
    let t = inspect(&table, &["weir/twin/generator"]);
    assert_eq!(t["txn"]["weir/twin/generator"], 30000, "{t}");
    assert_eq!(t["rows"], 30000, "{t}");
    assert_eq!(t["duplicates"], 0, "{t}");
    assert_eq!(t["missing_below_max"], 0, "{t}");
}

/// A file -> Delta manifest into `<scratch>/lake/events`; the caller adds options.
fn file_manifest(s: &Scratch, name: &str, inbox: &Path, batch: usize) -> Manifest {
    Manifest::new(name)
        .source(format!("file://{}/*.jsonl", inbox.display()))
        .source_option("batch_size", batch)
        .source_option("batch_timeout", 1)
        .sink(s.join("lake"))
        .sink_option("dest_table", "events")
}

#[test]
fn merge_keeps_one_row_per_key_with_the_latest_value() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let inbox = s.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    // 10 000 updates over 1 000 keys; keys repeat inside every batch of 2 500.
    let mut text = String::new();
    let mut latest = std::collections::HashMap::new();
    for i in 0..10_000i64 {
        let key = (i * 7919) % 1000;
        text.push_str(&format!(
            "{{\"key\":{key},\"value\":{i},\"note\":\"update {i}\"}}\n"
        ));
        latest.insert(key, i);
    }
    append_text(&inbox.join("updates.jsonl"), &text);
    let m = s.write(
        &file_manifest(&s, "upserts", &inbox, 2500)
            .source_option("primary_key", "key")
            .sink_option("incremental_strategy", "merge"),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let table = s.join("lake/events");
    let rows = delta_rows(&table, &s);
    assert_eq!(rows.len(), 1000, "one row per key");
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        let key = r["key"].as_i64().expect("key");
        assert!(seen.insert(key), "key {key} twice");
        assert_eq!(r["value"].as_i64(), Some(latest[&key]), "key {key}: {r}");
        assert_eq!(r["note"], format!("update {}", latest[&key]));
    }
    // More updates in a second run: still one row per key.
    append_text(
        &inbox.join("updates.jsonl"),
        "{\"key\":5,\"value\":-1,\"note\":\"last\"}\n{\"key\":1000,\"value\":1,\"note\":\"new\"}\n",
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows = delta_rows(&table, &s);
    assert_eq!(rows.len(), 1001);
    let five: Vec<_> = rows.iter().filter(|r| r["key"] == 5).collect();
    assert_eq!(five.len(), 1);
    assert_eq!(five[0]["value"], -1);
}

#[test]
fn added_omitted_and_retyped_columns_all_land() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let inbox = s.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let m = s.write(&file_manifest(&s, "evolve", &inbox, 100));
    let file = inbox.join("events.jsonl");
    for line in [
        r#"{"id":1,"a":10,"b":"x"}"#,
        r#"{"id":2,"a":11,"b":"y","c":true}"#,
        r#"{"id":3,"b":"z"}"#,
        r#"{"id":4,"a":"ten","b":"w"}"#,
        r#"{"id":5,"a":12}"#,
    ] {
        append_text(&file, &format!("{line}\n"));
        let out = output(weir(&plugins).arg("run").arg(&m));
        assert_eq!(out.code, Some(0), "{line}: {}", out.stderr);
    }
    let table = s.join("lake/events");
    let t = inspect(&table, &[]);
    let columns: Vec<&str> = t["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for c in ["id", "a", "b", "c", "a__v_text"] {
        assert!(columns.contains(&c), "no column {c}: {t}");
    }
    let rows = delta_rows(&table, &s);
    assert_eq!(rows.len(), 5);
    let row = |id: i64| rows.iter().find(|r| r["id"] == id).expect("row");
    assert_eq!(row(1)["a"], 10);
    assert_eq!(row(1)["c"], serde_json::Value::Null);
    assert_eq!(row(2)["c"], true);
    assert_eq!(row(3)["a"], serde_json::Value::Null);
    assert_eq!(row(3)["b"], "z");
    assert_eq!(row(4)["a"], serde_json::Value::Null);
    assert_eq!(row(4)["a__v_text"], "ten");
    assert_eq!(row(5)["a"], 12);
    assert_eq!(row(5)["b"], serde_json::Value::Null);
    assert_eq!(row(5)["a__v_text"], serde_json::Value::Null);
}

#[test]
fn partition_by_day_lays_files_out_by_day() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    // Generator timestamps advance one second per id from 2026-01-01: three days.
    let m = s.write(
        &generator_manifest("days", "generator://?count=200000&seed=1", &lake)
            .source_option("batch_size", 50000)
            .sink_option(
                "partition_by",
                serde_json::json!([{"column": "ts", "type": "day", "name": "ts_day", "index": 1}]),
            ),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let table = lake.join("events");
    let t = inspect(&table, &[]);
    assert_eq!(t["rows"], 200_000, "{t}");
    assert_eq!(t["partition_columns"], serde_json::json!(["ts_day"]), "{t}");
    let ts_day = t["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == "ts_day")
        .expect("ts_day column");
    assert_eq!(ts_day["type"], "date32[day]", "{t}");
    let mut days = std::collections::BTreeSet::new();
    for f in t["files"].as_array().expect("files") {
        let f = f.as_str().expect("file uri");
        let day = f
            .split('/')
            .find_map(|p| p.strip_prefix("ts_day="))
            .unwrap_or_else(|| panic!("file {f} is not under a ts_day= directory"));
        days.insert(day.to_string());
    }
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        vec!["2026-01-01", "2026-01-02", "2026-01-03"]
    );
    for d in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        assert!(
            table.join(format!("ts_day={d}")).is_dir(),
            "no directory for {d}"
        );
    }
}

#[test]
fn a_checkpoint_every_ten_commits_lets_a_reader_skip_the_log_and_compaction_packs_files() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let m = s.write(
        &generator_manifest("ckpt", "generator://?count=25000&seed=2", &lake)
            .source_option("batch_size", 1000),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let table = lake.join("events");
    // Version 0 creates the table; 25 commits follow; checkpoints at versions 9 and 19.
    let log = table.join("_delta_log");
    assert!(log.join("00000000000000000025.json").is_file());
    assert!(log
        .join("00000000000000000019.checkpoint.parquet")
        .is_file());
    assert!(log.join("_last_checkpoint").is_file());
    // A copy without the log entries the checkpoint covers still opens, whole.
    let copy = s.join("copy");
    let cp = Command::new("cp")
        .arg("-r")
        .arg(&table)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(cp.success());
    for v in 0..=19 {
        std::fs::remove_file(copy.join(format!("_delta_log/{v:020}.json")))
            .expect("remove a log entry");
    }
    let t = inspect(&copy, &["weir/ckpt/generator"]);
    assert_eq!(t["rows"], 25_000, "{t}");
    assert_eq!(t["version"], 25, "{t}");
    assert_eq!(t["txn"]["weir/ckpt/generator"], 25_000, "{t}");
    assert_eq!(t["duplicates"], 0, "{t}");
    let files_plain = t["files"].as_array().map_or(0, Vec::len);
    assert_eq!(files_plain, 25, "one file per batch: {t}");

    // The same with compact_every: 5: small files are bin-packed between batches.
    let lake2 = s.join("lake2");
    let m = s.write(
        &generator_manifest("packed", "generator://?count=25000&seed=2", &lake2)
            .source_option("batch_size", 1000)
            .sink_option("compact_every", 5),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let t = inspect(&lake2.join("events"), &["weir/packed/generator"]);
    assert_eq!(t["rows"], 25_000, "{t}");
    assert_eq!(t["duplicates"], 0, "{t}");
    assert_eq!(t["txn"]["weir/packed/generator"], 25_000, "{t}");
    let files = t["files"].as_array().map_or(0, Vec::len);
    assert!(files <= 5, "compaction left {files} files: {t}");
    assert!(
        out.stderr.contains("compacted small files"),
        "{}",
        out.stderr
    );
}

#[test]
fn s3_table_with_two_concurrent_writers() {
    let server = weir_tests::s3::S3Server::start("lake");
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let manifest = |name: &str, seed: u32| {
        // Endpoint and region from the options, credentials from the environment.
        s.write(
            &Manifest::new(name)
                .source(format!("generator://?count=20000&seed={seed}"))
                .source_option("batch_size", 1000)
                .sink("s3://lake/warehouse")
                .sink_option("dest_table", "events")
                .sink_option("aws_endpoint", server.endpoint())
                .sink_option("aws_region", "us-east-1"),
        )
    };
    let run = |m: &Path, log: &Path| {
        let f = std::fs::File::create(log).expect("log");
        weir(&plugins)
            .arg("run")
            .arg(m)
            .env("AWS_ACCESS_KEY_ID", "weir")
            .env("AWS_SECRET_ACCESS_KEY", "weir-secret")
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start weir")
    };
    let (mw, me) = (manifest("west", 1), manifest("east", 2));
    let (lw, le) = (s.join("west.log"), s.join("east.log"));
    let started = Instant::now();
    let (w, e) = (run(&mw, &lw), run(&me, &le));
    let (ow, oe) = (wait_exit(w), wait_exit(e));
    eprintln!("two S3 writers took {:?}", started.elapsed());
    let text = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(ow.code, Some(0), "{}", text(&lw));
    assert_eq!(oe.code, Some(0), "{}", text(&le));
    assert!(!text(&lw).contains("secret"), "a secret in the log");
    let t = delta_inspect(
        "s3://lake/warehouse/events",
        &server.storage_options(),
        &["weir/west/generator", "weir/east/generator"],
    );
    assert_eq!(t["rows"], 40_000, "{t}");
    assert_eq!(t["txn"]["weir/west/generator"], 20_000, "{t}");
    assert_eq!(t["txn"]["weir/east/generator"], 20_000, "{t}");
    // Both generators emit ids 0..20 000: each id exactly twice, once per writer.
    assert_eq!(t["distinct_ids"], 20_000, "{t}");
    assert_eq!(t["duplicates"], 20_000, "{t}");
    // 40 data commits after the create (both writers may have committed a create: the second
    // one's is rebased onto the first by deltalake's conflict resolution).
    let version = t["version"].as_i64().expect("version");
    assert!((40..=41).contains(&version), "{t}");
}
