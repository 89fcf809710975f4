//! Protobuf messages to Arrow columns (`format: protobuf`): the column types of a message
//! descriptor, and the columns of a run of decoded messages, built a column at a time.
//!
//! | Protobuf | Arrow |
//! |---|---|
//! | int32, sint32, sfixed32 | Int32 |
//! | int64, sint64, sfixed64, uint32, fixed32 | Int64 |
//! | uint64, fixed64 | Decimal128(20, 0) |
//! | float, double, bool, string, bytes | Float32, Float64, Boolean, Utf8, Binary |
//! | enum | Utf8: the value's name (an unknown number as its digits) |
//! | message | Struct (null when absent) |
//! | repeated, map | List, Map (`key_value`/`key`/`value`) |
//! | oneof | one nullable column per member; the members not set are null |
//! | google.protobuf.Timestamp | Timestamp(µs, UTC) |
//! | google.protobuf.Duration | Int64, microseconds |
//! | google.protobuf.*Value wrappers | the wrapped scalar, nullable |
//! | google.protobuf.Struct, Value, ListValue, Any; a message that contains itself | Utf8: its canonical JSON |
//!
//! A scalar without presence (proto3, outside a oneof) that is absent holds its default (0,
//! `""`), as every Protobuf reader sees it; a field with presence that is absent is null.

use arrow::array::{
    new_null_array, ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Float32Builder,
    Float64Builder, Int32Builder, Int64Builder, ListArray, MapArray, StringBuilder, StructArray,
    TimestampMicrosecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use arrow::error::ArrowError;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// What a message type becomes.
enum Shape {
    /// A struct of its fields.
    Struct,
    /// Timestamp(µs, UTC).
    Timestamp,
    /// Int64 microseconds.
    Duration,
    /// The wrapped scalar (field 1).
    Wrapper,
    /// Its canonical JSON text.
    Json,
}

fn shape(m: &MessageDescriptor, stack: &[String]) -> Shape {
    match m.full_name() {
        "google.protobuf.Timestamp" => Shape::Timestamp,
        "google.protobuf.Duration" => Shape::Duration,
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Shape::Wrapper,
        "google.protobuf.Struct"
        | "google.protobuf.Value"
        | "google.protobuf.ListValue"
        | "google.protobuf.Any" => Shape::Json,
        // A struct with no fields cannot be stored (Parquet has no empty groups).
        _ if m.fields().len() == 0 => Shape::Json,
        name if stack.iter().any(|s| s == name) => Shape::Json,
        _ => Shape::Struct,
    }
}

/// The Arrow fields of a message's columns.
pub(crate) fn fields(m: &MessageDescriptor) -> Fields {
    struct_fields(m, &mut vec![m.full_name().to_string()])
}

fn struct_fields(m: &MessageDescriptor, stack: &mut Vec<String>) -> Fields {
    m.fields()
        .map(|f| Field::new(f.name(), field_type(&f, stack), true))
        .collect()
}

fn field_type(f: &FieldDescriptor, stack: &mut Vec<String>) -> DataType {
    if f.is_map() {
        if let Kind::Message(entry) = f.kind() {
            let key = kind_type(&entry.map_entry_key_field().kind(), stack);
            let value = kind_type(&entry.map_entry_value_field().kind(), stack);
            return map_type(key, value);
        }
    }
    let t = kind_type(&f.kind(), stack);
    if f.is_list() {
        DataType::List(Arc::new(Field::new("item", t, true)))
    } else {
        t
    }
}

fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", key, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("key_value", DataType::Struct(entries), false)),
        false,
    )
}

fn kind_type(k: &Kind, stack: &mut Vec<String>) -> DataType {
    match k {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => DataType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => {
            DataType::Int64
        }
        Kind::Uint64 | Kind::Fixed64 => DataType::Decimal128(20, 0),
        Kind::Float => DataType::Float32,
        Kind::Double => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::String | Kind::Enum(_) => DataType::Utf8,
        Kind::Bytes => DataType::Binary,
        Kind::Message(m) => match shape(m, stack) {
            Shape::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Shape::Duration => DataType::Int64,
            Shape::Json => DataType::Utf8,
            Shape::Wrapper => match m.get_field(1) {
                Some(inner) => kind_type(&inner.kind(), stack),
                None => DataType::Utf8,
            },
            Shape::Struct => {
                stack.push(m.full_name().to_string());
                let fields = struct_fields(m, stack);
                stack.pop();
                DataType::Struct(fields)
            }
        },
    }
}

