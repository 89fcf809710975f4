//! Record batches through the Arrow C Data Interface, without copying buffers.

use super::FfiBatch;
use crate::Error;
use arrow::array::{Array, StructArray};
use arrow::ffi::{from_ffi, to_ffi};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use std::sync::Arc;

/// Exports a batch as a struct array. The buffers stay where they are; the receiver's
/// release of the [`FfiBatch`] drops this side's references.
pub(crate) fn export(batch: RecordBatch) -> Result<FfiBatch, Error> {
    let array = StructArray::from(batch);
    let (array, schema) = to_ffi(&array.to_data()).map_err(|e| {
        Error::fatal(format!(
            "cannot export a batch through the C Data Interface: {e}"
        ))
    })?;
    Ok(FfiBatch { array, schema })
}

/// Imports a batch exported by [`export`] on the other side of the boundary.
///
/// # Safety
/// `batch` must have been produced by a C Data Interface exporter: its release callbacks and
/// buffers must be valid for the lifetime of the returned batch.
pub(crate) unsafe fn import(batch: FfiBatch) -> Result<RecordBatch, Error> {
    let FfiBatch { array, schema } = batch;
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
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
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
}
