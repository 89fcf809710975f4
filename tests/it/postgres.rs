//! The PostgreSQL sink end to end against a real server (Debian's PostgreSQL, started by the
//! harness): the Nilus NATS sample through a depot, Kafka merge, SIGKILLs, a server restart,
//! evolution, a second writer, refused rows and bad input. Tables are read back by `psql`.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_tests::kafka::KafkaBroker;
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::nats::NatsServer;
use weir_tests::postgres::{Postgres, PASSWORD};
use weir_tests::running::Running;
use weir_tests::*;

/// A server, a scratch directory with the shipped plugins.
struct Fixture {
    pg: Postgres,
    scratch: Scratch,
    plugins: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let pg = Postgres::start();
        let scratch = Scratch::new();
        let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
        Self {
            pg,
            scratch,
            plugins,
        }
    }

    fn count(&self, sql: &str) -> i64 {
        self.pg.count("weir", sql)
    }
}

fn run_ok(plugins: &Path, manifest: &Path) -> Outcome {
    let out = output(weir(plugins).arg("run").arg(manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

/// JSON lines into `dir/NAME.jsonl`.
fn lines(dir: &Path, name: &str, rows: impl IntoIterator<Item = serde_json::Value>) {
    std::fs::create_dir_all(dir).expect("inbox");
    let text: String = rows.into_iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), text).expect("lines");
}

#[test]
fn nats_sample_through_a_pgdepot_lands_exactly_once_then_only_the_new_messages() {
    let f = Fixture::new();
    let nats = NatsServer::start();
    nats.tool(&["stream", "EVENTS", "events.>"]);
    let published = nats.tool(&["publish", "events", "0", "50000"]);
    assert_eq!(published["published"], 50_000);
    let depots = f.scratch.join("depots.yaml");
    std::fs::write(
        &depots,
        format!(
            "depots:\n  pgdepot: {{type: postgresql, host: 127.0.0.1, port: {}, database: weir, user: weir, password: \"{{PG_PASSWORD}}\"}}\n",
            f.pg.port()
        ),
    )
    .expect("depots file");
    // The Nilus NATS stream sample, in its current form.
    let m = f.scratch.write(
        &Manifest::new("nats-to-pg")
            .source(format!(
                "nats+jetstream://{}?subject=events.>&durable=weir",
                nats.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("batch_size", 5000)
            .source_option("batch_timeout", 2)
            .sink("dataos://pgdepot?purpose=rw")
            .sink_option("dest_table", "nats_stream.events"),
    );
    let run = || {
        let out = output(
            weir(&f.plugins)
                .arg("--depots")
                .arg(&depots)
                .env("PG_PASSWORD", PASSWORD)
                .arg("run")
                .arg(&m),
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stderr.contains(PASSWORD), "the password was printed");
        out
    };
    run();
    let q = |sql: &str| f.count(sql);
    assert_eq!(q("SELECT count(*) FROM nats_stream.events"), 50_000);
    assert_eq!(
        q("SELECT count(DISTINCT id) FROM nats_stream.events"),
        50_000
    );
    assert_eq!(
        q("SELECT next FROM nats_stream.weir_positions WHERE pipeline = 'nats-to-pg'"),
        50_001
    );
    // A second run adds exactly the new messages.
    nats.tool(&["publish", "events", "50000", "5000"]);
    run();
    assert_eq!(q("SELECT count(*) FROM nats_stream.events"), 55_000);
    assert_eq!(
        q("SELECT count(DISTINCT id) FROM nats_stream.events"),
        55_000
    );
}

#[test]
fn kafka_merge_keeps_the_latest_row_per_key() {
    let f = Fixture::new();
    let broker = KafkaBroker::start();
    broker.create_topic("updates", 4);
    // 10 000 updates over 1 000 keys; keys repeat within every batch of 3 000.
    broker.produce_updates("updates", 10_000, 1_000);
    let m = f.scratch.write(
        &Manifest::new("merge")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=merge",
                broker.bootstrap()
            ))
            .source_option("source_table", "updates")
            .source_option("batch_size", 3000)
            .source_option("primary_key", "id")
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "shop.latest")
            .sink_option("incremental_strategy", "merge"),
    );
    run_ok(&f.plugins, &m);
    assert_eq!(f.count("SELECT count(*) FROM shop.latest"), 1000);
    // Each key's latest version: the largest n with n * 7 % 1000 == id.
    let wrong = f.count(
        "SELECT count(*) FROM shop.latest l WHERE l.version <> (SELECT max(n) FROM generate_series(0, 9999) n WHERE n * 7 % 1000 = l.id) OR l.note <> 'v' || l.version",
    );
    assert_eq!(wrong, 0);
    // The four partitions' positions account for every update.
    assert_eq!(
        f.count("SELECT sum(next) FROM shop.weir_positions WHERE pipeline = 'merge'"),
        10_000
    );
    let unique = f.pg.psql(
        "weir",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'shop' AND tablename = 'latest'",
    );
    assert!(unique.contains("UNIQUE"), "{unique}");
}

