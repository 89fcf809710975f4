//! Measurements `cargo xtask bench` runs (release build), printed as JSON on stdout:
//!
//! - **boundary**: the per-batch cost of the plugin boundary. The probe plugin (loaded with
//!   the host's loader) makes a batch of N int64 rows in poll, and takes one in write; the
//!   floor is making the same batch in-process. Cost = plugin call time minus the floor.
//! - **pipeline**: `weir run` generator -> null (the host, its batcher and both boundaries)
//!   against the raw floor: the generator's own batch builder called in-process for the same
//!   rows. Reported as the ratio of the two rates, taken in one run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_sdk::abi::host::LoadedPlugin;
use weir_sdk::arrow::array::Int64Array;
use weir_sdk::arrow::datatypes::{DataType, Field, Schema};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::{Position, SinkConfig, SourceConfig};

/// Median of `rounds` timings of `iters` calls each, per call.
fn per_call(rounds: usize, iters: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed() / iters as u32
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn in_process(rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(0..rows))],
    )
    .expect("batch")
}

fn boundary(dir: &Path) -> serde_json::Value {
    let probe = LoadedPlugin::load(&dir.join("libweir_fixture_probe.so")).expect("load probe");
    let mut out = Vec::new();
    for rows in [1_i64, 1_000, 1_000_000] {
        let iters = if rows >= 1_000_000 { 20 } else { 2_000 };
        let cfg = SourceConfig {
            // Endless enough: the probe ends after `batches` batches.
            address: format!("probe://?rows={rows}&batches={}", i64::MAX / rows / 2),
            ..Default::default()
        };
        let mut source = probe.new_source("probe", "bench", &cfg).expect("source");
        source.open().expect("open");
        let poll = per_call(7, iters, || {
            let p = source.poll(rows as usize, Duration::ZERO).expect("poll");
            std::hint::black_box(p.batch);
        });
        let floor = per_call(7, iters, || {
            std::hint::black_box(in_process(rows));
        });
        let mut sink = probe
            .new_sink(
                "probe",
                "bench",
                &SinkConfig {
                    address: "probe://".into(),
                    ..Default::default()
                },
            )
            .expect("sink");
        let batch = in_process(rows);
        let positions = [Position::new("probe", rows)];
        let write = per_call(7, iters, || {
            sink.write(batch.clone()).expect("write");
            sink.commit(&positions).expect("commit");
        });
        out.push(serde_json::json!({
            "rows": rows,
            "poll_us": poll.as_secs_f64() * 1e6,
            "in_process_make_us": floor.as_secs_f64() * 1e6,
            "poll_boundary_cost_us": (poll.as_secs_f64() - floor.as_secs_f64()) * 1e6,
            "write_and_commit_us": write.as_secs_f64() * 1e6,
        }));
    }
    serde_json::Value::Array(out)
}

fn pipeline() -> serde_json::Value {
    // Long enough that process start and plugin loading (tens of ms) do not dominate.
    const ROWS: i64 = 10_000_000;
    const BATCH: usize = 10_000;
    let scratch = tempfile::tempdir().expect("tmp");
    let manifest = scratch.path().join("bench.yaml");
    std::fs::write(
        &manifest,
        format!("name: bench\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: generator://?count={ROWS}&seed=1\n    options: {{batch_size: {BATCH}}}\n  sink:\n    address: null://\n"),
    )
    .expect("manifest");
    let run = || weir_tests::timed_run(&manifest);
    let floor = || {
        let t = Instant::now();
        let mut from = 0;
        while from < ROWS {
            let b = weir_plugin_generator::events::batch(1, from, BATCH).expect("batch");
            std::hint::black_box(b);
            from += BATCH as i64;
        }
        t.elapsed()
    };
    // Interleave, take medians, so drift hits both sides alike.
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..5 {
        ours.push(run());
        raw.push(floor());
    }
    ours.sort();
    raw.sort();
    let (ours, raw) = (ours[2], raw[2]);
    let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
    serde_json::json!({
        "rows": ROWS,
        "batch_size": BATCH,
        "weir_generator_to_null_records_per_s": rate(ours),
        "raw_generator_floor_records_per_s": rate(raw),
        "ratio_weir_to_floor": rate(ours) / rate(raw),
        "note": "weir's time includes process start, plugin loading and the drain; the floor only builds the batches",
    })
}

fn main() {
    // No subscriber: plugin log forwarding is off, as it is for levels a host filters out.
    let _ = weir_sdk::tracing::subscriber::set_global_default(
        weir_sdk::tracing::subscriber::NoSubscriber::default(),
    );
    // `cargo bench` passes `--bench`; nothing else is taken.
    let dir = weir_tests::bin_dir();
    let report = serde_json::json!({
        "boundary": boundary(&dir),
        "pipeline": pipeline(),
    });
    println!("{report:#}");
}
