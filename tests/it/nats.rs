//! NATS JetStream -> Delta against a real nats-server: exactly the published messages, resume,
//! crashes under flow, a server restart, shared durables, and bad input.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::nats::{json_ids, try_json_ids, NatsServer};
use weir_tests::*;

/// A server with the EVENTS stream on `events.>`, a scratch directory with the shipped
/// plugins, and a lake for the Delta table.
struct Fixture {
    server: NatsServer,
    scratch: Scratch,
    plugins: PathBuf,
    lake: PathBuf,
}

impl Fixture {
    fn new(server: NatsServer, published: u64) -> Self {
        stream(&server);
        if published > 0 {
            publish(&server, 0, published);
        }
        let scratch = Scratch::new();
        let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
        let lake = scratch.join("lake");
        Self {
            server,
            scratch,
            plugins,
            lake,
        }
    }

    /// A NATS -> Delta manifest (stream `EVENTS`, subject `events.>`, the address query
    /// extended by `query`), with `options` in `source.options`.
    fn manifest(&self, name: &str, query: &str, options: &[(&str, Value)]) -> PathBuf {
        self.manifest_into(name, query, options, &self.lake)
    }

    fn manifest_into(
        &self,
        name: &str,
        query: &str,
        options: &[(&str, Value)],
        lake: &Path,
    ) -> PathBuf {
        let address = format!(
            "nats+jetstream://{}?subject=events.>{query}",
            self.server.host_port()
        );
        let mut m = Manifest::new(name)
            .source(address)
            .source_option("source_table", "EVENTS")
            .sink(lake)
            .sink_option("dest_table", "events");
        for (k, v) in options {
            m = m.source_option(k, v.clone());
        }
        self.scratch.write(&m)
    }

    fn table(&self) -> PathBuf {
        self.lake.join("events")
    }
}

fn stream(server: &NatsServer) {
    server.tool(&["stream", "EVENTS", "events.>"]);
}

fn publish(server: &NatsServer, from: u64, count: u64) {
    let out = server.tool(&["publish", "events", &from.to_string(), &count.to_string()]);
    assert_eq!(out["published"], count);
}

fn run_ok(plugins: &Path, manifest: &Path) -> Outcome {
    let out = output(weir(plugins).arg("run").arg(manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

#[test]
fn durable_to_delta_exactly_the_published_messages_then_resume() {
    let f = Fixture::new(NatsServer::start(), 100_000);
    let m = f.manifest(
        "nats-durable",
        "&durable=weir",
        &[("batch_size", json!(5000)), ("batch_timeout", json!(2))],
    );
    run_ok(&f.plugins, &m);

    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], 100_000, "{ids}");
    assert_eq!(ids["distinct"], 100_000, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    assert_eq!(ids["distinct_sequences"], 100_000, "{ids}");
    let consumer = f.server.tool(&["consumer", "EVENTS", "weir"]);
    assert_eq!(consumer["ack_floor_stream_seq"], 100_000, "{consumer}");
    assert_eq!(consumer["num_ack_pending"], 0, "{consumer}");

    // A restart adds exactly the new messages.
    publish(&f.server, 100_000, 20_000);
    run_ok(&f.plugins, &m);
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], 120_000, "{ids}");
    assert_eq!(ids["distinct"], 120_000, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    let consumer = f.server.tool(&["consumer", "EVENTS", "weir"]);
    assert_eq!(consumer["ack_floor_stream_seq"], 120_000, "{consumer}");

    // Nothing new: the run ends at once and adds nothing.
    run_ok(&f.plugins, &m);
    assert_eq!(json_ids(&f.table())["rows"], 120_000);
}

#[test]
fn ephemeral_consumer_resumes_at_the_tables_stored_position() {
    let f = Fixture::new(NatsServer::start(), 3_000);
    let m = f.manifest("nats-ephemeral", "", &[("batch_size", json!(1000))]);
    run_ok(&f.plugins, &m);
    publish(&f.server, 3_000, 2_000);
    let out = run_ok(&f.plugins, &m);
    assert!(
        out.stderr
            .contains("resuming at the sink's stored position"),
        "{}",
        out.stderr
    );
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], 5_000, "{ids}");
    assert_eq!(ids["distinct"], 5_000, "{ids}");
    let summary = delta_summary(&f.table());
    assert_eq!(
        summary["txn"]["weir/nats-ephemeral/EVENTS"], 5_001,
        "{summary}"
    );
}

