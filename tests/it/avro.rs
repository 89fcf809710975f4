//! `format: avro` end to end: Kafka (tansu) -> Delta with values in the Confluent wire format,
//! made by Confluent's own Python serializer against the harness's registry, and poison
//! (a wrong magic byte, an unknown schema id, a truncated body) among them. The table is
//! checked value by value by Python deltalake (`avro_tool.py check`).

use std::path::{Path, PathBuf};
use weir_tests::kafka::KafkaBroker;
use weir_tests::manifest::Manifest;
use weir_tests::registry::SchemaRegistry;
use weir_tests::*;

const TOPIC: &str = "orders";
/// The registry's basic-auth password (a test secret: outputs are searched for it).
const REGISTRY_PASSWORD: &str = "Reg-Secret-5d1c";

fn avro_tool(cmd: &str, target: &str, args: &[&str]) -> serde_json::Value {
    python_tool("avro_tool.py", cmd, target, args)
}

/// A Kafka `format: avro` pipeline reading TOPIC as group `name` into `lake`'s table `table`;
/// the schema options (registry or `avro_schema`) and the rest are the caller's.
fn avro_manifest(name: &str, broker: &KafkaBroker, lake: &Path, table: &str) -> Manifest {
    Manifest::new(name)
        .source(format!(
            "kafka://?bootstrap_servers={}&group_id={name}",
            broker.bootstrap()
        ))
        .source_option("source_table", TOPIC)
        .source_option("format", "avro")
        .sink(lake)
        .sink_option("dest_table", table)
}

fn check(table: &Path, from: u64, count: u64) -> serde_json::Value {
    weir_tests::registry::check_table("avro_tool.py", table, from, count)
}

#[test]
fn confluent_avro_lands_typed_and_poison_goes_to_dead_letters() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 4);
    let registry = SchemaRegistry::start(Some(&format!("weir:{REGISTRY_PASSWORD}")));
    let client = format!("{}|weir:{REGISTRY_PASSWORD}", registry.url());
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let (lake, dead): (PathBuf, PathBuf) = (s.join("lake"), s.join("dead"));
    let produce = |from: u64, count: u64| {
        let out = avro_tool(
            "produce",
            &broker.bootstrap(),
            &[
                TOPIC,
                &client,
                &from.to_string(),
                &count.to_string(),
                "avro-keys",
            ],
        );
        assert_eq!(out["produced"], count, "{out}");
    };
    produce(0, 100_000);
    let out = avro_tool("poison", &broker.bootstrap(), &[TOPIC, &client]);
    assert_eq!(out["produced"], 3, "{out}");
    let m = s.write(
        &avro_manifest("avro", &broker, &lake, "orders")
            .source_option("batch_size", 20_000)
            .source_option("key_format", "avro")
            .source_option("schema_registry_url", registry.url())
            .source_option("schema_registry_username", "weir")
            .source_option("schema_registry_password", REGISTRY_PASSWORD)
            .source_option("dead_letter", dead.display().to_string()),
    );
    let out = run_ok(&plugins, &m);
    assert!(!out.stderr.contains(REGISTRY_PASSWORD), "{}", out.stderr);
    let c = check(&lake.join("orders"), 0, 100_000);
    assert_eq!(
        c["avro_keys"], 100_000,
        "every key is an OrderKey struct: {c}"
    );
    assert_dead_letters(
        &dead,
        &s,
        &[
            "magic byte 0x07",
            "schema id 9999 is not in the schema registry",
            "not valid Avro",
        ],
        "orders/0@",
    );
    // A second run takes only the new messages; the schema comes from the cache of a new
    // process, fetched again once.
    produce(100_000, 1_000);
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 101_000);
    assert_eq!(delta_rows(&dead, &s).len(), 3);
    // Wrong credentials: one clear error, the password not printed.
    let wrong = s.write(
        &avro_manifest("wrong", &broker, &s.join("other"), "orders")
            .source_option("schema_registry_url", registry.url())
            .source_option("schema_registry_username", "weir")
            .source_option("schema_registry_password", "Wrong-Secret-31"),
    );
    let out = output(weir(&plugins).arg("run").arg(&wrong));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Wrong-Secret-31"), "{}", out.stderr);
}

#[test]
fn avro_schema_reads_plain_binary_and_single_object_encoding() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 2);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let out = avro_tool("produce-plain", &broker.bootstrap(), &[TOPIC, "0", "2000"]);
    assert_eq!(out["produced"], 2000, "{out}");
    // The writer schema as a file (it may also be given inline).
    let schema = s.join("order.avsc");
    std::fs::copy(root().join("tests/harness/order.avsc"), &schema).expect("schema file");
    let m = s.write(
        &avro_manifest("plain", &broker, &lake, "orders")
            .source_option("avro_schema", schema.display().to_string()),
    );
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 2000);
}

