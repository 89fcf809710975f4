//! A path `a.b` into a text column that holds JSON objects: the decoder keeps a field as JSON
//! text when its records disagree on its kind (an object in one, a string in another) or when
//! it is nested past `max_nesting_depth`, and a mask on a path inside it must still apply.
//!
//! Each row's text is parsed; the value at the path is masked with the same algorithm as a
//! column (values grouped by JSON kind, one array per kind) and written back in place. A row
//! whose text is not a JSON object, or whose path passes through something that is not one,
//! cannot be masked: it is reported by row (the pipeline sends it to dead letters) and never
//! written unmasked. Rows without the path are kept as they are, as a missing column is.

use super::{mask_column, Keyed, MaskError, MaskRule};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use serde_json::Value;
use std::sync::Arc;

/// The masked column and the rows that could not be masked.
pub(super) struct TextMasked {
    pub(super) array: ArrayRef,
    pub(super) failed: Vec<(usize, MaskError)>,
}

/// Where a leaf's masked value goes back.
struct Leaf {
    row: usize,
    /// Index in its kind's array.
    at: usize,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

/// The column again: each row's masked JSON text, a row that could not be masked as null
/// (it leaves the batch for dead letters, never kept unmasked), others as they were.
fn reassembled(
    text: &StringArray,
    rows: &[Option<Value>],
    failed: &[(usize, MaskError)],
) -> StringArray {
    let failed_rows: Vec<usize> = failed.iter().map(|(r, _)| *r).collect();
    (0..text.len())
        .map(|i| {
            if text.is_null(i) || failed_rows.contains(&i) {
                None
            } else {
                match &rows[i] {
                    Some(v) => Some(v.to_string()),
                    None => Some(text.value(i).to_string()),
                }
            }
        })
        .collect()
}

/// The leaves' values grouped by JSON kind, one list per kind (objects and arrays as text).
#[derive(Default)]
struct ByKind {
    texts: Vec<Option<String>>,
    ints: Vec<Option<i64>>,
    floats: Vec<Option<f64>>,
    bools: Vec<Option<bool>>,
}

impl ByKind {
    /// Adds a leaf's value; its kind and index in that kind's list.
    fn push(&mut self, leaf: &Value) -> (Kind, usize) {
        match leaf {
            Value::Number(n) if n.is_i64() => {
                self.ints.push(n.as_i64());
                (Kind::Int, self.ints.len() - 1)
            }
            Value::Number(n) => {
                self.floats.push(n.as_f64());
                (Kind::Float, self.floats.len() - 1)
            }
            Value::Bool(b) => {
                self.bools.push(Some(*b));
                (Kind::Bool, self.bools.len() - 1)
            }
            Value::Null => {
                self.texts.push(None);
                (Kind::Text, self.texts.len() - 1)
            }
            Value::String(s) => {
                self.texts.push(Some(s.clone()));
                (Kind::Text, self.texts.len() - 1)
            }
            other => {
                self.texts.push(Some(other.to_string()));
                (Kind::Text, self.texts.len() - 1)
            }
        }
    }
}

/// Masks `path` inside each row's JSON text of `array` (Utf8 or LargeUtf8).
pub(super) fn mask(
    array: &ArrayRef,
    path: &[&str],
    walked: &str,
    rule: &MaskRule,
    keyed: &Keyed,
) -> Result<TextMasked, MaskError> {
    let arrow_err = |source| MaskError::Arrow {
        column: rule.column.clone(),
        source,
    };
    let text = cast(array, &DataType::Utf8).map_err(arrow_err)?;
    let text = text.as_string::<i32>();
    let not_object = || MaskError::NotAStruct {
        column: rule.column.clone(),
        parent: walked.to_string(),
        data_type: array.data_type().clone(),
    };
    let mut rows: Vec<Option<Value>> = vec![None; text.len()];
    let mut failed = Vec::new();
    let mut leaves = Vec::new();
    let mut kinds = ByKind::default();
    for (i, row) in rows.iter_mut().enumerate() {
        if text.is_null(i) {
            continue;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(text.value(i)) else {
            failed.push((i, not_object()));
            continue;
        };
        let Some(leaf) = walk(&mut v, path) else {
            failed.push((i, not_object()));
            continue;
        };
        if let Some(leaf) = leaf {
            let (kind, at) = kinds.push(leaf);
            leaves.push(Leaf { row: i, at, kind });
        }
        *row = Some(v);
    }
    let masked_of = |a: ArrayRef| mask_column(&rule.algorithm, &a, &rule.column, keyed);
    let masked = [
        (
            Kind::Text,
            masked_of(Arc::new(StringArray::from(kinds.texts)))?,
        ),
        (
            Kind::Int,
            masked_of(Arc::new(Int64Array::from(kinds.ints)))?,
        ),
        (
            Kind::Float,
            masked_of(Arc::new(Float64Array::from(kinds.floats)))?,
        ),
        (
            Kind::Bool,
            masked_of(Arc::new(BooleanArray::from(kinds.bools)))?,
        ),
    ];
    for leaf in leaves {
        let Some((_, m)) = masked.iter().find(|(k, _)| *k == leaf.kind) else {
            continue;
        };
        let value = json_of(m, leaf.at).map_err(arrow_err)?;
        if let Some(Some(Some(target))) = rows[leaf.row].as_mut().map(|v| walk(v, path)) {
            *target = value;
        }
    }
    let out = reassembled(text, &rows, &failed);
    Ok(TextMasked {
        array: Arc::new(out),
        failed,
    })
}

/// The value at `path` in `v`: `None` when something on the way is not an object,
/// `Some(None)` when the path is missing.
fn walk<'v>(v: &'v mut Value, path: &[&str]) -> Option<Option<&'v mut Value>> {
    let mut at = v;
    for (n, part) in path.iter().enumerate() {
        let Value::Object(m) = at else {
            return if at.is_null() && n > 0 {
                Some(None)
            } else {
                None
            };
        };
        match m.get_mut(*part) {
            Some(child) => at = child,
            None => return Some(None),
        }
    }
    Some(Some(at))
}