#[test]
fn twenty_sigkills_leave_each_id_exactly_once() {
    let f = Fixture::new();
    let m = f.scratch.write(
        &Manifest::new("crash")
            .source("generator://?rate=20000&seed=3")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 2000)
            .source_option("batch_timeout", 1)
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "events"),
    );
    let positions =
        "SELECT coalesce(max(next), 0) FROM public.weir_positions WHERE pipeline = 'crash'";
    let mut clock = KillClock::new();
    for kill in 0..20 {
        let before = f.count(positions);
        let log = f.scratch.join(&format!("run-{kill}.log"));
        let mut child = spawn_run(&f.plugins, &m, &log);
        wait_for(
            "a commit by the restarted process",
            Duration::from_secs(60),
            || f.count(positions) > before,
        );
        clock.kill(&mut child, 900, &log, &format!("kill {kill}"));
    }
    let before = f.count(positions);
    let log = f.scratch.join("final.log");
    let child = spawn_run(&f.plugins, &m, &log);
    wait_for("a commit by the final run", Duration::from_secs(60), || {
        f.count(positions) > before
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let n = f.count(positions);
    assert!(n > 0);
    assert_eq!(
        f.count("SELECT count(*) FROM events"),
        n,
        "rows != stored position"
    );
    assert_eq!(f.count("SELECT count(DISTINCT id) FROM events"), n);
    assert_eq!(f.count("SELECT max(id) FROM events"), n - 1);
}

#[test]
fn a_server_restart_mid_run_is_retried_and_loses_or_doubles_nothing() {
    let mut f = Fixture::new();
    let m = f.scratch.write(
        &Manifest::new("restart")
            .source("generator://?rate=5000&seed=9")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 1000)
            .source_option("batch_timeout", 1)
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "events"),
    );
    let port = free_port();
    let log = f.scratch.join("run.log");
    let mut run = Running::start(
        weir(&f.plugins)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}"))
            .arg("run")
            .arg(&m),
        &log,
    );
    let positions =
        "SELECT coalesce(max(next), 0) FROM public.weir_positions WHERE pipeline = 'restart'";
    let ready = || http_get(port, "/health/ready").map(|(code, _)| code);
    wait_for("commits while ready", Duration::from_secs(60), || {
        f.count(positions) >= 5_000 && ready() == Some(200)
    });
    // `pg_ctl restart -m fast`, in two halves so the test sees the outage.
    f.pg.stop_fast();
    wait_for(
        "not ready while PostgreSQL is down",
        Duration::from_secs(60),
        || ready() == Some(503),
    );
    run.wait_for_lines("a retry", 1, Duration::from_secs(30), |l| {
        l.contains("retrying")
    });
    // `/pipelines` says so, with the sink's error, and never the password in the address.
    let pipeline = || {
        let (code, body) = http_get(port, "/pipelines/restart").expect("the API answers");
        assert_eq!(code, 200, "{body}");
        assert!(
            !body.contains(PASSWORD),
            "/pipelines shows the password: {body}"
        );
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")
    };
    wait_for("`retrying` in /pipelines", Duration::from_secs(30), || {
        pipeline()["state"] == "retrying"
    });
    let p = pipeline();
    let error = p["last_error"]["message"].as_str().unwrap_or_default();
    assert!(error.starts_with("sink "), "{p}");
    assert!(
        p["sink"]["address"]
            .as_str()
            .is_some_and(|a| a.contains(":***@127.0.0.1")),
        "{p}"
    );
    f.pg.start_again();
    let before = f.count(positions);
    wait_for(
        "ready and committing again",
        Duration::from_secs(120),
        || ready() == Some(200) && f.count(positions) >= before + 5_000,
    );
    assert_eq!(pipeline()["state"], "running");
    run.signal(libc::SIGTERM);
    let out = run.wait_exit();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains(PASSWORD), "the password was printed");
    let n = f.count(positions);
    assert_eq!(
        f.count("SELECT count(*) FROM events"),
        n,
        "rows != stored position"
    );
    assert_eq!(f.count("SELECT count(DISTINCT id) FROM events"), n);
    assert_eq!(f.count("SELECT max(id) FROM events"), n - 1);
}

