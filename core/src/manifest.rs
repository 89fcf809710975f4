//! Nilus stream manifests: parse, fill `{ENV}` placeholders, check, and turn into a
//! [`Pipeline`].
//!
//! Both the current form (`type: nilus`, `spec.type: stream`, `spec.source`, `spec.sink`) and
//! the legacy v1 `workflow` form (`stack: nilus:1.0`, kebab-case keys) are read; `-` and `_`
//! in option keys are the same key. `{NAME}` / `${NAME}` placeholders are filled from the
//! environment, then from `spec.envs` and literal `spec.use.projection` env templates. Every
//! problem found is reported at once, each with its key path as it is in the file.

mod current;
mod keys;
mod legacy;
mod schemas;
mod shaping;

use crate::batcher::BatchLimits;
use crate::retry::RetryPolicy;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// A source or sink: its address and options.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The address with placeholders filled in.
    pub address: String,
    /// The URI scheme (`kafka`, `nats+jetstream`, `generator`, ...); `file` for a plain path.
    pub scheme: String,
    /// The options, keys normalised (`-` becomes `_`), core-owned keys removed.
    pub options: Map<String, Value>,
}

/// A checked pipeline, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The manifest's `name`.
    pub name: String,
    /// `spec.source`.
    pub source: Endpoint,
    /// `spec.sink`.
    pub sink: Endpoint,
    /// `source.options.run_in_loop`, else `RUN_IN_LOOP`, else false.
    pub run_in_loop: bool,
    /// Micro-batch limits.
    pub limits: BatchLimits,
    /// Retry policy for retriable connector errors.
    pub retry: RetryPolicy,
    /// Decoding, shaping and masking (`format`, `type_hints`, `mask`, ...).
    pub transform: crate::transform::TransformSpec,
    /// `source.options.isolation`: where this pipeline's plugins run; `None` leaves it to the
    /// host's default (`weir run --isolation`).
    pub isolation: Option<Isolation>,
}

/// Where a pipeline's plugins run (`source.options.isolation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// `none`: loaded into the host process (the cheapest; a crash ends the process).
    InProcess,
    /// `process`: each plugin instance in a child `weir` process of its own, so a crash fails
    /// this pipeline alone.
    Process,
}

/// One problem in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key path, e.g. `spec.source.address`.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem of one manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The manifest file, when read from one.
    pub file: Option<PathBuf>,
    /// The problems, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &self.file {
                Some(file) => write!(f, "{}: {p}", file.display())?,
                None => write!(f, "{p}")?,
            }
        }
        Ok(())
    }
}

/// Keys of `source.options` that the engine owns and does not pass to the plugin.
const CORE_SOURCE_KEYS: &[&str] = &[
    "run_in_loop",
    "batch_size",
    "batch_timeout",
    "max_batch_bytes",
    "max_retry_time",
    "primary_key",
    "isolation",
];

/// Reads and checks a manifest file, filling placeholders from the process environment.
pub fn load(path: &Path) -> Result<Pipeline, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: Some(path.to_path_buf()),
        problems: vec![Problem {
            path: "(file)".into(),
            message: format!("cannot read the manifest: {e}"),
        }],
    })?;
    parse(&text, &|name| std::env::var(name).ok()).map_err(|mut e| {
        e.file = Some(path.to_path_buf());
        e
    })
}

/// Parses and checks manifest text; `env` resolves `{NAME}` placeholders.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Pipeline, ManifestError> {
    let doc: Value = match yaml_document(text) {
        Ok(v) => match serde_json::to_value(v) {
            Ok(v) => v,
            Err(e) => {
                return Err(single(
                    "(document)",
                    format!("not a mapping of plain values: {e}"),
                ))
            }
        },
        Err(e) => return Err(single("(document)", format!("not valid YAML: {e}"))),
    };
    let mut problems = Vec::new();
    let (doc, legacy) = legacy::normalize(doc, &mut problems);
    let result = current::parse(&doc, env, problems, legacy.is_some());
    match (result, legacy) {
        (Err(mut e), Some(l)) => {
            for p in &mut e.problems {
                p.path = l.path(&p.path);
            }
            Err(e)
        }
        (r, _) => r,
    }
}

