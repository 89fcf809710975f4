//! Rows the sink refused (see `weir_envelope::rejected`): their dead letters, each written row
//! with `_position` and `_error`, and the batch without them, to be written again.
//!
//! A row's position comes from the metadata columns decoding kept (`_kafka_topic`,
//! `_kafka_partition`, `_kafka_offset`; `_nats_subject`, `_nats_sequence`; `_file_path`,
//! `_file_offset`); a batch without them (a typed source, or a shape that dropped them) names
//! the row by its index in the batch and the positions the batch advances.

use crate::connector::Position;
use crate::decode::envelope::{self, Broker};
use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// The refused rows as dead letters: `_position`, `_error`, then the row as it was written.
pub(super) fn dead_letters(
    batch: &RecordBatch,
    rows: &[(usize, String)],
    positions: &[Position],
) -> Result<RecordBatch, ArrowError> {
    let idx: Vec<u32> = rows
        .iter()
        .map(|(r, _)| {
            u32::try_from(*r)
                .ok()
                .filter(|_| *r < batch.num_rows())
                .ok_or_else(|| out_of_range(*r, batch))
        })
        .collect::<Result<_, _>>()?;
    let at = row_positions(batch, positions)?;
    let reasons: Vec<String> = rows
        .iter()
        .map(|(r, why)| format!("the sink refused the row at {}: {why}", at[*r]))
        .collect();
    envelope::dead_letters(batch, &idx, &at, &reasons)
}

/// The batch without `rows`.
pub(super) fn without(
    batch: &RecordBatch,
    rows: &[(usize, String)],
) -> Result<RecordBatch, ArrowError> {
    let mut keep = vec![true; batch.num_rows()];
    for (r, _) in rows {
        *keep.get_mut(*r).ok_or_else(|| out_of_range(*r, batch))? = false;
    }
    filter_record_batch(batch, &BooleanArray::from(keep))
}

/// Each row's position as text, from the metadata columns when the batch has them.
pub(super) fn row_positions(
    batch: &RecordBatch,
    positions: &[Position],
) -> Result<Vec<String>, ArrowError> {
    for layout in Broker::ALL {
        let names: Option<Vec<&str>> = layout
            .position_columns()
            .iter()
            .map(|c| layout.metadata_column(c))
            .collect();
        let Some(names) = names else { continue };
        if let Some(at) = envelope::positions_from(batch, layout, &names)? {
            return Ok(at);
        }
    }
    let ending: Vec<String> = positions.iter().map(ToString::to_string).collect();
    let ending = if ending.is_empty() {
        "none".to_string()
    } else {
        ending.join(", ")
    };
    Ok((0..batch.num_rows())
        .map(|i| format!("row {i} of the batch ending at {ending}"))
        .collect())
}

fn out_of_range(row: usize, batch: &RecordBatch) -> ArrowError {
    ArrowError::InvalidArgumentError(format!(
        "the sink refused row {row} of a batch of {} rows",
        batch.num_rows()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(with_file: bool) -> RecordBatch {
        let mut fields = vec![Field::new("id", DataType::Int64, true)];
        let mut cols: Vec<Arc<dyn Array>> = vec![Arc::new(Int64Array::from(vec![1, 2, 3]))];
        if with_file {
            fields.push(Field::new("_file_path", DataType::Utf8, true));
            fields.push(Field::new("_file_offset", DataType::Int64, true));
            cols.push(Arc::new(StringArray::from(vec!["a.jsonl"; 3])));
            cols.push(Arc::new(Int64Array::from(vec![0, 10, 20])));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch")
    }

    #[test]
    fn refused_rows_become_dead_letters_with_their_positions_and_leave_the_batch() {
        let b = batch(true);
        let rows = vec![(1, "null value in column \"x\"".to_string())];
        let dead = dead_letters(&b, &rows, &[]).expect("dead letters");
        assert_eq!(dead.num_rows(), 1);
        let col = |n: &str| {
            dead.column_by_name(n)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                .expect(n)
        };
        assert_eq!(col("_position").value(0), "a.jsonl@10");
        assert!(col("_error").value(0).contains("a.jsonl@10: null value"));
        let rest = without(&b, &rows).expect("rest");
        let ids = rest
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned();
        assert_eq!(ids.expect("ids").values(), &[1, 3]);
    }

    #[test]
    fn without_metadata_a_row_is_named_by_its_index_and_the_batch_positions() {
        let at = row_positions(&batch(false), &[Position::new("generator", 3)]).expect("at");
        assert_eq!(at[2], "row 2 of the batch ending at generator@3");
    }

    #[test]
    fn a_row_index_past_the_batch_is_an_error_not_a_panic() {
        let rows = vec![(9, "x".to_string())];
        assert!(without(&batch(true), &rows).is_err());
        assert!(dead_letters(&batch(true), &rows, &[]).is_err());
    }
}
