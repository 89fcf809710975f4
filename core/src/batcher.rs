//! The micro-batcher: accumulates polls until `batch_size` records, `max_batch_bytes`, or
//! `batch_timeout` since the batch's first record, whichever comes first. A micro-batch is
//! the unit of write and of commit; an empty batch is never produced.

use crate::connector::{Position, PositionKey, Positions};
use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use std::time::{Duration, Instant};

/// When a micro-batch closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Records per batch (Nilus `batch_size`).
    pub max_records: usize,
    /// Arrow memory per batch, in bytes (`max_batch_bytes`).
    pub max_bytes: usize,
    /// Time from the first record to the close (Nilus `batch_timeout`).
    pub timeout: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_records: 3000,
            max_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(3),
        }
    }
}

/// Why a batch closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// `max_records` reached.
    Size,
    /// `max_bytes` reached.
    Bytes,
    /// `timeout` since the first record.
    Timeout,
    /// The next poll had another schema.
    Schema,
    /// The source ended or the pipeline is stopping.
    Flush,
}

/// A closed micro-batch and the positions it advances.
#[derive(Debug)]
pub struct MicroBatch {
    /// Its place in the pipeline's sequence of batches (0, 1, ...).
    pub seq: u64,
    /// The records.
    pub batch: RecordBatch,
    /// The positions it advances.
    pub positions: Positions,
    /// Arrow memory of the records.
    pub bytes: usize,
    /// Why it closed.
    pub reason: CloseReason,
    /// Rows that did not decode, with `_position` and `_error` (set by the transform).
    pub dead: Option<RecordBatch>,
}

/// Accumulates polled records into micro-batches.
#[derive(Debug)]
pub struct Batcher {
    limits: BatchLimits,
    parts: Vec<RecordBatch>,
    records: usize,
    bytes: usize,
    positions: Positions,
    opened_at: Option<Instant>,
    next_seq: u64,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(limits: BatchLimits) -> Self {
        Self {
            limits,
            parts: Vec::new(),
            records: 0,
            bytes: 0,
            positions: Positions::new(),
            opened_at: None,
            next_seq: 0,
        }
    }

    /// Records that still fit in the open batch.
    pub fn room(&self) -> usize {
        self.limits.max_records.saturating_sub(self.records).max(1)
    }

