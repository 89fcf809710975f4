//! The Iceberg sink end to end: Kafka into the harness's REST catalog (`iceberg_rest.py`,
//! pyiceberg's `SqlCatalog` behind the REST protocol, first checked with pyiceberg's own
//! `RestCatalog` client), NATS into the embedded SQLite catalog, SIGKILLs, partition specs,
//! evolution and bad input. Every table is read back by pyiceberg (`iceberg_read.py`).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use weir_tests::iceberg::{
    assert_promoted, create_rest, read_embedded, read_rest, IcebergRest, CLIENT, TOKEN,
};
use weir_tests::kafka::KafkaBroker;
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::nats::NatsServer;
use weir_tests::*;

#[test]
fn the_harness_rest_catalog_serves_pyicebergs_client() {
    let script = weir_tests::root().join("tests/harness/iceberg_rest_check.py");
    let out = Command::new(weir_tests::python())
        .arg(&script)
        .output()
        .expect("run iceberg_rest_check.py");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    let checks = report["checks"].as_u64().unwrap_or(0);
    assert!(checks >= 50, "only {checks} checks ran: {report}");
}

fn plugins(scratch: &Scratch) -> PathBuf {
    scratch.plugin_dir("plugins", &shipped_plugins())
}

/// How many metadata files the table has: one more after every commit.
fn versions(root: &Path, table: &str) -> usize {
    let dir = root
        .join("warehouse")
        .join(table.replace('.', "/"))
        .join("metadata");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn kafka_into_a_rest_catalog_lands_each_id_once_then_only_the_new_ones() {
    let broker = KafkaBroker::start();
    broker.create_topic("orders", 4);
    broker.produce("orders", 0, 200_000);
    let catalog = IcebergRest::start(true);
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let m = scratch.write(
        &Manifest::new("kafka-ice")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=ice",
                broker.bootstrap()
            ))
            .source_option("source_table", "orders")
            .source_option("batch_size", 20_000)
            .sink(catalog.address())
            .sink_option("dest_table", "retail.orders")
            .sink_option("token", "{ICE_TOKEN}"),
    );
    let run = || {
        let out = output(weir(&plugins).env("ICE_TOKEN", TOKEN).arg("run").arg(&m));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stderr.contains(TOKEN), "the token was printed");
    };
    run();
    let t = read_rest(&catalog, "retail.orders", false);
    assert_eq!(t["rows"], 200_000, "{t}");
    assert_eq!(t["distinct_ids"], 200_000, "{t}");
    // Each snapshot's summary holds its batch's positions; the newest per key sum to the
    // records (offsets start at 0 on each of the 4 partitions).
    let positions = &t["positions"];
    let stored: i64 = (0..4)
        .map(|p| {
            positions[format!("weir.kafka-ice.orders/{p}")]
                .as_i64()
                .unwrap_or_else(|| panic!("no position of partition {p}: {positions}"))
        })
        .sum();
    assert_eq!(
        stored, 200_000,
        "the positions sum to the records: {positions}"
    );
    // A rerun after 1 000 more adds exactly those.
    broker.produce("orders", 200_000, 1_000);
    run();
    let t = read_rest(&catalog, "retail.orders", false);
    assert_eq!(t["rows"], 201_000, "{t}");
    assert_eq!(t["distinct_ids"], 201_000, "{t}");
    assert_eq!(t["max_id"], 200_999, "{t}");
}

#[test]
fn nats_into_the_embedded_catalog_counts_and_resumes() {
    let nats = NatsServer::start();
    nats.tool(&["stream", "EVENTS", "events.>"]);
    nats.tool(&["publish", "events", "0", "30000"]);
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let root = scratch.join("lake");
    let m = scratch.write(
        &Manifest::new("nats-ice")
            .source(format!(
                "nats+jetstream://{}?subject=events.>&durable=ice",
                nats.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("batch_size", 5000)
            .source_option("batch_timeout", 1)
            .sink(format!("iceberg://{}", root.display()))
            .sink_option("dest_table", "stream.events")
            .sink_option("iceberg_metadata_compression", "gzip"),
    );
    run_ok(&plugins, &m);
    let t = read_embedded(&root, "stream.events", false);
    assert_eq!(
        (t["rows"].clone(), t["distinct_ids"].clone()),
        (json!(30_000), json!(30_000)),
        "{t}"
    );
    assert_eq!(t["positions"]["weir.nats-ice.EVENTS"], 30_001, "{t}");
    let gz = std::fs::read_dir(root.join("warehouse/stream/events/metadata"))
        .expect("metadata dir")
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(".gz.metadata.json")
        });
    assert!(
        gz,
        "iceberg_metadata_compression: gzip writes .gz.metadata.json files"
    );
    nats.tool(&["publish", "events", "30000", "2000"]);
    run_ok(&plugins, &m);
    let t = read_embedded(&root, "stream.events", false);
    assert_eq!(
        (t["rows"].clone(), t["distinct_ids"].clone()),
        (json!(32_000), json!(32_000)),
        "{t}"
    );
}

