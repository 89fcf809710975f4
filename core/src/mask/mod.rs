//! The Nilus masking catalogue, applied column-wise to Arrow batches.
//!
//! A Nilus source may mask columns before anything is written:
//! `source.options.mask: {column: "algorithm[:param]"}`. A column is a top-level name or a path
//! `a.b` into struct columns. [`Masker::parse_all`] turns those pairs into rules (reporting every
//! bad spec with its column) and [`Masker::apply`] rewrites a [`RecordBatch`]: each masked column
//! is replaced by a new array, possibly of a new type (a hash of an integer column is text).
//!
//! The semantics follow upstream ingestr's `masking.py` (which Nilus forked): the spec is split on
//! `:` into an algorithm (case-insensitive) and an optional parameter (which cannot contain `:`);
//! an empty parameter means the default. "`str(v)`" below is Python's `str`: integers in decimal,
//! floats like Python's `repr` (`12.0`, `0.1`, `1e+16`), booleans `True`/`False`, dates
//! `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]`.
//!
//! | spec | output |
//! |---|---|
//! | `hash`, `sha256` | hex SHA-256 of `str(v)` |
//! | `md5` | hex MD5 of `str(v)` |
//! | `hmac[:key]` | hex HMAC-SHA256 of `str(v)` under `key` (default `default-key`) |
//! | `redact` | `REDACTED`, for nulls too |
//! | `stars` | one `*` per character of `str(v)`; `""` for a falsy value or a null |
//! | `fixed[:text]` | the constant (default `MASKED`), for nulls too |
//! | `random` | integers: a number with as many digits; floats: uniform in `[0, 2·|v|]`; text: as many random letters and digits |
//! | `email` | `j******e@example.com`; a local part of 2 characters or fewer becomes all `*`; no `@`: as `partial:2` |
//! | `phone` | digits only; fewer than 10: one `*` per digit; else the first 3 digits + `-***-****` |
//! | `credit_card` | digits only; fewer than 12: one `*` per digit; else `*`s + the last 4 digits |
//! | `ssn` | digits only; exactly 9: `***-**-` + the last 4; else one `*` per digit |
//! | `partial[:n]` | the first and last `n` characters (default 2) around `*`s; all `*` when 2n or shorter |
//! | `first_letter` | the first character and `*`s |
//! | `uuid` | a UUID-shaped token per distinct value |
//! | `sequential` | an Int64 token per distinct value |
//! | `round[:n]` | `round(v / n) * n` (ties to even, default n = 10) as Int64; text that is no number is kept |
//! | `range[:n]` | `"lo-hi"` text: integers `lo = floor(v/n)*n`, `hi = lo+n-1`; floats `hi = lo+n` (default n = 100) |
//! | `noise[:p]` | `v + uniform(-p, p)·|v|` (default 0.1), same type (integers truncated) |
//! | `date_shift[:d]` | the date moved by up to ±d days (default 30); dates and timestamps keep their type, date text becomes `YYYY-MM-DD` |
//! | `year_only` | the year, Int64 |
//! | `month_year` | `YYYY-MM` text |
//!
//! Nulls stay null except for `redact`, `fixed` and `stars` (above). `email`, `phone`,
//! `credit_card`, `ssn`, `partial` and `first_letter` keep a falsy value (`""`, `0`, `False`) as
//! its `str(v)`. Text output is `LargeUtf8` for a `LargeUtf8` column and `Utf8` otherwise.
//! Accepted column types: Utf8, LargeUtf8, Int8..Int64, UInt8..UInt64, Float32/64, Boolean,
//! Date32, Timestamp (any unit, with or without a time zone) and dictionaries of those; an
//! algorithm that has no meaning for a type (`year_only` on a Boolean) is an error naming the
//! column and the type.
//!
//! # Where weir differs from upstream
//!
//! * **Deterministic tokens.** Upstream keeps a per-process cache, so `uuid` and `sequential`
//!   change after a restart and differ between replicas. Here both derive from
//!   `HMAC-SHA256(mask key, "<algorithm>:" + str(v))`: the same value gets the same token after a
//!   restart and on every replica that shares the key. `uuid` is the first 16 bytes shaped as a
//!   version-4 UUID (version and variant bits set). `sequential` is the first 8 bytes, big-endian,
//!   reduced to `1..=999_999_999_999_999` (exact in float64 and JSON): stable per value, **not
//!   consecutive**, and distinct values may collide (likely only beyond tens of millions of
//!   distinct values; use `uuid` when uniqueness matters).
//! * **Deterministic randomness.** `random`, `noise` and `date_shift` draw from a xoshiro256**
//!   generator seeded with the same keyed hash (tag `random`, `noise`, `date_shift`), so a value
//!   always gets the same replacement under a key. Ranges are as upstream. The algorithm name is
//!   part of the hashed text so one algorithm's output reveals nothing about another's.
//! * **Strict specs.** A parameter given to an algorithm that takes none (`md5:x`), `partial:0`,
//!   and non-positive `round`, `range`, `noise` or `date_shift` parameters are errors (upstream
//!   ignores or crashes on them). `round` and `range` also accept fractional sizes.
//! * **As upstream's code, not its docs:** `phone`, `credit_card` and `ssn` print one `*` per
//!   digit when the digit count does not fit; `range` prints `lo-(lo+n)` (`1200-1300`, the docs
//!   show an en dash); `phone` keeps the first 3 digits (`155-***-****`, the docs show
//!   `+1-555-***-****`); `hash` is 64 hex (the docs show 40). Digits are ASCII `0-9`.
//! * **Types stay typed.** `random` and `noise` keep an integer column's type (values clamped to
//!   it); `round` yields Int64 (Float64 for a fractional `n`), NaN and infinities become null.
//!   `year_only` on text yields Int64 and text that is no date becomes null (upstream passes it
//!   through, which an integer column cannot hold). `random` refuses Boolean, date and timestamp
//!   columns (upstream returns them unmasked as text). Date text is parsed from ISO 8601 / RFC
//!   3339, RFC 2822, `YYYY/MM/DD`, `MM/DD/YYYY`, `YYYYMMDD` and `Month D, YYYY` forms (upstream:
//!   dateutil), and text that is no date is kept by `date_shift` and `month_year`.
//! * A time zone that is not a fixed offset is rendered in UTC (`+00:00`) unless arrow was built
//!   with `chrono-tz`; timestamps and dates outside chrono's range count as null.
//! * A path whose parent is not a struct is an error (a missing column is skipped, as upstream),
//!   except a text column holding JSON objects (a field the decoder kept as JSON text): the
//!   path is masked inside each row's JSON ([`json_text`]), and a row where it cannot be (the
//!   text is no JSON object) is reported by [`Masker::apply_rows`] so that the pipeline sends
//!   it to dead letters instead of writing it unmasked. Rules apply in order, so two rules on
//!   one column compose.

