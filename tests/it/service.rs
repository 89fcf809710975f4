//! The host as a service: /metrics read by a real Prometheus parser, /health/ready following
//! the sink's state.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::running::Running;
use weir_tests::*;

/// Lines the probe sink has committed to its output file.
fn committed_lines(out_file: &Path) -> usize {
    std::fs::read_to_string(out_file).map_or(0, |t| t.lines().count())
}

/// The metrics as the Python `prometheus_client` OpenMetrics parser reads them.
fn scrape(port: u16) -> serde_json::Value {
    let out = Command::new(python())
        .arg(root().join("tests/harness/metrics_read.py"))
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .expect("run metrics_read.py");
    assert!(
        out.status.success(),
        "metrics_read.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metrics JSON")
}

fn sample(metrics: &serde_json::Value, name: &str, pipeline: &str) -> Option<f64> {
    metrics[name]
        .as_array()?
        .iter()
        .find(|s| s[0]["pipeline"] == pipeline)
        .and_then(|s| s[1].as_f64())
}

/// A looping pipeline from `source` into `<lake>/events`, 1000 records or 1 s per batch.
fn manifest(s: &Scratch, name: &str, source: &str, lake: &Path) -> std::path::PathBuf {
    s.write(
        &Manifest::new(name)
            .source(source)
            .source_option("run_in_loop", true)
            .source_option("batch_size", 1000)
            .source_option("batch_timeout", 1)
            .sink(lake)
            .sink_option("dest_table", "events"),
    )
}

#[test]
fn metrics_parse_and_count_exactly_the_rows_in_the_table() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let m = manifest(&s, "metered", "generator://?count=20000&seed=5", &lake);
    let port = free_port();
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    wait_for("the metrics endpoint", Duration::from_secs(30), || {
        http_get(port, "/health/live").is_some()
    });
    wait_for("20 000 records out", Duration::from_secs(60), || {
        sample(&scrape(port), "weir_records_out_total", "metered") == Some(20_000.0)
    });
    let metrics = scrape(port);
    let (ready, _) = http_get(port, "/health/ready").expect("ready");
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(ready, 200);

    let rows = delta_summary(&lake.join("events"))["rows"].as_f64();
    assert_eq!(rows, Some(20_000.0));
    assert_eq!(
        sample(&metrics, "weir_records_in_total", "metered"),
        Some(20_000.0)
    );
    assert_eq!(
        sample(&metrics, "weir_batches_total", "metered"),
        Some(20.0)
    );
    assert_eq!(
        sample(&metrics, "weir_dead_letters_total", "metered"),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "weir_decode_errors_total", "metered"),
        Some(0.0)
    );
    assert!(sample(&metrics, "weir_bytes_in_total", "metered").is_some_and(|b| b > 0.0));
    assert!(sample(&metrics, "weir_bytes_out_total", "metered").is_some_and(|b| b > 0.0));
    assert_eq!(
        sample(&metrics, "weir_batch_records_sum", "metered"),
        Some(20_000.0)
    );
    assert_eq!(
        sample(&metrics, "weir_commit_seconds_count", "metered"),
        Some(20.0)
    );
    assert!(
        sample(&metrics, "weir_last_commit_timestamp_seconds", "metered")
            .is_some_and(|t| t > 1.7e9)
    );
    let plugins_seen: Vec<String> = metrics["weir_plugin_info"]
        .as_array()
        .expect("plugin info")
        .iter()
        .filter_map(|s| s[0]["plugin"].as_str().map(str::to_string))
        .collect();
    assert!(
        plugins_seen.iter().any(|p| p.starts_with("generator/")),
        "{plugins_seen:?}"
    );
    assert!(
        plugins_seen.iter().any(|p| p.starts_with("delta/")),
        "{plugins_seen:?}"
    );
}