#[test]
fn twenty_sigkills_into_iceberg_leave_each_id_exactly_once() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let root = scratch.join("lake");
    let m = scratch.write(
        &Manifest::new("crash")
            .source("generator://?rate=20000&seed=3")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 2000)
            .source_option("batch_timeout", 1)
            .sink(format!("iceberg://{}", root.display()))
            .sink_option("dest_table", "crash.events"),
    );
    let mut clock = KillClock::new();
    for kill in 0..20 {
        let before = versions(&root, "crash.events");
        let log = scratch.join(&format!("run-{kill}.log"));
        let mut child = spawn_run(&plugins, &m, &log);
        wait_for(
            "a commit by the restarted process",
            Duration::from_secs(60),
            || versions(&root, "crash.events") > before,
        );
        clock.kill(&mut child, 900, &log, &format!("kill {kill}"));
    }
    let before = versions(&root, "crash.events");
    let log = scratch.join("final.log");
    let child = spawn_run(&plugins, &m, &log);
    wait_for("a commit by the final run", Duration::from_secs(60), || {
        versions(&root, "crash.events") > before
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let t = read_embedded(&root, "crash.events", false);
    let next = t["positions"]["weir.crash.generator"]
        .as_i64()
        .unwrap_or_else(|| panic!("no position: {t}"));
    assert!(next > 0);
    assert_eq!(t["rows"], next, "rows != stored position: {t}");
    assert_eq!(t["distinct_ids"], next, "{t}");
    assert_eq!(t["max_id"], next - 1, "{t}");
}

/// JSON lines into `dir/NAME.jsonl`.
fn lines(dir: &Path, name: &str, rows: impl IntoIterator<Item = Value>) {
    std::fs::create_dir_all(dir).expect("inbox");
    let text: String = rows.into_iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), text).expect("lines");
}

#[test]
fn two_processes_in_one_group_through_a_postgres_catalog_one_killed_each_id_once() {
    const TOTAL: u64 = 40_000;
    let pg = weir_tests::postgres::Postgres::start();
    let broker = KafkaBroker::start();
    broker.create_topic("orders", 4);
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let root = scratch.join("lake");
    let m = scratch.write(
        &Manifest::new("ice-group")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=shared",
                broker.bootstrap()
            ))
            .source_option("source_table", "orders")
            .source_option("batch_size", 2000)
            .source_option("batch_timeout", 1)
            .source_option("run_in_loop", true)
            .source_option("session_timeout_ms", 6000)
            .sink(format!("iceberg://{}", root.display()))
            .sink_option("dest_table", "shop.orders")
            .sink_option("catalog_uri", pg.url("weir")),
    );
    let member = |n: &str| {
        weir_tests::running::Running::start(
            weir(&plugins).arg("run").arg(&m),
            &scratch.join(&format!("member-{n}.log")),
        )
    };
    let (mut a, mut b) = (member("a"), member("b"));
    let mut producer = broker.produce_in_background("orders", 0, TOTAL, 4_000);
    for m in [&mut a, &mut b] {
        m.wait_for_lines("a member's first commit", 1, Duration::from_secs(90), |l| {
            l.contains("first batch committed")
        });
    }
    b.signal(libc::SIGKILL);
    let killed = b.wait_exit();
    assert_eq!(killed.code, None, "{}", killed.stderr);
    assert!(producer.wait().expect("producer").success());
    let done = eventually(Duration::from_secs(180), || {
        read_embedded(&root, "shop.orders", false)["distinct_ids"].as_u64() >= Some(TOTAL)
    });
    a.signal(libc::SIGTERM);
    let survivor = a.wait_exit();
    let t = read_embedded(&root, "shop.orders", false);
    assert!(
        done,
        "not every message arrived: {t}\nsurvivor:\n{}",
        survivor.stderr
    );
    assert_eq!(survivor.code, Some(0), "{}", survivor.stderr);
    assert_eq!(
        (t["rows"].clone(), t["duplicate_ids"].clone()),
        (json!(TOTAL), json!(0)),
        "{t}"
    );
    assert!(
        !survivor.stderr.contains(weir_tests::postgres::PASSWORD),
        "the catalog password was printed"
    );
}

