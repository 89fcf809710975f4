//! PostgreSQL's binary `COPY` format, written straight from Arrow columns: no per-value
//! `ToSql` dispatch and no text formatting except for decimals (sent as text, cast by the
//! server) and nested values (JSON text in `jsonb`).
//!
//! Format: the signature `PGCOPY\n\xff\r\n\0`, flags and header-extension length (both 0);
//! per row the field count (i16) and per field its length (i32, -1 for NULL) and bytes, in
//! network order; the trailer -1 (i16).

use crate::types::Wire;
use std::sync::Arc;
use weir_sdk::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, StringArray, Time64MicrosecondArray,
};
use weir_sdk::arrow::compute::cast;
use weir_sdk::arrow::datatypes::{DataType, Field, FieldRef, TimestampMicrosecondType};
use weir_sdk::arrow::json::writer::{make_encoder, EncoderOptions, NullableEncoder};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One column to encode: its values cast to the wire's Arrow type.
pub(crate) struct Column {
    pub(crate) wire: Wire,
    pub(crate) values: ArrayRef,
}

impl Column {
    /// `values` cast to what `wire` encodes from (`target` from [`Wire::of`]).
    pub(crate) fn new(wire: Wire, values: &ArrayRef, target: &DataType) -> Result<Self, String> {
        let values = if values.data_type() == target {
            values.clone()
        } else {
            cast(values, target)
                .map_err(|e| format!("cannot convert {} to {target}: {e}", values.data_type()))?
        };
        Ok(Self { wire, values })
    }
}