/// The YAML document as Kubernetes tools read manifests: merge keys (`<<: *base`) applied,
/// and top-level `x-...` blocks (which hold anchors for reuse) left out.
fn yaml_document(text: &str) -> Result<serde_yaml::Value, serde_yaml::Error> {
    let mut v = serde_yaml::from_str::<serde_yaml::Value>(text)?;
    v.apply_merge()?;
    if let serde_yaml::Value::Mapping(m) = &mut v {
        m.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
    Ok(v)
}

/// Environment values a manifest declares: `spec.envs` and `spec.use.projection` env vars whose
/// template is a literal (secret templates are filled by the platform into the real env).
fn declared_env(spec: Option<&Map<String, Value>>) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let Some(spec) = spec else { return out };
    if let Some(envs) = spec.get("envs").and_then(Value::as_object) {
        for (k, v) in envs {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), v);
        }
    }
    let vars = spec
        .get("use")
        .and_then(|u| u.get("projection"))
        .and_then(|p| p.get("projections"))
        .and_then(|p| p.get("envVars"))
        .and_then(Value::as_array);
    for var in vars.into_iter().flatten() {
        if let (Some(k), Some(t)) = (
            var.get("key").and_then(Value::as_str),
            var.get("template").and_then(Value::as_str),
        ) {
            if !t.contains("{{") {
                out.insert(k.to_string(), t.to_string());
            }
        }
    }
    out
}

fn single(path: &str, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: None,
        problems: vec![problem(path, message)],
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

fn endpoint(
    spec: &Map<String, Value>,
    which: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Endpoint> {
    let base = format!("spec.{which}");
    let Some(section) = spec.get(which) else {
        if !spec.is_empty() {
            problems.push(problem(
                &base,
                "required: a mapping with `address` (and optional `options`)".to_string(),
            ));
        }
        return None;
    };
    let Some(section) = section.as_object() else {
        problems.push(problem(
            &base,
            "must be a mapping with `address` and optional `options`",
        ));
        return None;
    };
    keys::check(section, &base, &["address", "options"], problems);
    let address = match section.get("address").and_then(Value::as_str) {
        Some(a) if !a.trim().is_empty() => fill(a, &format!("{base}.address"), env, problems),
        _ => {
            problems.push(problem(
                format!("{base}.address"),
                "required: a URI such as `kafka://?bootstrap_servers=...` or a table path",
            ));
            return None;
        }
    };
    let mut options = Map::new();
    match section.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                let key = k.replace('-', "_");
                let path = format!("{base}.options.{key}");
                if options.contains_key(&key) {
                    problems.push(problem(
                        &path,
                        format!("given twice (as `{k}` and with the other spelling); keep one"),
                    ));
                }
                options.insert(key, fill_value(v, &path, env, problems));
            }
        }
        Some(_) => problems.push(problem(
            format!("{base}.options"),
            "must be a mapping of option names to values",
        )),
    }
    Some(Endpoint {
        scheme: scheme_of(&address),
        address,
        options,
    })
}

/// The URI scheme of an address, lower-cased; `file` for a plain path.
pub fn scheme_of(address: &str) -> String {
    match address.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => {
            scheme.to_ascii_lowercase()
        }
        _ => "file".to_string(),
    }
}

fn fill_value(
    v: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, path, env, problems)),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| fill_value(x, path, env, problems))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    (
                        k.clone(),
                        fill_value(x, &format!("{path}.{k}"), env, problems),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces `{NAME}` and `${NAME}` (NAME an identifier) with the environment's value.
fn fill(
    s: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let is_ident = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !is_ident {
            out.push_str(&rest[..open + 1]);
            rest = &rest[open + 1..];
            continue;
        }
        let prefix = &rest[..open];
        out.push_str(prefix.strip_suffix('$').unwrap_or(prefix));
        match env(name) {
            Some(value) => out.push_str(&value),
            None => problems.push(problem(
                path,
                format!("environment variable `{name}` is not set (used as {{{name}}}); set it or project it through spec.use.projection"),
            )),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn query_pairs(address: &str) -> Vec<(String, String)> {
    let Some((_, query)) = address.split_once('?') else {
        return Vec::new();
    };
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A consumer knob given in the address query or in `source.options`; both with different
/// values is a problem.
fn knob(
    query: &[(String, String)],
    options: &Map<String, Value>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let from_query = query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| Value::String(v.clone()));
    let from_options = options.get(key).cloned();
    match (from_query, from_options) {
        (Some(q), Some(o)) => {
            if as_f64(&q) != as_f64(&o) {
                problems.push(problem(
                    format!("spec.source.options.{key}"),
                    format!(
                        "{o} differs from `{key}={}` in spec.source.address; give it in one place",
                        q.as_str().unwrap_or_default()
                    ),
                ));
            }
            Some(o)
        }
        (q, o) => o.or(q),
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The largest `batch_size`: ten million records per micro-batch.
pub const MAX_BATCH_SIZE: u64 = 10_000_000;
/// The largest `max_batch_bytes`: 16 GiB.
pub const MAX_BATCH_BYTES: u64 = 16 << 30;

/// A value as the user wrote it, for messages.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
