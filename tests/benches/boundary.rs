//! Measurements `cargo xtask bench` runs (release build), printed as JSON on stdout:
//!
//! - **boundary**: the per-batch cost of the plugin boundary. The probe plugin (loaded with
//!   the host's loader) makes a batch of N int64 rows in poll, and takes one in write; the
//!   floor is making the same batch in-process. Cost = plugin call time minus the floor.
//! - **pipeline**: `weir run` generator -> null (the host, its batcher and both boundaries)
//!   against the raw floor: the generator's own batch builder called in-process for the same
//!   rows. Reported as the ratio of the two rates, taken in one run.
//! - **isolation**: the same generator -> null run with `isolation: process` (source and sink
//!   each in a child process, every batch crossing two sockets as Arrow IPC) against
//!   in-process, interleaved in one run: the isolation cost per batch is the difference of
//!   the two times over the number of batches.

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

/// A generator -> null manifest of `rows` rows in batches of `batch`, with `isolation`.
fn generator_to_null(dir: &Path, rows: i64, batch: usize, isolation: &str) -> std::path::PathBuf {
    let manifest = dir.join(format!("bench-{rows}-{batch}-{isolation}.yaml"));
    std::fs::write(
        &manifest,
        format!("name: bench\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: generator://?count={rows}&seed=1\n    options: {{batch_size: {batch}, isolation: {isolation}}}\n  sink:\n    address: null://\n"),
    )
    .expect("manifest");
    manifest
}

/// Medians of five interleaved rounds of each timing, so drift hits every side alike.
fn interleaved<const N: usize>(mut runs: [&mut dyn FnMut() -> Duration; N]) -> [Duration; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..5 {
        for (run, t) in runs.iter_mut().zip(times.iter_mut()) {
            t.push(run());
        }
    }
    times.map(|mut v| {
        v.sort();
        v[v.len() / 2]
    })
}

fn pipeline() -> serde_json::Value {
    // Long enough that process start and plugin loading (tens of ms) do not dominate.
    const ROWS: i64 = 10_000_000;
    const BATCH: usize = 10_000;
    let scratch = tempfile::tempdir().expect("tmp");
    let manifest = generator_to_null(scratch.path(), ROWS, BATCH, "none");
    let mut floor = || {
        let t = Instant::now();
        let mut from = 0;
        while from < ROWS {
            let b = weir_plugin_generator::events::batch(1, from, BATCH).expect("batch");
            std::hint::black_box(b);
            from += BATCH as i64;
        }
        t.elapsed()
    };
    let [ours, raw] = interleaved([&mut || weir_tests::timed_run(&manifest), &mut floor]);
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

fn isolation() -> serde_json::Value {
    let scratch = tempfile::tempdir().expect("tmp");
    let mut out = Vec::new();
    for (rows, batch) in [
        (1_000_000_i64, 100_usize),
        (2_000_000, 1_000),
        (10_000_000, 10_000),
    ] {
        let inside = generator_to_null(scratch.path(), rows, batch, "none");
        let isolated = generator_to_null(scratch.path(), rows, batch, "process");
        let [a, b] = interleaved([&mut || weir_tests::timed_run(&inside), &mut || {
            weir_tests::timed_run(&isolated)
        }]);
        let batches = rows as f64 / batch as f64;
        let bytes = weir_plugin_generator::events::batch(1, 0, batch)
            .expect("batch")
            .get_array_memory_size();
        out.push(serde_json::json!({
            "rows": rows,
            "batch_size": batch,
            "batch_arrow_bytes": bytes,
            "in_process_s": a.as_secs_f64(),
            "isolated_s": b.as_secs_f64(),
            "isolation_cost_per_batch_us": (b.as_secs_f64() - a.as_secs_f64()) / batches * 1e6,
            "in_process_per_batch_us": a.as_secs_f64() / batches * 1e6,
        }));
    }
    serde_json::Value::Array(out)
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
        "isolation": isolation(),
    });
    println!("{report:#}");
}
