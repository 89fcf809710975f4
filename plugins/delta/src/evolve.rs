//! Schema evolution: fitting each batch to the table, as Nilus does (reference section 3.5).
//!
//! - A column the table has is written under the table's type, cast when that widens
//!   losslessly (int32 into int64, integers or float32 into double, text kinds, time units).
//! - A column whose type cannot be widened into the table's goes to a variant column
//!   `<col>__v_<type>` (for example `discount__v_double`); later values of the original type
//!   go back to the original column. Objects and arrays that do not fit the column (a struct
//!   of other fields, an array where an object was, either where a scalar was) go to
//!   `<col>__v_json` as JSON text, so every JSON kind has a landing place:
//!
//!   | the table's `<col>` is | a value that does not fit it goes to |
//!   |---|---|
//!   | any type | int: `__v_bigint`, double: `__v_double`, bool: `__v_bool`, text: `__v_text` |
//!   | any type | object or array: `__v_json` (JSON text) |
//!   | any type | null: `<col>` itself |
//! - A new column is added to the table (old rows read it as null); a column of nulls only
//!   (type null) that the table does not have is left out until a value appears.
//! - A table column the batch lacks is written as null.
//!
//! Every column is nullable in the table, so a later batch may omit any of them.

use deltalake::arrow::array::{new_null_array, ArrayRef};
use deltalake::arrow::compute::kernels::cast::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use weir_sdk::variant::json_text;

/// Fits `batch` to `table` (the table's current schema), as described above. Returns the
/// batch and the names of variant columns it used.
pub(crate) fn conform(
    batch: &RecordBatch,
    table: &Schema,
) -> Result<(RecordBatch, Vec<String>), String> {
    let rows = batch.num_rows();
    let mut fields: Vec<Arc<Field>> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut variants = Vec::new();
    // The table's columns first, in its order.
    for tf in table.fields() {
        let tf = Arc::new(tf.as_ref().clone().with_nullable(true));
        let col = match batch.column_by_name(tf.name()) {
            Some(c) if c.data_type() == tf.data_type() => c.clone(),
            Some(c) if fits(c.data_type(), tf.data_type()) => {
                cast(c, tf.data_type()).map_err(|e| format!("column `{}`: {e}", tf.name()))?
            }
            // Not widenable: the values go to the variant column below, nulls here.
            _ => new_null_array(tf.data_type(), rows),
        };
        fields.push(tf);
        columns.push(col);
    }
    // Then what the table does not have, and the variants.
    for (bf, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = bf.name();
        match table.field_with_name(name) {
            Ok(tf) if c.data_type() == tf.data_type() || fits(c.data_type(), tf.data_type()) => {}
            Ok(_) => {
                let vname = variant_name(name, c.data_type());
                let json;
                let c = if is_nested(c.data_type()) {
                    json = json_text(c).map_err(|e| format!("column `{name}`: {e}"))?;
                    &json
                } else {
                    c
                };
                let (vtype, vcol) = match table.field_with_name(&vname) {
                    Ok(vf) if vf.data_type() == c.data_type() => (c.data_type().clone(), c.clone()),
                    Ok(vf) if fits(c.data_type(), vf.data_type()) => (
                        vf.data_type().clone(),
                        cast(c, vf.data_type()).map_err(|e| format!("column `{vname}`: {e}"))?,
                    ),
                    _ => (c.data_type().clone(), c.clone()),
                };
                if let Some(i) = fields.iter().position(|f| f.name() == &vname) {
                    // The table already has the variant column: fill it instead of the nulls.
                    if fields[i].data_type() == &vtype {
                        columns[i] = vcol;
                    } else {
                        return Err(format!(
                            "column `{name}`: type {} fits neither the table's column nor its variant `{vname}`",
                            c.data_type()
                        ));
                    }
                } else {
                    fields.push(Arc::new(Field::new(&vname, vtype, true)));
                    columns.push(vcol);
                }
                variants.push(vname);
            }
            Err(_) if c.data_type() == &DataType::Null => {}
            Err(_) => {
                fields.push(Arc::new(bf.as_ref().clone().with_nullable(true)));
                columns.push(c.clone());
            }
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, table.metadata().clone()));
    let out = RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())?;
    Ok((out, variants))
}

/// The schema a new table gets from its first batch: every column nullable, no null-typed
/// columns.
pub(crate) fn initial_schema(batch: &Schema) -> Schema {
    Schema::new(
        batch
            .fields()
            .iter()
            .filter(|f| f.data_type() != &DataType::Null)
            .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
            .collect::<Vec<_>>(),
    )
}

/// Whether a type holds objects or arrays.
fn is_nested(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Struct(_)
            | List(_)
            | LargeList(_)
            | ListView(_)
            | LargeListView(_)
            | FixedSizeList(_, _)
            | Map(_, _)
    )
}

