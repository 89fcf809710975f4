//! The date algorithms: `date_shift`, `year_only` and `month_year`, and reading dates from text.

use super::cells::{int64_out, py_str, text_out, units_per_second, write_date, Cell, Cells, Keyed};
use arrow::array::{ArrayRef, ArrowPrimitiveType, AsArray, Date32Array, PrimitiveArray};
use arrow::datatypes::{
    DataType, Date32Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta};
use std::fmt::Write;
use std::sync::Arc;

const DATES: &str = "Date32, Timestamp, or text holding dates (Utf8, LargeUtf8)";

/// `date_shift:d`: moves each value by a seeded `randint(-d, d)` days. Dates and timestamps
/// keep their type; date text becomes `YYYY-MM-DD`, other text is kept.
pub(crate) fn date_shift(
    cells: &Cells<'_>,
    array: &ArrayRef,
    days: i64,
    keyed: &Keyed,
) -> Result<ArrayRef, &'static str> {
    let mut scratch = String::new();
    let mut shift = |cell: Cell<'_>| -> i64 {
        let mut rng = keyed.rng("date_shift", py_str(cell, &mut scratch));
        rng.int_in(-i128::from(days), i128::from(days)) as i64
    };
    if cells.is_text() {
        return Ok(text_out(cells, cells.large(), |cell, out| {
            let Some(cell @ Cell::Str(v)) = cell else {
                return false;
            };
            let shifted = parse_date_text(v).and_then(|t| {
                t.date()
                    .checked_add_signed(TimeDelta::try_days(shift(cell))?)
            });
            match shifted {
                Some(d) => write_date(out, d),
                None => out.push_str(v),
            }
            true
        }));
    }
    match array.data_type() {
        DataType::Date32 => {
            let raw = array.as_primitive::<Date32Type>();
            let out: Date32Array = (0..cells.len())
                .map(|i| {
                    let cell = cells.get(i)?;
                    let moved = i64::from(raw.value(i)).saturating_add(shift(cell));
                    Some(moved.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
                })
                .collect();
            Ok(Arc::new(out))
        }
        DataType::Timestamp(unit, _) => {
            let per_day = units_per_second(*unit) * 86_400;
            let mut f = |i: usize, raw: i64| -> Option<i64> {
                let cell = cells.get(i)?;
                Some(raw.saturating_add(shift(cell).saturating_mul(per_day)))
            };
            Ok(match unit {
                TimeUnit::Second => map_i64::<TimestampSecondType>(array, &mut f),
                TimeUnit::Millisecond => map_i64::<TimestampMillisecondType>(array, &mut f),
                TimeUnit::Microsecond => map_i64::<TimestampMicrosecondType>(array, &mut f),
                TimeUnit::Nanosecond => map_i64::<TimestampNanosecondType>(array, &mut f),
            })
        }
        _ => Err(DATES),
    }
}

/// Maps the raw values of an i64-backed column, keeping its exact type (time zone included).
fn map_i64<T: ArrowPrimitiveType<Native = i64>>(
    array: &ArrayRef,
    f: &mut impl FnMut(usize, i64) -> Option<i64>,
) -> ArrayRef {
    let raw = array.as_primitive::<T>();
    let out: PrimitiveArray<T> = (0..raw.len()).map(|i| f(i, raw.value(i))).collect();
    Arc::new(out.with_data_type(array.data_type().clone()))
}

/// `year_only`: the year as Int64; text that is no date becomes null.
pub(crate) fn year_only(cells: &Cells<'_>) -> Result<ArrayRef, &'static str> {
    if !cells.is_text() && !cells.is_temporal() {
        return Err(DATES);
    }
    Ok(int64_out(cells, |cell| {
        Some(i64::from(cell_date(cell?)?.year()))
    }))
}

/// `month_year`: `YYYY-MM` text; text that is no date is kept.
pub(crate) fn month_year(cells: &Cells<'_>) -> Result<ArrayRef, &'static str> {
    if !cells.is_text() && !cells.is_temporal() {
        return Err(DATES);
    }
    Ok(text_out(cells, cells.large(), |cell, out| {
        let Some(cell) = cell else {
            return false;
        };
        match (cell_date(cell), cell) {
            (Some(d), _) => {
                let _ = write!(out, "{}-{:02}", d.year(), d.month());
            }
            (None, Cell::Str(v)) => out.push_str(v),
            (None, _) => return false,
        }
        true
    }))
}

/// The date of a date, a timestamp (in its zone) or date text.
fn cell_date(cell: Cell<'_>) -> Option<NaiveDate> {
    match cell {
        Cell::Str(v) => parse_date_text(v).map(|t| t.date()),
        other => other.date(),
    }
}

/// Reads a date or a date and time from text, as the wall time written (an offset is not
/// applied): RFC 3339 / ISO 8601 (`2024-01-15`, `2024-01-15T10:30:00Z`, `2024-01-15 10:30`),
/// RFC 2822, `2024/01/15`, `01/15/2024` (month first, as dateutil), `20240115`,
/// `January 15, 2024`, `15 January 2024` and `Jan 15 2024`.
pub(crate) fn parse_date_text(text: &str) -> Option<NaiveDateTime> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_local());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.naive_local());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.naive_local());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        let date = NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(4..6)?, n(6..8)?);
        return date.and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    for fmt in [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%m/%d/%Y",
        "%B %d, %Y",
        "%B %d %Y",
        "%d %B %Y",
        "%b %d, %Y",
        "%b %d %Y",
        "%d %b %Y",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}
