//! The two Arrow majors kept apart: the lock file gives the plugin and iceberg-rust Arrow 58 and
//! the host's sdk Arrow 59, and a batch with a column of every type, written through the
//! plugin library as the host loads it (the C ABI, then the Arrow 59 -> 58 bridge), reads back
//! from the table with iceberg-rust (58 -> 59) with every value unchanged.

use futures::TryStreamExt;
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableIdent};
use std::collections::HashMap;
use std::sync::Arc;
use weir_sdk::arrow::array::*;
use weir_sdk::arrow::compute::kernels::cast::cast;
use weir_sdk::arrow::datatypes::*;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::arrow::util::display::{ArrayFormatter, FormatOptions};
use weir_sdk::testing::PluginUnderTest;
use weir_sdk::{Position, SinkConfig};

/// `name version` of each locked package, with its dependencies as the lock file names them.
fn lock() -> Vec<(String, Vec<String>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let text = std::fs::read_to_string(root).expect("Cargo.lock");
    let mut out = Vec::new();
    for block in text.split("[[package]]").skip(1) {
        let field = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let deps = block
            .split("dependencies = [")
            .nth(1)
            .map(|d| d.split(']').next().unwrap_or_default())
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().trim_matches(|c| c == '"' || c == ',').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        out.push((format!("{} {}", field("name"), field("version")), deps));
    }
    out
}

#[test]
fn the_plugin_has_its_arrow_and_the_host_its_own() {
    let lock = lock();
    let deps = |name: &str| -> Vec<String> {
        lock.iter()
            .find(|(p, _)| p.split(' ').next() == Some(name))
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("{name} is not in Cargo.lock"))
    };
    let plugin = deps("weir-plugin-iceberg");
    assert!(
        plugin.iter().any(|d| d.starts_with("arrow 58.")),
        "{plugin:?}"
    );
    assert!(plugin.iter().any(|d| d == "weir-sdk"), "{plugin:?}");
    let iceberg = deps("iceberg");
    assert!(
        iceberg.iter().any(|d| d.starts_with("arrow-array 58.")),
        "{iceberg:?}"
    );
    let sdk = deps("weir-sdk");
    assert!(sdk.iter().any(|d| d.starts_with("arrow 59.")), "{sdk:?}");
}

fn every_type() -> RecordBatch {
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    for i in 0..3i64 {
        map.keys().append_value(format!("k{i}"));
        map.values().append_value(i);
        map.append(i != 1).expect("map row");
    }
    let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
    ]);
    let nested = StructArray::from(vec![
        (
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("x"), Some("y"), None])) as ArrayRef,
        ),
    ]);
    let fixed = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
        vec![Some(b"abcd".to_vec()), None, Some(b"wxyz".to_vec())].into_iter(),
        4,
    )
    .expect("fixed");
    let decimal = Decimal128Array::from(vec![Some(12_345), None, Some(-1)])
        .with_precision_and_scale(10, 2)
        .expect("decimal");
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![0, 1, 2])) as ArrayRef),
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(-8), None, Some(8)])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![Some(-16), None, Some(16)])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(i32::MAX)])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![Some(255), None, Some(0)])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![Some(65_535), None, Some(0)])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(u32::MAX), None, Some(0)])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None, Some(0)])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.5), None, Some(-0.25)])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![Some(1e300), None, Some(-2.5)])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        (
            "text",
            Arc::new(StringArray::from(vec![Some("héllo"), None, Some("")])),
        ),
        (
            "large_text",
            Arc::new(LargeStringArray::from(vec![Some("a"), Some("b"), None])),
        ),
        (
            "bytes",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(b""),
            ])),
        ),
        ("fixed", Arc::new(fixed)),
        (
            "day",
            Arc::new(Date32Array::from(vec![Some(20_000), None, Some(0)])),
        ),
        (
            "tod",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(3_723_000_001),
                None,
                Some(0),
            ])),
        ),
        (
            "local",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_456),
                None,
                Some(0),
            ])),
        ),
        (
            "utc",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None, Some(-1)])
                    .with_timezone("UTC"),
            ),
        ),
        ("price", Arc::new(decimal)),
        ("list", Arc::new(list)),
        ("nested", Arc::new(nested)),
        ("map", Arc::new(map.finish())),
    ])
    .expect("batch")
}

async fn read_back(root: &std::path::Path) -> Vec<RecordBatch> {
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
    ]);
    let catalog = iceberg_catalog_sql::SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
        .load("weir", props)
        .await
        .expect("catalog");
    let ident = TableIdent::new(NamespaceIdent::new("rt".into()), "every".into());
    let table = catalog.load_table(&ident).await.expect("table");
    let scan = table.scan().select_all().build().expect("scan");
    let batches: Vec<_> = scan
        .to_arrow()
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("read");
    batches
        .iter()
        .map(|b| weir_plugin_iceberg::bridge::batch_to_59(b).expect("58 -> 59"))
        .collect()
}

fn shown(column: &ArrayRef) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let f = ArrayFormatter::try_new(column.as_ref(), &options).expect("formatter");
    (0..column.len()).map(|i| f.value(i).to_string()).collect()
}

#[test]
fn a_batch_of_every_type_round_trips_through_the_plugin_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = PluginUnderTest::built("weir_plugin_iceberg").expect("the built plugin");
    let mut options = serde_json::Map::new();
    options.insert("dest_table".into(), "rt.every".into());
    let mut sink = plugin
        .sink_with(SinkConfig {
            address: format!("iceberg://{}", dir.path().display()),
            options,
        })
        .expect("sink");
    let batch = every_type();
    sink.write_and_commit(batch.clone(), &[Position::new("k", 3)])
        .expect("commit");
    assert_eq!(
        sink.stored_positions(&["k"]).expect("positions"),
        vec![Position::new("k", 3)]
    );
    sink.close().expect("close");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let back = rt.block_on(read_back(dir.path()));
    let back = weir_sdk::arrow::compute::concat_batches(&back[0].schema(), &back).expect("concat");
    let ids = back
        .column_by_name("id")
        .expect("id")
        .as_primitive::<Int64Type>()
        .clone();
    let order = weir_sdk::arrow::compute::sort_to_indices(&ids, None, None).expect("sort");
    assert_eq!(back.num_rows(), 3);
    for (field, original) in batch.schema().fields().iter().zip(batch.columns()) {
        let read = back
            .column_by_name(field.name())
            .unwrap_or_else(|| panic!("no column {}", field.name()));
        let read = weir_sdk::arrow::compute::take(read.as_ref(), &order, None).expect("take");
        let read =
            cast(&read, field.data_type()).unwrap_or_else(|e| panic!("{}: {e}", field.name()));
        assert_eq!(
            shown(&read),
            shown(original),
            "column {} ({})",
            field.name(),
            field.data_type()
        );
    }
}
