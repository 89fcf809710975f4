//! Reading a column value by value (as Python would see it), building text and integer
//! outputs, the keyed hash and the seeded generator.

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, GenericStringBuilder, Int64Builder,
    LargeStringArray, OffsetSizeTrait, StringArray,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write;
use std::sync::Arc;

/// The column types every algorithm reads (for error messages).
pub(crate) const SUPPORTED: &str = "Utf8, LargeUtf8, Int8..Int64, UInt8..UInt64, Float32, Float64, Boolean, Date32 or Timestamp columns";

/// One non-null value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'a> {
    Str(&'a str),
    Int(i128),
    Float(f64),
    Float32(f32),
    Bool(bool),
    Date(NaiveDate),
    Timestamp(Stamp),
}

/// A timestamp as Python's `datetime` shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    /// The wall time (in the column's zone when it has one).
    pub local: NaiveDateTime,
    /// The zone's offset at this instant, for a zoned column.
    pub offset: Option<FixedOffset>,
    /// Nanosecond column: sub-microsecond digits are shown (as pandas does).
    pub nanos: bool,
}

impl Cell<'_> {
    /// Python's `not v`.
    pub fn is_falsy(&self) -> bool {
        match *self {
            Cell::Str(s) => s.is_empty(),
            Cell::Int(v) => v == 0,
            Cell::Float(v) => v == 0.0,
            Cell::Float32(v) => v == 0.0,
            Cell::Bool(b) => !b,
            Cell::Date(_) | Cell::Timestamp(_) => false,
        }
    }

    /// The date part of a date or timestamp.
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Cell::Date(d) => Some(*d),
            Cell::Timestamp(ts) => Some(ts.local.date()),
            _ => None,
        }
    }
}

/// Python's `str(v)`: borrowed for text, written into `scratch` otherwise.
pub(crate) fn py_str<'b>(cell: Cell<'b>, scratch: &'b mut String) -> &'b str {
    if let Cell::Str(s) = cell {
        return s;
    }
    scratch.clear();
    match cell {
        Cell::Str(_) => {}
        Cell::Int(v) => {
            let _ = write!(scratch, "{v}");
        }
        Cell::Float(v) => write_py_float(scratch, v, format!("{v:e}")),
        Cell::Float32(v) => write_py_float(scratch, f64::from(v), format!("{v:e}")),
        Cell::Bool(b) => scratch.push_str(if b { "True" } else { "False" }),
        Cell::Date(d) => write_date(scratch, d),
        Cell::Timestamp(ts) => write_stamp(scratch, &ts),
    }
    scratch
}

/// `YYYY-MM-DD`.
pub(crate) fn write_date(out: &mut String, d: NaiveDate) {
    let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
}

/// Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]`.
fn write_stamp(out: &mut String, ts: &Stamp) {
    let t = ts.local;
    write_date(out, t.date());
    let _ = write!(out, " {:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let nanos = t.nanosecond() % 1_000_000_000;
    if ts.nanos && !nanos.is_multiple_of(1000) {
        let _ = write!(out, ".{nanos:09}");
    } else if nanos >= 1000 {
        let _ = write!(out, ".{:06}", nanos / 1000);
    }
    if let Some(offset) = ts.offset {
        let secs = offset.local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", secs / 3600, secs / 60 % 60);
        if secs % 60 != 0 {
            let _ = write!(out, ":{:02}", secs % 60);
        }
    }
}

/// Python's float `repr` from Rust's shortest round-trip digits (`sci` is `{:e}` of the value:
/// `1.2345e3`, `-1e-5`): positional between 1e-4 and 1e16, scientific (`1e+16`) outside.
fn write_py_float(out: &mut String, v: f64, sci: String) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if negative {
        out.push('-');
    }
    if !(-5 < exp && exp < 16) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
}

/// Python's `str(float)` of a value.
pub(crate) fn write_py_f64(out: &mut String, v: f64) {
    write_py_float(out, v, format!("{v:e}"));
}

/// A column read value by value.
pub(crate) struct Cells<'a> {
    array: &'a dyn Array,
    kind: Kind<'a>,
}

