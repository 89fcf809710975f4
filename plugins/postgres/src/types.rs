//! Arrow types to PostgreSQL types: the type a new column is created with, and how its values
//! travel in binary `COPY` (the wire type).
//!
//! | Arrow | column created as | on the wire |
//! |---|---|---|
//! | Int8, Int16, UInt8 | `smallint` | int2 |
//! | Int32, UInt16 | `integer` | int4 |
//! | Int64, UInt32, Duration | `bigint` | int8 |
//! | UInt64 | `numeric(20,0)` | text, cast |
//! | Float16, Float32 | `real` | float4 |
//! | Float64 | `double precision` | float8 |
//! | Boolean | `boolean` | bool |
//! | Utf8, LargeUtf8, Utf8View | `text` | text |
//! | Binary kinds, FixedSizeBinary | `bytea` | bytea |
//! | Date32, Date64 | `date` | date |
//! | Time32, Time64 | `time` | time (microseconds) |
//! | Timestamp with a zone | `timestamptz` | microseconds |
//! | Timestamp without | `timestamp` | microseconds |
//! | Decimal(p, s) | `numeric(p,s)` | text, cast |
//! | Struct, List, Map | `jsonb` | jsonb |
//! | Dictionary | as its values | as its values |
//!
//! A column of nulls only (Arrow `Null`) is left out until a value appears, as the Delta sink
//! does.

use weir_sdk::arrow::datatypes::{DataType, TimeUnit};

/// How one column's values are encoded in binary COPY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    /// Decimal digits as text, cast to `numeric` by the server.
    Numeric,
    Jsonb,
}

impl Wire {
    /// The wire type of an Arrow type, and the Arrow type the column is cast to before
    /// encoding; `None` for `Null` (a column left out).
    pub(crate) fn of(t: &DataType) -> Result<Option<(Wire, DataType)>, String> {
        use DataType::*;
        let w = match t {
            Null => return Ok(None),
            Int8 | Int16 | UInt8 => (Wire::Int2, Int16),
            Int32 | UInt16 => (Wire::Int4, Int32),
            Int64 | UInt32 | Duration(_) => (Wire::Int8, Int64),
            UInt64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
                (Wire::Numeric, Utf8)
            }
            Float16 | Float32 => (Wire::Float4, Float32),
            Float64 => (Wire::Float8, Float64),
            Boolean => (Wire::Bool, Boolean),
            Utf8 | LargeUtf8 | Utf8View => (Wire::Text, Utf8),
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => (Wire::Bytea, Binary),
            Date32 | Date64 => (Wire::Date, Date32),
            Time32(_) | Time64(_) => (Wire::Time, Time64(TimeUnit::Microsecond)),
            Timestamp(_, None) => (Wire::Timestamp, Timestamp(TimeUnit::Microsecond, None)),
            Timestamp(_, Some(tz)) => (
                Wire::Timestamptz,
                Timestamp(TimeUnit::Microsecond, Some(tz.clone())),
            ),
            Struct(_) | List(_) | LargeList(_) | FixedSizeList(..) | ListView(_)
            | LargeListView(_) | Map(..) => (Wire::Jsonb, t.clone()),
            Dictionary(_, v) => return Wire::of(v),
            other => return Err(format!("Arrow type {other} has no PostgreSQL mapping")),
        };
        Ok(Some(w))
    }

    /// The type of a staging column holding these values.
    pub(crate) fn staging_type(self) -> &'static str {
        match self {
            Wire::Int2 => "smallint",
            Wire::Int4 => "integer",
            Wire::Int8 => "bigint",
            Wire::Float4 => "real",
            Wire::Float8 => "double precision",
            Wire::Bool => "boolean",
            Wire::Text | Wire::Numeric => "text",
            Wire::Bytea => "bytea",
            Wire::Date => "date",
            Wire::Time => "time without time zone",
            Wire::Timestamp => "timestamp without time zone",
            Wire::Timestamptz => "timestamp with time zone",
            Wire::Jsonb => "jsonb",
        }
    }

    /// The suffix of the variant column for values of this kind (`<col>__v_<suffix>`), the
    /// names the Delta sink uses.
    pub(crate) fn variant_suffix(self) -> &'static str {
        match self {
            Wire::Int2 | Wire::Int4 | Wire::Int8 => "bigint",
            Wire::Float4 | Wire::Float8 => "double",
            Wire::Bool => "bool",
            Wire::Text => "text",
            Wire::Bytea => "binary",
            Wire::Date => "date",
            Wire::Time => "time",
            Wire::Timestamp | Wire::Timestamptz => "timestamp",
            Wire::Numeric => "decimal",
            Wire::Jsonb => "json",
        }
    }
}

/// The type a new column for values of Arrow type `t` is created with (in PostgreSQL's own
/// spelling, as `format_type` prints it).
pub(crate) fn column_type(t: &DataType, wire: Wire) -> String {
    match t {
        DataType::Dictionary(_, v) => column_type(v, wire),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        _ => wire.staging_type().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use weir_sdk::arrow::datatypes::Field;

    #[test]
    fn maps_as_the_readme_says() {
        let cases = [
            (DataType::Int8, "smallint"),
            (DataType::UInt16, "integer"),
            (DataType::UInt32, "bigint"),
            (DataType::UInt64, "numeric(20,0)"),
            (DataType::Float32, "real"),
            (DataType::Utf8View, "text"),
            (DataType::Decimal128(12, 2), "numeric(12,2)"),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                "timestamp with time zone",
            ),
            (
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                "jsonb",
            ),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                "text",
            ),
        ];
        for (t, pg) in cases {
            let (wire, _) = Wire::of(&t).unwrap().unwrap();
            assert_eq!(column_type(&t, wire), pg, "{t}");
        }
        assert_eq!(Wire::of(&DataType::Null).unwrap(), None);
        assert!(Wire::of(&DataType::Interval(
            weir_sdk::arrow::datatypes::IntervalUnit::DayTime
        ))
        .is_err());
    }
}
