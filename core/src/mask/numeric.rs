//! The numeric algorithms: `random`, `round`, `range` and `noise`.

use super::cells::{int64_out, py_str, text_out, write_py_f64, Cell, Cells, Keyed};
use arrow::array::{
    ArrayRef, ArrowPrimitiveType, AsArray, Float32Array, Float64Array, Float64Builder,
    PrimitiveArray,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use std::fmt::Write;
use std::sync::Arc;

const NUMBERS: &str = "integer or float columns, or text holding numbers (Utf8, LargeUtf8)";

/// `random`: integers get as many digits, floats `uniform(0, 2·|v|)`, text as many letters
/// and digits; seeded per value.
pub(crate) fn random(
    cells: &Cells<'_>,
    array: &ArrayRef,
    keyed: &Keyed,
) -> Result<ArrayRef, &'static str> {
    const ALPHANUMERIC: &[u8; 62] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if cells.is_text() {
        return Ok(text_out(cells, cells.large(), |cell, out| {
            let Some(Cell::Str(v)) = cell else {
                return false;
            };
            let mut rng = keyed.rng("random", v);
            for _ in v.chars() {
                out.push(char::from(ALPHANUMERIC[rng.below(62) as usize]));
            }
            true
        }));
    }
    let mut scratch = String::new();
    if let Some(out) = map_ints(array, |v, max| {
        scratch.clear();
        let _ = write!(scratch, "{v}");
        let mut rng = keyed.rng("random", &scratch);
        let digits = v.unsigned_abs().checked_ilog10().unwrap_or(0) + 1;
        let lo = 10i128.pow(digits - 1);
        let hi = (10i128.pow(digits) - 1).min(max);
        rng.int_in(lo, hi)
    }) {
        return Ok(out);
    }
    let mut scratch = String::new();
    map_floats(array, |cell, x| {
        let mut rng = keyed.rng("random", py_str(cell, &mut scratch));
        rng.unit() * 2.0 * x.abs()
    })
    .ok_or("integer, float or text (Utf8, LargeUtf8) columns")
}

