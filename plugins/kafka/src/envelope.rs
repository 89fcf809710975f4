//! The envelope batch (docs/architecture.md section 2): one row per message with `key` (binary,
//! nullable), `value` (binary, null for a tombstone), `headers` (map<utf8, binary>), `topic`,
//! `partition` (int32), `offset` (int64) and `timestamp` (ms, UTC), built with Arrow builders:
//! the only per-message work is copying the payload bytes into the builders' buffers.

use std::sync::Arc;
use weir_sdk::arrow::array::{
    BinaryBuilder, Int32Builder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMillisecondBuilder,
};
use weir_sdk::arrow::error::ArrowError;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::envelope::Layout;

/// Accumulates the rows of one poll.
pub(crate) struct EnvelopeBuilder {
    key: BinaryBuilder,
    value: BinaryBuilder,
    headers: MapBuilder<StringBuilder, BinaryBuilder>,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    timestamp: TimestampMillisecondBuilder,
    rows: usize,
}

/// One message's fields, borrowed from librdkafka's buffers.
pub(crate) struct Row<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: Option<i64>,
}

impl EnvelopeBuilder {
    /// Room for `n` messages of about `bytes_per_message` bytes each.
    pub(crate) fn with_capacity(n: usize, bytes_per_message: usize) -> Self {
        Self {
            key: BinaryBuilder::with_capacity(n, n * 16),
            value: BinaryBuilder::with_capacity(n, n * bytes_per_message.max(16)),
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
            topic: StringBuilder::with_capacity(n, n * 16),
            partition: Int32Builder::with_capacity(n),
            offset: Int64Builder::with_capacity(n),
            timestamp: TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC"),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Appends one message; `headers` yields its headers in order.
    pub(crate) fn push<'h>(
        &mut self,
        row: Row<'_>,
        headers: impl Iterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) -> Result<(), ArrowError> {
        self.key.append_option(row.key);
        self.value.append_option(row.value);
        for (k, v) in headers {
            self.headers.keys().append_value(k);
            self.headers.values().append_option(v);
        }
        self.headers.append(true)?;
        self.topic.append_value(row.topic);
        self.partition.append_value(row.partition);
        self.offset.append_value(row.offset);
        self.timestamp.append_option(row.timestamp_ms);
        self.rows += 1;
        Ok(())
    }

    /// The batch, with the schema of [`Layout::Kafka`] (its layout named in the metadata).
    pub(crate) fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let schema = Arc::new(Layout::Kafka.schema());
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(self.key.finish()) as _,
                Arc::new(self.value.finish()) as _,
                Arc::new(self.headers.finish()) as _,
                Arc::new(self.topic.finish()) as _,
                Arc::new(self.partition.finish()) as _,
                Arc::new(self.offset.finish()) as _,
                Arc::new(self.timestamp.finish()) as _,
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{Array, AsArray};
    use weir_sdk::arrow::datatypes::{Int32Type, Int64Type};

    #[test]
    fn builds_one_row_per_message_with_nulls_for_missing_parts() {
        let mut b = EnvelopeBuilder::with_capacity(2, 64);
        b.push(
            Row {
                key: Some(b"k"),
                value: Some(b"{\"id\":1}"),
                topic: "orders",
                partition: 3,
                offset: 41,
                timestamp_ms: Some(1_700_000_000_000),
            },
            [("trace", Some(b"abc".as_slice()))].into_iter(),
        )
        .unwrap();
        b.push(
            Row {
                key: None,
                value: None,
                topic: "orders",
                partition: 3,
                offset: 42,
                timestamp_ms: None,
            },
            std::iter::empty(),
        )
        .unwrap();
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(Layout::of(batch.schema().metadata()), Some(Layout::Kafka));
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "key",
                "value",
                "headers",
                "topic",
                "partition",
                "offset",
                "timestamp"
            ]
        );
        assert!(batch.column(0).is_null(1) && batch.column(1).is_null(1));
        assert_eq!(batch.column(2).as_map().value(0).len(), 1);
        assert_eq!(batch.column(4).as_primitive::<Int32Type>().value(0), 3);
        assert_eq!(
            batch.column(5).as_primitive::<Int64Type>().values(),
            &[41, 42]
        );
    }
}