    /// Records in the open batch.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the open batch has no records.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// When the open batch closes by timeout, if it has records.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened_at.map(|t| t + self.limits.timeout)
    }

    /// Adds one poll's records and positions. Returns the batches this closes: the open one
    /// if the new records have another schema, and the new one if it is now full.
    pub fn push(
        &mut self,
        batch: Option<RecordBatch>,
        positions: &[Position],
        now: Instant,
    ) -> Result<Vec<MicroBatch>, arrow::error::ArrowError> {
        let mut closed = Vec::new();
        if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
            if let Some(first) = self.parts.first() {
                if first.schema() != batch.schema() {
                    closed.extend(self.close(CloseReason::Schema)?);
                }
            }
            self.records += batch.num_rows();
            self.bytes += batch.get_array_memory_size();
            self.opened_at.get_or_insert(now);
            self.parts.push(batch);
        }
        for p in positions {
            self.positions.advance(p);
        }
        if self.records >= self.limits.max_records {
            closed.extend(self.close(CloseReason::Size)?);
        } else if self.bytes >= self.limits.max_bytes {
            closed.extend(self.close(CloseReason::Bytes)?);
        }
        Ok(closed)
    }

    /// Closes the open batch if its timeout has passed.
    pub fn close_if_due(
        &mut self,
        now: Instant,
    ) -> Result<Option<MicroBatch>, arrow::error::ArrowError> {
        match self.deadline() {
            Some(d) if now >= d => self.close(CloseReason::Timeout),
            _ => Ok(None),
        }
    }

    /// Substreams taken away from this instance (a consumer-group rebalance): their records
    /// in the open batch are dropped, and so are their positions, so nothing of theirs is
    /// committed; their next owner reads them again. Rows are matched by the broker envelope's
    /// `topic`/`partition` columns; a batch without them keeps its rows (they are written,
    /// and being uncommitted they can only come again, never go missing).
    pub fn revoke(&mut self, keys: &[PositionKey]) -> Result<(), arrow::error::ArrowError> {
        if keys.is_empty() {
            return Ok(());
        }
        for k in keys {
            self.positions.remove(k);
        }
        let mut kept = Vec::with_capacity(self.parts.len());
        for part in std::mem::take(&mut self.parts) {
            let part = drop_substreams(part, keys)?;
            if part.num_rows() > 0 {
                kept.push(part);
            }
        }
        self.parts = kept;
        self.records = self.parts.iter().map(RecordBatch::num_rows).sum();
        self.bytes = self
            .parts
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        if self.parts.is_empty() {
            self.opened_at = None;
        }
        Ok(())
    }

    /// Closes the open batch, whatever its size (end of input, shutdown).
    pub fn flush(&mut self) -> Result<Option<MicroBatch>, arrow::error::ArrowError> {
        self.close(CloseReason::Flush)
    }

    fn close(
        &mut self,
        reason: CloseReason,
    ) -> Result<Option<MicroBatch>, arrow::error::ArrowError> {
        if self.parts.is_empty() {
            return Ok(None);
        }
        let parts = std::mem::take(&mut self.parts);
        let batch = if parts.len() == 1 {
            parts.into_iter().next().ok_or_else(|| {
                arrow::error::ArrowError::ComputeError("batcher lost its only part".into())
            })?
        } else {
            concat_batches(&parts[0].schema(), &parts)?
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let out = MicroBatch {
            seq,
            batch,
            positions: std::mem::take(&mut self.positions),
            bytes: self.bytes,
            reason,
            dead: None,
        };
        self.records = 0;
        self.bytes = 0;
        self.opened_at = None;
        Ok(Some(out))
    }
}