/// The columns of `messages` (all of descriptor `m`), in the order of [`fields`].
pub(crate) fn columns(
    m: &MessageDescriptor,
    messages: &[DynamicMessage],
) -> Result<Vec<ArrayRef>, ArrowError> {
    let parents: Vec<Option<&DynamicMessage>> = messages.iter().map(Some).collect();
    let mut stack = vec![m.full_name().to_string()];
    m.fields()
        .map(|f| field_column(&f, &parents, &mut stack))
        .collect()
}

/// One field's column over its parent messages (`None`: the parent is null).
fn field_column(
    f: &FieldDescriptor,
    parents: &[Option<&DynamicMessage>],
    stack: &mut Vec<String>,
) -> Result<ArrayRef, ArrowError> {
    let values: Vec<Option<Cow<'_, Value>>> = parents
        .iter()
        .map(|p| {
            p.and_then(|m| {
                let absent = f.supports_presence() && !m.has_field(f);
                (!absent).then(|| m.get_field(f))
            })
        })
        .collect();
    let refs: Vec<Option<&Value>> = values.iter().map(|v| v.as_deref()).collect();
    if f.is_map() {
        if let Kind::Message(entry) = f.kind() {
            return map_column(&entry, &refs, stack);
        }
    }
    if f.is_list() {
        return list_column(&f.kind(), &refs, stack);
    }
    kind_column(&f.kind(), &refs, stack)
}

fn list_column(
    k: &Kind,
    values: &[Option<&Value>],
    stack: &mut Vec<String>,
) -> Result<ArrayRef, ArrowError> {
    let mut offsets = vec![0i32];
    let mut items: Vec<Option<&Value>> = Vec::new();
    for v in values {
        if let Some(Value::List(l)) = v {
            items.extend(l.iter().map(Some));
        }
        offsets.push(i32::try_from(items.len()).map_err(|_| too_many())?);
    }
    let child = kind_column(k, &items, stack)?;
    let field = Arc::new(Field::new("item", child.data_type().clone(), true));
    // A repeated field is never null: absent is the empty list.
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        child,
        nulls(values),
    )?))
}

fn map_column(
    entry: &MessageDescriptor,
    values: &[Option<&Value>],
    stack: &mut Vec<String>,
) -> Result<ArrayRef, ArrowError> {
    let mut offsets = vec![0i32];
    let mut keys: Vec<Value> = Vec::new();
    let mut vals: Vec<&Value> = Vec::new();
    for v in values {
        if let Some(Value::Map(m)) = v {
            // Sorted by key, so the same map always reads the same.
            let mut pairs: Vec<(&MapKey, &Value)> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in pairs {
                keys.push(key_value(k));
                vals.push(v);
            }
        }
        offsets.push(i32::try_from(keys.len()).map_err(|_| too_many())?);
    }
    let key_refs: Vec<Option<&Value>> = keys.iter().map(Some).collect();
    let val_refs: Vec<Option<&Value>> = vals.into_iter().map(Some).collect();
    let key_col = kind_column(&entry.map_entry_key_field().kind(), &key_refs, stack)?;
    let val_col = kind_column(&entry.map_entry_value_field().kind(), &val_refs, stack)?;
    let DataType::Map(field, _) =
        map_type(key_col.data_type().clone(), val_col.data_type().clone())
    else {
        return Err(ArrowError::SchemaError("internal: not a map".into()));
    };
    let DataType::Struct(entry_fields) = field.data_type().clone() else {
        return Err(ArrowError::SchemaError("internal: not a struct".into()));
    };
    let entries = StructArray::try_new(entry_fields, vec![key_col, val_col], None)?;
    Ok(Arc::new(MapArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        entries,
        nulls(values),
        false,
    )?))
}

fn key_value(k: &MapKey) -> Value {
    match k {
        MapKey::Bool(b) => Value::Bool(*b),
        MapKey::I32(n) => Value::I32(*n),
        MapKey::I64(n) => Value::I64(*n),
        MapKey::U32(n) => Value::U32(*n),
        MapKey::U64(n) => Value::U64(*n),
        MapKey::String(s) => Value::String(s.clone()),
    }
}

fn too_many() -> ArrowError {
    ArrowError::ComputeError("more than 2^31 repeated values in one micro-batch".into())
}

fn nulls(values: &[Option<&Value>]) -> Option<NullBuffer> {
    let n = NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<_>>());
    (n.null_count() > 0).then_some(n)
}