mod algorithms;
mod cells;
mod dates;
mod json_text;
mod numeric;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_values;

use arrow::array::{Array, ArrayRef, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use std::fmt;
use std::sync::Arc;

use cells::{Cells, Keyed};

/// One masked column.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskRule {
    /// The column: a top-level name, or a path `a.b` into struct columns.
    pub column: String,
    /// What replaces its values.
    pub algorithm: Algorithm,
}

/// A masking algorithm with its parameter (see the module documentation for each).
#[derive(Clone, PartialEq)]
pub enum Algorithm {
    /// `hash` / `sha256`.
    Sha256,
    /// `md5`.
    Md5,
    /// `hmac:<key>`: HMAC-SHA256 under this key.
    Hmac(String),
    /// `redact`.
    Redact,
    /// `stars`.
    Stars,
    /// `fixed:<text>`.
    Fixed(String),
    /// `random`.
    Random,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// `credit_card`.
    CreditCard,
    /// `ssn`.
    Ssn,
    /// `partial:<n>`: characters kept at each end.
    Partial(usize),
    /// `first_letter`.
    FirstLetter,
    /// `uuid`.
    Uuid,
    /// `sequential`.
    Sequential,
    /// `round:<n>`.
    Round(f64),
    /// `range:<n>`: the bucket size.
    Range(f64),
    /// `noise:<p>`: the relative noise level.
    Noise(f64),
    /// `date_shift:<days>`: the largest shift.
    DateShift(i64),
    /// `year_only`.
    YearOnly,
    /// `month_year`.
    MonthYear,
}