#[test]
fn ready_turns_false_while_the_sink_cannot_write_and_true_after_with_nothing_lost() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let table = lake.join("events");
    let m = manifest(&s, "fragile", "generator://?rate=3000&seed=6", &lake);
    let port = free_port();
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    let status = |p: &str| http_get(port, p).map(|(c, _)| c);
    wait_for("ready with data committed", Duration::from_secs(60), || {
        status("/health/ready") == Some(200)
            && records_per_commit(&table)
                .iter()
                .filter(|n| **n > 0)
                .count()
                >= 2
    });
    // Make the table unwritable (root ignores permissions): move it away and put a file in
    // its place, so every write fails until it is back.
    let aside = s.join("aside");
    std::fs::rename(&table, &aside).expect("move the table away");
    std::fs::write(&table, b"not a directory").expect("block the path");
    if !eventually(Duration::from_secs(30), || {
        status("/health/ready") == Some(503)
    }) {
        let mut child = child;
        let _ = child.kill();
        let out: Outcome = child.wait_with_output().expect("exit").into();
        panic!("never not ready; weir said:\n{}", out.stderr);
    }
    let stored_during = stored_positions(&aside, "fragile", &["generator"]);
    // Two more failed attempts (counted by the retries metric) while the path is blocked.
    let retries = || -> f64 {
        scrape(port)["weir_retries_total"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s[0]["pipeline"] == "fragile")
                    .filter_map(|s| s[1].as_f64())
                    .sum()
            })
            .unwrap_or(0.0)
    };
    let before_retries = retries();
    wait_for("two more failed attempts", Duration::from_secs(60), || {
        retries() >= before_retries + 2.0
    });
    assert_eq!(
        stored_positions(&aside, "fragile", &["generator"]),
        stored_during,
        "positions advanced while the sink could not write"
    );
    std::fs::remove_file(&table).expect("unblock");
    std::fs::rename(&aside, &table).expect("move the table back");
    let before = delta_commits(&table);
    wait_for("ready again", Duration::from_secs(60), || {
        status("/health/ready") == Some(200) && delta_commits(&table) > before
    });
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);

    let summary = delta_summary(&table);
    let rows = summary["rows"].as_i64().expect("rows");
    assert_eq!(summary["distinct_ids"].as_i64(), Some(rows), "{summary}");
    assert_eq!(summary["id_min"], 0, "{summary}");
    assert_eq!(summary["id_max"].as_i64(), Some(rows - 1), "{summary}");
    assert_eq!(
        summary["txn"]["weir/fragile/generator"].as_i64(),
        Some(rows),
        "{summary}"
    );
}

#[test]
fn a_second_signal_during_a_slow_write_exits_at_once_and_a_restart_loses_nothing() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let out_file = s.join("committed.jsonl");
    // The same pipeline twice (its positions are the probe sink's), slow and then fast.
    let write = |dir: &str, slow: u64| {
        let dir = s.join(dir);
        std::fs::create_dir_all(&dir).expect("manifest directory");
        Manifest::new("slow")
            .source("probe://?rows=100&batches=40")
            .source_option("batch_size", 100)
            .source_option("run_in_loop", true)
            .sink(format!(
                "probe://?out={}&slow_write_ms={slow}",
                out_file.display()
            ))
            .write_in(&dir)
    };
    let slow = write("slow", 1500);
    let mut child = Running::start(weir(&plugins).arg("run").arg(&slow), &s.join("slow.log"));
    wait_for("a first commit", Duration::from_secs(30), || {
        committed_lines(&out_file) >= 1
    });
    // The first SIGINT asks for a drain (which must wait for the slow write in flight)...
    child.signal(libc::SIGINT);
    child.wait_for_lines("the drain to begin", 1, Duration::from_secs(10), |l| {
        l.contains("draining")
    });
    // ...the second one exits at once, without committing.
    child.signal(libc::SIGINT);
    let sent = std::time::Instant::now();
    let out = child.wait_exit();
    let took = sent.elapsed();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        took < Duration::from_millis(1000),
        "took {took:?} after the second signal"
    );

    // A restart resumes after the last committed batch and loses nothing.
    let fast = write("fast", 0);
    let again = output(weir(&plugins).arg("run").arg(&fast));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let firsts: Vec<i64> = std::fs::read_to_string(&out_file)
        .expect("committed")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["first"]
                .as_i64()
                .expect("first")
        })
        .collect();
    assert_eq!(firsts, (0..40).map(|b| b * 100).collect::<Vec<_>>());
}