/// `batch` without the rows of substreams `keys` (`<topic>/<partition>` of a Kafka envelope).
pub fn drop_substreams(
    batch: RecordBatch,
    keys: &[PositionKey],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, AsArray, BooleanArray};
    use arrow::datatypes::{DataType, Int32Type};
    let (Some(topic), Some(partition)) = (
        batch.column_by_name("topic"),
        batch.column_by_name("partition"),
    ) else {
        return Ok(batch);
    };
    let topic = arrow::compute::cast(topic, &DataType::Utf8)?;
    let partition = arrow::compute::cast(partition, &DataType::Int32)?;
    let (topic, partition) = (
        topic.as_string::<i32>(),
        partition.as_primitive::<Int32Type>(),
    );
    // `<topic>/<partition>` parsed once, so rows are compared without building their keys.
    let revoked: Vec<(&str, i32)> = keys
        .iter()
        .filter_map(|k| {
            let (t, p) = k.rsplit_once('/')?;
            Some((t, p.parse().ok()?))
        })
        .collect();
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|i| {
            if topic.is_null(i) || partition.is_null(i) {
                return Some(true);
            }
            let (t, p) = (topic.value(i), partition.value(i));
            Some(!revoked.iter().any(|(rt, rp)| *rp == p && *rt == t))
        })
        .collect();
    if keep.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    arrow::compute::filter_record_batch(&batch, &keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn rows(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    fn limits(records: usize, bytes: usize, ms: u64) -> BatchLimits {
        BatchLimits {
            max_records: records,
            max_bytes: bytes,
            timeout: Duration::from_millis(ms),
        }
    }

    #[test]
    fn closes_by_size_with_positions_of_its_records() {
        let mut b = Batcher::new(limits(10, usize::MAX, 60_000));
        let t = Instant::now();
        assert!(b
            .push(Some(rows(0, 6)), &[Position::new("g", 6)], t)
            .unwrap()
            .is_empty());
        assert_eq!(b.room(), 4);
        let closed = b
            .push(Some(rows(6, 4)), &[Position::new("g", 10)], t)
            .unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].batch.num_rows(), 10);
        assert_eq!(closed[0].reason, CloseReason::Size);
        assert_eq!(closed[0].positions.get("g"), Some(10));
        assert!(b.is_empty());
    }

    fn envelope(rows: &[(&str, i32, i64)]) -> RecordBatch {
        use arrow::array::{Int32Array, StringArray};
        RecordBatch::try_from_iter(vec![
            (
                "topic",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as _,
            ),
            (
                "partition",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))) as _,
            ),
            (
                "offset",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn revoking_drops_the_substreams_rows_and_positions() {
        let mut b = Batcher::new(limits(1000, usize::MAX, 60_000));
        let t = Instant::now();
        b.push(
            Some(envelope(&[("t", 0, 5), ("t", 1, 9), ("t", 0, 6)])),
            &[Position::new("t/0", 7), Position::new("t/1", 10)],
            t,
        )
        .unwrap();
        b.push(
            Some(envelope(&[("t", 1, 10)])),
            &[Position::new("t/1", 11)],
            t,
        )
        .unwrap();
        b.revoke(&["t/1".to_string()]).unwrap();
        assert_eq!(b.len(), 2);
        let out = b.flush().unwrap().unwrap();
        assert_eq!(out.batch.num_rows(), 2);
        assert_eq!(out.positions.get("t/0"), Some(7));
        assert_eq!(out.positions.get("t/1"), None);
        // Revoking everything leaves nothing to write.
        b.push(
            Some(envelope(&[("t", 1, 11)])),
            &[Position::new("t/1", 12)],
            t,
        )
        .unwrap();
        b.revoke(&["t/1".to_string()]).unwrap();
        assert!(b.is_empty() && b.deadline().is_none());
        assert!(b.flush().unwrap().is_none());
    }

    #[test]
    fn closes_by_timeout_from_first_record() {
        let mut b = Batcher::new(limits(1000, usize::MAX, 100));
        let t0 = Instant::now();
        b.push(None, &[], t0).unwrap();
        assert_eq!(b.deadline(), None, "no records, no deadline");
        b.push(Some(rows(0, 3)), &[Position::new("g", 3)], t0)
            .unwrap();
        assert!(b
            .close_if_due(t0 + Duration::from_millis(99))
            .unwrap()
            .is_none());
        let closed = b
            .close_if_due(t0 + Duration::from_millis(100))
            .unwrap()
            .unwrap();
        assert_eq!(closed.reason, CloseReason::Timeout);
        assert_eq!(closed.batch.num_rows(), 3);
    }

    #[test]
    fn closes_by_bytes() {
        let one = rows(0, 100).get_array_memory_size();
        let mut b = Batcher::new(limits(1_000_000, one * 2, 60_000));
        let t = Instant::now();
        assert!(b.push(Some(rows(0, 100)), &[], t).unwrap().is_empty());
        let closed = b.push(Some(rows(100, 100)), &[], t).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].reason, CloseReason::Bytes);
        assert_eq!(closed[0].batch.num_rows(), 200);
    }

    #[test]
    fn schema_change_closes_the_open_batch_first() {
        let mut b = Batcher::new(limits(1000, usize::MAX, 60_000));
        let t = Instant::now();
        b.push(Some(rows(0, 5)), &[Position::new("g", 5)], t)
            .unwrap();
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap();
        let closed = b.push(Some(other), &[Position::new("g", 6)], t).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].reason, CloseReason::Schema);
        assert_eq!(closed[0].batch.num_rows(), 5);
        assert_eq!(closed[0].positions.get("g"), Some(5));
        let rest = b.flush().unwrap().unwrap();
        assert_eq!(rest.positions.get("g"), Some(6));
        assert_eq!(rest.seq, 1);
    }
}