#[test]
fn writer_schemas_that_evolve_add_columns_and_variants_and_keep_every_value() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 4);
    let registry = SchemaRegistry::start(None);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    // v1, then v2 (an optional field added), v3 (qty promoted to long), v4 (qty a string),
    // each partition getting every version in turn.
    let out = avro_tool(
        "produce-evo",
        &broker.bootstrap(),
        &[TOPIC, &registry.url(), "4000"],
    );
    assert_eq!(out["produced"], 4000, "{out}");
    let m = s.write(
        &avro_manifest("evo", &broker, &lake, "evo")
            .source_option("batch_size", 700)
            .source_option("schema_registry_url", registry.url()),
    );
    run_ok(&plugins, &m);
    let c = avro_tool(
        "check-evo",
        &lake.join("evo").display().to_string(),
        &["4000"],
    );
    assert_eq!(c["rows"], 4000, "{c}");
    assert_eq!(c["distinct"], 4000, "{c}");
    assert_eq!(c["wrong"], serde_json::json!([]), "{c}");
    let columns: Vec<&str> = c["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    for want in ["id", "note", "qty", "qty__v_text"] {
        assert!(columns.contains(&want), "{want}: {columns:?}");
    }
}

/// The set-up of the registry-outage tests: a broker with TOPIC (4 partitions), a registry,
/// and records 0..1000 produced through it.
struct Outage {
    broker: KafkaBroker,
    registry: SchemaRegistry,
    s: Scratch,
    plugins: PathBuf,
    lake: PathBuf,
}

fn outage() -> Outage {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 4);
    let registry = SchemaRegistry::start(None);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let out = avro_tool(
        "produce",
        &broker.bootstrap(),
        &[TOPIC, &registry.url(), "0", "1000"],
    );
    assert_eq!(out["produced"], 1000, "{out}");
    Outage {
        broker,
        registry,
        s,
        plugins,
        lake,
    }
}

/// `weir run MANIFEST` as a service with its HTTP endpoints on a free port.
fn serve(s: &Scratch, plugins: &Path, manifest: &Path) -> (weir_tests::running::Running, u16) {
    let port = free_port();
    let run = weir_tests::running::Running::start(
        weir(plugins)
            .env("WEIR_LISTEN", format!("127.0.0.1:{port}"))
            .arg("run")
            .arg(manifest),
        &s.join("run.log"),
    );
    (run, port)
}

#[test]
fn a_registry_down_at_start_is_retried_not_ready_then_caught_up() {
    let Outage {
        broker,
        mut registry,
        s,
        plugins,
        lake,
    } = outage();
    registry.stop();
    let m = s.write(
        &avro_manifest("down", &broker, &lake, "orders")
            .source_option("run_in_loop", true)
            .source_option("batch_timeout", 1)
            .source_option("schema_registry_url", registry.url()),
    );
    let (mut run, port) = serve(&s, &plugins, &m);
    let ready = || http_get(port, "/health/ready").map(|(code, _)| code);
    run.wait_for_lines("two retries", 2, std::time::Duration::from_secs(60), |l| {
        l.contains("retrying") && l.contains("schema registry")
    });
    wait_for(
        "not ready while the registry is down",
        std::time::Duration::from_secs(30),
        || ready() == Some(503),
    );
    registry.start_again();
    wait_for(
        "caught up and ready",
        std::time::Duration::from_secs(120),
        || {
            ready() == Some(200)
                && weir_tests::nats::try_json_ids(&lake.join("orders"))
                    .and_then(|ids| ids["rows"].as_u64())
                    .is_some_and(|n| n >= 1000)
        },
    );
    run.signal(libc::SIGTERM);
    let out = run.wait_exit();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    check(&lake.join("orders"), 0, 1000);
}

#[test]
fn a_registry_down_for_twenty_seconds_mid_run_is_retried_not_ready_then_caught_up() {
    let Outage {
        broker,
        mut registry,
        s,
        plugins,
        lake,
    } = outage();
    let m = s.write(
        &avro_manifest("midrun", &broker, &lake, "orders")
            .source_option("run_in_loop", true)
            .source_option("batch_timeout", 1)
            .source_option("schema_registry_url", registry.url()),
    );
    let (run, port) = serve(&s, &plugins, &m);
    let ready = || http_get(port, "/health/ready").map(|(code, _)| code);
    let rows = || {
        weir_tests::nats::try_json_ids(&lake.join("orders"))
            .and_then(|ids| ids["rows"].as_u64())
            .unwrap_or(0)
    };
    wait_for("the first 1000", std::time::Duration::from_secs(60), || {
        ready() == Some(200) && rows() >= 1000
    });
    // Version 2 of the schema is registered while the registry is up; its messages reach the
    // topic while it is down, so weir meets an id it has not fetched.
    let file = s.join("v2.jsonl");
    let out = avro_tool(
        "serialize",
        TOPIC,
        &[&registry.url(), "1000", "1000", &file.display().to_string()],
    );
    assert_eq!(out["serialized"], 1000, "{out}");
    registry.stop();
    let down = std::time::Instant::now();
    let out = avro_tool(
        "send",
        &broker.bootstrap(),
        &[TOPIC, &file.display().to_string()],
    );
    assert_eq!(out["produced"], 1000, "{out}");
    wait_for(
        "not ready for 20 s of outage",
        std::time::Duration::from_secs(60),
        || ready() == Some(503) && down.elapsed() >= std::time::Duration::from_secs(20),
    );
    assert_eq!(
        rows(),
        1000,
        "nothing of version 2 may land while the registry is down"
    );
    registry.start_again();
    wait_for(
        "caught up and ready",
        std::time::Duration::from_secs(120),
        || ready() == Some(200) && rows() >= 2000,
    );
    run.signal(libc::SIGTERM);
    let out = run.wait_exit();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    check(&lake.join("orders"), 0, 2000);
}