/// What went wrong parsing a mask spec or masking a column.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The spec is blank.
    #[error("the mask spec is empty: write `algorithm` or `algorithm:param`, e.g. `hash` or `partial:2`")]
    Empty,
    /// More than one `:`.
    #[error("mask spec `{spec}` has more than one `:`: write `algorithm` or `algorithm:param` (the parameter cannot contain `:`)")]
    Malformed {
        /// The spec as written.
        spec: String,
    },
    /// Not a catalogue name.
    #[error("unknown masking algorithm `{name}`: use one of {}", ALGORITHM_NAMES)]
    UnknownAlgorithm {
        /// The name as written.
        name: String,
    },
    /// The parameter does not fit the algorithm.
    #[error("bad mask spec `{spec}`: {algorithm} takes {expected}")]
    BadParameter {
        /// The spec as written.
        spec: String,
        /// The algorithm.
        algorithm: &'static str,
        /// The accepted form.
        expected: &'static str,
    },
    /// The algorithm cannot mask a column of this type.
    #[error("cannot mask column `{column}` of type {data_type} with {algorithm}: it accepts {accepted}; choose another algorithm for this column")]
    UnsupportedType {
        /// The column path.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
        /// The algorithm.
        algorithm: String,
        /// The types it accepts.
        accepted: &'static str,
    },
    /// A path `a.b` where `a` is not a struct.
    #[error("cannot mask `{column}`: `{parent}` is {data_type}, not a struct; a path `a.b` only reaches into struct columns, so mask `{parent}` itself")]
    NotAStruct {
        /// The column path.
        column: String,
        /// The part of the path that is not a struct.
        parent: String,
        /// Its Arrow type.
        data_type: DataType,
    },
    /// Arrow refused the rebuilt column or batch (a bug: please report it).
    #[error("masking column `{column}` could not rebuild the batch: {source}")]
    Arrow {
        /// The column path.
        column: String,
        /// Arrow's error.
        source: ArrowError,
    },
}

const ALGORITHM_NAMES: &str =
    "hash, sha256, md5, hmac, redact, stars, fixed, random, email, phone, \
     credit_card, ssn, partial, first_letter, uuid, sequential, round, range, noise, date_shift, \
     year_only, month_year";

impl Algorithm {
    /// Parses `algorithm[:param]` (`"partial:3"`, `"HASH"`, `"hmac:k"`); an empty parameter
    /// means the default.
    pub fn parse(spec: &str) -> Result<Algorithm, MaskError> {
        if spec.trim().is_empty() {
            return Err(MaskError::Empty);
        }
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() > 2 {
            return Err(MaskError::Malformed {
                spec: spec.to_string(),
            });
        }
        let name = parts[0].trim().to_ascii_lowercase();
        let param = parts.get(1).copied().filter(|p| !p.is_empty());
        // An unreadable number becomes a value `param_ok` refuses, so the error shows the form.
        let number = |default: f64| param.map_or(default, |p| p.trim().parse().unwrap_or(f64::NAN));
        let algorithm = match name.as_str() {
            "hash" | "sha256" => Algorithm::Sha256,
            "md5" => Algorithm::Md5,
            "hmac" => Algorithm::Hmac(param.unwrap_or("default-key").to_string()),
            "redact" => Algorithm::Redact,
            "stars" => Algorithm::Stars,
            "fixed" => Algorithm::Fixed(param.unwrap_or("MASKED").to_string()),
            "random" => Algorithm::Random,
            "email" => Algorithm::Email,
            "phone" => Algorithm::Phone,
            "credit_card" => Algorithm::CreditCard,
            "ssn" => Algorithm::Ssn,
            "partial" => Algorithm::Partial(param.map_or(2, |p| p.trim().parse().unwrap_or(0))),
            "first_letter" => Algorithm::FirstLetter,
            "uuid" => Algorithm::Uuid,
            "sequential" => Algorithm::Sequential,
            "round" => Algorithm::Round(number(10.0)),
            "range" => Algorithm::Range(number(100.0)),
            "noise" => Algorithm::Noise(number(0.1)),
            "date_shift" => {
                Algorithm::DateShift(param.map_or(30, |p| p.trim().parse().unwrap_or(0)))
            }
            "year_only" => Algorithm::YearOnly,
            "month_year" => Algorithm::MonthYear,
            "" => return Err(MaskError::Empty),
            _ => {
                return Err(MaskError::UnknownAlgorithm {
                    name: parts[0].to_string(),
                })
            }
        };
        if (param.is_some() && algorithm.form().is_none()) || !algorithm.param_ok() {
            return Err(algorithm.bad_parameter(spec));
        }
        Ok(algorithm)
    }

