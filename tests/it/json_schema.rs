//! `format: json_schema` end to end: Kafka (tansu) -> Delta with JSON in the Confluent wire
//! format, made by Confluent's own Python `JSONSerializer` against the harness's registry.
//! The columns take the schema's types, not inferred ones (every `price` is a whole number
//! but the schema says `number`; every `at` is a string but the schema says `date-time`; so
//! in nested values: `address.lat` and the `scores` items are whole numbers declared
//! `number`), and a value that breaks its declared type is a dead letter.

use weir_tests::kafka::KafkaBroker;
use weir_tests::manifest::Manifest;
use weir_tests::registry::SchemaRegistry;
use weir_tests::*;

const TOPIC: &str = "orders";

#[test]
fn json_schema_values_take_the_registrys_types_and_poison_goes_to_dead_letters() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 2);
    let registry = SchemaRegistry::start(None);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let (lake, dead) = (s.join("lake"), s.join("dead"));
    let tool = |cmd: &str, target: &str, args: &[&str]| {
        python_tool("jsonschema_tool.py", cmd, target, args)
    };
    let out = tool(
        "produce",
        &broker.bootstrap(),
        &[TOPIC, &registry.url(), "0", "3000"],
    );
    assert_eq!(out["produced"], 3000, "{out}");
    let out = tool("poison", &broker.bootstrap(), &[TOPIC, &registry.url()]);
    assert_eq!(out["produced"], 3, "{out}");
    let m = s.write(
        &Manifest::new("js")
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id=js",
                broker.bootstrap()
            ))
            .source_option("source_table", TOPIC)
            .source_option("format", "json_schema")
            .source_option("schema_registry_url", registry.url())
            .source_option("batch_size", 1000)
            .source_option("dead_letter", dead.display().to_string())
            .sink(&lake)
            .sink_option("dest_table", "orders"),
    );
    run_ok(&plugins, &m);
    let c = weir_tests::registry::check_table("jsonschema_tool.py", &lake.join("orders"), 0, 3000);
    assert_eq!(c["types"]["id"], "int64", "{c}");
    assert_eq!(c["types"]["price"], "double", "{c}");
    assert_eq!(c["types"]["ok"], "bool", "{c}");
    assert_eq!(c["types"]["day"], "date32[day]", "{c}");
    assert_eq!(
        c["types"]["address"], "struct<city: string, lat: double, zip: int64>",
        "{c}"
    );
    assert_eq!(c["types"]["scores"], "list<element: double>", "{c}");
    assert!(
        c["types"]["at"]
            .as_str()
            .is_some_and(|t| t.starts_with("timestamp[us")),
        "{c}"
    );
    assert_dead_letters(
        &dead,
        &s,
        &[
            "does not fit the table's schema",
            "magic byte 0x07",
            "schema id 9999 is not in the schema registry",
        ],
        "orders/0@",
    );
}
