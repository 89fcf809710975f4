//! Message headers as metadata columns: `_kafka_headers` from tansu and `_nats_headers` from
//! nats-server, as `map<string, binary>` or, with `headers_as_text: true`, with text values,
//! read back by the Python Delta reader.

use serde_json::{json, Value};
use weir_tests::kafka::KafkaBroker;
use weir_tests::manifest::Manifest;
use weir_tests::nats::NatsServer;
use weir_tests::*;

const N: u64 = 20;

/// The headers `kafka_tool.py produce-headers` gives message `i`, as the reader shows them
/// (bytes decoded with replacement, as `value` pairs in order).
fn kafka_headers(i: u64) -> Value {
    let blob = format!("\u{fffd}{}", char::from((i % 256) as u8));
    let mut h = vec![json!(["trace", format!("t{i}")]), json!(["blob", blob])];
    if i.is_multiple_of(2) {
        h.extend([json!(["tag", "a"]), json!(["tag", "b"])]);
    }
    Value::Array(h)
}

#[test]
fn kafka_headers_land_as_bytes_or_as_text() {
    let broker = KafkaBroker::start();
    broker.create_topic("h", 1);
    let out = broker.tool(&["produce-headers", "h", &N.to_string()]);
    assert_eq!(out["produced"], N, "{out}");
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let lake = scratch.join("lake");
    for (table, as_text) in [("bytes", false), ("text", true)] {
        let m = Manifest::new(table)
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id={table}",
                broker.bootstrap()
            ))
            .source_option("source_table", "h")
            .source_option("headers_as_text", json!(as_text))
            .sink(&lake)
            .sink_option("dest_table", table);
        run_ok(&plugins, &scratch.write(&m));
        let path = lake.join(table);
        let want = if as_text { "string" } else { "binary" };
        let types = delta_types(&path);
        assert_eq!(
            types["_kafka_headers"],
            format!("map<string, {want}>"),
            "{types}"
        );
        let rows = delta_rows(&path, &scratch);
        assert_eq!(rows.len() as u64, N);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row["id"], i, "{row}");
            assert_eq!(
                row["_kafka_headers"],
                kafka_headers(i as u64),
                "{table}: {row}"
            );
        }
    }
}

#[test]
fn nats_headers_land_as_text() {
    let server = NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    let out = server.tool(&["publish-headers", "events.a", &N.to_string()]);
    assert_eq!(out["published"], N, "{out}");
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let lake = scratch.join("lake");
    let m = Manifest::new("nats-headers")
        .source(format!(
            "nats+jetstream://{}?subject=events.>",
            server.host_port()
        ))
        .source_option("source_table", "EVENTS")
        .source_option("headers_as_text", json!(true))
        .sink(&lake)
        .sink_option("dest_table", "events");
    run_ok(&plugins, &scratch.write(&m));
    let path = lake.join("events");
    let types = delta_types(&path);
    assert_eq!(types["_nats_headers"], "map<string, string>", "{types}");
    let rows = delta_rows(&path, &scratch);
    assert_eq!(rows.len() as u64, N);
    for (i, row) in rows.iter().enumerate() {
        // A NATS header map has no order of its own.
        let mut got: Vec<Value> = row["_nats_headers"].as_array().cloned().unwrap_or_default();
        got.sort_by_key(|v| v.to_string());
        let want = vec![json!(["lang", "fr"]), json!(["trace", format!("t{i}")])];
        assert_eq!(got, want, "{row}");
    }
}
