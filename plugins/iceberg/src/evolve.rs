//! Schema evolution: fitting each batch to the table, as Nilus does.
//!
//! - Every column is first cast to the type the table would hold it as ([`crate::types`]).
//! - A column the table has takes the table's type when it fits (the same type, an int into a
//!   long, an int or float into a double, a decimal into a wider one).
//! - Any other type change goes to the variant column `<col>__v_<type>` (objects and arrays
//!   that do not fit as JSON text in `<col>__v_json`), added when missing; later values of the
//!   original type go back to the original column.
//! - A column the table lacks is added (an optional column, so old rows read null); a column
//!   of nulls only is left out until a value appears; a table column the batch lacks is null.
//!
//! Columns are added through an Iceberg schema update, so field ids stay stable: a column
//! keeps its id for the table's life, and a new one takes the next.

use crate::types::{cast_to, fits, held, promotes, same};
use std::collections::HashMap;
use std::sync::Arc;
use weir_sdk::arrow::array::{new_null_array, ArrayRef};
use weir_sdk::arrow::datatypes::{DataType, Field, Schema};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::envelope::naming::variant_name;
use weir_sdk::variant::json_text;

/// `batch` with every column cast to its held type, columns of nulls only left out.
pub(crate) fn hold(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if f.data_type() == &DataType::Null {
            continue;
        }
        let t = held(f.data_type()).map_err(|e| format!("column `{}`: {e}", f.name()))?;
        let c = cast_to(c, &t).map_err(|e| format!("column `{}`: {e}", f.name()))?;
        fields.push(Field::new(f.name(), t, true));
        columns.push(c);
    }
    let options = weir_sdk::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
        .map_err(|e| e.to_string())
}

/// How a held batch meets the table.
#[derive(Debug)]
pub(crate) enum Fit {
    /// The table needs these columns first (held types; names in batch order).
    Add(Vec<Field>),
    /// These columns' types must be promoted first (int to long, float to double, a wider
    /// decimal), keeping their field ids.
    Promote(Vec<Field>),
    /// The batch in the table's schema (its fields, ids and order), and the variant columns
    /// it used.
    Ready(RecordBatch, Vec<String>),
}

/// Fits a held batch to `table`, the table's current schema as Arrow (with field ids).
pub(crate) fn fit(batch: &RecordBatch, table: &Schema) -> Result<Fit, String> {
    let mut placed: HashMap<String, ArrayRef> = HashMap::new();
    let mut adds: Vec<Field> = Vec::new();
    let mut promote: Vec<Field> = Vec::new();
    let mut variants = Vec::new();
    let mut place =
        |name: String, column: ArrayRef, adds: &mut Vec<Field>| -> Result<bool, String> {
            match table.field_with_name(&name) {
                Ok(tf)
                    if same(column.data_type(), tf.data_type())
                        || fits(column.data_type(), tf.data_type()) =>
                {
                    let c = cast_to(&column, tf.data_type())
                        .map_err(|e| format!("column `{name}`: {e}"))?;
                    placed.insert(name, c);
                    Ok(true)
                }
                Ok(_) => Ok(false),
                Err(_) => {
                    adds.push(Field::new(&name, column.data_type().clone(), true));
                    Ok(true)
                }
            }
        };
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if let Ok(tf) = table.field_with_name(f.name()) {
            if promotes(tf.data_type(), c.data_type()) {
                promote.push(Field::new(f.name(), c.data_type().clone(), true));
                continue;
            }
        }
        if place(f.name().clone(), c.clone(), &mut adds)? {
            continue;
        }
        let vname = variant_name(f.name(), c.data_type());
        let c = if is_nested(c.data_type()) {
            json_text(c).map_err(|e| format!("column `{}`: {e}", f.name()))?
        } else {
            c.clone()
        };
        if !place(vname.clone(), c.clone(), &mut adds)? {
            let have = table
                .field_with_name(&vname)
                .map(|f| f.data_type().to_string());
            return Err(format!(
                "column `{}`: type {} fits neither the table's column nor its variant `{vname}` ({})",
                f.name(),
                c.data_type(),
                have.unwrap_or_default()
            ));
        }
        variants.push(vname);
    }
    if !promote.is_empty() {
        return Ok(Fit::Promote(promote));
    }
    if !adds.is_empty() {
        return Ok(Fit::Add(adds));
    }
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = table
        .fields()
        .iter()
        .map(|tf| {
            placed
                .remove(tf.name())
                .unwrap_or_else(|| new_null_array(tf.data_type(), rows))
        })
        .collect();
    let options =
        weir_sdk::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
    let out = RecordBatch::try_new_with_options(Arc::new(table.clone()), columns, &options)
        .map_err(|e| e.to_string())?;
    Ok(Fit::Ready(out, variants))
}

/// Whether a type holds objects or arrays.
fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Struct(_) | DataType::List(_) | DataType::Map(_, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{
        Array, AsArray, Float64Array, Int32Array, Int64Array, StringArray,
    };
    use weir_sdk::arrow::datatypes::{Float64Type, Int64Type};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        hold(&RecordBatch::try_from_iter(cols).unwrap()).unwrap()
    }

    #[test]
    fn adds_then_fits_widens_and_sends_type_changes_to_a_variant() {
        let table = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("discount", DataType::Int64, true),
            Field::new("note", DataType::Utf8, true),
        ]);
        let b = batch(vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("discount", Arc::new(Float64Array::from(vec![0.5, 1.5]))),
            ("colour", Arc::new(StringArray::from(vec!["red", "blue"]))),
        ]);
        let Fit::Add(adds) = fit(&b, &table).unwrap() else {
            panic!("no adds")
        };
        let names: Vec<&str> = adds.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["discount__v_double", "colour"]);
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(adds);
        let table = Schema::new(fields);
        let Fit::Ready(out, variants) = fit(&b, &table).unwrap() else {
            panic!("adds again")
        };
        assert_eq!(variants, vec!["discount__v_double"]);
        assert_eq!(out.schema().as_ref(), &table);
        assert_eq!(out.column(0).as_primitive::<Int64Type>().values(), &[1, 2]);
        assert_eq!(out.column(1).null_count(), 2);
        assert_eq!(out.column(2).null_count(), 2);
        assert_eq!(out.column(3).as_primitive::<Float64Type>().value(1), 1.5);
        let b = batch(vec![(
            "discount",
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        )]);
        let Fit::Ready(out, variants) = fit(&b, &table).unwrap() else {
            panic!("adds")
        };
        assert!(variants.is_empty());
        assert_eq!(out.column(1).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(out.column(3).null_count(), 1);
    }
}
