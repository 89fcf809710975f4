//! `cargo xtask bench iceberg`: generator -> Iceberg through `weir run` (the embedded SQLite
//! catalog, `iceberg://DIR`) against the floor of appending the same batches with iceberg-rust
//! directly, in one process, into the same kind of catalog: per batch the columns cast to the
//! table's Arrow schema (with its field ids), Parquet data files (zstd) through iceberg-rust's
//! writer chain, and one fast-append commit carrying the batch's position in its summary, as
//! the sink does. 1 000 000 rows at batch sizes 10 000 and 100 000; the two sides alternate
//! (3 rounds each, medians). JSON on stdout.
//!
//! weir's side includes process start, plugin loading, the catalog and table set-up and the
//! read-back of the stored position; the floor opens its catalog and creates its table before
//! its clock starts. CPU seconds are this process's for the floor, the child's for weir.

use arrow58::array::ArrayRef as ArrayRef58;
use arrow58::compute::cast;
use arrow58::record_batch::RecordBatch as RecordBatch58;
use iceberg::spec::DataFileFormat;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation};
use parquet58::basic::{Compression, ZstdLevel};
use parquet58::file::properties::WriterProperties;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_tests::bench::{generator_arrow_bytes, median, usage};

const ROWS: i64 = 1_000_000;

/// The generator's Arrow 59 batch as an Arrow 58 one, through the C Data Interface, as the
/// plugin's `bridge` does (zero-copy: the same buffers).
fn to_58(b: &weir_sdk::arrow::record_batch::RecordBatch) -> Result<RecordBatch58, String> {
    use weir_sdk::arrow::array::{Array as _, StructArray};
    use weir_sdk::arrow::ffi;
    let data = StructArray::from(b.clone()).into_data();
    let mut array = ffi::FFI_ArrowArray::new(&data);
    let mut schema =
        ffi::FFI_ArrowSchema::try_from(b.schema().as_ref()).map_err(|e| e.to_string())?;
    // SAFETY: the same #[repr(C)] structs in arrow 58 and 59; `from_raw` moves each out once.
    let (array, schema) = unsafe {
        (
            arrow58::ffi::FFI_ArrowArray::from_raw(std::ptr::from_mut(&mut array).cast()),
            arrow58::ffi::FFI_ArrowSchema::from_raw(std::ptr::from_mut(&mut schema).cast()),
        )
    };
    let fields =
        Arc::new(arrow58::datatypes::Schema::try_from(&schema).map_err(|e| e.to_string())?);
    // SAFETY: exported together from one valid StructArray above.
    let data = unsafe { arrow58::ffi::from_ffi(array, &schema) }.map_err(|e| e.to_string())?;
    let columns = arrow58::array::StructArray::from(data).columns().to_vec();
    RecordBatch58::try_new(fields, columns).map_err(|e| e.to_string())
}

async fn catalog(root: &Path) -> Arc<dyn Catalog> {
    std::fs::create_dir_all(root).expect("root");
    let props = HashMap::from([
        (
            "uri".to_string(),
            format!("sqlite://{}?mode=rwc", root.join("catalog.db").display()),
        ),
        (
            "warehouse".to_string(),
            format!("file://{}", root.join("warehouse").display()),
        ),
        ("sql_bind_style".to_string(), "QMark".to_string()),
        ("pool.max-connections".to_string(), "1".to_string()),
    ]);
    let c = iceberg_catalog_sql::SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
        .load("floor", props)
        .await
        .expect("catalog");
    Arc::new(c)
}

/// The generator's batch in the table's Arrow schema: timestamps to the table's zone, field
/// ids on every field (nested ones too, by the cast).
fn conform(b: &RecordBatch58, schema: &arrow58::datatypes::SchemaRef) -> RecordBatch58 {
    let columns: Vec<ArrayRef58> = schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch58::try_new(schema.clone(), columns).expect("conformed")
}

async fn append(table: &Table, catalog: &dyn Catalog, b: RecordBatch58, next: i64) -> Table {
    let md = table.metadata();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, md.current_schema().clone()),
        512 << 20,
        table.file_io().clone(),
        DefaultLocationGenerator::new(md).expect("locations"),
        DefaultFileNameGenerator::new(
            format!("floor-{}", uuid::Uuid::now_v7()),
            None,
            DataFileFormat::Parquet,
        ),
    );
    let mut w = DataFileWriterBuilder::new(rolling)
        .build(None)
        .await
        .expect("writer");
    w.write(b).await.expect("write");
    let files = w.close().await.expect("close");
    let tx = Transaction::new(table);
    let summary = HashMap::from([("weir.floor.generator".to_string(), next.to_string())]);
    let action = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(summary);
    action
        .apply(tx)
        .expect("apply")
        .commit(catalog)
        .await
        .expect("commit")
}