#[test]
fn partition_by_day_and_bucket_is_the_tables_partition_spec() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let root = scratch.join("lake");
    let inbox = scratch.join("inbox");
    let days = ["2026-11-01", "2026-11-02", "2026-11-03"];
    lines(
        &inbox,
        "a",
        (0..3000).map(
            |i| json!({"id": i, "created_at": format!("{}T{:02}:00:00Z", days[i % 3], i % 24)}),
        ),
    );
    let m = scratch.write(
        &Manifest::new("parts")
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .source_option("type_hints", json!({"created_at": "timestamp"}))
            .sink(format!("iceberg://{}", root.display()))
            .sink_option("dest_table", "p.events")
            .sink_option(
                "partition_by",
                json!([
                    {"column": "created_at", "type": "day", "name": "day", "index": 1},
                    {"column": "id", "type": "bucket", "name": "id_bucket", "index": 2, "bucket_count": 8}
                ]),
            ),
    );
    run_ok(&plugins, &m);
    let t = read_embedded(&root, "p.events", false);
    assert_eq!(t["rows"], 3000, "{t}");
    assert_eq!(
        t["spec"],
        json!(["day: day(created_at)", "id_bucket: bucket[8](id)"]),
        "{t}"
    );
    let parts: Vec<Value> = t["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| serde_json::from_str(p.as_str().unwrap_or("{}")).expect("partition JSON"))
        .collect();
    let day_values: std::collections::BTreeSet<String> =
        parts.iter().map(|p| p["day"].to_string()).collect();
    let buckets: std::collections::BTreeSet<i64> = parts
        .iter()
        .filter_map(|p| p["id_bucket"].as_i64())
        .collect();
    assert_eq!(day_values.len(), 3, "three day partitions: {parts:?}");
    assert!(
        buckets.len() <= 8 && buckets.len() > 1 && buckets.iter().all(|b| (0..8).contains(b)),
        "{buckets:?}"
    );
    assert!(
        parts.len() <= 24 && parts.len() > 3,
        "files in 3 days x up to 8 buckets: {parts:?}"
    );
}

#[test]
fn columns_are_added_omitted_and_retyped_into_variants() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let root = scratch.join("lake");
    let inbox = scratch.join("inbox");
    let m = scratch.write(
        &Manifest::new("evo")
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .sink(format!("iceberg://{}", root.display()))
            .sink_option("dest_table", "evo.t"),
    );
    lines(&inbox, "a", [json!({"id": 1, "qty": 5, "price": 1.5})]);
    run_ok(&plugins, &m);
    // `colour` added, `qty` omitted, `price` as text goes to its variant.
    lines(
        &inbox,
        "b",
        [json!({"id": 2, "price": "cheap", "colour": "red"})],
    );
    run_ok(&plugins, &m);
    lines(&inbox, "c", [json!({"id": 3, "qty": 7, "price": 2.5})]);
    run_ok(&plugins, &m);
    let t = read_embedded(&root, "evo.t", true);
    assert_eq!(
        t["schema"],
        json!([
            "1: id long",
            "2: price double",
            "3: qty long",
            "4: _file_path string",
            "5: _file_offset long",
            "6: colour string",
            "7: price__v_text string"
        ]),
        "{t}"
    );
    let rows: Vec<String> = t["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}",
                r["id"], r["qty"], r["price"], r["price__v_text"], r["colour"]
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            "1|5|1.5|null|null",
            "2|null|null|\"cheap\"|\"red\"",
            "3|7|2.5|null|null"
        ],
        "{t}"
    );
}

#[test]
fn int_and_float_columns_are_promoted_in_place_keeping_their_field_ids() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let catalog = IcebergRest::start(true);
    // Another writer made the table with 32-bit columns; weir's JSON brings 64-bit values.
    create_rest(&catalog, "promo.t", "id:long,qty:int,price:float");
    let inbox = scratch.join("inbox");
    lines(
        &inbox,
        "a",
        [json!({"id": 1, "qty": 5_000_000_000i64, "price": 0.1})],
    );
    let m = scratch.write(
        &Manifest::new("promo")
            .source(format!("file://{}/*.jsonl", inbox.display()))
            .sink(catalog.address())
            .sink_option("dest_table", "promo.t")
            .sink_option("token", TOKEN),
    );
    run_ok(&plugins, &m);
    let t = read_rest(&catalog, "promo.t", true);
    assert_promoted(&t);
}