/// `round:n`: `round(v / n) * n`, ties to even; Int64 for a whole `n`, Float64 otherwise.
/// Text is rewritten when it holds a number and kept otherwise.
pub(crate) fn round(cells: &Cells<'_>, n: f64) -> Result<ArrayRef, &'static str> {
    let whole = whole(n);
    let round_int = |x: f64, n: i128| -> Option<i128> {
        let q = (x / n as f64).round_ties_even();
        q.is_finite().then(|| (q as i128).saturating_mul(n))
    };
    if cells.is_text() {
        return Ok(text_out(cells, cells.large(), |cell, out| {
            let Some(Cell::Str(v)) = cell else {
                return false;
            };
            let x = py_float(v);
            match (x, whole) {
                (Some(x), Some(n)) => match round_int(x, n) {
                    Some(r) => {
                        let _ = write!(out, "{r}");
                    }
                    None => out.push_str(v),
                },
                (Some(x), None) if x.is_finite() => {
                    write_py_f64(out, (x / n).round_ties_even() * n);
                }
                _ => out.push_str(v),
            }
            true
        }));
    }
    if !cells.is_number() {
        return Err(NUMBERS);
    }
    match whole {
        Some(n) => Ok(int64_out(cells, |cell| {
            let r = round_int(as_f64(cell?)?, n)?;
            Some(r.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
        })),
        None => {
            let mut builder = Float64Builder::with_capacity(cells.len());
            for i in 0..cells.len() {
                let x = cells.get(i).and_then(as_f64);
                builder.append_option(x.map(|x| (x / n).round_ties_even() * n));
            }
            Ok(Arc::new(builder.finish()))
        }
    }
}

/// `range:n`: `"lo-hi"` with `lo = floor(v/n)*n`; integers end at `lo+n-1`, floats at `lo+n`.
/// Text holding an integer or a float is bucketed as one; other text, NaN and infinities are kept.
pub(crate) fn range(cells: &Cells<'_>, n: f64) -> Result<ArrayRef, &'static str> {
    if !cells.is_text() && !cells.is_number() {
        return Err(NUMBERS);
    }
    let whole = whole(n);
    let mut scratch = String::new();
    Ok(text_out(cells, cells.large(), |cell, out| {
        let Some(cell) = cell else {
            return false;
        };
        let int = match cell {
            Cell::Int(v) => Some(v),
            Cell::Str(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        if let (Some(v), Some(n)) = (int, whole) {
            let lo = v.div_euclid(n).saturating_mul(n);
            // As upstream: `{lower}-{lower + n}` (the upper bound is the next bucket's start).
            let _ = write!(out, "{lo}-{}", lo.saturating_add(n));
            return true;
        }
        let x = match cell {
            Cell::Str(s) => py_float(s),
            other => as_f64(other),
        };
        match x.map(|x| (x, py_floor_div(x, n))) {
            Some((_, q)) if q.is_finite() => match whole {
                Some(n) => {
                    let lo = (q as i128).saturating_mul(n);
                    let _ = write!(out, "{lo}-{}", lo.saturating_add(n));
                }
                None => {
                    let lo = q * n;
                    write_py_f64(out, lo);
                    out.push('-');
                    write_py_f64(out, lo + n);
                }
            },
            _ => out.push_str(py_str(cell, &mut scratch)),
        }
        true
    }))
}

/// `noise:p`: `v + uniform(-p, p)·|v|`, seeded per value; integers are truncated and clamped
/// to their type, text holding a number becomes the float's text.
pub(crate) fn noise(
    cells: &Cells<'_>,
    array: &ArrayRef,
    p: f64,
    keyed: &Keyed,
) -> Result<ArrayRef, &'static str> {
    let noisy = |seed: &str, x: f64| {
        let mut rng = keyed.rng("noise", seed);
        x + (-p + 2.0 * p * rng.unit()) * x.abs()
    };
    if cells.is_text() {
        return Ok(text_out(cells, cells.large(), |cell, out| {
            let Some(Cell::Str(v)) = cell else {
                return false;
            };
            match py_float(v) {
                Some(x) => write_py_f64(out, noisy(v, x)),
                None => out.push_str(v),
            }
            true
        }));
    }
    let mut scratch = String::new();
    if let Some(out) = map_ints(array, |v, _| {
        scratch.clear();
        let _ = write!(scratch, "{v}");
        // `as` truncates toward zero like Python's int() and saturates.
        noisy(&scratch, v as f64) as i128
    }) {
        return Ok(out);
    }
    let mut scratch = String::new();
    map_floats(array, |cell, x| noisy(py_str(cell, &mut scratch), x)).ok_or(NUMBERS)
}

/// `n` as an integer when it is whole.
fn whole(n: f64) -> Option<i128> {
    (n.fract() == 0.0 && n.abs() < 1e30).then_some(n as i128)
}

/// Python's `float(text)` (surrounding whitespace allowed).
fn py_float(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

fn as_f64(cell: Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Int(v) => Some(v as f64),
        Cell::Float(v) => Some(v),
        Cell::Float32(v) => Some(f64::from(v)),
        _ => None,
    }
}

/// Python's float `x // n`.
pub(crate) fn py_floor_div(x: f64, n: f64) -> f64 {
    let m = x % n;
    let mut div = (x - m) / n;
    if m != 0.0 && ((n < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let floor = div.floor();
        if div - floor > 0.5 {
            floor + 1.0
        } else {
            floor
        }
    } else {
        0.0f64.copysign(x / n)
    }
}

/// Maps an integer column value by value (`f(value, type max)`), clamping to the type; `None`
/// for a column that is not of an integer type.
fn map_ints(array: &ArrayRef, f: impl FnMut(i128, i128) -> i128) -> Option<ArrayRef> {
    fn go<T>(
        array: &ArrayRef,
        min: i128,
        max: i128,
        mut f: impl FnMut(i128, i128) -> i128,
    ) -> ArrayRef
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i128> + TryFrom<i128>,
    {
        let out: PrimitiveArray<T> = array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.and_then(|v| T::Native::try_from(f(v.into(), max).clamp(min, max)).ok()))
            .collect();
        Arc::new(out)
    }
    macro_rules! ints {
        ($t:ty, $n:ty) => {
            go::<$t>(array, <$n>::MIN.into(), <$n>::MAX.into(), f)
        };
    }
    Some(match array.data_type() {
        DataType::Int8 => ints!(Int8Type, i8),
        DataType::Int16 => ints!(Int16Type, i16),
        DataType::Int32 => ints!(Int32Type, i32),
        DataType::Int64 => ints!(Int64Type, i64),
        DataType::UInt8 => ints!(UInt8Type, u8),
        DataType::UInt16 => ints!(UInt16Type, u16),
        DataType::UInt32 => ints!(UInt32Type, u32),
        DataType::UInt64 => ints!(UInt64Type, u64),
        _ => return None,
    })
}

/// Maps a float column value by value (`f(cell, value)`), keeping its width; `None` for a
/// column that is not of a float type.
fn map_floats(array: &ArrayRef, mut f: impl FnMut(Cell<'_>, f64) -> f64) -> Option<ArrayRef> {
    Some(match array.data_type() {
        DataType::Float64 => {
            let out: Float64Array = array
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|x| f(Cell::Float(x), x)))
                .collect();
            Arc::new(out)
        }
        DataType::Float32 => {
            let out: Float32Array = array
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(|x| f(Cell::Float32(x), f64::from(x)) as f32))
                .collect();
            Arc::new(out)
        }
        _ => return None,
    })
}