/// Appends ROWS generator rows in batches of `batch`; the time from the first batch to the
/// last commit.
fn floor(rt: &tokio::runtime::Runtime, root: &Path, batch: usize) -> Duration {
    rt.block_on(async {
        let catalog = catalog(root).await;
        let ns = NamespaceIdent::new("bench".into());
        catalog
            .create_namespace(&ns, HashMap::new())
            .await
            .expect("namespace");
        let first = weir_plugin_generator::events::batch(1, 0, 1).expect("batch");
        let first = to_58(&first).expect("bridge");
        let schema =
            iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(first.schema().as_ref())
                .expect("schema");
        let creation = TableCreation::builder()
            .name("events".to_string())
            .schema(schema)
            .properties(HashMap::from([(
                "commit.retry.num-retries".to_string(),
                "0".to_string(),
            )]))
            .build();
        let mut table = catalog.create_table(&ns, creation).await.expect("table");
        let arrow = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())
                .expect("arrow"),
        );
        let started = Instant::now();
        let mut from = 0;
        while from < ROWS {
            let b = weir_plugin_generator::events::batch(1, from, batch).expect("batch");
            from += batch as i64;
            let b = conform(&to_58(&b).expect("bridge"), &arrow);
            table = append(&table, catalog.as_ref(), b, from).await;
        }
        started.elapsed()
    })
}

fn weir_run(dir: &Path, root: &Path, batch: usize) -> Duration {
    let manifest = dir.join(format!(
        "{}.yaml",
        root.file_name().and_then(|n| n.to_str()).unwrap_or("m")
    ));
    std::fs::write(
        &manifest,
        format!(
            "name: bench\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: generator://?count={ROWS}&seed=1\n    options: {{batch_size: {batch}, batch_timeout: 30}}\n  sink:\n    address: iceberg://{}\n    options: {{dest_table: bench.events}}\n",
            root.display()
        ),
    )
    .expect("manifest");
    weir_tests::timed_run(&manifest)
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let arrow_bytes = generator_arrow_bytes(ROWS);
    let (mut sizes, mut ratios, mut peak_rss) = (Vec::new(), Vec::new(), 0f64);
    for batch in [10_000usize, 100_000] {
        let (mut ours, mut raw, mut our_cpu, mut raw_cpu) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..3 {
            let (c0, _) = usage(libc::RUSAGE_CHILDREN);
            ours.push(weir_run(
                dir.path(),
                &dir.path().join(format!("weir-{batch}-{round}")),
                batch,
            ));
            let (c1, rss) = usage(libc::RUSAGE_CHILDREN);
            our_cpu.push(c1 - c0);
            peak_rss = peak_rss.max(rss);
            let (c0, _) = usage(libc::RUSAGE_SELF);
            raw.push(floor(
                &rt,
                &dir.path().join(format!("floor-{batch}-{round}")),
                batch,
            ));
            raw_cpu.push(usage(libc::RUSAGE_SELF).0 - c0);
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
        let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        sizes.push(serde_json::json!({
            "batch_size": batch,
            "commits": ROWS as usize / batch,
            "weir_generator_to_iceberg_records_per_s": rate(o),
            "weir_generator_to_iceberg_mb_per_s": mb(o),
            "floor_iceberg_rust_append_records_per_s": rate(r),
            "floor_iceberg_rust_append_mb_per_s": mb(r),
            "ratio_weir_to_floor": ratio,
            "weir_seconds": secs(&ours),
            "floor_seconds": secs(&raw),
            "weir_cpu_seconds": our_cpu,
            "floor_cpu_seconds": raw_cpu,
        }));
    }
    let report = serde_json::json!({
        "rows": ROWS,
        "arrow_bytes": arrow_bytes,
        "sizes": sizes,
        "ratios_weir_to_floor": ratios,
        "weir_peak_rss_mb": peak_rss,
        "floor_peak_rss_mb": usage(libc::RUSAGE_SELF).1,
        "catalog": "the embedded SQLite catalog on both sides (iceberg-catalog-sql 0.10.1), a local warehouse",
        "note": "MB/s are Arrow bytes of the generated batches per second; weir's time includes process start, plugin loading, catalog and table set-up; the floor's clock starts after its catalog and table exist",
    });
    println!("{report:#}");
}