#[test]
fn json_logs_name_the_pipeline_on_every_line_and_never_show_a_password() {
    const SECRET: &str = "pa55-SECRET-w0rd";
    let server = weir_tests::nats::NatsServer::start_with_user("weir", SECRET);
    server.tool(&["stream", "EVENTS", "events.>"]);
    server.tool(&["publish", "events", "0", "2000"]);
    server.tool(&["publish-raw", "events.bad", "not json"]);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    for (name, password, code) in [("json-good", SECRET, 0), ("json-bad", "wrong-pa55", 2)] {
        let m = s.write(
            &Manifest::new(name)
                .source(format!(
                    "nats+jetstream://weir:{password}@{}?subject=events.>&durable={name}",
                    server.host_port()
                ))
                .source_option("source_table", "EVENTS")
                .source_option("batch_size", 500)
                .sink(&lake)
                .sink_option("dest_table", name),
        );
        let out: Outcome = Command::new(weir_bin())
            .args(["--log-format", "json", "--plugin-dir"])
            .arg(&plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", "off")
            .env("WEIR_LOG", "debug")
            .output()
            .expect("run weir")
            .into();
        assert_eq!(out.code, Some(code), "{}", out.stderr);
        assert!(out.stderr.lines().count() > 3, "{}", out.stderr);
        let mut lines = Vec::new();
        for line in out.stderr.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert_eq!(v["pipeline"], name, "no pipeline field: {line}");
            lines.push(v);
        }
        if code == 0 {
            // A plugin's event fields are fields of the line, not text in its message.
            let open = lines
                .iter()
                .find(|v| v["plugin"] == "delta" && v["message"] == "delta sink open")
                .unwrap_or_else(|| panic!("no `delta sink open` line:\n{}", out.stderr));
            assert!(
                open["table"].as_str().is_some_and(|t| t.ends_with(name)),
                "{open}"
            );
            assert_eq!(open["strategy"], "append", "{open}");
        }
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !text.contains(SECRET) && !text.contains("wrong-pa55"),
                "a password leaked:\n{text}"
            );
        }
    }
}

/// `numRecords` of the files each commit of a Delta table added, by commit version.
fn records_per_commit(table: &Path) -> Vec<u64> {
    let mut files: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|a| a["add"]["stats"].as_str().map(str::to_string))
                .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .filter_map(|s| s["numRecords"].as_u64())
                .sum()
        })
        .collect()
}

#[test]
fn sighup_applies_a_changed_batch_size_and_refuses_a_broken_manifest() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let table = lake.join("events");
    let text = |batch: u32| {
        Manifest::new("reloaded")
            .source("generator://?rate=4000&seed=8")
            .source_option("run_in_loop", true)
            .source_option("batch_size", batch)
            .source_option("batch_timeout", 5)
            .sink(&lake)
            .sink_option("dest_table", "events")
            .to_yaml()
    };
    let m = s.manifest("reloaded.yaml", &text(500));
    let child = spawn(weir(&plugins).arg("run").arg(&m));
    wait_for("batches of 500", Duration::from_secs(60), || {
        records_per_commit(&table)
            .iter()
            .filter(|n| **n == 500)
            .count()
            >= 2
    });
    std::fs::write(&m, text(1500)).expect("rewrite");
    signal(&child, libc::SIGHUP);
    wait_for("batches of 1500", Duration::from_secs(60), || {
        records_per_commit(&table)
            .iter()
            .filter(|n| **n == 1500)
            .count()
            >= 2
    });
    std::fs::write(
        &m,
        "name: reloaded\ntype: pipeline\nspec:\n  type: stream\n  schedule: {cron: x}\n",
    )
    .expect("break");
    signal(&child, libc::SIGHUP);
    let before = delta_commits(&table);
    wait_for(
        "commits after the refused reload",
        Duration::from_secs(60),
        || delta_commits(&table) >= before + 2,
    );
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("restarting with the new manifest"),
        "{}",
        out.stderr
    );
    for problem in [
        "type: `pipeline` is not supported",
        "spec.schedule:",
        "spec.source: required",
    ] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("new manifest refused") && l.contains(problem)),
            "missing refused problem `{problem}`:\n{}",
            out.stderr
        );
    }
    // After the refused reload the pipeline kept its 1500-row batches.
    assert!(records_per_commit(&table)
        .iter()
        .rev()
        .skip(1)
        .take(2)
        .all(|n| *n == 1500));
    let summary = delta_summary(&table);
    let rows = summary["rows"].as_i64().expect("rows");
    assert_eq!(summary["distinct_ids"].as_i64(), Some(rows), "{summary}");
    assert_eq!(summary["id_max"].as_i64(), Some(rows - 1), "{summary}");
    assert_eq!(
        summary["txn"]["weir/reloaded/generator"].as_i64(),
        Some(rows),
        "{summary}"
    );
}