    /// The accepted `algorithm:param` form, for the algorithms that take a parameter.
    fn form(&self) -> Option<&'static str> {
        Some(match self {
            Algorithm::Hmac(_) => "`hmac:<key>` (default key `default-key`)",
            Algorithm::Fixed(_) => "`fixed:<text>` (default `MASKED`)",
            Algorithm::Partial(_) => {
                "`partial:<n>`, n a whole number of characters kept at each end, at least 1 \
                 (default 2; use `stars` to hide everything)"
            }
            Algorithm::Round(_) => "`round:<n>`, n a positive number to round to (default 10)",
            Algorithm::Range(_) => "`range:<n>`, n a positive bucket size (default 100)",
            Algorithm::Noise(_) => {
                "`noise:<p>`, p a positive fraction of the value such as 0.1 (the default)"
            }
            Algorithm::DateShift(_) => {
                "`date_shift:<days>`, days a whole number from 1 to 1000000 (default 30)"
            }
            _ => return None,
        })
    }

    /// Whether the parameter is in range (an `Algorithm` can be built without [`parse`](Self::parse)).
    fn param_ok(&self) -> bool {
        match self {
            Algorithm::Partial(n) => *n >= 1,
            Algorithm::Round(n) | Algorithm::Range(n) | Algorithm::Noise(n) => {
                n.is_finite() && *n > 0.0
            }
            Algorithm::DateShift(d) => (1..=MAX_SHIFT_DAYS).contains(d),
            _ => true,
        }
    }

    fn bad_parameter(&self, spec: &str) -> MaskError {
        MaskError::BadParameter {
            spec: spec.to_string(),
            algorithm: self.name(),
            expected: self.form().unwrap_or("no parameter"),
        }
    }

    /// The catalogue name (`hash` is reported as `sha256`).
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Md5 => "md5",
            Algorithm::Hmac(_) => "hmac",
            Algorithm::Redact => "redact",
            Algorithm::Stars => "stars",
            Algorithm::Fixed(_) => "fixed",
            Algorithm::Random => "random",
            Algorithm::Email => "email",
            Algorithm::Phone => "phone",
            Algorithm::CreditCard => "credit_card",
            Algorithm::Ssn => "ssn",
            Algorithm::Partial(_) => "partial",
            Algorithm::FirstLetter => "first_letter",
            Algorithm::Uuid => "uuid",
            Algorithm::Sequential => "sequential",
            Algorithm::Round(_) => "round",
            Algorithm::Range(_) => "range",
            Algorithm::Noise(_) => "noise",
            Algorithm::DateShift(_) => "date_shift",
            Algorithm::YearOnly => "year_only",
            Algorithm::MonthYear => "month_year",
        }
    }
}

/// The largest `date_shift` parameter (about 2700 years).
const MAX_SHIFT_DAYS: i64 = 1_000_000;

/// The spec form; an HMAC key is never printed.
impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Algorithm::Fixed(text) => write!(f, "{name}:{text}"),
            Algorithm::Partial(n) => write!(f, "{name}:{n}"),
            Algorithm::Round(n) | Algorithm::Range(n) | Algorithm::Noise(n) => {
                write!(f, "{name}:{n}")
            }
            Algorithm::DateShift(d) => write!(f, "{name}:{d}"),
            _ => f.write_str(name),
        }
    }
}

/// As [`Display`](fmt::Display), so logging a rule never prints an HMAC key.
impl fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Algorithm::Hmac(_) => f.write_str("Hmac(<redacted>)"),
            other => write!(f, "Algorithm({other})"),
        }
    }
}

