//! `cargo xtask bench avro`: 1 000 000 Avro messages of about 300 bytes (the record of the JSON
//! benches: id, user, amount, a 240-character note), in Kafka envelopes of 10 000, decoded by
//! weir's decode stage (`format: avro`, single-object encoding of `avro_schema`), against the
//! floor of arrow-avro decoding the same bytes straight into Arrow in one loop (the library
//! weir uses, fed a message at a time, flushed per 10 000), and against weir's decoding of
//! the same records as JSON, and against apache-avro (the other Rust Avro library: each
//! message to a `Value`, the values to Arrow), which is how the decoder was chosen. Five
//! rounds each, weir and the floor alternating; medians. JSON on stdout.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::decode::{AvroSpec, DecodeConfig, Decoder, Format};
use weir_sdk::arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::envelope::Layout;
use weir_tests::bench::median;

const MESSAGES: usize = 1_000_000;
const BATCH: usize = 10_000;
const SCHEMA: &str = r#"{"type":"record","name":"Bench","fields":[{"name":"id","type":"long"},{"name":"user","type":"string"},{"name":"amount","type":"double"},{"name":"note","type":"string"}]}"#;

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn string(s: &str, out: &mut Vec<u8>) {
    zigzag(s.len() as i64, out);
    out.extend_from_slice(s.as_bytes());
}

/// Message `i` as single-object encoded Avro (`header` is `C3 01` + the fingerprint).
fn avro(i: usize, header: &[u8], note: &str) -> Vec<u8> {
    let mut out = header.to_vec();
    zigzag(i as i64, &mut out);
    string(&format!("user{}", i % 977), &mut out);
    out.extend_from_slice(&((i % 1000) as f64 + 0.5).to_le_bytes());
    string(note, &mut out);
    out
}

fn json(i: usize, note: &str) -> Vec<u8> {
    format!(
        "{{\"id\":{i},\"user\":\"user{}\",\"amount\":{}.5,\"note\":\"{note}\"}}",
        i % 977,
        i % 1000
    )
    .into_bytes()
}

/// Kafka envelopes of `values`, `BATCH` to a batch.
fn envelopes(values: &[Vec<u8>]) -> Vec<RecordBatch> {
    let schema = Arc::new(Layout::Kafka.schema());
    values
        .chunks(BATCH)
        .enumerate()
        .map(|(n, chunk)| {
            let rows = chunk.len();
            let value =
                BinaryArray::from(chunk.iter().map(|v| Some(v.as_slice())).collect::<Vec<_>>());
            let key = BinaryArray::from(vec![None::<&[u8]>; rows]);
            let headers = weir_sdk::arrow::array::new_null_array(schema.field(2).data_type(), rows);
            let offsets = Int64Array::from_iter_values((0..rows).map(|i| (n * BATCH + i) as i64));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(key),
                Arc::new(value),
                headers,
                Arc::new(StringArray::from(vec!["bench"; rows])),
                Arc::new(Int32Array::from(vec![0; rows])),
                Arc::new(offsets),
                weir_sdk::arrow::array::new_null_array(schema.field(6).data_type(), rows),
            ];
            RecordBatch::try_new(schema.clone(), columns).expect("envelope")
        })
        .collect()
}

fn through_weir(cfg: &DecodeConfig, batches: &[RecordBatch]) -> Duration {
    let mut d = Decoder::new(cfg.clone());
    let t = Instant::now();
    let mut rows = 0;
    for b in batches {
        let out = d.decode(b.clone()).expect("decode");
        assert!(out.dead.is_none(), "dead letters in the bench");
        rows += out.batch.map_or(0, |b| b.num_rows());
    }
    assert_eq!(rows, MESSAGES);
    t.elapsed()
}

fn floor(values: &[Vec<u8>]) -> Duration {
    use arrow_avro::reader::ReaderBuilder;
    use arrow_avro::schema::{AvroSchema, SchemaStore};
    let mut store = SchemaStore::new();
    store
        .register(AvroSchema::new(SCHEMA.to_string()))
        .expect("schema");
    let mut d = ReaderBuilder::new()
        .with_batch_size(BATCH)
        .with_writer_schema_store(store)
        .build_decoder()
        .expect("decoder");
    let t = Instant::now();
    let mut rows = 0;
    for chunk in values.chunks(BATCH) {
        for v in chunk {
            d.decode(v).expect("decode");
        }
        rows += d.flush().expect("flush").map_or(0, |b| b.num_rows());
    }
    assert_eq!(rows, MESSAGES);
    t.elapsed()
}

