//! The envelope batch (docs/architecture.md section 2): one row per message with `value` (binary),
//! `headers` (map<utf8, binary>), `subject`, `sequence` (stream sequence), `timestamp` (UTC,
//! when the server stored the message) and `delivery_count`, built with Arrow builders.

use std::sync::Arc;
use weir_sdk::arrow::array::{
    BinaryBuilder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMicrosecondBuilder,
};
use weir_sdk::arrow::error::ArrowError;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::envelope::Layout;

/// Accumulates the rows of one poll.
pub(crate) struct EnvelopeBuilder {
    value: BinaryBuilder,
    headers: MapBuilder<StringBuilder, BinaryBuilder>,
    subject: StringBuilder,
    sequence: Int64Builder,
    timestamp: TimestampMicrosecondBuilder,
    delivery_count: Int64Builder,
    rows: usize,
}

/// One message's fields.
pub(crate) struct Row<'a> {
    pub(crate) value: &'a [u8],
    pub(crate) headers: Vec<(&'a str, &'a [u8])>,
    pub(crate) subject: &'a str,
    pub(crate) sequence: u64,
    pub(crate) timestamp_us: i64,
    pub(crate) delivery_count: i64,
}

impl EnvelopeBuilder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            value: BinaryBuilder::with_capacity(n, n * 256),
            // Delta Lake's names for a map's entries, so the table's schema round-trips.
            headers: MapBuilder::new(
                Some(MapFieldNames {
                    entry: "key_value".into(),
                    key: "key".into(),
                    value: "value".into(),
                }),
                StringBuilder::new(),
                BinaryBuilder::new(),
            ),
            subject: StringBuilder::with_capacity(n, n * 16),
            sequence: Int64Builder::with_capacity(n),
            timestamp: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            delivery_count: Int64Builder::with_capacity(n),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    pub(crate) fn push(&mut self, row: Row<'_>) -> Result<(), ArrowError> {
        self.value.append_value(row.value);
        for (k, v) in row.headers {
            self.headers.keys().append_value(k);
            self.headers.values().append_value(v);
        }
        self.headers.append(true)?;
        self.subject.append_value(row.subject);
        self.sequence
            .append_value(i64::try_from(row.sequence).unwrap_or(i64::MAX));
        self.timestamp.append_value(row.timestamp_us);
        self.delivery_count.append_value(row.delivery_count);
        self.rows += 1;
        Ok(())
    }

    /// The batch, with the schema of [`Layout::Nats`] (its layout named in the metadata).
    pub(crate) fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Arc::new(Layout::Nats.schema()),
            vec![
                Arc::new(self.value.finish()) as _,
                Arc::new(self.headers.finish()) as _,
                Arc::new(self.subject.finish()) as _,
                Arc::new(self.sequence.finish()) as _,
                Arc::new(self.timestamp.finish()) as _,
                Arc::new(self.delivery_count.finish()) as _,
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{Array, AsArray};
    use weir_sdk::arrow::datatypes::Int64Type;

    #[test]
    fn builds_one_row_per_message() {
        let mut b = EnvelopeBuilder::with_capacity(2);
        for seq in [7, 8] {
            b.push(Row {
                value: b"{\"id\":1}",
                headers: vec![("Nats-Msg-Id", b"x".as_slice())],
                subject: "events.a",
                sequence: seq,
                timestamp_us: 1,
                delivery_count: 1,
            })
            .unwrap();
        }
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema().field(0).name(), "value");
        assert_eq!(Layout::of(batch.schema().metadata()), Some(Layout::Nats));
        let seqs = batch.column(3).as_primitive::<Int64Type>();
        assert_eq!(seqs.values(), &[7, 8]);
        assert_eq!(batch.column(1).as_map().value(0).len(), 1);
    }
}
