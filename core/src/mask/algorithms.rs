//! The text algorithms: hashes, redaction, format-preserving masks and tokens. They read any
//! supported type through Python's `str(v)` and write text.

use super::cells::{hmac_sha256, int64_out, py_str, text_out, write_hex, Cell, Cells, Keyed};
use super::Algorithm;
use arrow::array::ArrayRef;
use hmac::Mac;
use md5::Md5;
use sha2::{Digest, Sha256};

/// The largest `sequential` token: 15 digits, exact in float64 and JSON numbers.
pub(crate) const SEQUENTIAL_MAX: u64 = 999_999_999_999_999;

/// Masks with a text algorithm (everything but the numeric and date ones).
pub(crate) fn text(algorithm: &Algorithm, cells: &Cells<'_>, keyed: &Keyed) -> ArrayRef {
    let hmac = match algorithm {
        Algorithm::Hmac(key) => Some(hmac_sha256(key.as_bytes())),
        _ => None,
    };
    let mut scratch = String::new();
    text_out(cells, cells.large(), |cell, out| {
        let Some(cell) = cell else {
            match algorithm {
                Algorithm::Redact => out.push_str(REDACTED),
                Algorithm::Fixed(text) => out.push_str(text),
                Algorithm::Stars => {}
                _ => return false,
            }
            return true;
        };
        let falsy = cell.is_falsy();
        let v = py_str(cell, &mut scratch);
        match algorithm {
            Algorithm::Sha256 => write_hex(out, &Sha256::digest(v.as_bytes())),
            Algorithm::Md5 => write_hex(out, &Md5::digest(v.as_bytes())),
            Algorithm::Hmac(_) => {
                if let Some(hmac) = &hmac {
                    let mut mac = hmac.clone();
                    mac.update(v.as_bytes());
                    write_hex(out, &mac.finalize().into_bytes());
                }
            }
            Algorithm::Redact => out.push_str(REDACTED),
            Algorithm::Fixed(text) => out.push_str(text),
            Algorithm::Stars if !falsy => stars(out, v.chars().count()),
            Algorithm::Stars => {}
            _ if falsy && keeps_falsy(algorithm) => out.push_str(v),
            Algorithm::Email => email(out, v),
            Algorithm::Phone => phone(out, v),
            Algorithm::CreditCard => credit_card(out, v),
            Algorithm::Ssn => ssn(out, v),
            Algorithm::Partial(n) => partial(out, v, *n),
            Algorithm::FirstLetter => first_letter(out, v),
            Algorithm::Uuid => uuid(out, &keyed.digest("uuid", v)),
            // Not text algorithms: mask_column routes them elsewhere.
            _ => return false,
        }
        true
    })
}

const REDACTED: &str = "REDACTED";

/// The algorithms that return a falsy value unchanged.
fn keeps_falsy(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Email
            | Algorithm::Phone
            | Algorithm::CreditCard
            | Algorithm::Ssn
            | Algorithm::Partial(_)
            | Algorithm::FirstLetter
    )
}

fn stars(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n('*', n));
}

/// `j******e@example.com`; no `@`: as `partial:2`.
pub(crate) fn email(out: &mut String, v: &str) {
    let Some((local, domain)) = v.split_once('@') else {
        return partial(out, v, 2);
    };
    let n = local.chars().count();
    if n <= 2 {
        stars(out, n);
    } else {
        let mut chars = local.chars();
        out.extend(chars.next());
        stars(out, n - 2);
        out.extend(chars.next_back());
    }
    out.push('@');
    out.push_str(domain);
}

fn digits(v: &str) -> String {
    v.chars().filter(char::is_ascii_digit).collect()
}

/// First 3 digits + `-***-****`; fewer than 10 digits: one `*` per digit (as upstream).
pub(crate) fn phone(out: &mut String, v: &str) {
    let d = digits(v);
    if d.len() < 10 {
        stars(out, d.len());
    } else {
        out.push_str(&d[..3]);
        out.push_str("-***-****");
    }
}

/// `*`s and the last 4 digits; fewer than 12 digits: one `*` per digit (as upstream).
pub(crate) fn credit_card(out: &mut String, v: &str) {
    let d = digits(v);
    if d.len() < 12 {
        stars(out, d.len());
    } else {
        stars(out, d.len() - 4);
        out.push_str(&d[d.len() - 4..]);
    }
}

/// `***-**-` and the last 4 of exactly 9 digits; otherwise one `*` per digit (as upstream).
pub(crate) fn ssn(out: &mut String, v: &str) {
    let d = digits(v);
    if d.len() == 9 {
        out.push_str("***-**-");
        out.push_str(&d[5..]);
    } else {
        stars(out, d.len());
    }
}

/// The first and last `n` characters around `*`s; all `*` when `2n` or shorter.
pub(crate) fn partial(out: &mut String, v: &str, n: usize) {
    let len = v.chars().count();
    if len <= n.saturating_mul(2) {
        return stars(out, len);
    }
    out.extend(v.chars().take(n));
    stars(out, len - 2 * n);
    out.extend(v.chars().skip(len - n));
}

/// The first character and `*`s.
pub(crate) fn first_letter(out: &mut String, v: &str) {
    let mut chars = v.chars();
    out.extend(chars.next());
    stars(out, chars.count());
}

/// 16 bytes as a version-4-shaped UUID.
pub(crate) fn uuid(out: &mut String, digest: &[u8; 32]) {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, range) in [0..4, 4..6, 6..8, 8..10, 10..16].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        write_hex(out, &b[range]);
    }
}

/// A stable Int64 token in `1..=SEQUENTIAL_MAX` per distinct `str(v)`.
pub(crate) fn sequential(cells: &Cells<'_>, keyed: &Keyed) -> ArrayRef {
    let mut scratch = String::new();
    int64_out(cells, |cell: Option<Cell<'_>>| {
        let v = py_str(cell?, &mut scratch);
        Some(sequential_token(&keyed.digest("sequential", v)))
    })
}

/// The first 8 bytes, big-endian, top bit cleared, reduced to `1..=SEQUENTIAL_MAX`.
pub(crate) fn sequential_token(digest: &[u8; 32]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    let n = u64::from_be_bytes(b) & (u64::MAX >> 1);
    // SEQUENTIAL_MAX < i64::MAX, so the cast is exact.
    (n % SEQUENTIAL_MAX + 1) as i64
}
