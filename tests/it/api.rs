//! The pipelines API on `--listen` against a running Kafka -> Delta pipeline (tansu; ids read
//! back by Python deltalake, group offsets by confluent-kafka): `/pipelines` and
//! `/pipelines/{name}`, pause (no commits, the group's lag grows, readiness says paused),
//! resume (it catches up, every id exactly once), restart (drains and resumes from the stored
//! positions), reload, a 404 for an unknown name, and the API token (never in an answer).

use serde_json::Value;
use std::time::Duration;
use weir_tests::kafka::KafkaBroker;
use weir_tests::manifest::Manifest;
use weir_tests::nats::try_json_ids;
use weir_tests::running::Running;
use weir_tests::*;

const TOPIC: &str = "orders";
const TOKEN: &str = "tok-8d1f";

fn get(port: u16, path: &str) -> Value {
    let (code, body) = http_get(port, path).expect("the API answers");
    assert_eq!(code, 200, "GET {path}: {body}");
    assert!(!body.contains(TOKEN), "GET {path} shows the token: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn post(port: u16, path: &str) -> (u16, Value) {
    let (code, body) = http_post(port, path, Some(TOKEN)).expect("the API answers");
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {path}: {e}: {body}"));
    (code, v)
}

/// Waits until the table holds `n` distinct ids; asserts none is missing or twice.
fn wait_for_ids(table: &std::path::Path, n: u64) {
    wait_for(
        &format!("{n} ids in the table"),
        Duration::from_secs(120),
        || try_json_ids(table).is_some_and(|ids| ids["distinct"] == n),
    );
    let ids = try_json_ids(table).expect("ids");
    assert_eq!(ids["rows"], n, "{ids}");
    assert_eq!(ids["duplicates"], 0, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
}

/// Messages produced and not yet committed by the group, over every partition.
fn group_lag(broker: &KafkaBroker, group: &str) -> u64 {
    let o = broker.offsets(group, TOPIC);
    (0..2)
        .map(|p| {
            let h = o["high"][p.to_string()].as_u64().unwrap_or(0);
            let c = o["committed"][p.to_string()].as_u64().unwrap_or(0);
            h.saturating_sub(c)
        })
        .sum()
}

#[test]
fn pause_resume_and_restart_a_running_kafka_pipeline() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 2);
    broker.produce(TOPIC, 0, 2_000);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let table = lake.join("orders");
    let address = format!(
        "kafka://?bootstrap_servers={}&group_id=api",
        broker.bootstrap()
    );
    let manifest = s.write(
        &Manifest::new("orders")
            .source(address)
            .source_option("source_table", TOPIC)
            .source_option("batch_size", 500)
            .source_option("batch_timeout", 1)
            .source_option("run_in_loop", true)
            .sink(&lake)
            .sink_option("dest_table", "orders"),
    );
    let port = free_port();
    let run = Running::serving(&plugins, &manifest, port, TOKEN, &s.join("weir.log"));
    wait_for_ids(&table, 2_000);
    let all = get(port, "/pipelines");
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    let p = get(port, "/pipelines/orders");
    assert_eq!(p["state"], "running", "{p}");
    assert_eq!(p["source"]["plugin"], "kafka", "{p}");
    assert_eq!(p["sink"]["scheme"], "file", "{p}");
    assert_eq!(p["records_out"], 2_000, "{p}");
    let at: i64 = (0..2)
        .map(|k| p["positions"][format!("{TOPIC}/{k}")].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(at, 2_000, "{p}");

    // Without the token, or with a wrong one: refused, and nothing changes.
    let (code, body) = http_post(port, "/pipelines/orders/pause", None).expect("answer");
    assert_eq!(code, 401, "{body}");
    let (code, _) = http_post(port, "/pipelines/orders/pause", Some("nope")).expect("answer");
    assert_eq!(code, 401);
    let (code, body) = post(port, "/pipelines/nosuch/pause");
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no pipeline named `nosuch`") && e.contains("orders")),
        "{body}"
    );

    // Pause: no commits while paused, the group's lag grows, readiness says paused.
    let (code, body) = post(port, "/pipelines/orders/pause");
    assert_eq!(code, 202, "{body}");
    wait_for("the paused state", Duration::from_secs(30), || {
        get(port, "/pipelines/orders")["state"] == "paused"
    });
    let commits = delta_commits(&table);
    broker.produce(TOPIC, 2_000, 1_000);
    // The group's offsets are committed after the table's commit: wait for the last one.
    wait_for("the group's lag of 1 000", Duration::from_secs(30), || {
        group_lag(&broker, "api") == 1_000
    });
    let (code, ready) = http_get(port, "/health/ready").expect("ready");
    assert_eq!(code, 200, "{ready}");
    assert!(ready.contains("orders: paused"), "{ready}");
    // Three batch timeouts with records waiting and no commit.
    let quiet = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < quiet {
        assert_eq!(delta_commits(&table), commits, "a commit while paused");
        // Not synchronisation: the poll interval of a window in which nothing may happen.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(group_lag(&broker, "api"), 1_000);

    // Resume: it catches up.
    let (code, _) = post(port, "/pipelines/orders/resume");
    assert_eq!(code, 202);
    wait_for_ids(&table, 3_000);
    assert_eq!(get(port, "/pipelines/orders")["state"], "running");

    // Restart: drains, starts again from the stored positions.
    let (code, _) = post(port, "/pipelines/orders/restart");
    assert_eq!(code, 202);
    wait_for("the restart", Duration::from_secs(60), || {
        let p = get(port, "/pipelines/orders");
        p["restarts"] == 1 && p["state"] == "running"
    });
    broker.produce(TOPIC, 3_000, 500);
    wait_for_ids(&table, 3_500);
    let p = get(port, "/pipelines/orders");
    assert_eq!(p["records_out"], 3_500, "{p}");
    assert!(p["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{p}");
    assert!(
        p["source"]["address"]
            .as_str()
            .is_some_and(|a| a.contains("group_id=api")),
        "{p}"
    );

    // Reload: the manifest as it is now, applied by a drain.
    let (code, _) = post(port, "/reload");
    assert_eq!(code, 202);
    wait_for("the reload", Duration::from_secs(60), || {
        get(port, "/pipelines/orders")["restarts"] == 2
    });
    run.signal(libc::SIGTERM);
    let out = run.wait_exit();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
