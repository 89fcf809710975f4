//! The source options core owns for decoding and shaping: `format` (its schema options are
//! read in [`super::schemas`]), `type_hints`,
//! `max_table_nesting`, `max_nesting_depth`, `max_message_bytes`, `dead_letter`,
//! `dead_letter_raw`, `on_error`, `mask`, `headers_as_text`, plus `SCHEMA_NAMING` from the
//! environment. Each problem names its key path.

use super::schemas;
use super::{problem, scheme_of, Problem};
use crate::decode::bounds::MAX_NESTING_DEPTH_LIMIT;
use crate::decode::{Bounds, DecodeConfig, Naming, TypeHint};
use crate::transform::{OnError, TransformSpec};
use serde_json::{Map, Value};

/// Keys of `source.options` read here (and not passed to the source plugin).
pub(super) const KEYS: &[&str] = &[
    "format",
    "avro_schema",
    "proto_descriptor",
    "proto_message",
    "key_format",
    "schema_registry_url",
    "schema_registry_username",
    "schema_registry_password",
    "schema_registry_token",
    "schema_registry_ca",
    "type_hints",
    "max_table_nesting",
    "max_nesting_depth",
    "max_message_bytes",
    "dead_letter",
    "dead_letter_raw",
    "strict_masks",
    "on_error",
    "mask",
    "headers_as_text",
];

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads `max_nesting_depth` (nested levels kept as columns; the smaller of it and
/// `max_table_nesting` applies) and `max_message_bytes` (values larger become dead letters).
fn bounds(
    options: &Map<String, Value>,
    table_nesting: Option<usize>,
    bounds: &mut Bounds,
    problems: &mut Vec<Problem>,
) {
    let base = "spec.source.options";
    let whole = |key: &str, lo: usize, hi: usize, problems: &mut Vec<Problem>| {
        let v = options.get(key)?;
        match text(v).and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                problems.push(problem(
                    format!("{base}.{key}"),
                    format!(
                        "`{}`: must be a whole number from {lo} to {hi}",
                        text(v).unwrap_or_else(|| v.to_string())
                    ),
                ));
                None
            }
        }
    };
    if let Some(n) = whole("max_nesting_depth", 0, MAX_NESTING_DEPTH_LIMIT, problems) {
        bounds.max_nesting_depth = n.min(table_nesting.unwrap_or(n));
    }
    if let Some(n) = whole("max_message_bytes", 1, 1 << 30, problems) {
        bounds.max_message_bytes = n;
    }
}

/// Reads the shaping options of `source.options`.
pub(super) fn parse(
    pipeline: &str,
    options: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> TransformSpec {
    let mut decode = DecodeConfig::default();
    schemas::parse(options, &mut decode, problems);
    decode.type_hints = type_hints(options, problems);
    let mut table_nesting = None;
    if let Some(v) = options.get("max_table_nesting") {
        match text(v).and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) => {
                decode.nested_as_text = n == 0;
                decode.bounds.max_nesting_depth = decode.bounds.max_nesting_depth.min(n);
                table_nesting = Some(n);
            }
            None => problems.push(problem(
                format!("{BASE}.max_table_nesting"),
                "must be a whole number as a string, e.g. \"0\" (nested values as JSON text)",
            )),
        }
    }
    bounds(options, table_nesting, &mut decode.bounds, problems);
    decode.naming = match env("SCHEMA_NAMING") {
        Some(v) if v.trim().eq_ignore_ascii_case("direct") => Naming::Direct,
        _ => Naming::Snake,
    };
    let mask = masks(options, problems);
    // A pipeline that masks keeps payloads out of dead letters unless told otherwise.
    decode.dead_letter_raw = flag(options, "dead_letter_raw", problems).unwrap_or(mask.is_empty());
    let strict_masks = flag(options, "strict_masks", problems).unwrap_or(false);
    decode.headers_as_text = flag(options, "headers_as_text", problems).unwrap_or(false);
    let mask_key = env("WEIR_MASK_KEY")
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| format!("weir-mask/{pipeline}"))
        .into_bytes();
    TransformSpec {
        decode,
        mask,
        mask_key,
        on_error: on_error(options, problems),
        dead_letter: dead_letter(options, problems),
        strict_masks,
    }
}

/// Where the options live, for problem paths.
pub(super) const BASE: &str = "spec.source.options";

/// `type_hints: {column: type}`.
fn type_hints(
    options: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> std::collections::BTreeMap<String, TypeHint> {
    let mut hints = std::collections::BTreeMap::new();
    match options.get("type_hints") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (col, t) in m {
                match text(t).as_deref().and_then(TypeHint::parse) {
                    Some(h) => {
                        hints.insert(col.clone(), h);
                    }
                    None => problems.push(problem(
                        format!("{BASE}.type_hints.{col}"),
                        format!(
                            "Column type '{}' is not supported, supported types: {}",
                            text(t).unwrap_or_else(|| t.to_string()),
                            TypeHint::NAMES.join(", ")
                        ),
                    )),
                }
            }
        }
        Some(_) => problems.push(problem(
            format!("{BASE}.type_hints"),
            "must be a mapping of column names to types, e.g. {amount: double}",
        )),
    }
    hints
}

/// `on_error: dead_letter | fail` (`skip` is read as dead_letter).
fn on_error(options: &Map<String, Value>, problems: &mut Vec<Problem>) -> OnError {
    match options.get("on_error").map(text) {
        None => OnError::DeadLetter,
        Some(Some(v)) if v == "fail" => OnError::Fail,
        Some(Some(v)) if v == "dead_letter" || v == "skip" => OnError::DeadLetter,
        Some(other) => {
            problems.push(problem(
                format!("{BASE}.on_error"),
                format!(
                    "`{}`: use dead_letter (the default) or fail",
                    other.unwrap_or_default()
                ),
            ));
            OnError::DeadLetter
        }
    }
}

/// `dead_letter: ADDRESS`: the address and its scheme.
fn dead_letter(
    options: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<(String, String)> {
    match options.get("dead_letter") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if !a.trim().is_empty() => Some((a.clone(), scheme_of(a))),
        Some(_) => {
            problems.push(problem(
                format!("{BASE}.dead_letter"),
                "must be a Delta table path or console://",
            ));
            None
        }
    }
}

/// `mask: {column: "algorithm[:param]"}`, each algorithm checked, in manifest order.
fn masks(options: &Map<String, Value>, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let mut mask = Vec::new();
    match options.get("mask") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (col, spec) in m {
                match text(spec) {
                    Some(s) => match crate::mask::Algorithm::parse(&s) {
                        Ok(_) => mask.push((col.clone(), s)),
                        Err(e) => {
                            problems.push(problem(format!("{BASE}.mask.{col}"), e.to_string()))
                        }
                    },
                    None => problems.push(problem(
                        format!("{BASE}.mask.{col}"),
                        "must be \"algorithm[:param]\", e.g. \"partial:3\"",
                    )),
                }
            }
        }
        Some(_) => problems.push(problem(
            format!("{BASE}.mask"),
            "must be a mapping of columns to \"algorithm[:param]\", e.g. {email: hash}",
        )),
    }
    mask
}

/// A `true`/`false` option; a problem for anything else.
fn flag(options: &Map<String, Value>, key: &str, problems: &mut Vec<Problem>) -> Option<bool> {
    match options.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => match text(v).as_deref().map(str::trim) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => {
                problems.push(problem(
                    format!("spec.source.options.{key}"),
                    "must be true or false",
                ));
                None
            }
        },
    }
}