/// apache-avro, the other Rust Avro library, on the same messages: each body to a `Value`,
/// the values to Arrow columns (what a decoder built on it does), flushed per 10 000.
fn apache(values: &[Vec<u8>]) -> Duration {
    use apache_avro::types::Value;
    use weir_sdk::arrow::array::{Float64Builder, Int64Builder, StringBuilder};
    let schema = apache_avro::Schema::parse_str(SCHEMA).expect("schema");
    let t = Instant::now();
    let mut rows = 0;
    for chunk in values.chunks(BATCH) {
        let (mut id, mut user) = (Int64Builder::new(), StringBuilder::new());
        let (mut amount, mut note) = (Float64Builder::new(), StringBuilder::new());
        for v in chunk {
            let mut body = &v[10..];
            #[allow(deprecated)] // its replacement builds the same reader
            let value = apache_avro::from_avro_datum(&schema, &mut body, None).expect("decode");
            let Value::Record(fields) = value else {
                panic!("not a record: {value:?}");
            };
            for (name, value) in fields {
                match (name.as_str(), value) {
                    ("id", Value::Long(x)) => id.append_value(x),
                    ("user", Value::String(s)) => user.append_value(s),
                    ("amount", Value::Double(x)) => amount.append_value(x),
                    ("note", Value::String(s)) => note.append_value(s),
                    other => panic!("unexpected field {other:?}"),
                }
            }
        }
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(id.finish()) as ArrayRef),
            ("user", Arc::new(user.finish())),
            ("amount", Arc::new(amount.finish())),
            ("note", Arc::new(note.finish())),
        ])
        .expect("batch");
        rows += batch.num_rows();
    }
    assert_eq!(rows, MESSAGES);
    t.elapsed()
}

fn main() {
    let fp = match arrow_avro::schema::AvroSchema::new(SCHEMA.to_string())
        .fingerprint(arrow_avro::schema::FingerprintAlgorithm::Rabin)
        .expect("fingerprint")
    {
        arrow_avro::schema::Fingerprint::Rabin(f) => f,
        other => panic!("{other:?}"),
    };
    let mut header = vec![0xC3, 0x01];
    header.extend_from_slice(&fp.to_le_bytes());
    let note = "x".repeat(240);
    let avro_values: Vec<Vec<u8>> = (0..MESSAGES).map(|i| avro(i, &header, &note)).collect();
    let json_values: Vec<Vec<u8>> = (0..MESSAGES).map(|i| json(i, &note)).collect();
    let avro_bytes: usize = avro_values.iter().map(Vec::len).sum();
    let (avro_env, json_env) = (envelopes(&avro_values), envelopes(&json_values));
    let avro_cfg = DecodeConfig {
        format: Format::Avro,
        avro: Some(AvroSpec::Inline(SCHEMA.to_string())),
        ..DecodeConfig::default()
    };
    let json_cfg = DecodeConfig::default();
    if let Some(side) = std::env::var_os("WEIR_BENCH_PROFILE") {
        // One side many times over, for a profiler: `floor`, or weir's.
        for _ in 0..10 {
            if side == "floor" {
                floor(&avro_values);
            } else {
                through_weir(&avro_cfg, &avro_env);
            }
        }
        return;
    }
    let (mut ours, mut raw, mut js, mut other) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Five rounds, weir and the floor taking turns to go first (the one that runs second
    // finds the allocator's pages warm); the medians are compared.
    for round in 0..5 {
        if round % 2 == 0 {
            ours.push(through_weir(&avro_cfg, &avro_env));
            raw.push(floor(&avro_values));
        } else {
            raw.push(floor(&avro_values));
            ours.push(through_weir(&avro_cfg, &avro_env));
        }
        js.push(through_weir(&json_cfg, &json_env));
        other.push(apache(&avro_values));
        eprintln!(
            "round {round}: weir avro {:?}, arrow-avro floor {:?}, weir json {:?}, apache-avro {:?}",
            ours[round], raw[round], js[round], other[round]
        );
    }
    let rate = |d: Duration| MESSAGES as f64 / d.as_secs_f64();
    let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    let (o, r, j, a) = (
        median(ours.clone()),
        median(raw.clone()),
        median(js.clone()),
        median(other.clone()),
    );
    let report = serde_json::json!({
        "messages": MESSAGES,
        "avro_bytes": avro_bytes,
        "batch": BATCH,
        "weir_avro_records_per_s": rate(o),
        "weir_avro_mb_per_s": avro_bytes as f64 / 1e6 / o.as_secs_f64(),
        "floor_arrow_avro_records_per_s": rate(r),
        "weir_json_records_per_s": rate(j),
        "apache_avro_to_arrow_records_per_s": rate(a),
        "ratio_apache_avro_to_arrow_avro": rate(a) / rate(r),
        "ratio_weir_avro_to_floor": rate(o) / rate(r),
        "ratio_weir_avro_to_weir_json": rate(o) / rate(j),
        "weir_avro_seconds": secs(&ours),
        "floor_seconds": secs(&raw),
        "weir_json_seconds": secs(&js),
        "apache_avro_seconds": secs(&other),
        "note": "in one process, release; weir's side is the whole decode stage (framing, one decoder per writer schema, merging, metadata columns); the floor is arrow-avro's Decoder fed the same messages",
    });
    println!("{report:#}");
}