#[test]
fn sigkill_under_flow_loses_nothing_and_duplicates_at_most_the_batch_in_flight() {
    const TOTAL: u64 = 30_000;
    const BATCH: u64 = 1_000;
    let f = Fixture::new(NatsServer::start(), 0);
    let (plugins, table) = (&f.plugins, f.table());
    let m = f.manifest(
        "nats-kill",
        "&durable=weir&ack_wait=3",
        &[
            ("batch_size", json!(BATCH)),
            ("batch_timeout", json!(1)),
            ("run_in_loop", json!(true)),
        ],
    );
    let mut publisher = f.server.publish_in_background("events", 0, TOTAL, 3_000);
    // Deterministic "random" moments, spread over the publishing time.
    let mut clock = KillClock::with_seed(0x5eed);
    for round in 0..5 {
        let child = spawn(weir(plugins).arg("run").arg(&m));
        let wait_ms = 800 + clock.next_ms(1500);
        // Not synchronisation: the random moment of the kill is what the test varies.
        std::thread::sleep(Duration::from_millis(wait_ms));
        signal(&child, libc::SIGKILL);
        let out = wait_exit(child);
        assert_eq!(
            out.code, None,
            "round {round}: weir was not killed: {}",
            out.stderr
        );
    }
    assert!(publisher.wait().expect("publisher").success());
    run_until(plugins, &m, &table, TOTAL, Duration::from_secs(300));

    let ids = json_ids(&table);
    assert_eq!(ids["distinct"], TOTAL, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    let dups = ids["duplicates"].as_u64().expect("duplicates");
    // Each kill can leave at most the batches in flight (one being written, one queued, one
    // being built) committed to the table but not acked.
    assert!(dups <= 5 * 3 * BATCH, "{dups} duplicates: {ids}");
    eprintln!("duplicates after 5 kills: {dups}");
}

#[test]
fn a_restarted_nats_server_is_reconnected_to_and_nothing_is_missing() {
    const TOTAL: u64 = 20_000;
    let mut f = Fixture::new(NatsServer::start(), TOTAL / 2);
    let table = f.table();
    let m = f.manifest(
        "nats-restart",
        "&durable=weir",
        &[
            ("batch_size", json!(1000)),
            ("batch_timeout", json!(1)),
            ("run_in_loop", json!(true)),
        ],
    );
    let child = spawn(weir(&f.plugins).arg("run").arg(&m));
    wait_for("the first commits", Duration::from_secs(60), || {
        delta_commits(&table) >= 2
    });
    f.server.restart(Duration::from_millis(1500));
    publish(&f.server, TOTAL / 2, TOTAL / 2);
    let reached = eventually(Duration::from_secs(120), || {
        try_json_ids(&table).is_some_and(|ids| ids["distinct"].as_u64() >= Some(TOTAL))
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert!(
        reached,
        "not every message arrived: {}\n{}",
        json_ids(&table),
        out.stderr
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ids = json_ids(&table);
    assert_eq!(ids["missing_count"], 0, "{ids}");
}

#[test]
fn processes_sharing_a_durable_split_the_work() {
    const TOTAL: u64 = 20_000;
    let f = Fixture::new(NatsServer::start(), TOTAL);
    let (lake_a, lake_b) = (f.scratch.join("a"), f.scratch.join("b"));
    let opts = &[
        ("batch_size", json!(500)),
        ("batch_timeout", json!(1)),
        ("run_in_loop", json!(true)),
    ];
    let ma = f.manifest_into("share-a", "&durable=shared", opts, &lake_a);
    let mb = f.manifest_into("share-b", "&durable=shared", opts, &lake_b);
    let a = spawn(weir(&f.plugins).arg("run").arg(&ma));
    let b = spawn(weir(&f.plugins).arg("run").arg(&mb));
    let count = |t: &Path| {
        try_json_ids(t)
            .and_then(|ids| ids["rows"].as_u64())
            .unwrap_or(0)
    };
    wait_for(
        "all messages in the two tables",
        Duration::from_secs(120),
        || count(&lake_a.join("events")) + count(&lake_b.join("events")) >= TOTAL,
    );
    signal(&a, libc::SIGTERM);
    signal(&b, libc::SIGTERM);
    let (oa, ob) = (wait_exit(a), wait_exit(b));
    assert_eq!(oa.code, Some(0), "{}", oa.stderr);
    assert_eq!(ob.code, Some(0), "{}", ob.stderr);
    let (ia, ib) = (
        json_ids(&lake_a.join("events")),
        json_ids(&lake_b.join("events")),
    );
    let (ra, rb) = (
        ia["rows"].as_u64().unwrap_or(0),
        ib["rows"].as_u64().unwrap_or(0),
    );
    assert_eq!(ra + rb, TOTAL, "a: {ia}\nb: {ib}");
    assert!(
        ra > 0 && rb > 0,
        "one process got everything: a {ra}, b {rb}"
    );
}

#[test]
fn bad_input_gets_one_clear_error_naming_the_key() {
    let f = Fixture::new(NatsServer::start_with_user("weir", "right"), 0);
    let (plugins, lake) = (&f.plugins, &f.lake);
    let write = |name: &str, address: &str, table: &str| {
        f.scratch.write(
            &Manifest::new(name)
                .source(address)
                .source_option("source_table", table)
                .sink(lake),
        )
    };
    let hp = f.server.host_port();
    let cases = [
        (
            write(
                "wrong-password",
                &format!("nats+jetstream://weir:wrong@{hp}?subject=events.>"),
                "EVENTS",
            ),
            "credentials in spec.source.address",
            2,
        ),
        (
            write(
                "unknown-stream",
                &format!("nats+jetstream://weir:right@{hp}?subject=events.>"),
                "NOPE",
            ),
            "spec.source.options.source_table: stream `NOPE` does not exist",
            2,
        ),
        (
            write(
                "no-subject",
                &format!("nats+jetstream://weir:right@{hp}"),
                "EVENTS",
            ),
            "`subject` is required",
            2,
        ),
    ];
    for (m, needle, code) in cases {
        let out = output(weir(plugins).arg("run").arg(&m));
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{}: {}", m.display(), out.stderr);
        assert!(errors[0].contains(needle), "{}: {}", m.display(), errors[0]);
        assert!(
            !out.stderr.contains("wrong@") && !out.stderr.contains("right@"),
            "a password leaked: {}",
            out.stderr
        );
        assert_eq!(out.code, Some(code), "{}: {}", m.display(), out.stderr);
        assert_eq!(delta_commits(lake), 0);
    }
}

/// `GET /health/ready`: the status code, or `None` while nothing answers.
fn ready_status(port: u16) -> Option<u16> {
    http_get(port, "/health/ready").map(|(code, _)| code)
}

#[test]
fn a_broker_down_for_three_minutes_keeps_the_service_up_not_ready_then_caught_up() {
    let mut f = Fixture::new(NatsServer::start(), 1_000);
    let m = f.manifest(
        "maintenance",
        "&durable=weir",
        &[
            ("batch_size", json!(200)),
            ("batch_timeout", json!(1)),
            ("run_in_loop", json!(true)),
        ],
    );
    let port = free_port();
    let mut child = spawn(
        weir(&f.plugins)
            .arg("run")
            .arg(&m)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    let rows = |t: &Path| {
        try_json_ids(t)
            .and_then(|ids| ids["rows"].as_u64())
            .unwrap_or(0)
    };
    wait_for("the first messages", Duration::from_secs(60), || {
        rows(&f.table()) >= 1_000 && ready_status(port) == Some(200)
    });
    f.server.stop();
    // The outage itself is what is tested: three minutes of it, watched every second (this
    // loop paces the observation; nothing waits on it for synchronisation).
    let down = std::time::Instant::now();
    let mut not_ready_seen = false;
    while down.elapsed() < Duration::from_secs(180) {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "weir exited during the outage"
        );
        not_ready_seen |= ready_status(port) == Some(503);
        // Not synchronisation: paces the observation of the outage (see above).
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        not_ready_seen,
        "never reported not ready while the broker was down"
    );
    f.server.start_again();
    publish(&f.server, 1_000, 1_000);
    wait_for(
        "caught up after the outage",
        Duration::from_secs(120),
        || rows(&f.table()) >= 2_000 && ready_status(port) == Some(200),
    );
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], 2_000, "{ids}");
    assert_eq!(ids["distinct"], 2_000, "{ids}");
}

#[test]
fn records_the_streams_limits_removed_are_a_warning_and_a_metric() {
    let server = NatsServer::start();
    server.tool(&["stream", "LIMITED", "limited.>", "100"]);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let limited = Manifest::new("limited")
        .source(format!(
            "nats+jetstream://{}?subject=limited.>",
            server.host_port()
        ))
        .source_option("source_table", "LIMITED")
        .source_option("batch_size", 50)
        .sink(&lake)
        .sink_option("dest_table", "events");
    let m = s.write(&limited);
    let out = server.tool(&["publish", "limited", "0", "100"]);
    assert_eq!(out["published"], 100);
    run_ok(&plugins, &m);
    // 1 000 more: the stream keeps the last 100, so sequences 101..1000 are gone unread.
    let out = server.tool(&["publish", "limited", "100", "1000"]);
    assert_eq!(out["published"], 1000);
    let port = free_port();
    let looped = s.join("loop");
    std::fs::create_dir_all(&looped).expect("a directory for the looping manifest");
    let looped = limited.source_option("run_in_loop", true).write_in(&looped);
    let child = spawn(
        weir(&plugins)
            .arg("run")
            .arg(&looped)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}")),
    );
    let skipped = || {
        let text = http_get(port, "/metrics").unwrap_or_default().1;
        text.lines()
            .find(|l| l.starts_with("weir_records_skipped_total{") && l.contains("key=\"LIMITED\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    wait_for(
        "the skipped records counted",
        Duration::from_secs(60),
        || {
            skipped() == Some(900.0)
                && try_json_ids(&lake.join("events")).is_some_and(|ids| ids["rows"] == 200)
        },
    );
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let warn = out
        .stderr
        .lines()
        .find(|l| l.contains("900 records skipped on LIMITED"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(warn.contains("WARN"), "{warn}");
}

#[test]
fn max_retry_time_bounds_the_wait_for_an_absent_server_in_run_in_loop_mode() {
    let mut f = Fixture::new(NatsServer::start(), 0);
    f.server.stop();
    let m = f.manifest(
        "bounded",
        "&durable=weir",
        &[("run_in_loop", json!(true)), ("max_retry_time", json!(1.5))],
    );
    let out = output(
        weir(&f.plugins)
            .args(["run", "--restart-failed", "never"])
            .arg(&m),
    );
    // Without the bound a looping pipeline retries until the server is back.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    assert!(
        out.stderr.contains("pipeline `bounded` failed"),
        "{}",
        out.stderr
    );
}