enum Kind<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Int(Box<dyn Fn(usize) -> i128 + 'a>),
    Float(&'a [f64]),
    Float32(&'a [f32]),
    Bool(&'a BooleanArray),
    Date32(&'a Date32Array),
    Timestamp {
        values: &'a [i64],
        unit: TimeUnit,
        zone: Zone,
    },
}

/// The zone of a timestamp column.
enum Zone {
    Naive,
    Named(Tz),
    /// A zone arrow cannot resolve without `chrono-tz`: shown in UTC.
    Utc,
}

impl<'a> Cells<'a> {
    /// `None` for an unsupported type.
    pub fn new(array: &'a ArrayRef) -> Option<Self> {
        let array: &'a dyn Array = array.as_ref();
        macro_rules! ints {
            ($t:ty) => {{
                let values = array.as_primitive::<$t>().values();
                Kind::Int(Box::new(move |i| i128::from(values[i])))
            }};
        }
        let kind = match array.data_type() {
            DataType::Utf8 => Kind::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Kind::LargeUtf8(array.as_string::<i64>()),
            DataType::Int8 => ints!(Int8Type),
            DataType::Int16 => ints!(Int16Type),
            DataType::Int32 => ints!(Int32Type),
            DataType::Int64 => ints!(Int64Type),
            DataType::UInt8 => ints!(UInt8Type),
            DataType::UInt16 => ints!(UInt16Type),
            DataType::UInt32 => ints!(UInt32Type),
            DataType::UInt64 => ints!(UInt64Type),
            DataType::Float32 => Kind::Float32(array.as_primitive::<Float32Type>().values()),
            DataType::Float64 => Kind::Float(array.as_primitive::<Float64Type>().values()),
            DataType::Boolean => Kind::Bool(array.as_boolean()),
            DataType::Date32 => Kind::Date32(array.as_primitive()),
            DataType::Timestamp(unit, tz) => {
                let zone = match tz {
                    None => Zone::Naive,
                    Some(tz) => tz.parse::<Tz>().map(Zone::Named).unwrap_or(Zone::Utc),
                };
                let values = match unit {
                    TimeUnit::Second => array
                        .as_primitive::<arrow::datatypes::TimestampSecondType>()
                        .values(),
                    TimeUnit::Millisecond => array
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .values(),
                    TimeUnit::Microsecond => array
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .values(),
                    TimeUnit::Nanosecond => array
                        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                        .values(),
                };
                Kind::Timestamp {
                    values,
                    unit: *unit,
                    zone,
                }
            }
            _ => return None,
        };
        Some(Self { array, kind })
    }

    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether output text should be `LargeUtf8`.
    pub fn large(&self) -> bool {
        matches!(self.kind, Kind::LargeUtf8(_))
    }

    pub fn is_text(&self) -> bool {
        matches!(self.kind, Kind::Utf8(_) | Kind::LargeUtf8(_))
    }

    /// Integer or float columns.
    pub fn is_number(&self) -> bool {
        matches!(self.kind, Kind::Int(_) | Kind::Float(_) | Kind::Float32(_))
    }

    /// Date or timestamp columns.
    pub fn is_temporal(&self) -> bool {
        matches!(self.kind, Kind::Date32(_) | Kind::Timestamp { .. })
    }

    /// The value at `i`; `None` for a null (or a date outside chrono's range).
    pub fn get(&self, i: usize) -> Option<Cell<'a>> {
        if self.array.is_null(i) {
            return None;
        }
        Some(match &self.kind {
            Kind::Utf8(a) => Cell::Str(a.value(i)),
            Kind::LargeUtf8(a) => Cell::Str(a.value(i)),
            Kind::Int(get) => Cell::Int(get(i)),
            Kind::Float(v) => Cell::Float(v[i]),
            Kind::Float32(v) => Cell::Float32(v[i]),
            Kind::Bool(a) => Cell::Bool(a.value(i)),
            Kind::Date32(a) => Cell::Date(date32(a.value(i))?),
            Kind::Timestamp { values, unit, zone } => {
                let utc = utc_datetime(values[i], *unit)?;
                let offset = match zone {
                    Zone::Naive => None,
                    Zone::Named(tz) => Some(tz.offset_from_utc_datetime(&utc).fix()),
                    Zone::Utc => Some(FixedOffset::east_opt(0)?),
                };
                let local = match offset {
                    Some(o) => utc.checked_add_offset(o)?,
                    None => utc,
                };
                Cell::Timestamp(Stamp {
                    local,
                    offset,
                    nanos: *unit == TimeUnit::Nanosecond,
                })
            }
        })
    }
}

/// A Date32 value (days since the epoch).
pub(crate) fn date32(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::TimeDelta::try_days(days.into())?)
}

/// A timestamp value as UTC wall time.
fn utc_datetime(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let per_sec = units_per_second(unit);
    let secs = v.div_euclid(per_sec);
    let nanos = v.rem_euclid(per_sec) * (1_000_000_000 / per_sec);
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?).map(|d| d.naive_utc())
}

/// Timestamp units in one second.
pub(crate) fn units_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Builds a text column (Utf8, or LargeUtf8 for `large`): `f` writes a value into the cleared
/// buffer and returns `true`, or returns `false` for a null.
pub(crate) fn text_out(
    cells: &Cells<'_>,
    large: bool,
    mut f: impl FnMut(Option<Cell<'_>>, &mut String) -> bool,
) -> ArrayRef {
    fn build<O: OffsetSizeTrait>(
        cells: &Cells<'_>,
        f: &mut impl FnMut(Option<Cell<'_>>, &mut String) -> bool,
    ) -> ArrayRef {
        let mut builder = GenericStringBuilder::<O>::with_capacity(cells.len(), cells.len() * 16);
        let mut buf = String::new();
        for i in 0..cells.len() {
            buf.clear();
            if f(cells.get(i), &mut buf) {
                builder.append_value(&buf);
            } else {
                builder.append_null();
            }
        }
        Arc::new(builder.finish())
    }
    if large {
        build::<i64>(cells, &mut f)
    } else {
        build::<i32>(cells, &mut f)
    }
}

/// Builds an Int64 column.
pub(crate) fn int64_out(
    cells: &Cells<'_>,
    mut f: impl FnMut(Option<Cell<'_>>) -> Option<i64>,
) -> ArrayRef {
    let mut builder = Int64Builder::with_capacity(cells.len());
    for i in 0..cells.len() {
        builder.append_option(f(cells.get(i)));
    }
    Arc::new(builder.finish())
}

/// Lower-case hex.
pub(crate) fn write_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 keyed with `key` (any length is accepted).
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC hashes over-long keys and pads short ones, so no length is refused.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts a key of any length")
}

/// The mask key: derives the deterministic tokens and seeds.
#[derive(Clone)]
pub(crate) struct Keyed {
    mac: HmacSha256,
}

impl Keyed {
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: hmac_sha256(key),
        }
    }

    /// `HMAC-SHA256(key, "<tag>:" + value)`.
    pub fn digest(&self, tag: &str, value: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(tag.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A generator seeded with [`digest`](Self::digest).
    pub fn rng(&self, tag: &str, value: &str) -> Rng {
        Rng::from_seed(self.digest(tag, value))
    }
}

/// xoshiro256**, seeded from 32 bytes.
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (word, chunk) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        if s == [0; 4] {
            s[0] = 0x9e37_79b9_7f4a_7c15;
        }
        Self { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (`n >= 1`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        // 2^64 mod n: draws above the last full multiple of n are redrawn.
        let rest = (u64::MAX % n).wrapping_add(1) % n;
        loop {
            let x = self.next_u64();
            if rest == 0 || x <= u64::MAX - rest {
                return x % n;
            }
        }
    }

    /// Uniform in `lo..=hi` (`hi - lo < 2^64`).
    pub fn int_in(&mut self, lo: i128, hi: i128) -> i128 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u128 + 1;
        match u64::try_from(span) {
            Ok(span) => lo + i128::from(self.below(span)),
            Err(_) => lo + i128::from(self.next_u64()),
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}
