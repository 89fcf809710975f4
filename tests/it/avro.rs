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

fn run_ok(plugins: &Path, manifest: &Path) -> Outcome {
    let out = output(weir(plugins).arg("run").arg(manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

fn check(table: &Path, from: u64, count: u64) {
    let c = avro_tool(
        "check",
        &table.display().to_string(),
        &[&from.to_string(), &count.to_string()],
    );
    assert_eq!(c["rows"], count, "{c}");
    assert_eq!(c["distinct"], count, "{c}");
    assert_eq!(c["missing"], serde_json::json!([]), "{c}");
    assert_eq!(c["mismatches"], serde_json::json!([]), "{c}");
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
            &[TOPIC, &client, &from.to_string(), &count.to_string()],
        );
        assert_eq!(out["produced"], count, "{out}");
    };
    produce(0, 5_000);
    let out = avro_tool("poison", &broker.bootstrap(), &[TOPIC, &client]);
    assert_eq!(out["produced"], 3, "{out}");
    let m = s.write(
        &Manifest::new("avro")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=avro",
                broker.bootstrap()
            ))
            .source_option("source_table", TOPIC)
            .source_option("batch_size", 2000)
            .source_option("format", "avro")
            .source_option("schema_registry_url", registry.url())
            .source_option("schema_registry_username", "weir")
            .source_option("schema_registry_password", REGISTRY_PASSWORD)
            .source_option("dead_letter", dead.display().to_string())
            .sink(&lake)
            .sink_option("dest_table", "orders"),
    );
    let out = run_ok(&plugins, &m);
    assert!(!out.stderr.contains(REGISTRY_PASSWORD), "{}", out.stderr);
    check(&lake.join("orders"), 0, 5_000);
    let rows = delta_rows(&dead, &s);
    let errors: Vec<&str> = rows.iter().filter_map(|r| r["_error"].as_str()).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for want in [
        "magic byte 0x07",
        "schema id 9999 is not in the schema registry",
        "not valid Avro",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{want}: {errors:?}"
        );
    }
    assert!(rows.iter().all(|r| r["_position"]
        .as_str()
        .is_some_and(|p| p.starts_with("orders/0@"))));
    // A second run takes only the new messages; the schema comes from the cache of a new
    // process, fetched again once.
    produce(5_000, 1_000);
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 6_000);
    assert_eq!(delta_rows(&dead, &s).len(), 3);
    // Wrong credentials: one clear error, the password not printed.
    let wrong = s.write(
        &Manifest::new("avro-wrong")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=wrong",
                broker.bootstrap()
            ))
            .source_option("source_table", TOPIC)
            .source_option("format", "avro")
            .source_option("schema_registry_url", registry.url())
            .source_option("schema_registry_username", "weir")
            .source_option("schema_registry_password", "Wrong-Secret-31")
            .sink(s.join("other"))
            .sink_option("dest_table", "orders"),
    );
    let out = output(weir(&plugins).arg("run").arg(&wrong));
    assert_ne!(out.code, Some(0), "{}", out.stderr);
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
        &Manifest::new("plain")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=plain",
                broker.bootstrap()
            ))
            .source_option("source_table", TOPIC)
            .source_option("format", "avro")
            .source_option("avro_schema", schema.display().to_string())
            .sink(&lake)
            .sink_option("dest_table", "orders"),
    );
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 2000);
}