/// A singular value's column.
fn kind_column(
    k: &Kind,
    values: &[Option<&Value>],
    stack: &mut Vec<String>,
) -> Result<ArrayRef, ArrowError> {
    macro_rules! scalar {
        ($builder:ty, $($pat:pat => $val:expr),+) => {{
            let mut b = <$builder>::with_capacity(values.len());
            for v in values {
                match v {
                    $(Some($pat) => b.append_value($val),)+
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }};
    }
    match k {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => scalar!(Int32Builder, Value::I32(n) => *n),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => {
            scalar!(Int64Builder, Value::I64(n) => *n, Value::U32(n) => i64::from(*n))
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let mut b = Decimal128Builder::with_capacity(values.len());
            for v in values {
                match v {
                    Some(Value::U64(n)) => b.append_value(i128::from(*n)),
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish().with_precision_and_scale(20, 0)?))
        }
        Kind::Float => scalar!(Float32Builder, Value::F32(x) => *x),
        Kind::Double => scalar!(Float64Builder, Value::F64(x) => *x),
        Kind::Bool => scalar!(BooleanBuilder, Value::Bool(x) => *x),
        Kind::String => {
            let mut b = StringBuilder::with_capacity(values.len(), 0);
            for v in values {
                match v {
                    Some(Value::String(x)) => b.append_value(x),
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        Kind::Bytes => {
            let mut b = BinaryBuilder::with_capacity(values.len(), 0);
            for v in values {
                match v {
                    Some(Value::Bytes(x)) => b.append_value(x),
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        Kind::Enum(e) => {
            let mut b = StringBuilder::with_capacity(values.len(), 0);
            for v in values {
                match v {
                    Some(Value::EnumNumber(n)) => match e.get_value(*n) {
                        Some(ev) => b.append_value(ev.name()),
                        None => b.append_value(n.to_string()),
                    },
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        Kind::Message(m) => message_column(m, values, stack),
    }
}

fn message_column(
    m: &MessageDescriptor,
    values: &[Option<&Value>],
    stack: &mut Vec<String>,
) -> Result<ArrayRef, ArrowError> {
    let messages: Vec<Option<&DynamicMessage>> = values
        .iter()
        .map(|v| match v {
            Some(Value::Message(x)) => Some(x),
            _ => None,
        })
        .collect();
    match shape(m, stack) {
        Shape::Timestamp | Shape::Duration => {
            let micros = messages.iter().map(|x| {
                x.map(|x| {
                    let secs = x
                        .get_field_by_number(1)
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0);
                    let nanos = x
                        .get_field_by_number(2)
                        .and_then(|v| v.as_i32())
                        .unwrap_or(0);
                    secs.saturating_mul(1_000_000)
                        .saturating_add(i64::from(nanos) / 1000)
                })
            });
            if matches!(shape(m, stack), Shape::Duration) {
                Ok(Arc::new(micros.collect::<arrow::array::Int64Array>()))
            } else {
                let mut b = TimestampMicrosecondBuilder::with_capacity(values.len());
                micros.for_each(|v| b.append_option(v));
                Ok(Arc::new(b.finish().with_timezone("UTC")))
            }
        }
        Shape::Wrapper => {
            let Some(inner) = m.get_field(1) else {
                return Ok(new_null_array(&DataType::Utf8, values.len()));
            };
            let owned: Vec<Option<Cow<'_, Value>>> = messages
                .iter()
                .map(|x| x.map(|x| x.get_field(&inner)))
                .collect();
            let refs: Vec<Option<&Value>> = owned.iter().map(|v| v.as_deref()).collect();
            kind_column(&inner.kind(), &refs, stack)
        }
        Shape::Json => {
            let mut b = StringBuilder::with_capacity(values.len(), 0);
            for x in &messages {
                match x {
                    Some(x) => b.append_value(
                        serde_json::to_string(x)
                            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
                    ),
                    None => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        Shape::Struct => {
            stack.push(m.full_name().to_string());
            let mut fields: Vec<FieldRef> = Vec::new();
            let mut columns = Vec::new();
            for f in m.fields() {
                let c = field_column(&f, &messages, stack)?;
                fields.push(Arc::new(Field::new(f.name(), c.data_type().clone(), true)));
                columns.push(c);
            }
            stack.pop();
            let n = NullBuffer::from(messages.iter().map(Option::is_some).collect::<Vec<_>>());
            Ok(Arc::new(StructArray::try_new(
                Fields::from(fields),
                columns,
                (n.null_count() > 0).then_some(n),
            )?))
        }
    }
}
