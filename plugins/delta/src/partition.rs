//! `partition_by` in the Nilus list form, and the partition columns it adds to each batch.
//!
//! Delta partitions by whole columns, so a transform becomes a column of its own, named by the
//! item's `name` and computed from `column` before each write: `identity` copies the column
//! (or partitions on it directly when `name` equals `column`), `year` is an int32,
//! `month` a `YYYY-MM` string, `day` a date, `hour` a `YYYY-MM-DD-HH` string (UTC).
//! A missing source column gives a null partition value.

use deltalake::arrow::array::{Array, ArrayRef, Int32Array, StringBuilder};
use deltalake::arrow::compute::kernels::cast::cast;
use deltalake::arrow::compute::kernels::temporal::{date_part, DatePart};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use serde_json::Value;
use std::sync::Arc;

/// A partition transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transform {
    Identity,
    Year,
    Month,
    Day,
    Hour,
}

/// One `partition_by` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionField {
    pub(crate) column: String,
    pub(crate) transform: Transform,
    pub(crate) name: String,
    pub(crate) index: i64,
}

/// Parses the list, sorted by `index`.
pub(crate) fn parse(v: &Value) -> Result<Vec<PartitionField>, String> {
    let items = v
        .as_array()
        .ok_or("must be a list of {column, type, name, index}")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("item {}", i + 1);
        let obj = item.as_object().ok_or(format!(
            "{at} must be an object with column, type, name, index"
        ))?;
        let text = |k: &str| -> Result<String, String> {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .ok_or(format!("{at}: `{k}` is required (a string)"))
        };
        for k in obj.keys() {
            if !["column", "type", "name", "index", "bucket_count"].contains(&k.as_str()) {
                return Err(format!(
                    "{at}: unknown key `{k}` (known: column, type, name, index)"
                ));
            }
        }
        let column = text("column")?;
        let name = text("name")?;
        let transform = match text("type")?.to_ascii_lowercase().as_str() {
            "identity" => Transform::Identity,
            "year" => Transform::Year,
            "month" => Transform::Month,
            "day" => Transform::Day,
            "hour" => Transform::Hour,
            "bucket" => return Err(format!(
                "{at}: `bucket` partitions are an Iceberg transform that Delta tables do not have; use identity on a column of your own"
            )),
            other => return Err(format!(
                "{at}: type `{other}` is not one of identity, year, month, day, hour"
            )),
        };
        let index = obj
            .get("index")
            .and_then(Value::as_i64)
            .ok_or(format!("{at}: `index` is required (a whole number)"))?;
        if transform != Transform::Identity && name == column {
            return Err(format!(
                "{at}: name `{name}` must differ from the column it is computed from"
            ));
        }
        out.push(PartitionField {
            column,
            transform,
            name,
            index,
        });
    }
    out.sort_by_key(|p| p.index);
    for w in out.windows(2) {
        if w[0].name == w[1].name {
            return Err(format!("partition name `{}` appears twice", w[0].name));
        }
    }
    Ok(out)
}

/// The partition columns' names, in order.
pub(crate) fn names(fields: &[PartitionField]) -> Vec<String> {
    fields.iter().map(|p| p.name.clone()).collect()
}

/// Adds (or replaces) the computed partition columns.
pub(crate) fn add_columns(
    batch: RecordBatch,
    fields: &[PartitionField],
) -> Result<RecordBatch, String> {
    let mut batch = batch;
    for p in fields {
        if p.transform == Transform::Identity && p.name == p.column {
            continue;
        }
        let source = batch.column_by_name(&p.column).cloned();
        let values = match source {
            Some(a) => compute(&a, p.transform)
                .map_err(|e| format!("partition `{}` from column `{}`: {e}", p.name, p.column))?,
            None => deltalake::arrow::array::new_null_array(
                &output_type(p.transform, None),
                batch.num_rows(),
            ),
        };
        let mut fields: Vec<Arc<Field>> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
            if f.name() != &p.name {
                fields.push(f.clone());
                columns.push(c.clone());
            }
        }
        fields.push(Arc::new(Field::new(
            &p.name,
            values.data_type().clone(),
            true,
        )));
        columns.push(values);
        batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| e.to_string())?;
    }
    Ok(batch)
}

fn output_type(t: Transform, input: Option<&DataType>) -> DataType {
    match t {
        Transform::Identity => input.cloned().unwrap_or(DataType::Utf8),
        Transform::Year => DataType::Int32,
        Transform::Day => DataType::Date32,
        Transform::Month | Transform::Hour => DataType::Utf8,
    }
}

