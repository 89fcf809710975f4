//! The Arrow types Delta Lake has no type for, written as ones it has. Delta's types are
//! signed integers, float, double, decimal, boolean, string, binary, date, timestamp (UTC or
//! local), struct, array and map; a batch holding anything else would fail the table's
//! creation or its commit, and the pipeline would stall on it. So before a batch meets the
//! table, at any depth:
//!
//! | Arrow | Delta column |
//! |---|---|
//! | uint8, uint16, uint32 | the next wider signed integer (short, integer, long) |
//! | uint64 | decimal(20, 0) |
//! | float16 | float |
//! | time32, time64 (time of day: Avro time-millis/micros, the `time` type hint) | string `HH:MM:SS.ffffff` |
//! | duration | long, microseconds |
//! | large and view kinds of string, binary and list | string, binary, array |
//!
//! Everything else passes as it is.

use deltalake::arrow::array::ArrayRef;
use deltalake::arrow::compute::kernels::cast::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// The type a Delta table holds `t` as (the table above).
pub(crate) fn delta_type(t: &DataType) -> DataType {
    use DataType::*;
    match t {
        UInt8 => Int16,
        UInt16 => Int32,
        UInt32 => Int64,
        UInt64 => Decimal128(20, 0),
        Float16 => Float32,
        Time32(_) | Time64(_) => Utf8,
        Duration(_) => Int64,
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView => Binary,
        Struct(fields) => Struct(fields.iter().map(delta_field).collect::<Fields>()),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) => List(delta_field(f)),
        FixedSizeList(f, _) => List(delta_field(f)),
        Map(f, sorted) => Map(delta_field(f), *sorted),
        other => other.clone(),
    }
}

fn delta_field(f: &FieldRef) -> FieldRef {
    Arc::new(f.as_ref().clone().with_data_type(delta_type(f.data_type())))
}

/// `t` with its durations in microseconds and its times of day in microseconds, so that the
/// cast to [`delta_type`] gives microseconds and one text form.
fn in_micros(t: &DataType) -> DataType {
    use DataType::*;
    let field = |f: &FieldRef| -> FieldRef {
        Arc::new(f.as_ref().clone().with_data_type(in_micros(f.data_type())))
    };
    match t {
        Duration(_) => Duration(TimeUnit::Microsecond),
        Time32(_) | Time64(_) => Time64(TimeUnit::Microsecond),
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

/// `batch` with every column in a type Delta holds; the batch itself when it already is.
pub(crate) fn held(batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    if schema
        .fields()
        .iter()
        .all(|f| delta_type(f.data_type()) == *f.data_type())
    {
        return Ok(batch);
    }
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let want = delta_type(f.data_type());
        let col = if want == *f.data_type() {
            c.clone()
        } else {
            let micros = in_micros(f.data_type());
            let c = if micros == *f.data_type() {
                c.clone()
            } else {
                cast(c, &micros).map_err(|e| format!("column `{}`: {e}", f.name()))?
            };
            cast(&c, &want).map_err(|e| {
                format!(
                    "column `{}`: Delta has no {} type and the cast to {want} failed: {e}",
                    f.name(),
                    f.data_type()
                )
            })?
        };
        fields.push(f.as_ref().clone().with_data_type(want));
        columns.push(col);
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{
        Array, AsArray, DurationNanosecondArray, Float32Array, ListArray, StructArray,
        Time32MillisecondArray, Time64MicrosecondArray, UInt32Array, UInt64Array,
    };
    use deltalake::arrow::datatypes::{Decimal128Type, Int64Type};

    #[test]
    fn types_delta_lacks_become_ones_it_holds_with_their_values() {
        let times = Time32MillisecondArray::from(vec![Some(3_723_004), None]);
        let nested = StructArray::from(vec![(
            Arc::new(Field::new(
                "t",
                DataType::Time32(TimeUnit::Millisecond),
                true,
            )),
            Arc::new(times.clone()) as ArrayRef,
        )]);
        let list =
            ListArray::from_iter_primitive::<deltalake::arrow::datatypes::UInt32Type, _, _>(vec![
                Some(vec![Some(7u32)]),
                None,
            ]);
        let batch = RecordBatch::try_from_iter([
            (
                "u64",
                Arc::new(UInt64Array::from(vec![u64::MAX, 1])) as ArrayRef,
            ),
            ("u32", Arc::new(UInt32Array::from(vec![u32::MAX, 2]))),
            (
                "f16",
                cast(&Float32Array::from(vec![1.5, -2.0]), &DataType::Float16).unwrap(),
            ),
            (
                "tod",
                Arc::new(Time64MicrosecondArray::from(vec![3_600_000_123, 0])),
            ),
            (
                "dur",
                Arc::new(DurationNanosecondArray::from(vec![5_000, -3_000])),
            ),
            ("nested", Arc::new(nested)),
            ("list", Arc::new(list)),
        ])
        .unwrap();
        let out = held(batch).unwrap();
        let col = |n: &str| out.column_by_name(n).unwrap().clone();
        let u64s = col("u64");
        let u64s = u64s.as_primitive::<Decimal128Type>();
        assert_eq!(u64s.value(0), u64::MAX as i128);
        assert_eq!(
            col("u32").as_primitive::<Int64Type>().value(0),
            4_294_967_295
        );
        assert_eq!(col("f16").data_type(), &DataType::Float32);
        assert_eq!(col("tod").as_string::<i32>().value(0), "01:00:00.000123");
        assert_eq!(col("dur").as_primitive::<Int64Type>().values(), &[5, -3]);
        let nested = col("nested");
        let t = nested.as_struct().column(0).as_string::<i32>().clone();
        assert_eq!(t.value(0), "01:02:03.004");
        assert!(t.is_null(1));
        let list = col("list");
        let items = list.as_list::<i32>().values().clone();
        assert_eq!(items.data_type(), &DataType::Int64);
        for f in out.schema().fields() {
            assert_eq!(&delta_type(f.data_type()), f.data_type(), "{f}");
        }
    }

    #[test]
    fn a_batch_delta_holds_passes_unchanged() {
        let batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(deltalake::arrow::array::Int64Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        let out = held(batch.clone()).unwrap();
        assert_eq!(out, batch);
    }
}