#[test]
fn two_pipelines_in_one_process_one_failing_the_other_completes() {
    let s = Scratch::new();
    let mut libs = shipped_plugins();
    libs.push(library("weir_fixture_probe"));
    let plugins = s.plugin_dir("plugins", &libs);
    let lake = s.join("lake");
    let good = |name: &str, source: &str| {
        s.write(
            &Manifest::new(name)
                .source(source)
                .source_option("batch_size", 1000)
                .sink(&lake)
                .sink_option("dest_table", name),
        )
    };
    let a = good("healthy", "generator://?count=5000&seed=1");
    let b = s.write(
        &Manifest::new("broken")
            .source("probe://?rows=100&batches=10")
            .sink("probe://?panic_in_write=0"),
    );
    let out = output(weir(&plugins).arg("run").arg(&a).arg(&b));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let errors = out.error_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("pipeline `broken` failed"),
        "{}",
        errors[0]
    );
    assert_eq!(delta_summary(&lake.join("healthy"))["rows"], 5000);

    // With --fail-fast the failure stops the other pipeline (which would run for minutes).
    let slow = good("slow", "generator://?count=1000000&rate=2000&seed=1");
    let started = std::time::Instant::now();
    let out = output(
        weir(&plugins)
            .args(["run", "--fail-fast"])
            .arg(&slow)
            .arg(&b),
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "--fail-fast did not stop the other pipeline"
    );
    assert!(out.stderr.contains("--fail-fast"), "{}", out.stderr);
    if delta_commits(&lake.join("slow")) > 0 {
        let summary = delta_summary(&lake.join("slow"));
        let rows = summary["rows"].as_i64().expect("rows");
        assert!(rows < 1_000_000);
        assert_eq!(summary["distinct_ids"].as_i64(), Some(rows), "{summary}");
    }
}

#[test]
fn a_failed_pipeline_is_failed_on_health_and_metrics_logged_and_restarted() {
    let s = Scratch::new();
    let mut libs = shipped_plugins();
    libs.push(library("weir_fixture_probe"));
    let plugins = s.plugin_dir("plugins", &libs);
    let lake = s.join("lake");
    let healthy = manifest(&s, "healthy", "generator://?rate=500&seed=2", &lake);
    let broken = s.write(
        &Manifest::new("broken")
            .source("probe://?rows=10&batches=1")
            .source_option("run_in_loop", true)
            .sink("probe://?panic_in_write=0"),
    );
    let port = free_port();
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&healthy)
            .arg(&broken)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    let ready = || http_get(port, "/health/ready").unwrap_or((0, String::new()));
    wait_for("broken shown failed", Duration::from_secs(60), || {
        let (code, body) = ready();
        code == 503 && body.contains("broken: failed:") && body.contains("panicked")
    });
    let failures = |m: &serde_json::Value| sample(m, "weir_pipeline_failures_total", "broken");
    let mut last = serde_json::Value::Null;
    let restarted = std::time::Instant::now();
    while !failures(&last).is_some_and(|n| n >= 2.0) {
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "broken was not restarted: {last}"
        );
        last = scrape(port);
    }
    let m = scrape(port);
    assert_eq!(sample(&m, "weir_pipeline_up", "broken"), Some(0.0), "{m}");
    wait_for("healthy commits on", Duration::from_secs(60), || {
        sample(&scrape(port), "weir_pipeline_up", "healthy") == Some(1.0)
            && delta_commits(&lake.join("events")) >= 2
    });
    assert!(ready().1.contains("healthy: ready"), "{}", ready().1);
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    // Logged at ERROR when it happened, not only at exit; each restart announced.
    let logged = out
        .stderr
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("broken") && !l.starts_with("weir: error:"))
        .count();
    assert!(logged >= 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("restarting the failed pipeline"),
        "{}",
        out.stderr
    );
}

#[test]
fn progress_redraws_on_a_terminal_and_stays_out_of_pipes() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let m = s.write(
        &Manifest::new("progress")
            .source("generator://?count=6000&rate=3000&seed=2")
            .source_option("batch_size", 500)
            .source_option("batch_timeout", 1)
            .sink(s.join("lake")),
    );
    // Under a pseudo-terminal (util-linux `script`).
    let cmd = format!(
        "WEIR_LISTEN=off {} --log-format text --plugin-dir {} run {}",
        weir_bin().display(),
        plugins.display(),
        m.display()
    );
    let tty = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .output()
        .expect("run under script");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{text}");
    assert!(
        text.contains("\r\x1b[2Kprogress: "),
        "no redrawn progress line:\n{text}"
    );
    assert!(text.contains("batches, last commit"), "{text}");
    assert!(
        text.contains("done") && text.contains("6000"),
        "no summary:\n{text}"
    );
    // Piped: plain log lines only.
    let piped = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(piped.code, Some(0), "{}", piped.stderr);
    assert!(
        !piped.stderr.contains('\r') && !piped.stderr.contains("last commit"),
        "{}",
        piped.stderr
    );
}

