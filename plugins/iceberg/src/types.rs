//! The Arrow types a batch may carry, as the Arrow types an Iceberg table holds. Iceberg's
//! types are boolean, int, long, float, double, decimal(p, s), date, time, timestamp,
//! timestamptz, string, fixed(n), binary, struct, list and map (table format v2); the
//! [`held`] form of a column is the Arrow type iceberg-rust reads and writes for it, so a
//! batch cast to it writes without surprises. At any depth:
//!
//! | Arrow | Iceberg column |
//! |---|---|
//! | int8, int16, int32, uint8, uint16 | int |
//! | int64, uint32 | long |
//! | uint64 | decimal(20, 0) |
//! | float16, float32 | float |
//! | float64 | double |
//! | decimal32/64/128(p, s), decimal256 with p <= 38 | decimal(p, s) |
//! | date32, date64 | date |
//! | time32, time64 | time (microseconds) |
//! | timestamp without a zone, any unit | timestamp (microseconds) |
//! | timestamp with a zone, any unit | timestamptz (microseconds, UTC) |
//! | duration | long, microseconds |
//! | utf8, large and view kinds | string |
//! | binary, large and view kinds | binary |
//! | fixed-size binary(n) | fixed(n) |
//! | struct, list kinds, map | struct, list, map (every field optional but map keys) |
//! | dictionary | its values' type |
//!
//! Nanosecond timestamps lose their last three digits (format v2 holds microseconds). A column
//! of nulls only is left out until a value appears; intervals and unions are refused with the
//! column's name.

use std::sync::Arc;
use weir_sdk::arrow::array::ArrayRef;
use weir_sdk::arrow::compute::kernels::cast::cast;
use weir_sdk::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};

/// The zone iceberg-rust gives `timestamptz` columns.
const UTC: &str = "+00:00";

/// The Arrow type an Iceberg table holds `t` as (the table above), or why it holds none.
pub(crate) fn held(t: &DataType) -> Result<DataType, String> {
    use DataType::*;
    Ok(match t {
        Boolean => Boolean,
        Int8 | Int16 | Int32 | UInt8 | UInt16 => Int32,
        Int64 | UInt32 | Duration(_) => Int64,
        UInt64 => Decimal128(20, 0),
        Float16 | Float32 => Float32,
        Float64 => Float64,
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) => Decimal128(*p, *s),
        Decimal256(p, s) if *p <= 38 => Decimal128(*p, *s),
        Date32 | Date64 => Date32,
        Time32(_) | Time64(_) => Time64(TimeUnit::Microsecond),
        Timestamp(_, None) => Timestamp(TimeUnit::Microsecond, None),
        Timestamp(_, Some(_)) => Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => LargeBinary,
        FixedSizeBinary(n) => FixedSizeBinary(*n),
        Struct(fields) => Struct(
            fields
                .iter()
                .map(|f| held_field(f, true))
                .collect::<Result<Fields, String>>()?,
        ),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            List(held_field(f, true)?)
        }
        Map(entries, sorted) => {
            let Struct(kv) = entries.data_type() else {
                return Err(format!("a map whose entries are {}", entries.data_type()));
            };
            let [k, v] = kv.iter().collect::<Vec<_>>()[..] else {
                return Err("a map whose entries are not key and value".into());
            };
            let kv = Fields::from(vec![held_field(k, false)?, held_field(v, true)?]);
            Map(
                Arc::new(Field::new(entries.name(), Struct(kv), false)),
                *sorted,
            )
        }
        Dictionary(_, values) => held(values)?,
        other => return Err(format!("Iceberg has no type for {other}")),
    })
}

fn held_field(f: &FieldRef, nullable: bool) -> Result<FieldRef, String> {
    Ok(Arc::new(
        Field::new(f.name(), held(f.data_type())?, nullable).with_metadata(f.metadata().clone()),
    ))
}