/// One cell of a masked array as JSON.
fn json_of(a: &ArrayRef, i: usize) -> Result<Value, arrow::error::ArrowError> {
    if a.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        DataType::Int64 => Value::from(a.as_primitive::<arrow::datatypes::Int64Type>().value(i)),
        DataType::Float64 => {
            let f = a.as_primitive::<arrow::datatypes::Float64Type>().value(i);
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        _ => {
            let t = cast(a, &DataType::Utf8)?;
            Value::String(t.as_string::<i32>().value(i).to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::Masker;
    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    #[test]
    fn masks_inside_json_text_and_reports_rows_it_cannot_mask() {
        let customer: ArrayRef = Arc::new(StringArray::from(vec![
            Some(r#"{"name":"ann","ssn":"123-45-6789"}"#),
            Some("just a string"),
            None,
            Some(r#"{"name":"bob"}"#),
            Some(r#"{"ssn":123456789,"x":[1]}"#),
        ]));
        let batch = RecordBatch::try_from_iter([("customer", customer)]).unwrap();
        let specs = [("customer.ssn".to_string(), "redact".to_string())];
        let m = Masker::parse_all(&specs, b"k").unwrap();
        let (out, failed) = m.apply_rows(&batch).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 1);
        let c = out.column(0).as_string::<i32>();
        assert_eq!(c.value(0), r#"{"name":"ann","ssn":"REDACTED"}"#);
        assert!(c.is_null(1), "an unmaskable row is never kept as it was");
        assert!(c.is_null(2));
        assert_eq!(c.value(3), r#"{"name":"bob"}"#);
        assert_eq!(c.value(4), r#"{"ssn":"REDACTED","x":[1]}"#);
        // The strict form refuses the batch, naming the column.
        let err = m.apply(&batch).unwrap_err();
        assert!(err.to_string().contains("customer.ssn"), "{err}");
    }
}