fn compute(a: &ArrayRef, t: Transform) -> Result<ArrayRef, String> {
    if t == Transform::Identity {
        return Ok(a.clone());
    }
    // Times as UTC timestamps: strings are parsed (ISO 8601), dates widened.
    let ts: ArrayRef = match a.data_type() {
        DataType::Timestamp(_, _) => a.clone(),
        DataType::Date32 | DataType::Date64 | DataType::Utf8 | DataType::LargeUtf8 => cast(
            a,
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )
        .map_err(|e| e.to_string())?,
        other => {
            return Err(format!(
                "needs a timestamp, date or ISO 8601 string, not {other}"
            ))
        }
    };
    let ts = match ts.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            // Time parts of a zoned timestamp are taken in its zone; partitions are UTC.
            cast(&ts, &DataType::Timestamp(*unit, None)).map_err(|e| e.to_string())?
        }
        _ => ts,
    };
    let part = |p: DatePart| -> Result<Int32Array, String> {
        let r = date_part(&ts, p).map_err(|e| e.to_string())?;
        r.as_any()
            .downcast_ref::<Int32Array>()
            .cloned()
            .ok_or_else(|| "date part is not int32".to_string())
    };
    Ok(match t {
        Transform::Identity => a.clone(),
        Transform::Year => Arc::new(part(DatePart::Year)?),
        Transform::Day => cast(&ts, &DataType::Date32).map_err(|e| e.to_string())?,
        Transform::Month | Transform::Hour => {
            let (y, m) = (part(DatePart::Year)?, part(DatePart::Month)?);
            let (d, h) = if t == Transform::Hour {
                (Some(part(DatePart::Day)?), Some(part(DatePart::Hour)?))
            } else {
                (None, None)
            };
            let mut b = StringBuilder::with_capacity(ts.len(), ts.len() * 13);
            for i in 0..ts.len() {
                if ts.is_null(i) {
                    b.append_null();
                    continue;
                }
                match (&d, &h) {
                    (Some(d), Some(h)) => b.append_value(format!(
                        "{:04}-{:02}-{:02}-{:02}",
                        y.value(i),
                        m.value(i),
                        d.value(i),
                        h.value(i)
                    )),
                    _ => b.append_value(format!("{:04}-{:02}", y.value(i), m.value(i))),
                }
            }
            Arc::new(b.finish())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Date32Array, StringArray, TimestampMicrosecondArray};

    #[test]
    fn parses_the_nilus_list_in_index_order() {
        let v = serde_json::json!([
            {"column": "ts", "type": "hour", "name": "ts_hour", "index": 2},
            {"column": "ts", "type": "day", "name": "ts_day", "index": 1},
        ]);
        let p = parse(&v).unwrap();
        assert_eq!(names(&p), vec!["ts_day", "ts_hour"]);
        let e =
            parse(&serde_json::json!([{"column": "ts", "type": "week", "name": "w", "index": 1}]))
                .unwrap_err();
        assert!(e.contains("week"), "{e}");
        let e =
            parse(&serde_json::json!([{"column": "ts", "type": "day", "index": 1}])).unwrap_err();
        assert!(e.contains("`name`"), "{e}");
    }

    #[test]
    fn computes_day_month_year_and_hour_in_utc() {
        // 2026-01-01T23:30:00Z and 2026-02-03T00:00:00Z
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![
                Some(1_767_310_200_000_000),
                Some(1_770_076_800_000_000),
                None,
            ])
            .with_timezone("UTC"),
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            ts.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![ts]).unwrap();
        let fields = parse(&serde_json::json!([
            {"column": "ts", "type": "day", "name": "d", "index": 1},
            {"column": "ts", "type": "month", "name": "m", "index": 2},
            {"column": "ts", "type": "year", "name": "y", "index": 3},
            {"column": "ts", "type": "hour", "name": "h", "index": 4},
            {"column": "gone", "type": "day", "name": "g", "index": 5},
        ]))
        .unwrap();
        let out = add_columns(batch, &fields).unwrap();
        let d = out
            .column_by_name("d")
            .unwrap()
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(d.value(0), 20454);
        assert_eq!(d.value(1), 20487);
        assert!(d.is_null(2));
        let m = out
            .column_by_name("m")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!((m.value(0), m.value(1)), ("2026-01", "2026-02"));
        let h = out
            .column_by_name("h")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(h.value(0), "2026-01-01-23");
        let y = out
            .column_by_name("y")
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert_eq!(y.value(1), 2026);
        assert_eq!(out.column_by_name("g").unwrap().null_count(), 3);
    }
}