/// Applies mask rules to batches. Cheap to clone; holds the key of the deterministic tokens.
#[derive(Clone)]
pub struct Masker {
    rules: Vec<MaskRule>,
    keyed: Keyed,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Masker {
    /// A masker for these rules; `key` keys `uuid`, `sequential`, `random`, `noise` and
    /// `date_shift` (replicas that must agree on tokens share it).
    pub fn new(rules: Vec<MaskRule>, key: &[u8]) -> Self {
        Self {
            rules,
            keyed: Keyed::new(key),
        }
    }

    /// Parses `(column, spec)` pairs; every bad spec is reported with its column.
    pub fn parse_all(
        specs: &[(String, String)],
        key: &[u8],
    ) -> Result<Masker, Vec<(String, MaskError)>> {
        let mut rules = Vec::with_capacity(specs.len());
        let mut errors = Vec::new();
        for (column, spec) in specs {
            match Algorithm::parse(spec) {
                Ok(algorithm) => rules.push(MaskRule {
                    column: column.clone(),
                    algorithm,
                }),
                Err(e) => errors.push((column.clone(), e)),
            }
        }
        if errors.is_empty() {
            Ok(Masker::new(rules, key))
        } else {
            Err(errors)
        }
    }

    /// The rules, in the order they apply.
    pub fn rules(&self) -> &[MaskRule] {
        &self.rules
    }

    /// The rules' columns that name nothing in `schema`: no top-level column of that name,
    /// and no path through struct columns to it (a path into a text column counts as found:
    /// its JSON may hold it).
    pub fn missing(&self, schema: &Schema) -> Vec<&str> {
        self.rules
            .iter()
            .map(|r| r.column.as_str())
            .filter(|c| !resolves(schema.fields(), c))
            .collect()
    }

    /// Applies every rule to the batch: replaces the column (top level or nested `a.b` inside
    /// struct columns) with the masked array; a missing column is skipped. The returned batch's
    /// schema has the masked columns' new types. A row that cannot be masked (see
    /// [`Masker::apply_rows`]) fails the whole batch.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, MaskError> {
        let (out, failed) = self.apply_rows(batch)?;
        match failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(out),
        }
    }

    /// [`Masker::apply`], reporting rows that cannot be masked instead of failing: a path into
    /// a JSON text column whose text in that row is no JSON object. Those rows hold nulls in
    /// the masked column of the returned batch (never their unmasked text); the caller drops
    /// them. Sorted by row, one entry per row.
    pub fn apply_rows(
        &self,
        batch: &RecordBatch,
    ) -> Result<(RecordBatch, Vec<(usize, MaskError)>), MaskError> {
        let mut failed = Vec::new();
        if self.rules.is_empty() {
            return Ok((batch.clone(), failed));
        }
        let schema = batch.schema();
        let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for rule in &self.rules {
            let column = rule.column.as_str();
            // A top-level name containing dots wins over a nested path.
            let (index, rest) = match fields.iter().position(|f| f.name() == column) {
                Some(i) => (i, Vec::new()),
                None => {
                    let mut parts = column.split('.');
                    let head = parts.next().unwrap_or_default();
                    match fields.iter().position(|f| f.name() == head) {
                        Some(i) if column.contains('.') => (i, parts.collect()),
                        _ => continue,
                    }
                }
            };
            let masked = self.mask_path(
                &fields[index],
                &columns[index],
                &rest,
                fields[index].name(),
                rule,
                &mut failed,
            )?;
            if let Some((field, array)) = masked {
                fields[index] = field;
                columns[index] = array;
            }
        }
        let schema = Arc::new(Schema::new_with_metadata(
            Fields::from(fields),
            schema.metadata().clone(),
        ));
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let out =
            RecordBatch::try_new_with_options(schema, columns, &options).map_err(|source| {
                MaskError::Arrow {
                    column: "<batch>".to_string(),
                    source,
                }
            })?;
        failed.sort_by_key(|(r, _)| *r);
        failed.dedup_by_key(|(r, _)| *r);
        Ok((out, failed))
    }

    /// Masks `path` below this field; `None` when the path names no column.
    fn mask_path(
        &self,
        field: &FieldRef,
        array: &ArrayRef,
        path: &[&str],
        walked: &str,
        rule: &MaskRule,
        failed: &mut Vec<(usize, MaskError)>,
    ) -> Result<Option<(FieldRef, ArrayRef)>, MaskError> {
        if !path.is_empty() && matches!(array.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
            let masked = json_text::mask(array, path, walked, rule, &self.keyed)?;
            failed.extend(masked.failed);
            let field = Field::clone(field)
                .with_data_type(DataType::Utf8)
                .with_nullable(true);
            return Ok(Some((Arc::new(field), masked.array)));
        }
        let Some((child_name, rest)) = path.split_first() else {
            let masked = mask_column(&rule.algorithm, array, &rule.column, &self.keyed)?;
            let nullable = field.is_nullable() || masked.null_count() > 0;
            let field = Field::clone(field)
                .with_data_type(masked.data_type().clone())
                .with_nullable(nullable);
            return Ok(Some((Arc::new(field), masked)));
        };
        let Some(parent) = array.as_any().downcast_ref::<StructArray>() else {
            return Err(MaskError::NotAStruct {
                column: rule.column.clone(),
                parent: walked.to_string(),
                data_type: array.data_type().clone(),
            });
        };
        let DataType::Struct(child_fields) = field.data_type() else {
            return Err(MaskError::NotAStruct {
                column: rule.column.clone(),
                parent: walked.to_string(),
                data_type: field.data_type().clone(),
            });
        };
        let Some(i) = child_fields.iter().position(|f| f.name() == child_name) else {
            return Ok(None);
        };
        let walked = format!("{walked}.{child_name}");
        let Some((child_field, child)) = self.mask_path(
            &child_fields[i],
            parent.column(i),
            rest,
            &walked,
            rule,
            failed,
        )?
        else {
            return Ok(None);
        };
        let mut fields: Vec<FieldRef> = child_fields.iter().cloned().collect();
        let mut children = parent.columns().to_vec();
        fields[i] = child_field;
        children[i] = child;
        let fields = Fields::from(fields);
        let rebuilt = StructArray::try_new(fields.clone(), children, parent.nulls().cloned())
            .map_err(|source| MaskError::Arrow {
                column: rule.column.clone(),
                source,
            })?;
        let field = Field::clone(field).with_data_type(DataType::Struct(fields));
        Ok(Some((Arc::new(field), Arc::new(rebuilt))))
    }
}

