//! The broker envelope (docs/architecture.md section 2) as core sees it: which broker it came from, the
//! metadata columns it becomes (`_kafka_*`, `_nats_*`), the Nilus `raw` shape (`_kafka` /
//! `_nats` struct with the value as text), each row's position for dead letters, and the
//! dead-letter batch itself.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, MapArray, StringArray, StructArray,
    UInt32Array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use weir_envelope::dead_letter;

pub use weir_envelope::Layout as Broker;

/// The layout of an envelope batch: named in its schema metadata (`weir.envelope`), or, for a
/// batch of a plugin built before that tag, told by its columns. `None` for anything else.
pub fn layout_of(batch: &RecordBatch) -> Option<Broker> {
    let schema = batch.schema();
    Broker::of(schema.metadata()).or_else(|| Broker::by_columns(&schema))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("envelope without `{name}`")))
}

/// The `value` column.
pub(crate) fn values(batch: &RecordBatch) -> Result<BinaryArray, ArrowError> {
    let v = cast(column(batch, "value")?, &DataType::Binary)?;
    Ok(v.as_binary::<i32>().clone())
}

/// Text for binary keys (lossy UTF-8), other types as they are.
fn as_text_if_binary(a: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match a.data_type() {
        DataType::Binary | DataType::LargeBinary => {
            let b = cast(a, &DataType::Binary)?;
            // Valid UTF-8 throughout (the usual case): the same buffers, checked once.
            if let Ok(text) = cast(&b, &DataType::Utf8) {
                if text.null_count() == b.null_count() {
                    return Ok(text);
                }
            }
            let b = b.as_binary::<i32>();
            let s: StringArray = b
                .iter()
                .map(|v| v.map(|v| String::from_utf8_lossy(v).into_owned()))
                .collect();
            Ok(Arc::new(s))
        }
        _ => Ok(a.clone()),
    }
}

/// The metadata columns of the rows `rows`, named `_kafka_*` / `_nats_*`; with
/// `headers_as_text`, the headers' values as text.
pub(crate) fn metadata_columns(
    broker: Broker,
    batch: &RecordBatch,
    rows: &UInt32Array,
    headers_as_text: bool,
) -> Result<Vec<(Field, ArrayRef)>, ArrowError> {
    let mut out = Vec::new();
    // Every row in order (nothing set aside): the columns as they are, no copy.
    let all = rows.len() == batch.num_rows()
        && rows.null_count() == 0
        && rows
            .values()
            .iter()
            .enumerate()
            .all(|(i, r)| *r as usize == i);
    for (from, to) in broker.metadata_columns() {
        let Some(col) = batch.column_by_name(from) else {
            continue;
        };
        let col = if all {
            col.clone()
        } else {
            take(col.as_ref(), rows, None)?
        };
        let col = match (*from, headers_as_text) {
            ("headers", true) => headers_as_text_values(&col)?,
            ("headers", false) => col,
            _ => as_text_if_binary(&col)?,
        };
        out.push((Field::new(*to, col.data_type().clone(), true), col));
    }
    Ok(out)
}

/// The envelope's `headers` (map<utf8, binary>) with its values as text (lossy UTF-8): the
/// same offsets, keys and nulls, the value column replaced.
fn headers_as_text_values(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let Some(map) = col.as_map_opt() else {
        return Ok(col.clone());
    };
    let (entry_field, offsets, entries, nulls, sorted) = map.clone().into_parts();
    let values = as_text_if_binary(entries.column(1))?;
    let DataType::Struct(fields) = entry_field.data_type() else {
        return Ok(col.clone());
    };
    let value_field = Field::new(fields[1].name(), DataType::Utf8, fields[1].is_nullable());
    let fields: arrow::datatypes::Fields = vec![fields[0].clone(), Arc::new(value_field)].into();
    let entries = StructArray::try_new(
        fields.clone(),
        vec![entries.column(0).clone(), values],
        entries.nulls().cloned(),
    )?;
    let entry_field = Arc::new(Field::new(
        entry_field.name(),
        DataType::Struct(fields),
        entry_field.is_nullable(),
    ));
    Ok(Arc::new(MapArray::try_new(
        entry_field,
        offsets,
        entries,
        nulls,
        sorted,
    )?))
}