/// Whether values of `from` go into a column of `to` without loss.
fn fits(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || from == &Null {
        return true;
    }
    match (from, to) {
        (Int8, Int16 | Int32 | Int64) | (Int16, Int32 | Int64) | (Int32, Int64) => true,
        (UInt8, Int16 | Int32 | Int64) | (UInt16, Int32 | Int64) | (UInt32, Int64) => true,
        (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Float32, Float64) => true,
        (Int64 | UInt64, Float64) => true,
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => true,
        (Timestamp(_, a), Timestamp(_, b)) => a.is_some() == b.is_some(),
        (Date32, Timestamp(_, _)) => true,
        (Struct(a), Struct(b)) => a.iter().all(|f| {
            b.iter()
                .find(|g| g.name() == f.name())
                .is_some_and(|g| fits(f.data_type(), g.data_type()))
        }),
        (List(a), List(b)) | (LargeList(a), LargeList(b)) => fits(a.data_type(), b.data_type()),
        _ => false,
    }
}

/// `<col>__v_<type>` with dlt's type names (the rule in `weir_envelope::naming`).
pub(crate) fn variant_name(column: &str, t: &DataType) -> String {
    weir_sdk::envelope::naming::variant_name(column, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, Float64Array, Int32Array, Int64Array, StringArray};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn adds_omits_widens_and_sends_type_changes_to_a_variant() {
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
        let (out, variants) = conform(&b, &table).unwrap();
        let schema = out.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            vec!["id", "discount", "note", "discount__v_double", "colour"]
        );
        assert_eq!(variants, vec!["discount__v_double"]);
        assert_eq!(out.column(0).data_type(), &DataType::Int64);
        assert_eq!(out.column(1).null_count(), 2);
        assert_eq!(out.column(2).null_count(), 2);
        assert_eq!(
            out.column(3)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(1),
            1.5
        );

        // The original type goes back to the original column; the variant gets nulls.
        let table = out.schema();
        let b = batch(vec![(
            "discount",
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        )]);
        let (out, variants) = conform(&b, &table).unwrap();
        assert!(variants.is_empty());
        assert_eq!(out.num_columns(), 5);
        assert_eq!(
            out.column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            7
        );
        assert_eq!(out.column(3).null_count(), 1);
    }

    /// One field seen as every JSON kind in turn, each batch on the table the previous made:
    /// every value lands, objects and arrays as JSON text in `__v_json`.
    #[test]
    fn every_json_kind_has_a_landing_place() {
        use deltalake::arrow::array::{BooleanArray, ListArray, StructArray};
        use deltalake::arrow::datatypes::{Fields, Int64Type};
        let object: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        )]));
        let other_object: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )]));
        let array: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
        ]));
        let kinds: Vec<(ArrayRef, &str, &str)> = vec![
            (Arc::new(Int64Array::from(vec![1])), "f", "1"),
            (Arc::new(StringArray::from(vec!["t"])), "f__v_text", "t"),
            (
                Arc::new(Float64Array::from(vec![1.5])),
                "f__v_double",
                "1.5",
            ),
            (
                Arc::new(BooleanArray::from(vec![true])),
                "f__v_bool",
                "true",
            ),
            (object, "f__v_json", r#"{"a":1}"#),
            (array, "f__v_json", "[1,2]"),
            (other_object, "f__v_json", r#"{"b":"x"}"#),
            (new_null_array(&DataType::Null, 1), "f", ""),
        ];
        let mut table = Schema::new(Vec::<Field>::new());
        for (col, lands, shown) in kinds {
            let b = batch(vec![("f", col)]);
            let (out, _) = conform(&b, &table).unwrap_or_else(|e| panic!("{lands}: {e}"));
            let c = out.column_by_name(lands).unwrap();
            assert_eq!(c.null_count(), usize::from(shown.is_empty()), "{lands}");
            if lands == "f__v_json" {
                let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                assert_eq!(s.value(0), shown);
            }
            let mut fields: Vec<Field> =
                table.fields().iter().map(|f| f.as_ref().clone()).collect();
            for f in out.schema().fields() {
                if table.field_with_name(f.name()).is_err() {
                    fields.push(f.as_ref().clone());
                }
            }
            table = Schema::new(Fields::from(fields));
        }
        let names: Vec<&str> = table.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            vec!["f", "f__v_text", "f__v_double", "f__v_bool", "f__v_json"]
        );
    }

    #[test]
    fn null_columns_wait_for_a_value() {
        let table = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
        let b = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("later", new_null_array(&DataType::Null, 1)),
        ]);
        let (out, _) = conform(&b, &table).unwrap();
        assert_eq!(out.num_columns(), 1);
        assert_eq!(initial_schema(&b.schema()).fields().len(), 1);
    }
}