#[test]
fn columns_are_added_widened_and_sent_to_variants() {
    let f = Fixture::new();
    f.pg.psql(
        "weir",
        "CREATE SCHEMA evo; CREATE TABLE evo.t (id bigint, qty integer, price real)",
    );
    let inbox = f.scratch.join("inbox");
    let m = f.scratch.write(
        &Manifest::new("evo")
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "evo.t"),
    );
    // Integers wider than `integer` widen it; a new column is added; price stays real.
    lines(
        &inbox,
        "a",
        [json!({"id": 1, "qty": 5_000_000_000i64, "price": 1.5, "colour": "red"})],
    );
    run_ok(&f.plugins, &m);
    // `qty` omitted (NULL); `price` as text goes to its variant.
    lines(&inbox, "b", [json!({"id": 2, "price": "cheap"})]);
    run_ok(&f.plugins, &m);
    let types = f.pg.psql(
        "weir",
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'evo' AND table_name = 't' AND column_name NOT LIKE '\\_file\\_%'",
    );
    assert_eq!(
        types,
        "id bigint, qty bigint, price double precision, colour text, price__v_text text"
    );
    let rows = f.pg.psql(
        "weir",
        "SELECT string_agg(concat_ws('|', id, qty, price, colour, price__v_text), ';' ORDER BY id) FROM evo.t",
    );
    assert_eq!(rows, "1|5000000000|1.5|red;2|cheap");
}

#[test]
fn a_second_writer_of_the_same_pipeline_is_detected_and_no_row_doubles() {
    let f = Fixture::new();
    let m = f.scratch.write(
        &Manifest::new("twice")
            .source("generator://?count=60000&rate=30000&seed=5")
            .source_option("batch_size", 3000)
            .source_option("batch_timeout", 1)
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "events"),
    );
    let logs = [f.scratch.join("a.log"), f.scratch.join("b.log")];
    let children: Vec<_> = logs.iter().map(|l| spawn_run(&f.plugins, &m, l)).collect();
    for (child, log) in children.into_iter().zip(&logs) {
        let out = wait_exit(child);
        assert_eq!(
            out.code,
            Some(0),
            "{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    assert_eq!(f.count("SELECT count(*) FROM events"), 60_000);
    assert_eq!(f.count("SELECT count(DISTINCT id) FROM events"), 60_000);
    let both: String = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    assert!(
        both.contains("positions moved by another writer"),
        "neither process saw the other: {both}"
    );
}

#[test]
fn bad_input_gets_one_clear_error_and_never_the_password() {
    let f = Fixture::new();
    let manifest = |name: &str, address: String| {
        f.scratch.write(
            &Manifest::new(name)
                .source("generator://?count=10")
                .sink(address)
                .sink_option("dest_table", "events"),
        )
    };
    let wrong = f.pg.url("weir").replace(PASSWORD, "Wrong-Secret-42");
    let out = output(weir(&f.plugins).arg("run").arg(manifest("pw", wrong)));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("28P01"), "{}", out.stderr);
    assert!(
        out.stderr.contains("check the user and password"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Wrong-Secret-42"), "{}", out.stderr);

    let out = output(
        weir(&f.plugins)
            .arg("run")
            .arg(manifest("db", f.pg.url("nope"))),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("3D000"), "{}", out.stderr);
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);

    let out = output(
        weir(&f.plugins)
            .arg("validate")
            .arg(manifest("v", f.pg.url("weir"))),
    );
    assert!(
        !out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD),
        "{out:?}"
    );
}