#[test]
fn a_drain_longer_than_the_grace_period_exits_without_committing() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let out_file = s.join("committed.jsonl");
    let m = s.write(
        &Manifest::new("grace")
            .source("probe://?rows=100&batches=40")
            .source_option("batch_size", 100)
            .source_option("run_in_loop", true)
            .sink(format!(
                "probe://?out={}&slow_write_ms=4000",
                out_file.display()
            )),
    );
    let child = spawn(weir(&plugins).args(["run", "--grace-period", "1"]).arg(&m));
    wait_for("a first commit", Duration::from_secs(30), || {
        committed_lines(&out_file) >= 1
    });
    let committed = committed_lines(&out_file);
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("grace period"), "{}", out.stderr);
    // The batch being written when the grace ran out was not committed.
    let after = committed_lines(&out_file);
    assert!(after <= committed + 1, "{committed} -> {after}");
}

#[test]
fn nats_consumer_lag_is_exported_and_drains_to_zero() {
    let server = weir_tests::nats::NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    server.tool(&["publish", "events", "0", "50000"]);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let m = s.write(
        &Manifest::new("lagging")
            .source(format!(
                "nats+jetstream://{}?subject=events.>&durable=lag",
                server.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 500)
            .source_option("batch_timeout", 1)
            .sink(s.join("lake")),
    );
    let port = free_port();
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    let lag = |metrics: &serde_json::Value| {
        metrics["weir_consumer_lag"]
            .as_array()
            .and_then(|v| v.iter().find(|s| s[0]["key"] == "EVENTS"))
            .and_then(|s| s[1].as_f64())
    };
    let mut early = None;
    wait_for("a first commit", Duration::from_secs(60), || {
        http_get(port, "/health/live").is_some() && {
            let m = scrape(port);
            early = lag(&m);
            sample(&m, "weir_records_out_total", "lagging").is_some_and(|n| n > 0.0)
        }
    });
    assert!(
        early.is_some_and(|l| l > 0.0),
        "lag at the start: {early:?}"
    );
    wait_for(
        "lag 0 with every message written",
        Duration::from_secs(120),
        || {
            let m = scrape(port);
            sample(&m, "weir_records_out_total", "lagging") == Some(50_000.0)
                && lag(&m) == Some(0.0)
        },
    );
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn kafka_consumer_lag_is_exported_per_partition_and_drains_to_zero() {
    let broker = weir_tests::kafka::KafkaBroker::start();
    broker.create_topic("orders", 4);
    broker.produce("orders", 0, 40_000);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let m = s.write(
        &Manifest::new("kafka-lag")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=lag",
                broker.bootstrap()
            ))
            .source_option("source_table", "orders")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 500)
            .source_option("batch_timeout", 1)
            .sink(s.join("lake")),
    );
    let port = free_port();
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    // Each partition's lag, as the metric's `key` label `orders/N`.
    let lags = |metrics: &serde_json::Value| -> Vec<f64> {
        (0..4)
            .filter_map(|p| {
                metrics["weir_consumer_lag"].as_array().and_then(|v| {
                    v.iter()
                        .find(|s| s[0]["key"] == format!("orders/{p}"))
                        .and_then(|s| s[1].as_f64())
                })
            })
            .collect()
    };
    let mut early = Vec::new();
    wait_for(
        "lag of all 4 partitions while behind",
        Duration::from_secs(90),
        || {
            http_get(port, "/health/live").is_some() && {
                early = lags(&scrape(port));
                early.len() == 4 && early.iter().sum::<f64>() > 0.0
            }
        },
    );
    wait_for(
        "lag 0 on every partition with every message written",
        Duration::from_secs(180),
        || {
            let m = scrape(port);
            sample(&m, "weir_records_out_total", "kafka-lag") == Some(40_000.0)
                && lags(&m) == vec![0.0; 4]
        },
    );
    signal(&child, libc::SIGTERM);
    let out: Outcome = child.wait_with_output().expect("exit").into();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    eprintln!("lag while behind: {early:?}");
}
