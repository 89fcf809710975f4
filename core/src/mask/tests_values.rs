//! The numeric and date algorithms, Python's `str(v)` and the date-text reader.

use super::cells::{py_str, Cells, Keyed};
use super::dates::parse_date_text;
use super::numeric::py_floor_div;
use super::tests::{mask, strs, text};
use super::*;
use arrow::array::{
    AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
    Int8Array, TimestampMicrosecondArray, TimestampNanosecondArray, TimestampSecondArray,
    UInt64Array,
};
use arrow::datatypes::{
    Date32Type, Float64Type, Int32Type, Int64Type, Int8Type, TimeUnit, TimestampSecondType,
    UInt64Type,
};
use chrono::NaiveDate;

fn ints(array: &ArrayRef) -> Vec<Option<i64>> {
    assert_eq!(array.data_type(), &DataType::Int64);
    array.as_primitive::<Int64Type>().iter().collect()
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

/// `str(v)` of every value of a column.
fn py_strs(array: ArrayRef) -> Vec<String> {
    let cells = Cells::new(&array).unwrap();
    let mut scratch = String::new();
    (0..cells.len())
        .map(|i| py_str(cells.get(i).unwrap(), &mut scratch).to_string())
        .collect()
}

#[test]
fn round_rounds_half_to_even_as_int64() {
    let out = mask(
        "round:10",
        Arc::new(Int64Array::from(vec![
            Some(1234),
            Some(1235),
            Some(1225),
            None,
        ])),
    );
    assert_eq!(ints(&out), [Some(1230), Some(1240), Some(1220), None]);
    let out = mask(
        "round:1",
        Arc::new(Float64Array::from(vec![123.5, 122.5, -123.5, f64::NAN])),
    );
    assert_eq!(ints(&out), [Some(124), Some(122), Some(-124), None]);
    let out = mask("round", Arc::new(Int8Array::from(vec![127])));
    assert_eq!(ints(&out), [Some(130)], "defaults to 10, widens to Int64");
    let out = mask("round:2.5", Arc::new(Float64Array::from(vec![6.0])));
    let floats: Vec<_> = out.as_primitive::<Float64Type>().iter().collect();
    assert_eq!(floats, [Some(5.0)]);
}

#[test]
fn round_rewrites_numeric_text_and_keeps_other_text() {
    let out = mask(
        "round:10",
        strs(&[
            Some("1234"),
            Some(" 1235.0 "),
            Some("abc"),
            Some("inf"),
            None,
        ]),
    );
    let expected = [Some("1230"), Some("1240"), Some("abc"), Some("inf"), None];
    assert_eq!(text(&out), expected.map(|v| v.map(String::from)));
}

#[test]
fn range_buckets_integers_and_floats() {
    let out = mask(
        "range:100",
        Arc::new(Int64Array::from(vec![
            Some(1234),
            Some(0),
            Some(-5),
            Some(1299),
            None,
        ])),
    );
    let expected = [
        Some("1200-1300"),
        Some("0-100"),
        Some("-100-0"),
        Some("1200-1300"),
        None,
    ];
    assert_eq!(text(&out), expected.map(|v| v.map(String::from)));
    let out = mask(
        "range",
        Arc::new(Float64Array::from(vec![1234.5, -0.5, f64::NAN])),
    );
    assert_eq!(text(&out), some(&["1200-1300", "-100-0", "nan"]));
    let out = mask("range:10", strs(&[Some("1234"), Some("55.5"), Some("x")]));
    assert_eq!(text(&out), some(&["1230-1240", "50-60", "x"]));
    let out = mask("range:2.5", Arc::new(Float64Array::from(vec![7.3])));
    assert_eq!(text(&out), some(&["5.0-7.5"]));
}

#[test]
fn noise_stays_within_the_level_and_keeps_the_type() {
    let values: Vec<i32> = (1..=200).map(|v| v * 1000).collect();
    let out = mask("noise:0.1", Arc::new(Int32Array::from(values.clone())));
    assert_eq!(out.data_type(), &DataType::Int32);
    let noisy = out.as_primitive::<Int32Type>();
    let mut changed = 0;
    for (v, n) in values.iter().zip(noisy.values()) {
        let (v, n) = (f64::from(*v), f64::from(*n));
        assert!((n - v).abs() <= 0.1 * v + 1.0, "{v} -> {n}");
        changed += usize::from(n != v);
    }
    assert!(changed > 150, "noise moves most values ({changed}/200)");
    assert_eq!(
        mask("noise:0.1", Arc::new(Int32Array::from(values))).as_ref(),
        out.as_ref(),
        "seeded per value: the same output every time"
    );
    let floats = mask(
        "noise:0.5",
        Arc::new(Float32Array::from(vec![Some(-10.0), None])),
    );
    assert_eq!(floats.data_type(), &DataType::Float32);
    let f = floats.as_primitive::<arrow::datatypes::Float32Type>();
    assert!((-15.0..=-5.0).contains(&f.value(0)), "{}", f.value(0));
    assert!(f.is_null(1));
    let out = mask("noise", strs(&[Some("100"), Some("n/a")]));
    let t = text(&out);
    let x: f64 = t[0].as_deref().unwrap().parse().unwrap();
    assert!((90.0..=110.0).contains(&x), "{x}");
    assert_eq!(t[1].as_deref(), Some("n/a"));
}

#[test]
fn random_numbers_keep_digit_count_range_and_type() {
    let values = vec![
        Some(0),
        Some(7),
        Some(1234),
        Some(-99),
        Some(i64::MAX),
        None,
    ];
    let out = mask("random", Arc::new(Int64Array::from(values.clone())));
    assert_eq!(&out, &mask("random", Arc::new(Int64Array::from(values))));
    let r: Vec<_> = out.as_primitive::<Int64Type>().iter().collect();
    assert!((1..=9).contains(&r[0].unwrap()));
    assert!((1..=9).contains(&r[1].unwrap()));
    assert!((1000..=9999).contains(&r[2].unwrap()));
    assert!((10..=99).contains(&r[3].unwrap()));
    assert!(r[4].unwrap() >= 1_000_000_000_000_000_000);
    assert_eq!(r[5], None);
    let small = mask("random", Arc::new(Int8Array::from(vec![-128, 100])));
    for v in small.as_primitive::<Int8Type>().values() {
        assert!((100..=127).contains(v), "{v}");
    }
    let big = mask("random", Arc::new(UInt64Array::from(vec![u64::MAX])));
    assert!(big.as_primitive::<UInt64Type>().value(0) >= 10_000_000_000_000_000_000);
    let floats = mask("random", Arc::new(Float64Array::from(vec![-2.5, 0.0])));
    let f = floats.as_primitive::<Float64Type>();
    assert!((0.0..=5.0).contains(&f.value(0)));
    assert_eq!(f.value(1), 0.0);
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn epoch_days(d: NaiveDate) -> i32 {
    (d - date(1970, 1, 1)).num_days() as i32
}

#[test]
fn date_shift_moves_dates_within_the_window_and_keeps_types() {
    let base = date(2024, 1, 15);
    let days: Vec<i32> = (0..100).map(|i| epoch_days(base) + i).collect();
    let mut with_null: Vec<Option<i32>> = days.iter().copied().map(Some).collect();
    with_null.push(None);
    let out = mask("date_shift:30", Arc::new(Date32Array::from(with_null)));
    assert_eq!(out.data_type(), &DataType::Date32);
    let shifted = out.as_primitive::<Date32Type>();
    let mut moved = 0;
    for (i, d) in days.iter().enumerate() {
        let delta = shifted.value(i) - d;
        assert!((-30..=30).contains(&delta), "{delta}");
        moved += usize::from(delta != 0);
    }
    assert!(moved > 80, "{moved}");
    assert!(shifted.is_null(100));

    let secs = 1_767_323_045; // 2026-01-02 03:04:05 UTC
    let ts = TimestampSecondArray::from(vec![secs]).with_timezone("+05:30");
    let out = mask("date_shift:3", Arc::new(ts));
    assert_eq!(
        out.data_type(),
        &DataType::Timestamp(TimeUnit::Second, Some("+05:30".into()))
    );
    let delta = out.as_primitive::<TimestampSecondType>().value(0) - secs;
    assert_eq!(delta % 86_400, 0, "whole days");
    assert!((-3..=3).contains(&(delta / 86_400)));

    let out = mask(
        "date_shift:10",
        strs(&[Some("2024-01-15T10:30:00Z"), Some("not a date"), None]),
    );
    let t = text(&out);
    let d = NaiveDate::parse_from_str(t[0].as_deref().unwrap(), "%Y-%m-%d").unwrap();
    assert!((base - d).num_days().abs() <= 10, "{d}");
    assert_eq!(t[1].as_deref(), Some("not a date"));
    assert_eq!(t[2], None);
}

#[test]
fn year_only_and_month_year_read_dates_timestamps_and_text() {
    let dates: ArrayRef = Arc::new(Date32Array::from(vec![
        Some(epoch_days(date(2024, 3, 9))),
        None,
    ]));
    assert_eq!(ints(&mask("year_only", dates.clone())), [Some(2024), None]);
    assert_eq!(
        text(&mask("month_year", dates)),
        [Some("2024-03".to_string()), None]
    );
    // 2025-12-31 23:30 UTC is already 2026-01 in +05:30.
    let micros = 1_767_223_800_000_000;
    let zoned: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![micros]).with_timezone("+05:30"));
    assert_eq!(ints(&mask("year_only", zoned.clone())), [Some(2026)]);
    assert_eq!(text(&mask("month_year", zoned)), some(&["2026-01"]));
    let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![micros]));
    assert_eq!(text(&mask("month_year", naive)), some(&["2025-12"]));
    let words = strs(&[
        Some("March 5, 2024"),
        Some("2019-07-04 12:00"),
        Some("soon"),
    ]);
    assert_eq!(
        ints(&mask("year_only", words.clone())),
        [Some(2024), Some(2019), None]
    );
    assert_eq!(
        text(&mask("month_year", words)),
        some(&["2024-03", "2019-07", "soon"])
    );
}