#[test]
fn an_unreachable_host_is_retried_and_depot_mistakes_are_one_error_each() {
    let f = Fixture::new();
    let manifest = |name: &str, address: String| {
        f.scratch.write(
            &Manifest::new(name)
                .source("generator://?count=10")
                .source_option("max_retry_time", 3)
                .sink(address)
                .sink_option("dest_table", "events"),
        )
    };
    // Nothing listens on this port: a connection problem, retried, then a runtime failure.
    let nobody =
        f.pg.url("weir")
            .replace(&format!(":{}/", f.pg.port()), &format!(":{}/", free_port()));
    let out = output(weir(&f.plugins).arg("run").arg(manifest("gone", nobody)));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot reach PostgreSQL"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.matches("retrying").count() >= 2,
        "not retried: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);

    let depots = f.scratch.join("depots.yaml");
    std::fs::write(
        &depots,
        format!(
            "depots:\n  pgdepot: {{type: postgresql, host: 127.0.0.1, port: {}, database: weir, user: weir, password: \"{PASSWORD}\"}}\n",
            f.pg.port()
        ),
    )
    .expect("depots file");
    let with_depots = |m: &Path| {
        output(
            weir(&f.plugins)
                .arg("--depots")
                .arg(&depots)
                .arg("run")
                .arg(m),
        )
    };
    let out = with_depots(&manifest("nodepot", "dataos://nodepot?purpose=rw".into()));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("depot `nodepot` is not in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pgdepot"),
        "the known depots: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);

    std::fs::write(&depots, "depots: [pgdepot: {type: postgresql\n").expect("broken file");
    let out = with_depots(&manifest("broken", "dataos://pgdepot?purpose=rw".into()));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not a depots file"), "{}", out.stderr);
    assert!(out.stderr.contains("depots.yaml"), "{}", out.stderr);
}

#[test]
fn rows_the_table_refuses_go_to_the_dead_letters_and_the_rest_commits() {
    let f = Fixture::new();
    f.pg.psql(
        "weir",
        "CREATE SCHEMA shop; CREATE TABLE shop.orders (id bigint, name text NOT NULL, qty integer CHECK (qty >= 0))",
    );
    let inbox = f.scratch.join("inbox");
    // 1 000 orders: every 100th has no name, every 250th a negative quantity.
    lines(
        &inbox,
        "orders",
        (0..1000).map(|i| {
            let qty = if i % 250 == 7 { -1 } else { i % 10 };
            if i % 100 == 3 {
                json!({"id": i, "qty": qty})
            } else {
                json!({"id": i, "name": format!("n{i}"), "qty": qty})
            }
        }),
    );
    let refused = (0..1000).filter(|i| i % 100 == 3 || i % 250 == 7).count() as i64;
    let manifest = |name: &str, dead: Option<&Path>| {
        let mut m = Manifest::new(name)
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .source_option("batch_size", 400)
            .sink(f.pg.url("weir"))
            .sink_option("dest_table", "shop.orders");
        if let Some(d) = dead {
            m = m.source_option("dead_letter", d.display().to_string());
        }
        f.scratch.write(&m)
    };
    // Without a dead letter: the run stops on the first batch, nothing of it committed.
    let out = output(weir(&f.plugins).arg("run").arg(manifest("strict", None)));
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert!(out.stderr.contains("orders.jsonl@"), "{}", out.stderr);
    assert!(out.stderr.contains("23502"), "{}", out.stderr);
    assert_eq!(f.count("SELECT count(*) FROM shop.orders"), 0);
    assert_eq!(
        f.count("SELECT count(*) FROM shop.weir_positions WHERE pipeline = 'strict'"),
        0
    );
    // With one: the refused rows are dead letters with the server's reason, the rest lands.
    let dead = f.scratch.join("dead");
    run_ok(&f.plugins, &manifest("kept", Some(&dead)));
    assert_eq!(f.count("SELECT count(*) FROM shop.orders"), 1000 - refused);
    assert_eq!(
        f.count("SELECT count(*) FROM shop.orders WHERE id % 100 = 3 OR id % 250 = 7"),
        0
    );
    let rows = delta_rows(&dead, &f.scratch);
    assert_eq!(rows.len() as i64, refused, "{rows:?}");
    let errors: Vec<&str> = rows.iter().filter_map(|r| r["_error"].as_str()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("23502") && e.contains("name")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("23514") && e.contains("qty")),
        "{errors:?}"
    );
    assert!(rows.iter().all(|r| r["_position"]
        .as_str()
        .is_some_and(|p| p.contains("orders.jsonl@"))));
    assert!(!errors.iter().any(|e| e.contains(PASSWORD)));
}