#[test]
fn oauth2_client_credentials_get_the_token_and_old_snapshots_expire() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let catalog = IcebergRest::start_oauth();
    let m = scratch.write(
        &Manifest::new("oauth")
            .source("generator://?count=5000&seed=2")
            .source_option("batch_size", 500)
            .sink(catalog.address())
            .sink_option("dest_table", "auth.events")
            .sink_option("client_id", CLIENT.0)
            .sink_option("client_secret", "{ICE_SECRET}")
            // Expiry after every commit, with no age kept: only what the positions need stays.
            .sink_option("expire_snapshots_older_than", "0 seconds")
            .sink_option("expire_interval", "0 seconds"),
    );
    let run = || {
        let out = output(
            weir(&plugins)
                .env("ICE_SECRET", CLIENT.1)
                .arg("run")
                .arg(&m),
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            !out.stderr.contains(CLIENT.1) && !out.stderr.contains(TOKEN),
            "a secret was printed"
        );
        out
    };
    let out = run();
    assert!(
        out.stderr.contains("expired old snapshots"),
        "{}",
        out.stderr
    );
    let t = read_rest(&catalog, "auth.events", false);
    assert_eq!(
        (t["rows"].clone(), t["distinct_ids"].clone()),
        (json!(5000), json!(5000)),
        "{t}"
    );
    // Ten commits, one generator key: the newest snapshot holds the position, the rest expire.
    assert_eq!(t["snapshots"], 1, "{t}");
    assert_eq!(t["positions"]["weir.oauth.generator"], 5000, "{t}");
    // The position survives expiry: a rerun writes nothing again.
    run();
    let t = read_rest(&catalog, "auth.events", false);
    assert_eq!(t["rows"], 5000, "{t}");
}

#[test]
fn bad_input_gets_one_clear_error_each_and_never_a_secret() {
    let scratch = Scratch::new();
    let plugins = plugins(&scratch);
    let mut catalog = IcebergRest::start(true);
    let manifest = |name: &str, address: String, options: &[(&str, Value)]| {
        let mut m = Manifest::new(name)
            .source("generator://?count=3000&seed=1")
            .source_option("batch_size", 1000)
            .sink(address)
            .sink_option("dest_table", "bad.events");
        for (k, v) in options {
            m = m.sink_option(k, v.clone());
        }
        scratch.write(&m)
    };
    let token = json!(TOKEN);
    let cases = [
        (
            "wrong-token",
            catalog.address(),
            vec![("token", json!("not-the-Token-5150"))],
            "refused the credentials",
        ),
        (
            "no-warehouse",
            catalog
                .address()
                .replace("warehouse=lake", "warehouse=swamp"),
            vec![("token", token.clone())],
            "no such warehouse",
        ),
        (
            "no-count",
            format!("iceberg://{}", scratch.join("x").display()),
            vec![(
                "partition_by",
                json!([{"column": "id", "type": "bucket", "name": "b", "index": 1}]),
            )],
            "bucket_count",
        ),
    ];
    for (name, address, options, want) in cases {
        let m = manifest(name, address, &options);
        let out = output(weir(&plugins).arg("run").arg(&m));
        assert_eq!(out.code, Some(2), "{name}: {}", out.stderr);
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{name}: one error: {}", out.stderr);
        assert!(errors[0].contains(want), "{name}: {}", errors[0]);
        assert!(
            !out.stderr.contains("not-the-Token-5150") && !out.stderr.contains(TOKEN),
            "{name}: a secret was printed"
        );
    }
    // An unreachable catalog is retried with backoff, then the run catches up.
    catalog.stop();
    let m = manifest("late", catalog.address(), &[("token", token)]);
    let log = scratch.join("late.log");
    let child = spawn_run(&plugins, &m, &log);
    wait_for(
        "a retry of the unreachable catalog",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("retrying")
        },
    );
    catalog.start_again();
    let out = wait_exit(child);
    assert_eq!(
        out.code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let t = read_rest(&catalog, "bad.events", false);
    assert_eq!(
        (t["rows"].clone(), t["distinct_ids"].clone()),
        (json!(3000), json!(3000)),
        "{t}"
    );
}
