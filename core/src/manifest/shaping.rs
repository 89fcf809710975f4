//! The source options core owns for decoding and shaping: `format` (with `avro_schema` and
//! the `schema_registry_*` options of `format: avro`), `type_hints`,
//! `max_table_nesting`, `max_nesting_depth`, `max_message_bytes`, `dead_letter`,
//! `dead_letter_raw`, `on_error`, `mask`, plus `SCHEMA_NAMING` from the
//! environment. Each problem names its key path.

use super::{problem, scheme_of, Problem};
use crate::decode::bounds::MAX_NESTING_DEPTH_LIMIT;
use crate::decode::registry::{Redacted, RegistryConfig};
use crate::decode::{AvroSpec, Bounds, DecodeConfig, Format, Naming, TypeHint};
use crate::transform::{OnError, TransformSpec};
use serde_json::{Map, Value};

/// Keys of `source.options` read here (and not passed to the source plugin).
pub(super) const KEYS: &[&str] = &[
    "format",
    "avro_schema",
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
];

fn text(v: &Value) -> Option<String> {
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
    if let Some(f) = format(options, problems) {
        decode.format = f;
    }
    decode.avro = avro(options, decode.format, problems);
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
const BASE: &str = "spec.source.options";

/// `format: json | raw`; `None` when absent or wrong.
fn format(options: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<Format> {
    match options.get("format").map(text) {
        None => None,
        Some(Some(f)) if f.eq_ignore_ascii_case("json") => Some(Format::Json),
        Some(Some(f)) if f.eq_ignore_ascii_case("raw") => Some(Format::Raw),
        Some(Some(f)) if f.eq_ignore_ascii_case("avro") => Some(Format::Avro),
        Some(other) => {
            problems.push(problem(
                format!("{BASE}.format"),
                format!(
                    "`{}` is not a format weir decodes; use json (the default), avro or raw",
                    other.unwrap_or_default()
                ),
            ));
            None
        }
    }
}

/// Where `format: avro` finds its schemas: `schema_registry_url` (one address or a comma
/// list, with `schema_registry_username`/`_password` or `_token`, and `schema_registry_ca`) or
/// `avro_schema` (the JSON text, or a path to a file holding it). Exactly one of the two.
fn avro(
    options: &Map<String, Value>,
    format: Format,
    problems: &mut Vec<Problem>,
) -> Option<AvroSpec> {
    let get = |k: &str| {
        options
            .get(k)
            .and_then(text)
            .filter(|s| !s.trim().is_empty())
    };
    let url = get("schema_registry_url");
    let inline = get("avro_schema");
    if format != Format::Avro {
        if url.is_some() || inline.is_some() {
            let key = if url.is_some() {
                "schema_registry_url"
            } else {
                "avro_schema"
            };
            problems.push(problem(
                format!("{BASE}.{key}"),
                "is read only with format: avro; set it, or drop this option",
            ));
        }
        return None;
    }
    match (url, inline) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                format!("{BASE}.avro_schema"),
                "give schema_registry_url or avro_schema, not both",
            ));
            None
        }
        (None, None) => {
            problems.push(problem(
                format!("{BASE}.format"),
                "format: avro needs schema_registry_url (messages in the Confluent wire format) or avro_schema (the writer schema, inline or a file)",
            ));
            None
        }
        (None, Some(text)) => inline_schema(text, problems),
        (Some(url), None) => Some(registry(options, url, problems)),
    }
}

/// `avro_schema`: the JSON text, or a path to a file holding it.
fn inline_schema(text: String, problems: &mut Vec<Problem>) -> Option<AvroSpec> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') || trimmed.starts_with('"') {
        text
    } else {
        let path = std::path::Path::new(text.trim());
        match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem(
                    format!("{BASE}.avro_schema"),
                    format!(
                        "`{}`: not a JSON schema and not a readable file ({e})",
                        path.display()
                    ),
                ));
                return None;
            }
        }
    };
    match crate::decode::avro::Schemas::inline(&json) {
        Ok(_) => Some(AvroSpec::Inline(json)),
        Err(e) => {
            problems.push(problem(
                format!("{BASE}.avro_schema"),
                format!("not an Avro schema weir can read: {e}"),
            ));
            None
        }
    }
}

/// The `schema_registry_*` options.
fn registry(options: &Map<String, Value>, url: String, problems: &mut Vec<Problem>) -> AvroSpec {
    let get = |k: &str| {
        options
            .get(k)
            .and_then(text)
            .filter(|s| !s.trim().is_empty())
    };
    if let Some(ca) = get("schema_registry_ca") {
        if let Err(e) = std::fs::read(ca.trim()) {
            problems.push(problem(
                format!("{BASE}.schema_registry_ca"),
                format!("`{ca}`: cannot read it ({e}); give a PEM file of the registry's CA"),
            ));
        }
    }
    AvroSpec::Registry(RegistryConfig {
        urls: url.split(',').map(|u| u.trim().to_string()).collect(),
        username: get("schema_registry_username"),
        password: get("schema_registry_password").map(Redacted),
        token: get("schema_registry_token").map(Redacted),
        ca_file: get("schema_registry_ca"),
    })
}

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
