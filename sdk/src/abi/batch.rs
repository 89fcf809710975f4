//! Record batches through the Arrow C Data Interface, without copying buffers. The schema
//! crosses beside the array as the struct's field, carrying the batch's schema-level metadata
//! (an importer of sdk 0.1.2 or older ignores it; an exporter of those sends none).

use super::FfiBatch;
use crate::Error;
use arrow::array::{Array, StructArray};
use arrow::datatypes::{DataType, Field};
use arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use std::sync::Arc;

/// Exports a batch as a struct array. The buffers stay where they are; the receiver's
/// release of the [`FfiBatch`] drops this side's references.
pub(crate) fn export(batch: RecordBatch) -> Result<FfiBatch, Error> {
    let metadata = batch.schema().metadata().clone();
    let array = StructArray::from(batch);
    let field =
        Field::new("", DataType::Struct(array.fields().clone()), false).with_metadata(metadata);
    let schema = FFI_ArrowSchema::try_from(&field).map_err(|e| {
        Error::fatal(format!(
            "cannot export a batch's schema through the C Data Interface: {e}"
        ))
    })?;
    let array = FFI_ArrowArray::new(&array.to_data());
    Ok(FfiBatch { array, schema })
}

/// Imports a batch exported by [`export`] on the other side of the boundary.
///
/// # Safety
/// `batch` must have been produced by a C Data Interface exporter: its release callbacks and
/// buffers must be valid for the lifetime of the returned batch.
pub(crate) unsafe fn import(batch: FfiBatch) -> Result<RecordBatch, Error> {
    let FfiBatch { array, schema } = batch;
    let metadata = Field::try_from(&schema)
        .map(|f| f.metadata().clone())
        .unwrap_or_default();
    // SAFETY: the caller guarantees a valid exported array; `from_ffi` takes ownership and
    // calls its release callback when the last buffer reference drops.
    let data = unsafe { from_ffi(array, &schema) }.map_err(|e| {
        Error::fatal(format!(
            "cannot import a batch through the C Data Interface: {e}"
        ))
    })?;
    // Cheap structural check (buffer sizes, offsets of children); not a scan of the values.
    data.validate()
        .map_err(|e| Error::fatal(format!("imported batch is malformed: {e}")))?;
    let array = StructArray::from(data);
    let len = array.len();
    if array.null_count() > 0 {
        return Err(Error::fatal(
            "imported batch has null rows at the top level",
        ));
    }
    let (fields, columns, _nulls) = array.into_parts();
    let schema = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields, metadata,
    ));
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(len)),
    )
    .map_err(|e| Error::fatal(format!("imported batch is malformed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn round_trip_keeps_buffers_in_place() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let ids = Int64Array::from_iter_values(0..1000);
        let names =
            StringArray::from_iter((0..1000).map(|i| (i % 3 != 0).then(|| format!("n{i}"))));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap();
        let before = batch.column(0).to_data().buffers()[0].as_ptr();
        let back = unsafe { import(export(batch.clone()).unwrap()) }.unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.column(0).to_data().buffers()[0].as_ptr(), before);
    }

    #[test]
    fn schema_metadata_in_is_schema_metadata_out() {
        let metadata: std::collections::HashMap<String, String> = [
            ("weir.envelope".to_string(), "kafka".to_string()),
            ("origin".to_string(), "a test".to_string()),
        ]
        .into();
        let field_meta: std::collections::HashMap<String, String> =
            [("unit".to_string(), "ms".to_string())].into();
        let schema = Arc::new(Schema::new_with_metadata(
            vec![Field::new("id", DataType::Int64, false).with_metadata(field_meta.clone())],
            metadata.clone(),
        ));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        let back = unsafe { import(export(batch.clone()).unwrap()) }.unwrap();
        assert_eq!(back.schema().metadata(), &metadata);
        assert_eq!(back.schema().field(0).metadata(), &field_meta);
        assert_eq!(back, batch);
    }
}