/// A column ready to write values from.
enum Writer<'a> {
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Text(&'a StringArray),
    Bytes(&'a BinaryArray),
    Date(&'a Date32Array),
    Time(&'a Time64MicrosecondArray),
    Ts(&'a weir_sdk::arrow::array::PrimitiveArray<TimestampMicrosecondType>),
    Json(NullableEncoder<'a>, Vec<u8>),
}

fn writer<'a>(
    c: &'a Column,
    field: &'a FieldRef,
    options: &'a EncoderOptions,
) -> Result<Writer<'a>, String> {
    let v = c.values.as_ref();
    let wrong = || format!("internal: a {} column for {:?}", v.data_type(), c.wire);
    Ok(match c.wire {
        Wire::Int2 => Writer::I16(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Int4 => Writer::I32(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Int8 => Writer::I64(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Float4 => Writer::F32(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Float8 => Writer::F64(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Bool => Writer::Bool(v.as_boolean_opt().ok_or_else(wrong)?),
        Wire::Text | Wire::Numeric => Writer::Text(v.as_string_opt().ok_or_else(wrong)?),
        Wire::Bytea => Writer::Bytes(v.as_binary_opt().ok_or_else(wrong)?),
        Wire::Date => Writer::Date(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Time => Writer::Time(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Timestamp | Wire::Timestamptz => Writer::Ts(v.as_primitive_opt().ok_or_else(wrong)?),
        Wire::Jsonb => Writer::Json(
            make_encoder(field, v, options).map_err(|e| format!("cannot write JSON: {e}"))?,
            Vec::new(),
        ),
    })
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl Writer<'_> {
    fn is_null(&self, row: usize) -> bool {
        match self {
            Writer::I16(a) => a.is_null(row),
            Writer::I32(a) => a.is_null(row),
            Writer::I64(a) => a.is_null(row),
            Writer::F32(a) => a.is_null(row),
            Writer::F64(a) => a.is_null(row),
            Writer::Bool(a) => a.is_null(row),
            Writer::Text(a) => a.is_null(row),
            Writer::Bytes(a) => a.is_null(row),
            Writer::Date(a) => a.is_null(row),
            Writer::Time(a) => a.is_null(row),
            Writer::Ts(a) => a.is_null(row),
            Writer::Json(e, _) => e.is_null(row),
        }
    }

    fn write(&mut self, row: usize, out: &mut Vec<u8>) {
        if self.is_null(row) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        }
        match self {
            Writer::I16(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::I32(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::I64(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::F32(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::F64(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::Bool(a) => field(out, &[u8::from(a.value(row))]),
            Writer::Text(a) => field(out, a.value(row).as_bytes()),
            Writer::Bytes(a) => field(out, a.value(row)),
            Writer::Date(a) => field(out, &(a.value(row) - PG_EPOCH_DAYS).to_be_bytes()),
            Writer::Time(a) => field(out, &a.value(row).to_be_bytes()),
            Writer::Ts(a) => field(out, &(a.value(row) - PG_EPOCH_MICROS).to_be_bytes()),
            Writer::Json(e, buf) => {
                buf.clear();
                // jsonb's binary form: version 1, then the JSON text.
                buf.push(1);
                e.encode(row, buf);
                field(out, buf);
            }
        }
    }
}

/// The fields the JSON encoders of `columns` need (one per column; see [`Encoder::new`]).
pub(crate) fn fields(columns: &[Column]) -> Vec<FieldRef> {
    columns
        .iter()
        .map(|c| Arc::new(Field::new("v", c.values.data_type().clone(), true)))
        .collect()
}

/// The COPY stream of `columns` (all of `rows` values), plus the row's index as a trailing
/// `bigint` when `with_ordinal` (the staging table's `_weir_ord`, for "last row per key
/// wins"), handed out a chunk at a time so the server parses one while the next is encoded.
pub(crate) struct Encoder<'a> {
    writers: Vec<Writer<'a>>,
    count: i16,
    with_ordinal: bool,
    rows: usize,
    row: usize,
    started: bool,
    done: bool,
}

impl<'a> Encoder<'a> {
    /// An encoder; `fields` from [`fields`] of the same columns, `options` the JSON
    /// encoders' options.
    pub(crate) fn new(
        columns: &'a [Column],
        fields: &'a [FieldRef],
        options: &'a EncoderOptions,
        rows: usize,
        with_ordinal: bool,
    ) -> Result<Self, String> {
        let writers = columns
            .iter()
            .zip(fields)
            .map(|(c, f)| writer(c, f, options))
            .collect::<Result<Vec<_>, _>>()?;
        let count = i16::try_from(writers.len() + usize::from(with_ordinal))
            .map_err(|_| "more than 32767 columns".to_string())?;
        Ok(Self {
            writers,
            count,
            with_ordinal,
            rows,
            row: 0,
            started: false,
            done: false,
        })
    }

    /// The next chunk of about `chunk` bytes (whole rows), the trailer in the last; `None`
    /// after that.
    pub(crate) fn next_chunk(&mut self, chunk: usize) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let mut out = Vec::with_capacity(chunk + 1024);
        if !self.started {
            self.started = true;
            out.extend_from_slice(SIGNATURE);
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&0i32.to_be_bytes());
        }
        while self.row < self.rows && out.len() < chunk {
            out.extend_from_slice(&self.count.to_be_bytes());
            for w in &mut self.writers {
                w.write(self.row, &mut out);
            }
            if self.with_ordinal {
                field(&mut out, &(self.row as i64).to_be_bytes());
            }
            self.row += 1;
        }
        if self.row == self.rows {
            out.extend_from_slice(&(-1i16).to_be_bytes());
            self.done = true;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{StructArray, TimestampMicrosecondArray};

    fn bytes(columns: &[Column], rows: usize, ord: bool) -> Vec<u8> {
        let (f, o) = (fields(columns), EncoderOptions::default());
        let mut enc = Encoder::new(columns, &f, &o, rows, ord).unwrap();
        let mut all = Vec::new();
        while let Some(c) = enc.next_chunk(8) {
            all.extend(c);
        }
        all
    }

    #[test]
    fn writes_the_binary_format() {
        let ids: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("bc")]));
        let cols = [
            Column::new(Wire::Int8, &ids, &DataType::Int64).unwrap(),
            Column::new(Wire::Text, &names, &DataType::Utf8).unwrap(),
        ];
        let b = bytes(&cols, 2, true);
        let mut want = SIGNATURE.to_vec();
        want.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        // Row 0: 3 fields; 1 as int8; "a"; ordinal 0.
        want.extend([0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, b'a']);
        want.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Row 1: NULL; "bc"; ordinal 1.
        want.extend([0, 3, 255, 255, 255, 255, 0, 0, 0, 2, b'b', b'c']);
        want.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend([255, 255]);
        assert_eq!(b, want);
    }

    #[test]
    fn timestamps_count_from_2000_and_objects_are_jsonb() {
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![PG_EPOCH_MICROS + 5]));
        let obj: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        )]));
        let cols = [
            Column::new(Wire::Timestamp, &ts, ts.data_type()).unwrap(),
            Column::new(Wire::Jsonb, &obj, obj.data_type()).unwrap(),
        ];
        let b = bytes(&cols, 1, false);
        let row = &b[19..];
        assert_eq!(&row[..2], &[0, 2]);
        assert_eq!(&row[2..6], &[0, 0, 0, 8]);
        assert_eq!(i64::from_be_bytes(row[6..14].try_into().unwrap()), 5);
        let json = br#"{"x":7}"#;
        assert_eq!(&row[14..18], &((json.len() + 1) as i32).to_be_bytes());
        assert_eq!(row[18], 1);
        assert_eq!(&row[19..19 + json.len()], json);
    }
}