/// `t` with durations and times of day in microseconds, so the cast to [`held`] scales them.
fn in_micros(t: &DataType) -> DataType {
    use DataType::*;
    let field = |f: &FieldRef| -> FieldRef {
        Arc::new(f.as_ref().clone().with_data_type(in_micros(f.data_type())))
    };
    match t {
        Duration(_) => Duration(TimeUnit::Microsecond),
        Struct(fields) => Struct(fields.iter().map(field).collect::<Fields>()),
        List(f) => List(field(f)),
        LargeList(f) => LargeList(field(f)),
        ListView(f) => ListView(field(f)),
        LargeListView(f) => LargeListView(field(f)),
        FixedSizeList(f, n) => FixedSizeList(field(f), *n),
        Map(f, sorted) => Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// `column` cast to `to` (its [`held`] type, or the table's form of it).
pub(crate) fn cast_to(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    if column.data_type() == to {
        return Ok(column.clone());
    }
    let micros = in_micros(column.data_type());
    let column = if &micros == column.data_type() {
        column.clone()
    } else {
        cast(column, &micros).map_err(|e| e.to_string())?
    };
    cast(&column, to).map_err(|e| e.to_string())
}

/// Whether two held types are the same apart from field names, metadata and nullability.
pub(crate) fn same(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    match (a, b) {
        (Struct(x), Struct(y)) => {
            x.len() == y.len()
                && x.iter().all(|f| {
                    y.iter()
                        .find(|g| g.name() == f.name())
                        .is_some_and(|g| same(f.data_type(), g.data_type()))
                })
        }
        (List(x), List(y)) => same(x.data_type(), y.data_type()),
        // Map entries are matched by position: writers name them differently.
        (Map(x, o), Map(y, p)) => match (x.data_type(), y.data_type()) {
            (Struct(a), Struct(b)) if a.len() == 2 && b.len() == 2 && o == p => {
                same(a[0].data_type(), b[0].data_type()) && same(a[1].data_type(), b[1].data_type())
            }
            _ => false,
        },
        (Timestamp(u, z), Timestamp(v, w)) => u == v && z.is_some() == w.is_some(),
        _ => a == b,
    }
}

/// Whether a value of held type `from` goes into a column of held type `to` without loss of
/// meaning, by a value cast: narrower integers into long, integers and float into double, a
/// decimal into a wider one of the same scale.
pub(crate) fn fits(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    same(from, to)
        || matches!(
            (from, to),
            (Int32, Int64) | (Int32 | Int64 | Float32, Float64)
        )
        || matches!((from, to), (Decimal128(p, s), Decimal128(q, t)) if s == t && q >= p)
}

/// Whether Iceberg allows a column of held type `table` to be promoted to hold `batch`
/// values, keeping its field id: int to long, float to double, a decimal's precision widened.
pub(crate) fn promotes(table: &DataType, batch: &DataType) -> bool {
    use DataType::*;
    matches!((table, batch), (Int32, Int64) | (Float32, Float64))
        || matches!((table, batch), (Decimal128(p, s), Decimal128(q, t)) if s == t && q > p)
}

/// The type name table metadata gives a promoted column (`long`, `double`, `decimal(P, S)`).
pub(crate) fn promoted_name(t: &DataType) -> Option<String> {
    match t {
        DataType::Int64 => Some("long".into()),
        DataType::Float64 => Some("double".into()),
        DataType::Decimal128(p, s) => Some(format!("decimal({p}, {s})")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{
        AsArray, DurationNanosecondArray, Float32Array, Time32MillisecondArray,
        TimestampNanosecondArray, UInt64Array,
    };
    use weir_sdk::arrow::datatypes::{Decimal128Type, Int64Type};

    #[test]
    fn values_keep_their_meaning_in_the_held_type() {
        let u: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX]));
        let c = cast_to(&u, &held(u.data_type()).unwrap()).unwrap();
        assert_eq!(
            c.as_primitive::<Decimal128Type>().value(0),
            u64::MAX as i128
        );
        let d: ArrayRef = Arc::new(DurationNanosecondArray::from(vec![5_000]));
        let c = cast_to(&d, &held(d.data_type()).unwrap()).unwrap();
        assert_eq!(c.as_primitive::<Int64Type>().value(0), 5);
        let t: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![1_500]));
        let c = cast_to(&t, &held(t.data_type()).unwrap()).unwrap();
        assert_eq!(c.data_type(), &DataType::Time64(TimeUnit::Microsecond));
        assert_eq!(
            c.as_primitive::<weir_sdk::arrow::datatypes::Time64MicrosecondType>()
                .value(0),
            1_500_000
        );
        let ts: ArrayRef =
            Arc::new(TimestampNanosecondArray::from(vec![1_234_567]).with_timezone("UTC"));
        let h = held(ts.data_type()).unwrap();
        assert_eq!(
            h,
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
        );
        assert_eq!(
            cast_to(&ts, &h)
                .unwrap()
                .as_primitive::<weir_sdk::arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            1_234
        );
        let f: ArrayRef = Arc::new(Float32Array::from(vec![1.5]));
        assert!(fits(&held(f.data_type()).unwrap(), &DataType::Float64));
        assert!(!fits(&DataType::Float64, &DataType::Int64));
        assert!(promotes(&DataType::Int32, &DataType::Int64));
        assert!(!promotes(&DataType::Int64, &DataType::Int32));
        assert_eq!(
            promoted_name(&DataType::Decimal128(12, 2)).as_deref(),
            Some("decimal(12, 2)")
        );
        assert!(held(&DataType::Interval(
            weir_sdk::arrow::datatypes::IntervalUnit::DayTime
        ))
        .is_err());
    }
}