/// Nilus's `raw` shape: one struct column `_kafka` / `_nats` with the metadata and the value as
/// text.
pub(crate) fn raw(broker: Broker, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let all = UInt32Array::from_iter_values(0..batch.num_rows() as u32);
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    // Nilus's raw shape carries no headers.
    for (from, _) in broker
        .metadata_columns()
        .iter()
        .filter(|(f, _)| *f != "headers")
    {
        if let Some(col) = batch.column_by_name(from) {
            let col = as_text_if_binary(&take(col.as_ref(), &all, None)?)?;
            fields.push(Field::new(*from, col.data_type().clone(), true));
            arrays.push(col);
        }
    }
    let value = as_text_if_binary(column(batch, "value")?)?;
    fields.push(Field::new("value", DataType::Utf8, true));
    arrays.push(value);
    let name = broker.raw_column();
    let st = StructArray::try_new(fields.into(), arrays, None)?;
    let schema = Schema::new(vec![Field::new(name, st.data_type().clone(), false)]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(st)])
}

/// Each row's position as text ([`Broker::position`]), from the envelope's columns.
pub(crate) fn positions(broker: Broker, batch: &RecordBatch) -> Result<Vec<String>, ArrowError> {
    let names = broker.position_columns();
    positions_from(batch, broker, names)?.ok_or_else(|| {
        ArrowError::SchemaError(format!("envelope without `{}`", names.join("`, `")))
    })
}

/// Each row's position as text ([`Broker::position`]) from `columns` (the layout's position
/// columns, under whatever names the batch holds them), `None` when one is missing; a null
/// value shows as `?`.
pub(crate) fn positions_from(
    batch: &RecordBatch,
    broker: Broker,
    columns: &[&str],
) -> Result<Option<Vec<String>>, ArrowError> {
    let mut cols = Vec::with_capacity(columns.len());
    for name in columns {
        let Some(c) = batch.column_by_name(name) else {
            return Ok(None);
        };
        cols.push(cast(c, &DataType::Utf8)?.as_string::<i32>().clone());
    }
    Ok(Some(
        (0..batch.num_rows())
            .map(|i| {
                let v: Vec<&str> = cols
                    .iter()
                    .map(|c| if c.is_null(i) { "?" } else { c.value(i) })
                    .collect();
                broker.position(&v)
            })
            .collect(),
    ))
}

/// The dead-letter batch: the failed envelope rows as they came, plus `_position` and `_error`.
pub(crate) fn dead_letters(
    batch: &RecordBatch,
    rows: &[u32],
    positions: &[String],
    reasons: &[String],
) -> Result<RecordBatch, ArrowError> {
    let idx = UInt32Array::from(rows.to_vec());
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let pos: StringArray = rows
        .iter()
        .map(|&r| Some(positions[r as usize].clone()))
        .collect();
    fields.push(Field::new(dead_letter::POSITION, DataType::Utf8, false));
    arrays.push(Arc::new(pos));
    let err: StringArray = reasons.iter().map(|r| Some(r.clone())).collect();
    fields.push(Field::new(dead_letter::ERROR, DataType::Utf8, false));
    arrays.push(Arc::new(err));
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let c = take(c.as_ref(), &idx, None)?;
        fields.push(Field::new(f.name(), c.data_type().clone(), true));
        arrays.push(c);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// A dead-letter batch without the payload a mask exists to hide: `key` and `value` are
/// replaced by `_key_sha256`, `_value_sha256` (hex) and `_value_bytes`; `headers` are left
/// out. The position and the reason stay, so the record can be found in the broker.
pub(crate) fn without_payload(dead: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let binary = |name: &str| -> Result<Option<arrow::array::BinaryArray>, ArrowError> {
        dead.column_by_name(name)
            .map(|c| cast(c, &DataType::Binary).map(|c| c.as_binary::<i32>().clone()))
            .transpose()
    };
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (f, c) in dead.schema().fields().iter().zip(dead.columns()) {
        if !matches!(f.name().as_str(), "key" | "value" | "headers") {
            fields.push(f.as_ref().clone());
            arrays.push(c.clone());
        }
    }
    if let Some(key) = binary("key")? {
        let sha: StringArray = key.iter().map(|k| k.map(hex)).collect();
        fields.push(Field::new(dead_letter::KEY_SHA256, DataType::Utf8, true));
        arrays.push(Arc::new(sha));
    }
    if let Some(value) = binary("value")? {
        let sha: StringArray = value.iter().map(|v| v.map(hex)).collect();
        let size: Int64Array = value.iter().map(|v| v.map(|v| v.len() as i64)).collect();
        fields.push(Field::new(dead_letter::VALUE_SHA256, DataType::Utf8, true));
        arrays.push(Arc::new(sha));
        fields.push(Field::new(dead_letter::VALUE_BYTES, DataType::Int64, true));
        arrays.push(Arc::new(size));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}
