//! `deploy/grafana/weir.json`: every query of the dashboard names a metric a live weir serves
//! at /metrics, and the dashboard covers what an operator watches (throughput, lag per key,
//! commit latency, retries, dead letters, readiness).

use std::collections::BTreeSet;
use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::nats::NatsServer;
use weir_tests::*;

/// The sample names a /metrics text declares: each `# TYPE` family with its type's suffixes.
fn served_names(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        }
    }
    names
}

/// Every `weir_*` name in the dashboard's queries (panel targets and template variables).
fn queried_names(dashboard: &serde_json::Value) -> BTreeSet<String> {
    let mut exprs: Vec<String> = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(q) = v["query"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let mut names = BTreeSet::new();
    for e in exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("weir_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

#[test]
fn every_dashboard_query_names_a_served_metric() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/weir.json")).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let queried = queried_names(&dashboard);
    for topic in [
        "weir_records_out_total",
        "weir_consumer_lag",
        "weir_commit_seconds_bucket",
        "weir_retries_total",
        "weir_dead_letters_total",
        "weir_pipeline_up",
    ] {
        assert!(
            queried.contains(topic),
            "no panel shows {topic}: {queried:?}"
        );
    }

    // Three pipelines in one weir, so every family has a series: one flowing from a NATS
    // durable (lag, commits), one retrying a closed port, one failing in its sink.
    let server = NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    server.tool(&["publish", "events", "0", "3000"]);
    let s = Scratch::new();
    let plugins = s.plugin_dir(
        "plugins",
        &[
            library("weir_plugin_nats"),
            library("weir_plugin_delta"),
            library("weir_fixture_probe"),
        ],
    );
    let nats = |name: &str, host: &str| {
        s.write(
            &Manifest::new(name)
                .source(format!(
                    "nats+jetstream://{host}?subject=events.>&durable={name}"
                ))
                .source_option("source_table", "EVENTS")
                .source_option("run_in_loop", true)
                .source_option("batch_size", 500)
                .source_option("batch_timeout", 1)
                .sink(s.join("lake"))
                .sink_option("dest_table", name),
        )
    };
    let flowing = nats("flowing", &server.host_port());
    let retrying = nats("retrying", &format!("127.0.0.1:{}", free_port()));
    let failing = s.write(
        &Manifest::new("failing")
            .source("probe://?rows=10&batches=3")
            .sink("probe://?panic_in_write=0"),
    );
    let port = free_port();
    let log = s.join("weir.log");
    let child = weir(&plugins)
        .args(["run", "--restart-failed", "never"])
        .args([&flowing, &retrying, &failing])
        .env("WEIR_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start weir");
    let mut metrics = String::new();
    let want = [
        "weir_commit_seconds_count{",
        "weir_consumer_lag{",
        "weir_retries_total{",
        "weir_pipeline_failures_total{",
    ];
    wait_for("every family in /metrics", Duration::from_secs(90), || {
        metrics = http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        want.iter().all(|w| metrics.contains(w))
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert!(
        out.code.is_some(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let served = served_names(&metrics);
    let unknown: Vec<&String> = queried.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics weir does not serve: {unknown:?}\nserved: {served:?}"
    );
}
