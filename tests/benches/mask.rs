//! Masking throughput: 1 000 000 generator rows (in batches of 10 000) with 5 masked columns
//! (email: email, phone: phone, amount: round:100, user_id: uuid, country: hash), against the
//! floor of building the same batches unmasked, in one run. JSON on stdout.

use std::time::{Duration, Instant};
use weir_core::mask::Masker;
use weir_plugin_generator::events::batch;

const ROWS: usize = 1_000_000;
const BATCH: usize = 10_000;

fn main() {
    let specs: Vec<(String, String)> = [
        ("email", "email"),
        ("phone", "phone"),
        ("amount", "round:100"),
        ("user_id", "uuid"),
        ("country", "hash"),
    ]
    .iter()
    .map(|(c, s)| (c.to_string(), s.to_string()))
    .collect();
    let masker = Masker::parse_all(&specs, b"bench-key").expect("mask specs");
    let batches: Vec<_> = (0..ROWS / BATCH)
        .map(|i| batch(1, (i * BATCH) as i64, BATCH).expect("batch"))
        .collect();
    let mut runs: Vec<Duration> = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for b in &batches {
            std::hint::black_box(masker.apply(b).expect("mask"));
        }
        runs.push(t.elapsed());
    }
    runs.sort();
    let masking = runs[1];
    let t = Instant::now();
    for i in 0..ROWS / BATCH {
        std::hint::black_box(batch(1, (i * BATCH) as i64, BATCH).expect("batch"));
    }
    let generate = t.elapsed();
    let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
    let report = serde_json::json!({
        "rows": ROWS,
        "batch_size": BATCH,
        "masked_columns": specs.iter().map(|(c, s)| format!("{c}: {s}")).collect::<Vec<_>>(),
        "mask_rows_per_s": rate(masking),
        "generate_rows_per_s": rate(generate),
        "mask_seconds_per_million": masking.as_secs_f64(),
        "note": "median of 3 runs over the same batches; generate is the generator building the rows, for scale",
    });
    println!("{report:#}");
}
