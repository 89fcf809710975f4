//! # weir-envelope: the broker envelope and the dead-letter columns, defined once
//!
//! A source that reads messages (Kafka, NATS, lines of files) hands the host one row per
//! message in an *envelope* batch: the payload as bytes in `value`, plus the columns that
//! say where it came from. Core decodes the payloads and keeps the origin as `_kafka_*`,
//! `_nats_*` or `_file_*` metadata columns; rows that do not decode become dead letters.
//! This crate is the one definition of those layouts and names. weir-core uses it, and
//! weir-sdk re-exports it as `weir_sdk::envelope` for the sources that build envelopes.
//!
//! An envelope batch names its layout in its schema metadata ([`LAYOUT_KEY`]), so core never
//! guesses from column names (it still recognises a batch of a plugin built before the tag
//! existed). Plain definitions only: no dynamic-library code, no arrow compute.
//!
//! [`naming`] is the other shared rule: how field and table names are normalised (Nilus's
//! snake_case, or `SCHEMA_NAMING=direct`), applied by core to columns and by sinks to tables;
//! [`rejected`] is how a sink reports rows its destination refused.
//!
//! ```
//! use weir_envelope::Layout;
//! let schema = Layout::Kafka.schema();
//! assert_eq!(schema.field(1).name(), "value");
//! assert_eq!(Layout::of(schema.metadata()), Some(Layout::Kafka));
//! assert_eq!(Layout::Nats.metadata_columns()[0], ("subject", "_nats_subject"));
//! ```

pub mod naming;
pub mod rejected;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use std::collections::HashMap;
use std::sync::Arc;

/// The schema-metadata key whose value names an envelope batch's [`Layout`].
pub const LAYOUT_KEY: &str = "weir.envelope";

/// The payload column of every layout (binary).
pub const VALUE: &str = "value";

/// The columns a dead letter adds to the envelope row it keeps.
pub mod dead_letter {
    /// Where the message was (`topic/partition@offset`, `subject@sequence`, `path@offset`).
    pub const POSITION: &str = "_position";
    /// Why it did not decode, with its position.
    pub const ERROR: &str = "_error";
    /// The payload's SHA-256 (hex), kept instead of the payload when the pipeline masks.
    pub const VALUE_SHA256: &str = "_value_sha256";
    /// The payload's size in bytes, beside its digest.
    pub const VALUE_BYTES: &str = "_value_bytes";
    /// The key's SHA-256 (hex), kept instead of the key when the pipeline masks.
    pub const KEY_SHA256: &str = "_key_sha256";
}

