//! The crossing between the host's Arrow (59, through `weir-sdk`) and iceberg-rust's (58):
//! batches and schemas move through the Arrow C Data Interface, whose `#[repr(C)]` structs
//! are the same in both majors, so buffers are shared, never copied. Nothing else in the
//! plugin touches both versions.

use arrow58::array::StructArray as StructArray58;
use arrow58::datatypes::Schema as Schema58;
use arrow58::ffi as ffi58;
use arrow58::record_batch::{RecordBatch as RecordBatch58, RecordBatchOptions as Options58};
use std::sync::Arc;
use weir_sdk::arrow::array::{Array as _, StructArray};
use weir_sdk::arrow::datatypes::Schema;
use weir_sdk::arrow::ffi;
use weir_sdk::arrow::record_batch::RecordBatch;

/// A host batch as an iceberg-rust batch (same buffers, same schema and field metadata).
pub fn batch_to_58(b: &RecordBatch) -> Result<RecordBatch58, String> {
    let rows = b.num_rows();
    let data = StructArray::from(b.clone()).into_data();
    let mut array = ffi::FFI_ArrowArray::new(&data);
    let mut schema = ffi::FFI_ArrowSchema::try_from(b.schema().as_ref())
        .map_err(|e| format!("cannot export the batch's schema: {e}"))?;
    // SAFETY: FFI_ArrowArray and FFI_ArrowSchema are the C Data Interface's #[repr(C)]
    // structs, laid out alike in arrow 58 and 59; `from_raw` moves each value out exactly
    // once and leaves an empty (released) struct behind, whose drop does nothing.
    let (array, schema) = unsafe {
        (
            ffi58::FFI_ArrowArray::from_raw(std::ptr::from_mut(&mut array).cast()),
            ffi58::FFI_ArrowSchema::from_raw(std::ptr::from_mut(&mut schema).cast()),
        )
    };
    let fields = Arc::new(
        Schema58::try_from(&schema).map_err(|e| format!("cannot import the schema: {e}"))?,
    );
    // SAFETY: `array` and `schema` were exported together from one valid StructArray above.
    let data = unsafe { ffi58::from_ffi(array, &schema) }
        .map_err(|e| format!("cannot import the batch: {e}"))?;
    let columns = StructArray58::from(data).columns().to_vec();
    let options = Options58::new().with_row_count(Some(rows));
    RecordBatch58::try_new_with_options(fields, columns, &options)
        .map_err(|e| format!("cannot rebuild the batch: {e}"))
}

/// An iceberg-rust batch as a host batch (the way back, for reading tables).
pub fn batch_to_59(b: &RecordBatch58) -> Result<RecordBatch, String> {
    use arrow58::array::Array as _;
    use weir_sdk::arrow::record_batch::RecordBatchOptions;
    let rows = b.num_rows();
    let data = StructArray58::from(b.clone()).into_data();
    let mut array = ffi58::FFI_ArrowArray::new(&data);
    let mut schema = ffi58::FFI_ArrowSchema::try_from(b.schema().as_ref())
        .map_err(|e| format!("cannot export the batch's schema: {e}"))?;
    // SAFETY: as in `batch_to_58`, the other way.
    let (array, schema) = unsafe {
        (
            ffi::FFI_ArrowArray::from_raw(std::ptr::from_mut(&mut array).cast()),
            ffi::FFI_ArrowSchema::from_raw(std::ptr::from_mut(&mut schema).cast()),
        )
    };
    let fields =
        Arc::new(Schema::try_from(&schema).map_err(|e| format!("cannot import the schema: {e}"))?);
    // SAFETY: exported together from one valid StructArray above.
    let data = unsafe { ffi::from_ffi(array, &schema) }
        .map_err(|e| format!("cannot import the batch: {e}"))?;
    let columns = StructArray::from(data).columns().to_vec();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(fields, columns, &options)
        .map_err(|e| format!("cannot rebuild the batch: {e}"))
}

/// An iceberg-rust schema as a host schema (field metadata, such as `PARQUET:field_id`, kept).
pub fn schema_to_59(s: &Schema58) -> Result<Schema, String> {
    let exported = ffi58::FFI_ArrowSchema::try_from(s)
        .map_err(|e| format!("cannot export the table's schema: {e}"))?;
    // SAFETY: same #[repr(C)] layout; the schema is only read here, and `exported` (still
    // owning its release callback) is dropped after the read.
    let imported = unsafe { &*std::ptr::from_ref(&exported).cast::<ffi::FFI_ArrowSchema>() };
    Schema::try_from(imported).map_err(|e| format!("cannot import the table's schema: {e}"))
}

/// A host schema as an iceberg-rust schema.
pub fn schema_to_58(s: &Schema) -> Result<Schema58, String> {
    let exported =
        ffi::FFI_ArrowSchema::try_from(s).map_err(|e| format!("cannot export the schema: {e}"))?;
    // SAFETY: as in `schema_to_59`, the other way.
    let imported = unsafe { &*std::ptr::from_ref(&exported).cast::<ffi58::FFI_ArrowSchema>() };
    Schema58::try_from(imported).map_err(|e| format!("cannot import the schema: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use weir_sdk::arrow::array::{ArrayRef, Int64Array, ListArray, StringArray};
    use weir_sdk::arrow::datatypes::{DataType, Field, Int32Type};

    #[test]
    fn a_batch_crosses_both_ways_unchanged_and_unsliced() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]);
        let meta = HashMap::from([("PARQUET:field_id".to_string(), "7".to_string())]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false).with_metadata(meta),
            Field::new("name", DataType::Utf8, true),
            Field::new("xs", list.data_type().clone(), true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(list),
        ];
        let b = RecordBatch::try_new(schema, columns).unwrap();
        let sliced = b.slice(1, 2);
        for b in [b, sliced] {
            let there = batch_to_58(&b).unwrap();
            assert_eq!(there.num_rows(), b.num_rows());
            assert_eq!(
                there.schema().field(0).metadata().get("PARQUET:field_id"),
                Some(&"7".to_string())
            );
            let back = batch_to_59(&there).unwrap();
            assert_eq!(back, b);
        }
    }

    #[test]
    fn a_table_schema_crosses_with_its_field_ids() {
        let meta = HashMap::from([("PARQUET:field_id".to_string(), "3".to_string())]);
        let s = Schema58::new(vec![arrow58::datatypes::Field::new(
            "a",
            arrow58::datatypes::DataType::Int32,
            true,
        )
        .with_metadata(meta)]);
        let back = schema_to_59(&s).unwrap();
        assert_eq!(back.field(0).data_type(), &DataType::Int32);
        assert_eq!(
            back.field(0).metadata().get("PARQUET:field_id"),
            Some(&"3".to_string())
        );
    }
}