/// Whether `column` (a name, or a path `a.b`) names a column of `fields`.
fn resolves(fields: &Fields, column: &str) -> bool {
    if fields.iter().any(|f| f.name() == column) {
        return true;
    }
    let mut parts = column.split('.');
    let mut fields = fields.clone();
    while let Some(part) = parts.next() {
        let Some(f) = fields.iter().find(|f| f.name() == part) else {
            return false;
        };
        match f.data_type() {
            _ if parts.clone().next().is_none() => return true,
            DataType::Struct(children) => fields = children.clone(),
            DataType::Utf8 | DataType::LargeUtf8 => return true,
            _ => return false,
        }
    }
    false
}

/// Masks one leaf column.
fn mask_column(
    algorithm: &Algorithm,
    array: &ArrayRef,
    column: &str,
    keyed: &Keyed,
) -> Result<ArrayRef, MaskError> {
    if !algorithm.param_ok() {
        return Err(algorithm.bad_parameter(&algorithm.to_string()));
    }
    let unsupported = |data_type: &DataType, accepted: &'static str| MaskError::UnsupportedType {
        column: column.to_string(),
        data_type: data_type.clone(),
        algorithm: algorithm.to_string(),
        accepted,
    };
    let array = match array.data_type() {
        DataType::Dictionary(_, values) => {
            cast(array, values).map_err(|source| MaskError::Arrow {
                column: column.to_string(),
                source,
            })?
        }
        _ => Arc::clone(array),
    };
    let Some(cells) = Cells::new(&array) else {
        return Err(unsupported(array.data_type(), cells::SUPPORTED));
    };
    let masked = match algorithm {
        Algorithm::Sequential => Ok(algorithms::sequential(&cells, keyed)),
        Algorithm::Random => numeric::random(&cells, &array, keyed),
        Algorithm::Round(n) => numeric::round(&cells, *n),
        Algorithm::Range(n) => numeric::range(&cells, *n),
        Algorithm::Noise(p) => numeric::noise(&cells, &array, *p, keyed),
        Algorithm::DateShift(days) => dates::date_shift(&cells, &array, *days, keyed),
        Algorithm::YearOnly => dates::year_only(&cells),
        Algorithm::MonthYear => dates::month_year(&cells),
        text => Ok(algorithms::text(text, &cells, keyed)),
    };
    masked.map_err(|accepted| unsupported(array.data_type(), accepted))
}
