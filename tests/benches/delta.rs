//! `cargo xtask bench delta`: generator -> Delta through `weir run` against the floor of
//! writing the same Arrow batches with the deltalake crate directly, in one process: the
//! generator's own batch builder, then `RecordBatchWriter` with one `txn` action per commit,
//! one commit per batch, as the sink does. Batch sizes 10 000 and 100 000; the two sides
//! alternate and medians are taken, so drift hits both alike. JSON on stdout.
//!
//! weir's side includes process start, plugin loading, the pre-commit reload of the table and
//! the read-back of the stored position; the floor does none of those.

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructType, Transaction};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTableBuilder;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_tests::bench::{generator_arrow_bytes, median};

const ROWS: i64 = 1_000_000;

/// Writes ROWS generator rows in batches of `batch` straight to a new table at `dir`.
fn floor(rt: &tokio::runtime::Runtime, dir: &Path, batch: usize) -> Duration {
    let started = Instant::now();
    rt.block_on(async {
        let url = url_of(dir);
        let first = weir_plugin_generator::events::batch(1, 0, batch).expect("batch");
        let nullable = deltalake::arrow::datatypes::Schema::new(
            first
                .schema()
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
                .collect::<Vec<_>>(),
        );
        let schema: StructType = (&nullable).try_into_kernel().expect("kernel schema");
        let mut table = DeltaTableBuilder::from_url(url)
            .expect("url")
            .build()
            .expect("table")
            .create()
            .with_columns(schema.fields().cloned())
            .await
            .expect("create");
        let mut from = 0;
        while from < ROWS {
            let b = weir_plugin_generator::events::batch(1, from, batch).expect("batch");
            from += batch as i64;
            let props = CommitProperties::default()
                .with_application_transaction(Transaction::new("floor/generator", from));
            let mut w = RecordBatchWriter::for_table(&table)
                .expect("writer")
                .with_commit_properties(props);
            w.write(b).await.expect("write");
            w.flush_and_commit(&mut table).await.expect("commit");
        }
    });
    started.elapsed()
}

fn url_of(dir: &Path) -> url::Url {
    std::fs::create_dir_all(dir).expect("table dir");
    url::Url::from_directory_path(dir).expect("dir url")
}

fn weir_run(scratch: &Path, lake: &Path, batch: usize) -> Duration {
    let manifest = scratch.join(format!("delta-{batch}.yaml"));
    std::fs::write(
        &manifest,
        format!(
            "name: bench\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: generator://?count={ROWS}&seed=1\n    options: {{batch_size: {batch}, batch_timeout: 30}}\n  sink:\n    address: {}\n    options: {{dest_table: events}}\n",
            lake.display()
        ),
    )
    .expect("manifest");
    weir_tests::timed_run(&manifest)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The Arrow size of everything written (the same batches on both sides).
    let arrow_bytes = generator_arrow_bytes(ROWS);
    let mut sizes = Vec::new();
    let mut ratios = Vec::new();
    for batch in [10_000usize, 100_000] {
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for round in 0..3 {
            let scratch = tempfile::tempdir().expect("tmp");
            ours.push(weir_run(
                scratch.path(),
                &scratch.path().join("lake"),
                batch,
            ));
            raw.push(floor(
                &rt,
                &scratch.path().join(format!("floor-{round}")),
                batch,
            ));
            eprintln!(
                "batch {batch}, round {round}: weir {:?}, floor {:?}",
                ours[round], raw[round]
            );
        }
        let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
        let mb = |d: Duration| arrow_bytes as f64 / 1e6 / d.as_secs_f64();
        let (o, r) = (median(ours.clone()), median(raw.clone()));
        let ratio = rate(o) / rate(r);
        ratios.push(ratio);
        sizes.push(serde_json::json!({
            "batch_size": batch,
            "commits": ROWS as usize / batch,
            "weir_generator_to_delta_records_per_s": rate(o),
            "weir_generator_to_delta_mb_per_s": mb(o),
            "floor_deltalake_direct_records_per_s": rate(r),
            "floor_deltalake_direct_mb_per_s": mb(r),
            "ratio_weir_to_floor": ratio,
            "weir_seconds": ours.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "floor_seconds": raw.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        }));
    }
    let report = serde_json::json!({
        "rows": ROWS,
        "arrow_bytes": arrow_bytes,
        "sizes": sizes,
        "ratios_weir_to_floor": ratios,
        "note": "MB/s are Arrow bytes of the generated batches per second; weir's time includes process start, plugin loading and the pre-commit table reload; the delta plugin is built without its datafusion feature for this bench (append only)",
    });
    println!("{report:#}");
}
