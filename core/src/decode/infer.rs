//! Schema inference that only widens: the running schema of a JSON stream grows as new fields
//! appear and widens as values need it (int -> float -> text), so a table's schema never has
//! to narrow between batches.

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use std::sync::Arc;

/// The wider of two types: equal stays; null takes the other; int and float make float;
/// structs merge field by field; lists merge their items; anything else becomes text.
pub(crate) fn widen(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (x, y) if x == y => x.clone(),
        (DataType::Null, o) | (o, DataType::Null) => o.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        (DataType::Struct(x), DataType::Struct(y)) => DataType::Struct(merge_fields(x, y)),
        (DataType::List(x), DataType::List(y)) => DataType::List(Arc::new(Field::new_list_field(
            widen(x.data_type(), y.data_type()),
            true,
        ))),
        _ => DataType::Utf8,
    }
}

/// `old`'s fields widened by `new`'s, then `new`'s unknown fields (sorted, for a stable order).
pub(crate) fn merge_fields(old: &Fields, new: &Fields) -> Fields {
    let mut out: Vec<FieldRef> = old
        .iter()
        .map(|f| match new.find(f.name()) {
            Some((_, n)) => Arc::new(Field::new(
                f.name(),
                widen(f.data_type(), n.data_type()),
                true,
            )),
            None => f.clone(),
        })
        .collect();
    let mut added: Vec<FieldRef> = new
        .iter()
        .filter(|n| old.find(n.name()).is_none())
        .map(|n| Arc::new(Field::new(n.name(), sorted(n.data_type()), true)))
        .collect();
    added.sort_by(|a, b| a.name().cmp(b.name()));
    out.extend(added);
    Fields::from(out)
}

/// A type with its struct fields (at every depth) in name order, since inference does not keep
/// the order of the JSON.
pub(crate) fn sorted(t: &DataType) -> DataType {
    match t {
        DataType::Struct(fs) => {
            let mut v: Vec<FieldRef> = fs
                .iter()
                .map(|f| Arc::new(Field::new(f.name(), sorted(f.data_type()), true)))
                .collect();
            v.sort_by(|a, b| a.name().cmp(b.name()));
            DataType::Struct(Fields::from(v))
        }
        DataType::List(f) => {
            DataType::List(Arc::new(Field::new_list_field(sorted(f.data_type()), true)))
        }
        other => other.clone(),
    }
}

/// Whether a type holds nested values (kept as JSON text with `max_table_nesting: "0"`).
pub(crate) fn is_nested(t: &DataType) -> bool {
    matches!(t, DataType::Struct(_) | DataType::List(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(fields: Vec<(&str, DataType)>) -> DataType {
        DataType::Struct(Fields::from(
            fields
                .into_iter()
                .map(|(n, t)| Field::new(n, t, true))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn widens_and_never_narrows() {
        assert_eq!(
            widen(&DataType::Int64, &DataType::Float64),
            DataType::Float64
        );
        assert_eq!(
            widen(&DataType::Float64, &DataType::Int64),
            DataType::Float64
        );
        assert_eq!(
            widen(&DataType::Null, &DataType::Boolean),
            DataType::Boolean
        );
        assert_eq!(widen(&DataType::Int64, &DataType::Utf8), DataType::Utf8);
        assert_eq!(
            widen(&st(vec![("a", DataType::Int64)]), &DataType::Int64),
            DataType::Utf8
        );
        let merged = widen(
            &st(vec![("b", DataType::Int64)]),
            &st(vec![
                ("c", DataType::Utf8),
                ("a", DataType::Float64),
                ("b", DataType::Float64),
            ]),
        );
        assert_eq!(
            merged,
            st(vec![
                ("b", DataType::Float64),
                ("a", DataType::Float64),
                ("c", DataType::Utf8)
            ])
        );
    }
}
