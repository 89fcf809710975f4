//! `format: protobuf` end to end: Kafka (tansu) -> Delta with values in the Confluent wire
//! format (message indexes and a referenced `weir/address.proto` included), made by
//! Confluent's own Python serializer against the harness's registry, with poison among them;
//! and bare messages read with `proto_descriptor`. The keys are Protobuf too (`key_format:
//! protobuf`, the `<topic>-key` subject). The table is checked value by value by
//! Python deltalake (`proto_tool.py check`).

use std::path::{Path, PathBuf};
use weir_tests::kafka::KafkaBroker;
use weir_tests::manifest::Manifest;
use weir_tests::registry::SchemaRegistry;
use weir_tests::*;

const TOPIC: &str = "orders";

fn proto_tool(cmd: &str, target: &str, args: &[&str]) -> serde_json::Value {
    python_tool("proto_tool.py", cmd, target, args)
}

/// A Kafka `format: protobuf` pipeline reading TOPIC as group `name` into `lake`'s `table`.
fn proto_manifest(name: &str, broker: &KafkaBroker, lake: &Path, table: &str) -> Manifest {
    Manifest::new(name)
        .source(format!(
            "kafka://?bootstrap_servers={}&group_id={name}",
            broker.bootstrap()
        ))
        .source_option("source_table", TOPIC)
        .source_option("format", "protobuf")
        .sink(lake)
        .sink_option("dest_table", table)
}

fn check(table: &Path, from: u64, count: u64) -> serde_json::Value {
    weir_tests::registry::check_table("proto_tool.py", table, from, count)
}

#[test]
fn confluent_protobuf_lands_typed_and_poison_goes_to_dead_letters() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 3);
    let registry = SchemaRegistry::start(None);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let (lake, dead): (PathBuf, PathBuf) = (s.join("lake"), s.join("dead"));
    let produce = |from: u64, count: u64| {
        let out = proto_tool(
            "produce",
            &broker.bootstrap(),
            &[
                TOPIC,
                &registry.url(),
                &from.to_string(),
                &count.to_string(),
            ],
        );
        assert_eq!(out["produced"], count, "{out}");
    };
    produce(0, 4_000);
    let out = proto_tool("poison", &broker.bootstrap(), &[TOPIC, &registry.url()]);
    assert_eq!(out["produced"], 4, "{out}");
    let m = s.write(
        &proto_manifest("proto", &broker, &lake, "orders")
            .source_option("batch_size", 1500)
            .source_option("schema_registry_url", registry.url())
            .source_option("key_format", "protobuf")
            .source_option("dead_letter", dead.display().to_string()),
    );
    run_ok(&plugins, &m);
    let c = check(&lake.join("orders"), 0, 4_000);
    // `key_format: protobuf`: every key (a `Header`, message index [0]) checked as a struct.
    assert_eq!(c["keys_checked"], 4_000, "{c}");
    assert_dead_letters(
        &dead,
        &s,
        &[
            "magic byte 0x07",
            "schema id 9999 is not in the schema registry",
            "message indexes [7] name no message",
            "not a valid weir.test.Order message",
        ],
        "orders/0@",
    );
    // A second run takes only the new messages.
    produce(4_000, 1_000);
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 5_000);
    assert_eq!(delta_rows(&dead, &s).len(), 4);
}

#[test]
fn proto_descriptor_reads_bare_messages_and_names_a_missing_message() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 2);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let set = s.join("order.desc");
    let out = proto_tool("descriptor-set", &set.display().to_string(), &[]);
    assert_eq!(out["files"], 6, "{out}");
    let out = proto_tool("produce-plain", &broker.bootstrap(), &[TOPIC, "0", "2000"]);
    assert_eq!(out["produced"], 2000, "{out}");
    let m = s.write(
        &proto_manifest("plain", &broker, &lake, "orders")
            .source_option("proto_descriptor", set.display().to_string())
            .source_option("proto_message", "weir.test.Order"),
    );
    run_ok(&plugins, &m);
    check(&lake.join("orders"), 0, 2000);
    // A message the set does not have: one validation error naming the key and what it has.
    let wrong = s.write(
        &proto_manifest("wrong", &broker, &lake, "orders")
            .source_option("proto_descriptor", set.display().to_string())
            .source_option("proto_message", "weir.test.Invoice"),
    );
    let out = output(weir(&plugins).arg("validate").arg(&wrong));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    for want in [
        "spec.source.options.proto_message",
        "no message `weir.test.Invoice`",
        "weir.test.Order",
    ] {
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
    }
}
