//! Lines to one envelope batch (docs/architecture.md section 2): `value` (binary, the line's
//! bytes), `path` (utf8, the file) and `offset` (int64, the byte offset of the line). Core
//! decodes the values as it decodes Kafka and NATS messages, with the same bounds, evolution
//! and dead letters, and keeps `path` and `offset` as `_file_path` and `_file_offset`.

use crate::files::Line;
use std::sync::Arc;
use weir_sdk::arrow::array::{ArrayRef, BinaryArray, Int64Array, StringArray};
use weir_sdk::arrow::datatypes::Schema;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::envelope::Layout;
use weir_sdk::Error;

/// A line read from a file, with the file it came from.
#[derive(Debug)]
pub struct Record<'a> {
    /// The file's path as its position key.
    pub file: &'a str,
    /// The line.
    pub line: &'a Line,
}

/// The envelope's schema: [`Layout::File`], its layout named in the metadata.
pub fn envelope_schema() -> Arc<Schema> {
    Arc::new(Layout::File.schema())
}

/// The records (blank lines already left out) as one envelope batch.
pub fn envelope(records: &[Record<'_>]) -> Result<RecordBatch, Error> {
    let value = BinaryArray::from_iter_values(records.iter().map(|r| r.line.text.as_bytes()));
    let path = StringArray::from_iter_values(records.iter().map(|r| r.file));
    let offset = Int64Array::from_iter_values(
        records
            .iter()
            .map(|r| i64::try_from(r.line.offset).unwrap_or(i64::MAX)),
    );
    let columns: Vec<ArrayRef> = vec![Arc::new(value), Arc::new(path), Arc::new(offset)];
    RecordBatch::try_new(envelope_schema(), columns)
        .map_err(|e| Error::fatal(format!("cannot assemble the batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::AsArray;
    use weir_sdk::arrow::datatypes::Int64Type;

    #[test]
    fn one_row_per_line_with_its_file_and_offset() {
        let lines = [
            Line {
                offset: 0,
                text: r#"{"id":1}"#.into(),
            },
            Line {
                offset: 9,
                text: "not json".into(),
            },
        ];
        let records: Vec<Record<'_>> = lines
            .iter()
            .map(|line| Record {
                file: "/in/a.jsonl",
                line,
            })
            .collect();
        let b = envelope(&records).unwrap();
        assert_eq!(b.schema(), envelope_schema());
        assert_eq!(Layout::of(b.schema().metadata()), Some(Layout::File));
        assert_eq!(b.num_rows(), 2);
        let value = b.column(0).as_binary::<i32>();
        assert_eq!(value.value(1), b"not json");
        assert_eq!(b.column(1).as_string::<i32>().value(0), "/in/a.jsonl");
        let offsets = b.column(2).as_primitive::<Int64Type>();
        assert_eq!(offsets.values().to_vec(), vec![0, 9]);
    }
}
