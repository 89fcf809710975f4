//! Nilus stream manifests: parse, fill `{ENV}` placeholders, check, and turn into a
//! [`Pipeline`].
//!
//! This covers the current form (`type: nilus`, `spec.type: stream`, `spec.source`,
//! `spec.sink`); every problem found is reported at once, each with its key path.

use crate::batcher::BatchLimits;
use crate::retry::RetryPolicy;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    let mut problems = Vec::new();
    let doc: Value = match serde_yaml::from_str::<serde_yaml::Value>(text) {
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
    let Some(root) = doc.as_object() else {
        return Err(single(
            "(document)",
            "a manifest is a YAML mapping with `name`, `type: nilus` and `spec`",
        ));
    };

    let name = match root.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => {
            problems.push(problem(
                "name",
                "required: the pipeline's name, e.g. `name: orders-stream`",
            ));
            String::new()
        }
    };
    match root.get("type").and_then(Value::as_str) {
        Some("nilus") => {}
        Some(other) => problems.push(problem(
            "type",
            format!("`{other}` is not supported; use `type: nilus`"),
        )),
        None => problems.push(problem("type", "required: `type: nilus`")),
    }
    let empty = Map::new();
    let spec = match root.get("spec").and_then(Value::as_object) {
        Some(s) => s,
        None => {
            problems.push(problem(
                "spec",
                "required: a mapping with `type: stream`, `source` and `sink`",
            ));
            &empty
        }
    };
    if root.get("spec").is_some() {
        match spec.get("type").and_then(Value::as_str) {
            Some("stream") => {}
            Some(other) => problems.push(problem(
                "spec.type",
                format!("`{other}` pipelines are not run by weir; use `spec.type: stream`"),
            )),
            None => problems.push(problem("spec.type", "required: `spec.type: stream`")),
        }
        if spec.contains_key("schedule") {
            problems.push(problem(
                "spec.schedule",
                "stream pipelines are long-running services, not cron jobs: remove `spec.schedule` (use `run_in_loop: true` to keep consuming)",
            ));
        }
    }

    let source = endpoint(spec, "source", env, &mut problems);
    let sink = endpoint(spec, "sink", env, &mut problems);

    let mut run_in_loop = false;
    let mut limits = BatchLimits::default();
    if let Some(src) = &source {
        if src.scheme == "nats+jetstream" {
            limits.max_records = 100;
            limits.timeout = Duration::from_secs(10);
        }
        run_in_loop = match src.options.get("run_in_loop") {
            Some(v) => as_bool(v).unwrap_or_else(|| {
                problems.push(problem(
                    "spec.source.options.run_in_loop",
                    "must be true or false",
                ));
                false
            }),
            None => match env("RUN_IN_LOOP") {
                Some(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
                None => false,
            },
        };
        let query = query_pairs(&src.address);
        if let Some(n) = knob(&query, &src.options, "batch_size", &mut problems) {
            match as_u64(&n) {
                Some(n) if n > 0 => limits.max_records = n as usize,
                _ => problems.push(problem(
                    "spec.source.options.batch_size",
                    "must be a positive whole number of records",
                )),
            }
        }
        let timeout_key = if src.options.contains_key("batch_timeout")
            || query.iter().any(|(k, _)| k == "batch_timeout")
        {
            "batch_timeout"
        } else {
            "timeout"
        };
        if let Some(t) = knob(&query, &src.options, timeout_key, &mut problems) {
            match as_f64(&t) {
                Some(s) if s > 0.0 && s.is_finite() => limits.timeout = Duration::from_secs_f64(s),
                _ => problems.push(problem(
                    format!("spec.source.options.{timeout_key}"),
                    "must be a positive number of seconds",
                )),
            }
        }
        if let Some(b) = knob(&query, &src.options, "max_batch_bytes", &mut problems) {
            match as_u64(&b) {
                Some(b) if b > 0 => limits.max_bytes = b as usize,
                _ => problems.push(problem(
                    "spec.source.options.max_batch_bytes",
                    "must be a positive number of bytes",
                )),
            }
        }
    }

    if !problems.is_empty() {
        return Err(ManifestError {
            file: None,
            problems,
        });
    }
    let (Some(mut source), Some(sink)) = (source, sink) else {
        return Err(single("spec", "source and sink are required"));
    };
    for k in CORE_SOURCE_KEYS {
        source.options.remove(*k);
    }
    Ok(Pipeline {
        name,
        source,
        sink,
        run_in_loop,
        limits,
        retry: RetryPolicy::default(),
    })
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
    for key in section.keys() {
        if key != "address" && key != "options" {
            problems.push(problem(
                format!("{base}.{key}"),
                "unknown key: a source or sink has `address` and `options`",
            ));
        }
    }
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

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_X" => Some("alice".into()),
            _ => None,
        }
    }

    const GOOD: &str = r#"
name: demo
version: v1alpha
type: nilus
spec:
  type: stream
  compute: runnable-default
  source:
    address: "generator://?count=10&user={USER_X}"
    options:
      run-in-loop: false
      batch_size: 500
      batch_timeout: 0.5
  sink:
    address: /tmp/weir
    options:
      dest_table: raw.events
"#;

    #[test]
    fn parses_the_current_form() {
        let p = parse(GOOD, &env).unwrap();
        assert_eq!(p.name, "demo");
        assert_eq!(p.source.scheme, "generator");
        assert_eq!(p.source.address, "generator://?count=10&user=alice");
        assert_eq!(p.sink.scheme, "file");
        assert!(!p.run_in_loop);
        assert_eq!(p.limits.max_records, 500);
        assert_eq!(p.limits.timeout, Duration::from_millis(500));
        assert!(
            !p.source.options.contains_key("batch_size"),
            "core keys are not passed on"
        );
        assert_eq!(p.sink.options["dest_table"], "raw.events");
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let text = r#"
type: flow
spec:
  type: batch
  schedule: {crons: ["* * * * *"]}
  source:
    address: "kafka://?bootstrap_servers={NOPE}"
    options: {batch_size: -3}
  sink: {}
"#;
        let e = parse(text, &env).unwrap_err();
        let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "name",
                "type",
                "spec.type",
                "spec.schedule",
                "spec.source.address",
                "spec.sink.address",
                "spec.source.options.batch_size"
            ],
            "{e}"
        );
        assert!(e.to_string().contains("`NOPE` is not set"));
    }

    #[test]
    fn the_manifest_wins_over_run_in_loop_env() {
        let with_env = |n: &str| match n {
            "RUN_IN_LOOP" => Some("true".to_string()),
            other => env(other),
        };
        assert!(!parse(GOOD, &with_env).unwrap().run_in_loop);
        let no_flag = GOOD.replace("      run-in-loop: false\n", "");
        assert!(parse(&no_flag, &with_env).unwrap().run_in_loop);
    }

    #[test]
    fn knob_in_both_places_must_agree() {
        let text = GOOD.replace("count=10", "count=10&batch_size=7");
        let e = parse(&text, &env).unwrap_err();
        assert_eq!(e.problems[0].path, "spec.source.options.batch_size");
    }

    #[test]
    fn plain_paths_and_file_uris_are_files() {
        assert_eq!(scheme_of("/data/tables"), "file");
        assert_eq!(scheme_of("relative/dir"), "file");
        assert_eq!(scheme_of("file:///data"), "file");
        assert_eq!(scheme_of("NATS+JetStream://h:4222"), "nats+jetstream");
    }
}
