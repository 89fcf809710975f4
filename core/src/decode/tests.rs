//! Decoding a JSON corpus: nested objects, arrays, nulls, ints that widen to floats, late
//! fields, invalid values, hints, raw and nesting-as-text.

use super::*;
use arrow::array::{
    Array, AsArray, BinaryBuilder, Int64Array, MapBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type};

fn nats(values: &[&str], first_seq: i64) -> RecordBatch {
    let mut v = BinaryBuilder::new();
    for x in values {
        v.append_value(x.as_bytes());
    }
    let n = values.len();
    let mut headers = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
    for _ in 0..n {
        headers.append(true).unwrap();
    }
    let subject: StringArray = (0..n).map(|i| Some(format!("events.{}", i % 2))).collect();
    let seq = Int64Array::from_iter_values(first_seq..first_seq + n as i64);
    let ts =
        TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i as i64)).with_timezone("UTC");
    let dc = Int64Array::from_iter_values((0..n).map(|_| 1));
    RecordBatch::try_from_iter(vec![
        ("value", Arc::new(v.finish()) as ArrayRef),
        ("headers", Arc::new(headers.finish()) as ArrayRef),
        ("subject", Arc::new(subject) as ArrayRef),
        ("sequence", Arc::new(seq) as ArrayRef),
        ("timestamp", Arc::new(ts) as ArrayRef),
        ("delivery_count", Arc::new(dc) as ArrayRef),
    ])
    .unwrap()
}

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn json_corpus_decodes_to_typed_columns_and_sets_invalid_values_aside() {
    let mut d = Decoder::new(DecodeConfig::default());
    let first = nats(
        &[
            r#"{"orderId": 1, "amount": 10, "customer": {"name": "Ann", "tier": "gold"}, "tags": ["a", "b"], "note": null}"#,
            r#"not json at all"#,
            r#"{"orderId": 2, "amount": 12, "customer": {"name": "Bob", "tier": null}, "tags": [], "note": "x"}"#,
            r#"[1, 2, 3]"#,
            r#"{"orderId": 3, "amount": 7, "customer": null, "tags": null, "note": null"#,
        ],
        100,
    );
    let out = d.decode(first).unwrap();
    let b = out.batch.unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(
        names(&b),
        [
            "order_id",
            "amount",
            "customer",
            "tags",
            "note",
            "_nats_subject",
            "_nats_sequence",
            "_nats_timestamp",
            "_nats_headers"
        ]
    );
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[1, 2]);
    assert_eq!(b.column(1).data_type(), &DataType::Int64);
    let customer = b.column(2).as_struct();
    assert_eq!(
        customer
            .column_by_name("name")
            .unwrap()
            .as_string::<i32>()
            .value(1),
        "Bob"
    );
    assert!(customer.column_by_name("tier").unwrap().is_null(1));
    assert_eq!(b.column(3).as_list::<i32>().value(0).len(), 2);
    assert_eq!(
        b.column(6).as_primitive::<Int64Type>().values(),
        &[100, 102]
    );
    let dead = out.dead.unwrap();
    assert_eq!(dead.num_rows(), 3);
    let pos = dead.column_by_name("_position").unwrap().as_string::<i32>();
    assert_eq!(pos.value(0), "events.1@101");
    assert_eq!(pos.value(1), "events.1@103");
    assert_eq!(pos.value(2), "events.0@104");
    let why = dead.column_by_name("_error").unwrap().as_string::<i32>();
    assert!(why.value(0).contains("not valid JSON"), "{}", why.value(0));
    assert!(
        why.value(1).contains("a JSON array, not an object"),
        "{}",
        why.value(1)
    );
    assert!(why.value(2).contains("not valid JSON"), "{}", why.value(2));
    assert_eq!(
        dead.column_by_name("value")
            .unwrap()
            .as_binary::<i32>()
            .value(1),
        b"[1, 2, 3]"
    );

    // The next batch widens amount to float and adds a field late; earlier columns stay.
    let second = nats(
        &[
            r#"{"orderId": 4, "amount": 9.5, "customer": {"name": "Cy", "tier": "x", "since": 2020}, "couponCode": "Z"}"#,
        ],
        105,
    );
    let b = d.decode(second).unwrap().batch.unwrap();
    assert_eq!(
        names(&b),
        [
            "order_id",
            "amount",
            "customer",
            "tags",
            "note",
            "coupon_code",
            "_nats_subject",
            "_nats_sequence",
            "_nats_timestamp",
            "_nats_headers"
        ]
    );
    assert_eq!(b.column(1).as_primitive::<Float64Type>().value(0), 9.5);
    assert!(b.column(3).is_null(0));
    let customer = b.column(2).as_struct();
    assert_eq!(
        customer
            .column_by_name("since")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        2020
    );

    // And an int after the widening still decodes, as a float.
    let third = nats(&[r#"{"orderId": 5, "amount": 3}"#], 106);
    let b = d.decode(third).unwrap().batch.unwrap();
    assert_eq!(b.column(1).as_primitive::<Float64Type>().value(0), 3.0);
    assert_eq!(b.num_columns(), 10);
}

#[test]
fn hints_type_columns_and_values_that_do_not_fit_become_dead_letters() {
    let mut hints = BTreeMap::new();
    hints.insert("amount".to_string(), TypeHint::Text);
    hints.insert("id".to_string(), TypeHint::Bigint);
    hints.insert("at".to_string(), TypeHint::Timestamp);
    hints.insert("payload".to_string(), TypeHint::Json);
    let mut d = Decoder::new(DecodeConfig {
        type_hints: hints,
        ..DecodeConfig::default()
    });
    let out = d
        .decode(nats(
            &[
                r#"{"id": 1, "amount": 10.5, "at": "2026-01-02T03:04:05Z", "payload": {"a": [1, 2]}}"#,
                r#"{"id": "not a number", "amount": 1, "at": "2026-01-02T03:04:05Z", "payload": 3}"#,
                r#"{"id": 3, "amount": "7", "at": "2026-01-03T00:00:00Z", "payload": "s"}"#,
            ],
            1,
        ))
        .unwrap();
    let b = out.batch.unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[1, 3]);
    let amount = b.column_by_name("amount").unwrap().as_string::<i32>();
    assert_eq!(amount.value(0), "10.5");
    assert_eq!(amount.value(1), "7");
    assert_eq!(
        b.column_by_name("at").unwrap().data_type(),
        &TypeHint::Timestamp.data_type()
    );
    let payload = b.column_by_name("payload").unwrap().as_string::<i32>();
    assert_eq!(payload.value(0), r#"{"a": [1, 2]}"#);
    assert_eq!(payload.value(1), "s");
    let dead = out.dead.unwrap();
    assert_eq!(dead.num_rows(), 1);
    assert!(
        dead.column_by_name("_error")
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .contains("schema"),
        "{:?}",
        dead.column_by_name("_error")
    );
}

#[test]
fn nesting_zero_keeps_objects_as_json_text_and_raw_keeps_the_envelope() {
    let mut d = Decoder::new(DecodeConfig {
        nested_as_text: true,
        naming: Naming::Direct,
        ..DecodeConfig::default()
    });
    let b = d
        .decode(nats(
            &[r#"{"userId": 1, "profile": {"x": true}, "list": [1]}"#],
            1,
        ))
        .unwrap()
        .batch
        .unwrap();
    assert_eq!(names(&b)[..3], ["userId", "profile", "list"]);
    assert_eq!(b.column(1).as_string::<i32>().value(0), r#"{"x": true}"#);
    assert_eq!(b.column(2).as_string::<i32>().value(0), "[1]");

    let mut raw = Decoder::new(DecodeConfig {
        format: Format::Raw,
        ..DecodeConfig::default()
    });
    let b = raw
        .decode(nats(&["not json", "{}"], 7))
        .unwrap()
        .batch
        .unwrap();
    assert_eq!(names(&b), ["_nats"]);
    let st = b.column(0).as_struct();
    assert_eq!(
        st.column_by_name("value")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "not json"
    );
    assert_eq!(
        st.column_by_name("sequence")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(1),
        8
    );
}

#[test]
fn a_field_both_nested_and_scalar_becomes_text() {
    let mut d = Decoder::new(DecodeConfig::default());
    let out = d
        .decode(nats(
            &[r#"{"v": {"a": 1}}"#, r#"{"v": 5}"#, r#"{"v": "s"}"#],
            1,
        ))
        .unwrap();
    let b = out.batch.unwrap();
    assert!(out.dead.is_none());
    let v = b.column(0).as_string::<i32>();
    assert_eq!(
        (v.value(0), v.value(1), v.value(2)),
        (r#"{"a": 1}"#, "5", "s")
    );
}

#[test]
fn typed_batches_pass_through() {
    let b = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
    )])
    .unwrap();
    let out = Decoder::new(DecodeConfig::default())
        .decode(b.clone())
        .unwrap();
    assert_eq!(out.batch.unwrap(), b);
    assert!(out.dead.is_none());
}

#[test]
fn a_batch_of_only_invalid_values_gives_only_dead_letters() {
    let mut d = Decoder::new(DecodeConfig::default());
    d.decode(nats(&[r#"{"id": 1}"#], 1)).unwrap();
    let out = d.decode(nats(&["not json", "[]"], 2)).unwrap();
    assert!(out.batch.is_none());
    assert_eq!(out.dead.unwrap().num_rows(), 2);
    let first = Decoder::new(DecodeConfig::default())
        .decode(nats(&["nope"], 1))
        .unwrap();
    assert!(first.batch.is_none());
    assert_eq!(first.dead.unwrap().num_rows(), 1);
}

#[test]
fn a_batch_whose_every_value_breaks_a_hint_gives_only_dead_letters() {
    let mut hints = BTreeMap::new();
    hints.insert("id".to_string(), TypeHint::Bigint);
    let mut d = Decoder::new(DecodeConfig {
        type_hints: hints,
        ..DecodeConfig::default()
    });
    d.decode(nats(&[r#"{"id": 1, "name": "a"}"#], 1)).unwrap();
    let out = d
        .decode(nats(
            &[r#"{"id": "one", "name": "b"}"#, r#"{"id": "two"}"#],
            2,
        ))
        .unwrap();
    assert!(out.batch.is_none());
    assert_eq!(out.dead.unwrap().num_rows(), 2);
    let after = d.decode(nats(&[r#"{"id": 3, "name": "c"}"#], 4)).unwrap();
    assert_eq!(after.batch.unwrap().num_rows(), 1);
}

/// `{"d": {"d": ... 1}}`, `levels` objects deep.
fn nested(levels: usize) -> String {
    format!("{}1{}", "{\"d\":".repeat(levels), "}".repeat(levels))
}

/// How many struct levels a type has.
fn struct_depth(t: &DataType) -> usize {
    match t {
        DataType::Struct(fs) => {
            1 + fs
                .iter()
                .map(|f| struct_depth(f.data_type()))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

#[test]
fn deep_values_keep_every_field_with_the_deep_part_as_json_text() {
    for levels in [50, 115, 200, 300] {
        // As the first record of a new pipeline, and after a shallow one.
        for first in [true, false] {
            let mut d = Decoder::new(DecodeConfig::default());
            let deep = format!(r#"{{"id":2,"deep":{},"after":"z"}}"#, nested(levels));
            let values: Vec<&str> = if first {
                vec![&deep]
            } else {
                vec![r#"{"id":1,"after":"a"}"#, &deep]
            };
            let out = d.decode(nats(&values, 1)).unwrap();
            assert!(out.dead.is_none(), "{levels}: {:?}", out.dead);
            let b = out.batch.unwrap();
            let names = names(&b);
            for c in ["id", "deep", "after"] {
                assert!(names.iter().any(|n| n == c), "{levels}: {c} in {names:?}");
            }
            let at = |c: &str| names.iter().position(|n| n == c).unwrap_or(usize::MAX);
            let row = b.num_rows() - 1;
            assert_eq!(b.column(at("id")).as_primitive::<Int64Type>().value(row), 2);
            assert_eq!(b.column(at("after")).as_string::<i32>().value(row), "z");
            let depth = struct_depth(b.column(at("deep")).data_type());
            assert_eq!(depth, bounds::DEFAULT_MAX_NESTING_DEPTH, "{levels}");
        }
    }
}

#[test]
fn values_past_the_hard_limits_become_dead_letters_with_the_reason() {
    let mut d = Decoder::new(DecodeConfig {
        bounds: Bounds {
            max_message_bytes: 100_000,
            ..Bounds::default()
        },
        ..DecodeConfig::default()
    });
    let big = format!(r#"{{"id":1,"blob":"{}"}}"#, "x".repeat(200_000));
    let deep = format!(r#"{{"id":2,"deep":{}}}"#, nested(5_000));
    let out = d.decode(nats(&[&big, r#"{"id":3}"#, &deep], 10)).unwrap();
    let dead = out.dead.unwrap();
    let why = dead.column_by_name("_error").unwrap().as_string::<i32>();
    assert!(
        why.value(0).contains("max_message_bytes"),
        "{}",
        why.value(0)
    );
    assert!(why.value(1).contains("hard limit"), "{}", why.value(1));
    assert_eq!(out.batch.unwrap().num_rows(), 1);
}

#[test]
fn dead_letters_without_the_raw_payload_keep_its_digest_and_size() {
    let mut d = Decoder::new(DecodeConfig {
        dead_letter_raw: false,
        ..DecodeConfig::default()
    });
    let out = d.decode(nats(&["secret 123-45-6789"], 1)).unwrap();
    let dead = out.dead.unwrap();
    assert!(dead.column_by_name("value").is_none());
    assert!(dead.column_by_name("headers").is_none());
    let sha = dead
        .column_by_name("_value_sha256")
        .unwrap()
        .as_string::<i32>();
    let expected: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(b"secret 123-45-6789")
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    assert_eq!(sha.value(0), expected);
    let size = dead
        .column_by_name("_value_bytes")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(size.value(0), 18);
    assert!(dead.column_by_name("_position").is_some());
}

#[test]
fn a_field_that_is_an_object_in_one_record_and_a_scalar_in_another_is_kept_as_text() {
    let mut d = Decoder::new(DecodeConfig::default());
    let out = d
        .decode(nats(
            &[
                r#"{"id": 1, "a": {"b": {"c": 1}}}"#,
                r#"{"id": 2, "a": 5}"#,
                r#"{"id": 3, "a": {"b": "deep"}}"#,
                r#"{"id": 4, "a": [1, {"x": 2}]}"#,
            ],
            1,
        ))
        .unwrap();
    let b = out.batch.unwrap();
    assert_eq!(b.num_rows(), 4, "no record is lost to the conflict");
    let a = b.column_by_name("a").expect("column a");
    assert_eq!(a.data_type(), &DataType::Utf8);
    let a = a.as_string::<i32>();
    let text: Vec<&str> = (0..4).map(|i| a.value(i)).collect();
    assert_eq!(text[1], "5");
    for (i, needle) in [(0, "\"c\":1"), (2, "deep"), (3, "\"x\":2")] {
        let parsed: serde_json::Value = serde_json::from_str(text[i]).expect("JSON text");
        assert!(parsed.to_string().contains(needle), "{i}: {}", text[i]);
    }
    // The same conflict inside a struct: the whole top-level field is text, no row is lost.
    let mut d = Decoder::new(DecodeConfig::default());
    let out = d
        .decode(nats(
            &[
                r#"{"id": 1, "s": {"a": {"b": 1}, "k": "x"}}"#,
                r#"{"id": 2, "s": {"a": 5, "k": "y"}}"#,
            ],
            1,
        ))
        .unwrap();
    assert!(out.dead.is_none(), "{:?}", out.dead);
    let b = out.batch.unwrap();
    assert_eq!(b.num_rows(), 2);
    let s = b.column_by_name("s").expect("column s").as_string::<i32>();
    let s: Vec<serde_json::Value> = (0..2)
        .map(|i| serde_json::from_str(s.value(i)).expect("JSON text"))
        .collect();
    assert_eq!(s[0]["a"]["b"], 1);
    assert_eq!(s[1]["a"], 5);
    // And across batches: a struct column, then a batch where its sub-field is a scalar.
    let mut d = Decoder::new(DecodeConfig::default());
    d.decode(nats(&[r#"{"id": 1, "s": {"a": {"b": 1}}}"#], 1))
        .unwrap();
    let out = d.decode(nats(&[r#"{"id": 2, "s": {"a": 5}}"#], 2)).unwrap();
    assert!(out.dead.is_none(), "{:?}", out.dead);
    let b = out.batch.unwrap();
    assert_eq!(b.column_by_name("s").unwrap().data_type(), &DataType::Utf8);
}

#[test]
fn the_declaration_decides_envelope_or_typed_and_the_metadata_names_the_layout() {
    // Envelope columns from a source declared typed: passed through untouched.
    let mut typed = Decoder::new(DecodeConfig {
        typed_input: true,
        ..DecodeConfig::default()
    });
    let batch = nats(&[r#"{"id": 1}"#], 1);
    let out = typed.decode(batch.clone()).unwrap();
    assert_eq!(out.batch, Some(batch));
    assert!(out.rows.is_none());
    // The layout comes from the schema metadata: `path` + `offset` columns named `file`.
    let file = RecordBatch::try_new(
        Arc::new(weir_envelope::Layout::File.schema()),
        vec![
            Arc::new(arrow::array::BinaryArray::from_iter_values([
                b"{\"id\":7}".as_slice()
            ])),
            Arc::new(StringArray::from(vec!["/in/a.jsonl"])),
            Arc::new(Int64Array::from(vec![40])),
        ],
    )
    .unwrap();
    assert_eq!(layout_of(&file), Some(Broker::File));
    let mut d = Decoder::new(DecodeConfig::default());
    let b = d.decode(file).unwrap().batch.unwrap();
    assert_eq!(names(&b), ["id", "_file_path", "_file_offset"]);
}

#[test]
fn headers_become_a_metadata_column_as_bytes_or_text() {
    let mut batch = nats(&[r#"{"id": 1}"#, r#"{"id": 2}"#], 1);
    let mut headers = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
    headers.keys().append_value("trace");
    headers.values().append_value(b"t1");
    headers.append(true).unwrap();
    headers.keys().append_value("blob");
    headers.values().append_value([0xFF, b'x']);
    headers.append(true).unwrap();
    let i = batch.schema().index_of("headers").unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = Arc::new(headers.finish());
    batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
    for as_text in [false, true] {
        let mut d = Decoder::new(DecodeConfig {
            headers_as_text: as_text,
            ..DecodeConfig::default()
        });
        let b = d.decode(batch.clone()).unwrap().batch.unwrap();
        let h = b.column_by_name("_nats_headers").unwrap().as_map();
        let values = h.values();
        let shown: Vec<String> = if as_text {
            values
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect()
        } else {
            values
                .as_binary::<i32>()
                .iter()
                .map(|v| String::from_utf8_lossy(v.unwrap()).into_owned())
                .collect()
        };
        assert_eq!(shown, ["t1", "\u{fffd}x"]);
        assert_eq!(h.keys().as_string::<i32>().value(1), "blob");
        assert_eq!(h.value_offsets(), &[0, 1, 2]);
    }
}
