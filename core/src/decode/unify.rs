//! One batch from the sub-batches of a micro-batch that different writer schemas decoded
//! (Avro): the fields of all of them in order of first appearance, each nullable; a column
//! missing from a sub-batch is null there; numbers of two widths take the wider type; a value
//! of another type goes to the variant column the sinks use (`<col>__v_<type>`, objects and
//! arrays as JSON text in `<col>__v_json`). Types the
//! destinations do not hold are normalised first: dictionaries (Avro enums) to text, fixed
//! binary to binary, timestamps to microseconds.

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, ListArray, MapArray, RecordBatch, StringArray,
    StructArray, UInt32Array, UnionArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{can_cast_types, cast, concat_batches, take};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use arrow::error::ArrowError;
use std::sync::Arc;

/// The type a destination can hold for `t`.
pub(crate) fn normal(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => normal(v),
        DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Time32(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Struct(fields) => DataType::Struct(normal_fields(fields)),
        DataType::List(f) => DataType::List(normal_field(f)),
        DataType::LargeList(f) => DataType::List(normal_field(f)),
        DataType::Map(f, sorted) => DataType::Map(normal_field(f), *sorted),
        DataType::Union(fields, _) => DataType::Struct(
            fields
                .iter()
                .filter(|(_, f)| *f.data_type() != DataType::Null)
                .map(|(_, f)| Field::new(f.name(), normal(f.data_type()), true))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A general union (Avro `["int", "string"]`) as a struct with a field per branch: the
/// branch a row took holds its value, the others are null; a row that took the `null` branch
/// is a null struct.
fn union_as_struct(a: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let u = a
        .as_any()
        .downcast_ref::<UnionArray>()
        .ok_or_else(|| ArrowError::SchemaError("internal: not a union".into()))?;
    let DataType::Union(branches, _) = a.data_type() else {
        return Err(ArrowError::SchemaError("internal: not a union".into()));
    };
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    let mut valid = vec![true; u.len()];
    for (id, f) in branches.iter() {
        if *f.data_type() == DataType::Null {
            for (i, v) in valid.iter_mut().enumerate() {
                if u.type_id(i) == id {
                    *v = false;
                }
            }
            continue;
        }
        let at: UInt32Array = (0..u.len())
            .map(|i| (u.type_id(i) == id).then(|| u.value_offset(i) as u32))
            .collect();
        let c = normalise(&take(u.child(id).as_ref(), &at, None)?)?;
        fields.push(Field::new(f.name(), c.data_type().clone(), true));
        columns.push(c);
    }
    let nulls = NullBuffer::from(valid);
    Ok(Arc::new(StructArray::try_new(
        Fields::from(fields),
        columns,
        (nulls.null_count() > 0).then_some(nulls),
    )?))
}

fn normal_field(f: &FieldRef) -> FieldRef {
    Arc::new(f.as_ref().clone().with_data_type(normal(f.data_type())))
}

fn normal_fields(fields: &Fields) -> Fields {
    fields.iter().map(normal_field).collect()
}

/// `a` with its type made [`normal`]: maps get Delta Lake's entry names (`key_value`, `key`,
/// `value`, as the Kafka headers column has), other types are cast; nested values included.
pub(crate) fn normalise(a: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match a.data_type() {
        DataType::Map(_, sorted) => {
            let m = a.as_map();
            let keys = normalise(m.keys())?;
            let values = normalise(m.values())?;
            let entries = StructArray::try_new(
                Fields::from(vec![
                    Field::new("key", keys.data_type().clone(), false),
                    Field::new("value", values.data_type().clone(), true),
                ]),
                vec![keys, values],
                None,
            )?;
            let field = Arc::new(Field::new("key_value", entries.data_type().clone(), false));
            Ok(Arc::new(MapArray::try_new(
                field,
                m.offsets().clone(),
                entries,
                m.nulls().cloned(),
                *sorted,
            )?))
        }
        DataType::Struct(fields) => {
            let st = a.as_struct();
            let columns = st
                .columns()
                .iter()
                .map(normalise)
                .collect::<Result<Vec<_>, _>>()?;
            let fields: Fields = fields
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            Ok(Arc::new(StructArray::try_new(
                fields,
                columns,
                st.nulls().cloned(),
            )?))
        }
        DataType::List(f) => {
            let l = a.as_list::<i32>();
            let values = normalise(l.values())?;
            let field = Arc::new(Field::new(f.name(), values.data_type().clone(), true));
            Ok(Arc::new(ListArray::try_new(
                field,
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )?))
        }
        DataType::Union(_, _) => union_as_struct(a),
        t if normal(t) != *t => cast(a, &normal(t)),
        _ => Ok(a.clone()),
    }
}

/// The wider of two numeric types, if one holds the other.
fn wider(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        Float32 => Some(5),
        Float64 => Some(6),
        _ => None,
    };
    let (ra, rb) = (rank(a)?, rank(b)?);
    // An integer and a float meet in Float64 (Float32 would round large integers).
    Some(if ra.max(rb) >= 5 && ra.min(rb) <= 4 {
        Float64
    } else if ra >= rb {
        a.clone()
    } else {
        b.clone()
    })
}

/// The column as JSON text, one value per row (for a type conflict).
fn as_json_text(a: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    if can_cast_types(a.data_type(), &DataType::Utf8) && !a.data_type().is_nested() {
        return cast(a, &DataType::Utf8);
    }
    let field = Arc::new(Field::new("v", a.data_type().clone(), true));
    let options = arrow_json::writer::EncoderOptions::default();
    let mut enc = arrow_json::writer::make_encoder(&field, a.as_ref(), &options)?;
    let mut out: Vec<Option<String>> = Vec::with_capacity(a.len());
    let mut buf = Vec::new();
    for i in 0..a.len() {
        if enc.is_null(i) {
            out.push(None);
        } else {
            buf.clear();
            enc.encode(i, &mut buf);
            out.push(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// A top-level Avro `uuid` (16 bytes tagged `arrow.uuid`) as its text, `8-4-4-4-12` hex.
fn uuid_as_text(f: &Field, c: &ArrayRef) -> ArrayRef {
    // arrow-avro tags it `logicalType: uuid`, or as the `arrow.uuid` extension type.
    let m = f.metadata();
    let tagged = m
        .get("ARROW:extension:name")
        .is_some_and(|n| n == "arrow.uuid")
        || m.get("logicalType").is_some_and(|n| n == "uuid");
    let Some(b) = c
        .as_fixed_size_binary_opt()
        .filter(|b| tagged && b.value_length() == 16)
    else {
        return c.clone();
    };
    let text: StringArray = b
        .iter()
        .map(|v| {
            v.map(|v| {
                let h: String = v.iter().map(|x| format!("{x:02x}")).collect();
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            })
        })
        .collect();
    Arc::new(text)
}

/// The sub-batches as one batch (`None` for none).
pub(crate) fn concat(parts: Vec<RecordBatch>) -> Result<Option<RecordBatch>, ArrowError> {
    let parts: Vec<RecordBatch> = parts
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(b.schema().fields())
                .map(|(c, f)| normalise(&uuid_as_text(f, c)))
                .collect::<Result<Vec<_>, _>>()?;
            let fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        })
        .collect::<Result<_, _>>()?;
    if parts.len() <= 1 {
        return Ok(parts.into_iter().next());
    }
    // The merged fields: first appearance wins the place; numbers widen; any other type
    // lands in the variant column the sinks use (`<col>__v_<type>`).
    let mut fields: Vec<(String, DataType)> = Vec::new();
    let targets: Vec<Vec<String>> = parts
        .iter()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| place(&mut fields, f.name(), f.data_type()))
                .collect()
        })
        .collect();
    let schema = Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let mut out = Vec::with_capacity(parts.len());
    for (b, to) in parts.iter().zip(&targets) {
        let mut columns = Vec::with_capacity(fields.len());
        for (name, t) in &fields {
            let c = match to.iter().position(|n| n == name) {
                None => new_null_array(t, b.num_rows()),
                Some(i) => {
                    let c = b.column(i);
                    if c.data_type() == t {
                        c.clone()
                    } else if *t == DataType::Utf8 && c.data_type().is_nested() {
                        as_json_text(c)?
                    } else {
                        cast(c, t)?
                    }
                }
            };
            columns.push(c);
        }
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    concat_batches(&schema, &out).map(Some)
}

/// The merged column a field `name` of type `t` lands in (added to `fields` when new).
fn place(fields: &mut Vec<(String, DataType)>, name: &str, t: &DataType) -> String {
    match fields.iter_mut().find(|(n, _)| n == name) {
        None => {
            fields.push((name.to_string(), t.clone()));
            name.to_string()
        }
        Some((_, have)) if have == t => name.to_string(),
        Some((_, have)) => match wider(have, t) {
            Some(w) => {
                *have = w;
                name.to_string()
            }
            None => {
                let variant = weir_envelope::naming::variant_name(name, t);
                let vt = match t {
                    t if t.is_nested() => DataType::Utf8,
                    t if t.is_integer() => DataType::Int64,
                    t if t.is_floating() => DataType::Float64,
                    t => t.clone(),
                };
                place(fields, &variant, &vt)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::array::{DictionaryArray, Int32Array, Int64Array};
    use arrow::datatypes::{Int32Type, Int64Type};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn fields_are_merged_widened_filled_with_nulls_and_conflicts_go_to_variants() {
        let a = batch(vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("n", Arc::new(Int32Array::from(vec![5, 6]))),
        ]);
        let b = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![3])) as ArrayRef),
            ("n", Arc::new(StringArray::from(vec!["x"]))),
            ("extra", Arc::new(StringArray::from(vec!["e"]))),
        ]);
        let out = concat(vec![a, b]).unwrap().unwrap();
        assert_eq!(out.num_rows(), 3);
        let ids = out.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 2, 3]);
        let names: Vec<String> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["id", "n", "n__v_text", "extra"]);
        let n = out.column(1).as_primitive::<Int32Type>();
        assert_eq!((n.value(0), n.is_null(2)), (5, true));
        let v = out.column(2).as_string::<i32>();
        assert_eq!((v.is_null(0), v.value(2)), (true, "x"));
        let extra = out.column(3);
        assert!(extra.is_null(0) && !extra.is_null(2));
    }

    #[test]
    fn enums_become_text() {
        let d: DictionaryArray<Int32Type> = vec!["RED", "BLUE", "RED"].into_iter().collect();
        let out = concat(vec![batch(vec![("c", Arc::new(d) as ArrayRef)])])
            .unwrap()
            .unwrap();
        assert_eq!(out.column(0).data_type(), &DataType::Utf8);
        assert_eq!(out.column(0).as_string::<i32>().value(1), "BLUE");
    }
}