#[test]
fn python_str_of_floats_matches_repr() {
    let floats = vec![
        12.0,
        0.1,
        1e16,
        1.5e16,
        1e15,
        1e-5,
        0.0001,
        1.234e-7,
        123456789.125,
        -0.0,
        -2.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let expected = [
        "12.0",
        "0.1",
        "1e+16",
        "1.5e+16",
        "1000000000000000.0",
        "1e-05",
        "0.0001",
        "1.234e-07",
        "123456789.125",
        "-0.0",
        "-2.5",
        "nan",
        "inf",
        "-inf",
    ];
    assert_eq!(py_strs(Arc::new(Float64Array::from(floats))), expected);
    assert_eq!(
        py_strs(Arc::new(Float32Array::from(vec![0.1f32, 16777216.0]))),
        ["0.1", "16777216.0"]
    );
}

#[test]
fn python_str_of_other_types() {
    assert_eq!(
        py_strs(Arc::new(UInt64Array::from(vec![u64::MAX]))),
        ["18446744073709551615"]
    );
    assert_eq!(
        py_strs(Arc::new(BooleanArray::from(vec![true, false]))),
        ["True", "False"]
    );
    assert_eq!(
        py_strs(Arc::new(Date32Array::from(vec![epoch_days(date(
            2026, 1, 2
        ))]))),
        ["2026-01-02"]
    );
    let secs = 1_767_323_045; // 2026-01-02 03:04:05 UTC
    let naive = TimestampSecondArray::from(vec![secs]);
    assert_eq!(py_strs(Arc::new(naive)), ["2026-01-02 03:04:05"]);
    let utc = TimestampSecondArray::from(vec![secs]).with_timezone("+00:00");
    assert_eq!(py_strs(Arc::new(utc)), ["2026-01-02 03:04:05+00:00"]);
    let named = TimestampSecondArray::from(vec![secs]).with_timezone("UTC");
    assert_eq!(py_strs(Arc::new(named)), ["2026-01-02 03:04:05+00:00"]);
    let india = TimestampSecondArray::from(vec![secs]).with_timezone("+05:30");
    assert_eq!(py_strs(Arc::new(india)), ["2026-01-02 08:34:05+05:30"]);
    let micros = TimestampMicrosecondArray::from(vec![secs * 1_000_000 + 120]);
    assert_eq!(py_strs(Arc::new(micros)), ["2026-01-02 03:04:05.000120"]);
    let nanos =
        TimestampNanosecondArray::from(vec![secs * 1_000_000_000 + 5, secs * 1_000_000_000 + 5000]);
    assert_eq!(
        py_strs(Arc::new(nanos)),
        [
            "2026-01-02 03:04:05.000000005",
            "2026-01-02 03:04:05.000005"
        ]
    );
    // sha256("2026-01-02 03:04:05+00:00") from Python
    let utc: ArrayRef = Arc::new(TimestampSecondArray::from(vec![secs]).with_timezone("+00:00"));
    assert_eq!(
        text(&mask("hash", utc))[0].as_deref(),
        Some("0d16f45a1e8ed59255e91d132aacc76c24dd194b63e847f9f8d318c8eb479196")
    );
}

#[test]
fn date_text_formats() {
    let d = |s: &str| parse_date_text(s).map(|t| t.date());
    let jan15 = Some(date(2024, 1, 15));
    for s in [
        "2024-01-15",
        " 2024-01-15 ",
        "2024-01-15T10:30:00",
        "2024-01-15T10:30:00.123Z",
        "2024-01-15 10:30:00+02:00",
        "2024-01-15 10:30:00+0200",
        "2024-01-15T10:30",
        "2024/01/15",
        "01/15/2024",
        "1/15/2024 08:00",
        "20240115",
        "January 15, 2024",
        "Jan 15 2024",
        "15 January 2024",
        "Mon, 15 Jan 2024 10:00:00 +0000",
    ] {
        assert_eq!(d(s), jan15, "{s}");
    }
    for s in ["", "soon", "2024-13-01", "12345", "2024-02-30"] {
        assert_eq!(d(s), None, "{s}");
    }
}

#[test]
fn floor_division_matches_python() {
    // Python: 7.5 // 2, -7.5 // 2, 1234.5 // 100, -0.5 // 100, 0.0 // 3
    assert_eq!(py_floor_div(7.5, 2.0), 3.0);
    assert_eq!(py_floor_div(-7.5, 2.0), -4.0);
    assert_eq!(py_floor_div(1234.5, 100.0), 12.0);
    assert_eq!(py_floor_div(-0.5, 100.0), -1.0);
    assert_eq!(py_floor_div(0.0, 3.0), 0.0);
}

#[test]
fn seeded_generator_stays_in_range() {
    let keyed = Keyed::new(b"k");
    let mut rng = keyed.rng("t", "v");
    for _ in 0..1000 {
        assert!((-3..=3).contains(&rng.int_in(-3, 3)));
        assert!(rng.below(7) < 7);
        let u = rng.unit();
        assert!((0.0..1.0).contains(&u));
    }
    assert_eq!(
        keyed.rng("t", "v").next_u64(),
        keyed.rng("t", "v").next_u64()
    );
    assert_ne!(keyed.digest("a", "v"), keyed.digest("b", "v"));
}