/// Which envelope a batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `key`, `value`, `headers`, `topic`, `partition`, `offset`, `timestamp` (ms).
    Kafka,
    /// `value`, `headers`, `subject`, `sequence`, `timestamp` (µs), `delivery_count`.
    Nats,
    /// `value` (a line), `path`, `offset` (the line's byte offset).
    File,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 3] = [Layout::Kafka, Layout::Nats, Layout::File];

    /// Its name in [`LAYOUT_KEY`]: `kafka`, `nats`, `file`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Nats => "nats",
            Self::File => "file",
        }
    }

    /// The layout a schema's metadata names, if any.
    pub fn of(metadata: &HashMap<String, String>) -> Option<Self> {
        let name = metadata.get(LAYOUT_KEY)?;
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The layout of a schema without the tag (a plugin built before it existed), told by its
    /// columns: a binary `value` plus `topic`, `partition` and `offset` (Kafka), `subject` and
    /// `sequence` (NATS), or `path` and `offset` (file).
    pub fn by_columns(schema: &Schema) -> Option<Self> {
        let has = |n: &str| schema.index_of(n).is_ok();
        let binary_value = schema
            .field_with_name(VALUE)
            .is_ok_and(|f| matches!(f.data_type(), DataType::Binary | DataType::LargeBinary));
        if !binary_value {
            return None;
        }
        if has("topic") && has("partition") && has("offset") {
            Some(Self::Kafka)
        } else if has("subject") && has("sequence") {
            Some(Self::Nats)
        } else if has("path") && has("offset") {
            Some(Self::File)
        } else {
            None
        }
    }

    /// The schema metadata that names this layout.
    pub fn metadata(self) -> HashMap<String, String> {
        HashMap::from([(LAYOUT_KEY.to_string(), self.name().to_string())])
    }

    /// The envelope's schema, tagged with its layout.
    pub fn schema(self) -> Schema {
        let utc = |unit| DataType::Timestamp(unit, Some("UTC".into()));
        let fields = match self {
            Self::Kafka => vec![
                Field::new("key", DataType::Binary, true),
                Field::new(VALUE, DataType::Binary, true),
                Field::new("headers", headers(), true),
                Field::new("topic", DataType::Utf8, false),
                Field::new("partition", DataType::Int32, false),
                Field::new("offset", DataType::Int64, false),
                Field::new("timestamp", utc(TimeUnit::Millisecond), true),
            ],
            Self::Nats => vec![
                Field::new(VALUE, DataType::Binary, false),
                Field::new("headers", headers(), true),
                Field::new("subject", DataType::Utf8, false),
                Field::new("sequence", DataType::Int64, false),
                Field::new("timestamp", utc(TimeUnit::Microsecond), false),
                Field::new("delivery_count", DataType::Int64, false),
            ],
            Self::File => vec![
                Field::new(VALUE, DataType::Binary, false),
                Field::new("path", DataType::Utf8, false),
                Field::new("offset", DataType::Int64, false),
            ],
        };
        Schema::new_with_metadata(fields, self.metadata())
    }

    /// `(envelope column, metadata column)`: the origin columns decoded rows keep.
    pub fn metadata_columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Kafka => &[
                ("topic", "_kafka_topic"),
                ("partition", "_kafka_partition"),
                ("offset", "_kafka_offset"),
                ("timestamp", "_kafka_timestamp"),
                ("key", "_kafka_key"),
                ("headers", "_kafka_headers"),
            ],
            Self::Nats => &[
                ("subject", "_nats_subject"),
                ("sequence", "_nats_sequence"),
                ("timestamp", "_nats_timestamp"),
                ("headers", "_nats_headers"),
            ],
            Self::File => &[("path", "_file_path"), ("offset", "_file_offset")],
        }
    }

    /// The envelope columns a record's position is told by, in order: Kafka's `topic`,
    /// `partition`, `offset`; NATS's `subject`, `sequence`; a file's `path`, `offset`.
    pub fn position_columns(self) -> &'static [&'static str] {
        match self {
            Self::Kafka => &["topic", "partition", "offset"],
            Self::Nats => &["subject", "sequence"],
            Self::File => &["path", "offset"],
        }
    }

    /// The metadata column decoded rows keep for envelope column `name`.
    pub fn metadata_column(self, name: &str) -> Option<&'static str> {
        self.metadata_columns()
            .iter()
            .find(|(e, _)| *e == name)
            .map(|(_, m)| *m)
    }

    /// A record's position as text, from the values of [`Layout::position_columns`]:
    /// `topic/partition@offset`, `subject@sequence`, `path@offset` (the form dead letters and
    /// errors name a record by).
    ///
    /// ```
    /// use weir_envelope::Layout;
    /// assert_eq!(Layout::Kafka.position(&["orders", "3", "41"]), "orders/3@41");
    /// assert_eq!(Layout::File.position(&["in/a.jsonl", "120"]), "in/a.jsonl@120");
    /// ```
    pub fn position(self, values: &[&str]) -> String {
        match (self, values) {
            (Self::Kafka, [topic, partition, offset]) => format!("{topic}/{partition}@{offset}"),
            _ => values.join("@"),
        }
    }

    /// The struct column of `format: raw` (Nilus's shape): `_kafka`, `_nats`, `_file`.
    pub fn raw_column(self) -> &'static str {
        match self {
            Self::Kafka => "_kafka",
            Self::Nats => "_nats",
            Self::File => "_file",
        }
    }
}

/// `headers`: map<utf8, binary> with Delta Lake's entry names (`key_value`, `key`, `value`),
/// so a table's schema round-trips.
fn headers() -> DataType {
    let entry = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("key_value", DataType::Struct(entry), false)),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_layout_is_named_in_its_schema_and_told_by_its_columns() {
        for l in Layout::ALL {
            let s = l.schema();
            assert_eq!(Layout::of(s.metadata()), Some(l));
            let untagged = Schema::new(s.fields().clone());
            assert_eq!(Layout::of(untagged.metadata()), None);
            assert_eq!(Layout::by_columns(&untagged), Some(l), "{l:?}");
            for (from, _) in l.metadata_columns() {
                assert!(s.index_of(from).is_ok(), "{l:?}: {from}");
            }
        }
        let typed = Schema::new(vec![Field::new("offset", DataType::Int64, false)]);
        assert_eq!(Layout::by_columns(&typed), None);
    }
}
