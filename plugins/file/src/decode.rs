//! JSON lines to one Arrow batch: the schema inferred from the lines of the batch (numbers
//! that are sometimes integers become float64, objects become structs), plus two metadata
//! columns, `_file_path` (utf8) and `_file_offset` (int64, the byte offset of the line).

use crate::files::Line;
use std::sync::Arc;
use weir_sdk::arrow::array::{ArrayRef, Int64Array, StringArray};
use weir_sdk::arrow::datatypes::{DataType, Field, Schema};
use weir_sdk::arrow::json::reader::{infer_json_schema_from_iterator, ReaderBuilder};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::serde_json::Value;
use weir_sdk::{Error, Position};

/// A line read from a file, with the file it came from.
#[derive(Debug)]
pub struct Record<'a> {
    /// The file's path as its position key.
    pub file: &'a str,
    /// The line.
    pub line: &'a Line,
}

fn at(r: &Record<'_>) -> Position {
    Position::new(r.file, i64::try_from(r.line.offset).unwrap_or(i64::MAX))
}

/// Decodes the records (blank lines already left out) into one batch. A line that is not a
/// JSON object is a data error naming its file and offset.
pub fn decode(records: &[Record<'_>]) -> Result<RecordBatch, Error> {
    let mut values = Vec::with_capacity(records.len());
    for r in records {
        let v: Value = weir_sdk::serde_json::from_str(&r.line.text)
            .map_err(|e| Error::data(format!("not JSON: {e}")).at(at(r)))?;
        if !v.is_object() {
            return Err(Error::data("a JSON line must be an object").at(at(r)));
        }
        values.push(v);
    }
    let inferred = infer_json_schema_from_iterator(
        values
            .iter()
            .map(Ok::<_, weir_sdk::arrow::error::ArrowError>),
    )
    .map_err(|e| Error::data(format!("cannot infer a schema: {e}")))?;
    // Columns of only nulls have no type a table can hold: keep them as nullable text.
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => Field::new(f.name(), DataType::Utf8, true),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(values.len().max(1))
        .build_decoder()
        .map_err(|e| Error::fatal(format!("cannot build a JSON decoder: {e}")))?;
    decoder
        .serialize(&values)
        .map_err(|e| Error::data(format!("cannot decode JSON lines: {e}")))?;
    let body = decoder
        .flush()
        .map_err(|e| Error::data(format!("cannot decode JSON lines: {e}")))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema));
    let mut fields: Vec<Field> = body
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = body.columns().to_vec();
    fields.push(Field::new("_file_path", DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from_iter_values(
        records.iter().map(|r| r.file),
    )));
    fields.push(Field::new("_file_offset", DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from_iter_values(
        records
            .iter()
            .map(|r| i64::try_from(r.line.offset).unwrap_or(i64::MAX)),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::fatal(format!("cannot assemble the batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::AsArray;
    use weir_sdk::arrow::datatypes::Int64Type;

    fn lines(l: &[(u64, &str)]) -> Vec<Line> {
        l.iter()
            .map(|(offset, text)| Line {
                offset: *offset,
                text: text.to_string(),
            })
            .collect()
    }

    fn records(lines: &[Line]) -> Vec<Record<'_>> {
        lines
            .iter()
            .map(|line| Record {
                file: "/in/a.jsonl",
                line,
            })
            .collect()
    }

    #[test]
    fn typed_columns_and_metadata() {
        let l = lines(&[(0, r#"{"id":1,"name":"a"}"#), (20, r#"{"id":2,"x":null}"#)]);
        let b = decode(&records(&l)).unwrap();
        assert_eq!(b.num_rows(), 2);
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 2]);
        assert_eq!(b.column_by_name("x").unwrap().data_type(), &DataType::Utf8);
        let offsets = b
            .column_by_name("_file_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(offsets.values().to_vec(), vec![0, 20]);
    }

    #[test]
    fn a_bad_line_names_its_position() {
        let l = lines(&[(0, "{}"), (3, "nope")]);
        let e = decode(&records(&l)).unwrap_err();
        assert_eq!(e.kind, weir_sdk::ErrorKind::Data);
        assert_eq!(e.position, Some(Position::new("/in/a.jsonl", 3)));
        let l = lines(&[(7, "[1]")]);
        let e = decode(&records(&l)).unwrap_err();
        assert!(e.message.contains("object"), "{e}");
    }
}
