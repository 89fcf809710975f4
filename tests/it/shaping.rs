//! Decoding, dead letters, masking and type hints end to end through the built binary.

use std::path::Path;
use weir_plugin_generator::events::event;
use weir_tests::manifest::Manifest;
use weir_tests::nats::{json_ids, NatsServer};
use weir_tests::*;

/// Python's round(): halves to even.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

fn masked_email(e: &str) -> String {
    let (local, domain) = e.split_once('@').expect("generator emails have @");
    let chars: Vec<char> = local.chars().collect();
    let middle = "*".repeat(chars.len() - 2);
    format!("{}{middle}{}@{domain}", chars[0], chars[chars.len() - 1])
}

#[test]
fn generator_to_delta_with_masks_and_type_hints() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let m = s.write(
        &Manifest::new("masked")
            .source("generator://?count=5000&seed=9")
            .source_option("batch_size", 2000)
            .source_option(
                "mask",
                serde_json::json!({"email": "email", "phone": "phone", "amount": "round:100"}),
            )
            .source_option(
                "type_hints",
                serde_json::json!({"amount": "bigint", "user_id": "text"}),
            )
            .sink(&lake)
            .sink_option("dest_table", "events"),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let table = lake.join("events");
    let summary = delta_summary(&table);
    let types: std::collections::HashMap<String, String> = summary["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(types["amount"], "int64", "{summary}");
    assert_eq!(types["user_id"], "string", "{summary}");
    assert_eq!(types["email"], "string", "{summary}");
    let rows = delta_rows(&table, &s);
    assert_eq!(rows.len(), 5000);
    for row in &rows {
        let id = row["id"].as_i64().expect("id");
        let e = event(9, id);
        assert_eq!(row["email"], masked_email(&e.email), "id {id}");
        let digits: String = e.phone.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(
            row["phone"],
            format!("{}-***-****", &digits[..3]),
            "id {id}"
        );
        assert_eq!(
            row["amount"].as_i64(),
            Some((round_half_even(e.amount / 100.0) * 100.0) as i64),
            "id {id}: {}",
            e.amount
        );
        assert_eq!(row["user_id"], e.user_id.to_string(), "id {id}");
        assert_eq!(row["country"], e.country, "id {id}");
    }
}

#[test]
fn nats_values_that_are_not_json_go_to_the_dead_letter_table_and_the_run_goes_on() {
    let server = NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    server.tool(&["publish", "events", "0", "500"]);
    server.tool(&["publish-raw", "events.bad", "this is not json"]);
    server.tool(&["publish", "events", "500", "500"]);
    server.tool(&["publish-raw", "events.bad", "[\"an\", \"array\"]"]);
    // A field that appears late becomes a new column (earlier rows read it as null).
    server.tool(&[
        "publish-raw",
        "events.late",
        r#"{"id": 1000, "user": "late", "amount": 1.5, "note": "n", "coupon": "Z"}"#,
    ]);
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let lake = s.join("lake");
    let dlq = s.join("dead");
    let m = s.write(
        &Manifest::new("dlq")
            .source(format!(
                "nats+jetstream://{}?subject=events.>&durable=weir",
                server.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("batch_size", 300)
            .source_option("dead_letter", dlq.display().to_string())
            .sink(&lake)
            .sink_option("dest_table", "events"),
    );
    let out = output(weir(&plugins).arg("run").arg(&m));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("dead_letters=2"), "{}", out.stderr);
    let ids = json_ids(&lake.join("events"));
    assert_eq!(ids["distinct"], 1001, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    let names: Vec<&str> = ids["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for c in [
        "coupon",
        "id",
        "user",
        "amount",
        "note",
        "_nats_subject",
        "_nats_sequence",
        "_nats_timestamp",
    ] {
        assert!(names.contains(&c), "{c} missing from {names:?}");
    }
    let mut dead = delta_rows(&dlq, &s);
    dead.sort_by_key(|r| r["sequence"].as_i64());
    assert_eq!(dead.len(), 2, "{dead:?}");
    let seqs: Vec<i64> = dead.iter().filter_map(|r| r["sequence"].as_i64()).collect();
    assert_eq!(seqs, [501, 1002]);
    assert_eq!(dead[0]["_position"], "events.bad@501");
    assert!(
        dead[0]["_error"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON"),
        "{dead:?}"
    );
    assert_eq!(dead[0]["value"], "this is not json");

    // on_error: fail stops instead, before the bad batch, naming the position.
    let s2 = Scratch::new();
    let lake2 = s2.join("lake");
    let m2 = s2.write(
        &Manifest::new("fail")
            .source(format!(
                "nats+jetstream://{}?subject=events.>",
                server.host_port()
            ))
            .source_option("source_table", "EVENTS")
            .source_option("batch_size", 300)
            .source_option("on_error", "fail")
            .sink(&lake2),
    );
    let out = output(weir(&plugins).arg("run").arg(&m2));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let errors = out.error_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("events.bad@501") && errors[0].contains("on_error: fail"),
        "{}",
        errors[0]
    );
    let committed = json_ids(Path::new(&lake2));
    assert_eq!(committed["missing_count"], 0, "{committed}");
    assert!(committed["distinct"].as_u64() < Some(1000), "{committed}");
}

#[test]
fn uuid_and_sequential_tokens_are_the_same_in_two_processes() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let run = |lake: &Path| {
        let m = s.write(
            &Manifest::new("tokens")
                .source("generator://?count=300&seed=3")
                .source_option(
                    "mask",
                    serde_json::json!({"email": "uuid", "user_id": "sequential"}),
                )
                .sink(lake),
        );
        let out = output(weir(&plugins).arg("run").arg(&m));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        delta_rows(lake, &s)
    };
    let a = run(&s.join("a"));
    let b = run(&s.join("b"));
    assert_eq!(a.len(), 300);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["email"], y["email"]);
        assert_eq!(x["user_id"], y["user_id"]);
        assert_eq!(x["email"].as_str().map(str::len), Some(36), "{x}");
    }
    // Equal inputs get equal tokens, different inputs different ones.
    let e = |id: usize| event(3, id as i64).user_id;
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            assert_eq!(
                e(i) == e(j),
                a[i]["user_id"] == a[j]["user_id"],
                "rows {i} and {j}"
            );
        }
    }
}
