//! Values that fit no column of their type, as JSON text: what sinks write into the Nilus
//! variant column `<col>__v_json` when an object or array meets a column it does not fit.
//!
//! ```
//! use std::sync::Arc;
//! use weir_sdk::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StructArray};
//! use weir_sdk::arrow::datatypes::{DataType, Field};
//!
//! let column: ArrayRef = Arc::new(StructArray::from(vec![(
//!     Arc::new(Field::new("a", DataType::Int64, true)),
//!     Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
//! )]));
//! let text = weir_sdk::variant::json_text(&column).unwrap();
//! assert_eq!(text.as_string::<i32>().value(0), r#"{"a":1}"#);
//! ```

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// Each value of a nested column as JSON text (null stays null).
pub fn json_text(column: &ArrayRef) -> Result<ArrayRef, String> {
    use arrow::json::writer::{LineDelimited, WriterBuilder};
    let one = RecordBatch::try_from_iter([("v", column.clone())]).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut w = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, LineDelimited>(&mut buf);
    w.write(&one).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    let text = String::from_utf8(buf).map_err(|e| e.to_string())?;
    let values: Vec<Option<&str>> = text
        .lines()
        .map(|l| {
            l.strip_prefix("{\"v\":")
                .and_then(|l| l.strip_suffix('}'))
                .filter(|v| *v != "null")
        })
        .collect();
    if values.len() != column.len() {
        return Err(format!(
            "{} JSON values for {} rows",
            values.len(),
            column.len()
        ));
    }
    Ok(Arc::new(StringArray::from(values)))
}
