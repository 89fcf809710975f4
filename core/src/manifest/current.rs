//! The current manifest form (`type: nilus`, `spec.type: stream`) into a [`Pipeline`], step by
//! step: the keys, the header (`name`, `type`, `spec.type`), the two endpoints, the engine's
//! settings under `source.options`, and the rules that tie source and sink together. Every
//! step adds its problems to one list; the pipeline is made only when the list is empty.

use super::{
    as_bool, as_f64, as_u64, declared_env, endpoint, keys, knob, problem, query_pairs, shaping,
    shown, single, Endpoint, Isolation, ManifestError, Pipeline, Problem, CORE_SOURCE_KEYS,
    MAX_BATCH_BYTES, MAX_BATCH_SIZE,
};
use crate::batcher::BatchLimits;
use crate::retry::RetryPolicy;
use crate::transform::TransformSpec;
use serde_json::{Map, Value};
use std::time::Duration;

/// A manifest (legacy ones already normalised) as a pipeline, or every problem in it.
pub(super) fn parse(
    doc: &Value,
    process_env: &dyn Fn(&str) -> Option<String>,
    mut problems: Vec<Problem>,
    legacy: bool,
) -> Result<Pipeline, ManifestError> {
    let Some(root) = doc.as_object() else {
        return Err(single(
            "(document)",
            "a manifest is a YAML mapping with `name`, `type: nilus` and `spec`",
        ));
    };
    check_keys(root, legacy, &mut problems);
    let declared = declared_env(root.get("spec").and_then(Value::as_object));
    let env_fn = |name: &str| process_env(name).or_else(|| declared.get(name).cloned());
    let env: &dyn Fn(&str) -> Option<String> = &env_fn;

    let empty = Map::new();
    let (name, spec) = header(root, &mut problems);
    let spec = spec.unwrap_or(&empty);
    let source = endpoint(spec, "source", env, &mut problems);
    let sink = endpoint(spec, "sink", env, &mut problems);
    let settings = source
        .as_ref()
        .map(|src| engine_settings(src, &name, env, &mut problems));
    let isolation = source
        .as_ref()
        .and_then(|src| isolation(src, &mut problems));
    if let (Some(src), Some(snk)) = (&source, &sink) {
        check_pair(src, snk, &mut problems);
    }
    if !problems.is_empty() {
        return Err(ManifestError {
            file: None,
            problems,
        });
    }
    let (Some(mut source), Some(mut sink), Some((run_in_loop, limits, transform, retry))) =
        (source, sink, settings)
    else {
        return Err(single("spec", "source and sink are required"));
    };
    // The merge key is declared on the source (Nilus) and used by the sink.
    if let Some(pk) = source.options.get("primary_key") {
        sink.options.insert("primary_key".into(), pk.clone());
    }
    for k in CORE_SOURCE_KEYS.iter().chain(shaping::KEYS) {
        source.options.remove(*k);
    }
    Ok(Pipeline {
        name,
        source,
        sink,
        run_in_loop,
        limits,
        retry,
        transform,
        isolation,
    })
}

/// `source.options.isolation`: `process` or `none`; absent, the host's default.
fn isolation(src: &Endpoint, problems: &mut Vec<Problem>) -> Option<Isolation> {
    let v = src.options.get("isolation")?;
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("process") => Some(Isolation::Process),
        Some("none") => Some(Isolation::InProcess),
        _ => {
            problems.push(problem(
                "spec.source.options.isolation",
                format!(
                    "`{}`: must be `process` (each plugin in a child weir process, so a crash fails this pipeline alone) or `none` (in the host process)",
                    shown(v)
                ),
            ));
            None
        }
    }
}

/// Unknown keys at the top, under `spec` and in a legacy `dataosSecrets` list.
fn check_keys(root: &Map<String, Value>, legacy: bool, problems: &mut Vec<Problem>) {
    keys::check(root, "", keys::TOP, problems);
    let Some(spec) = root.get("spec").and_then(Value::as_object) else {
        return;
    };
    let known = if legacy {
        keys::LEGACY_SPEC
    } else {
        keys::SPEC
    };
    keys::check(spec, "spec", known, problems);
    if let Some(secrets) = spec.get("dataosSecrets").filter(|_| legacy) {
        keys::check_secrets(secrets, "spec.dataosSecrets", problems);
    }
}

/// `name`, `type: nilus`, `spec` and `spec.type: stream`: the name (empty when missing) and
/// the spec mapping, if there is one.
fn header<'a>(
    root: &'a Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> (String, Option<&'a Map<String, Value>>) {
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
    let spec = root.get("spec").and_then(Value::as_object);
    if spec.is_none() {
        problems.push(problem(
            "spec",
            "required: a mapping with `type: stream`, `source` and `sink`",
        ));
    }
    if root.get("spec").is_some() {
        let empty = Map::new();
        let spec = spec.unwrap_or(&empty);
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
    (name, spec)
}

/// What the engine reads from `source.options`: `run_in_loop`, the batch limits, the
/// shaping (decoding, masks, dead letters) and the retry policy.
fn engine_settings(
    src: &Endpoint,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> (bool, BatchLimits, TransformSpec, RetryPolicy) {
    let run_in_loop = match src.options.get("run_in_loop") {
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
    let transform = shaping::parse(name, &src.options, env, problems);
    let mut retry = RetryPolicy::default();
    if let Some(t) = src.options.get("max_retry_time") {
        match as_f64(t) {
            Some(s) if s > 0.0 && s.is_finite() => {
                retry.max_wait = Some(Duration::from_secs_f64(s));
            }
            _ => problems.push(problem(
                "spec.source.options.max_retry_time",
                format!(
                    "`{}`: must be a positive number of seconds (the longest one call waits between its retries)",
                    shown(t)
                ),
            )),
        }
    }
    (run_in_loop, batch_limits(src, problems), transform, retry)
}

/// `batch_size`, `batch_timeout` (or `timeout`) and `max_batch_bytes`, from the address query
/// or the options; NATS has Nilus's own defaults (100 records, 10 s).
fn batch_limits(src: &Endpoint, problems: &mut Vec<Problem>) -> BatchLimits {
    let mut limits = BatchLimits::default();
    if src.scheme == "nats+jetstream" {
        limits.max_records = 100;
        limits.timeout = Duration::from_secs(10);
    }
    let query = query_pairs(&src.address);
    if let Some(n) = knob(&query, &src.options, "batch_size", problems) {
        match as_u64(&n) {
            Some(n) if (1..=MAX_BATCH_SIZE).contains(&n) => limits.max_records = n as usize,
            _ => problems.push(problem(
                "spec.source.options.batch_size",
                format!(
                    "`{}`: must be a whole number of records from 1 to {MAX_BATCH_SIZE}",
                    shown(&n)
                ),
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
    if let Some(t) = knob(&query, &src.options, timeout_key, problems) {
        match as_f64(&t) {
            Some(s) if s > 0.0 && s.is_finite() => limits.timeout = Duration::from_secs_f64(s),
            _ => problems.push(problem(
                format!("spec.source.options.{timeout_key}"),
                "must be a positive number of seconds",
            )),
        }
    }
    if let Some(b) = knob(&query, &src.options, "max_batch_bytes", problems) {
        match as_u64(&b) {
            Some(b) if (1024..=MAX_BATCH_BYTES).contains(&b) => limits.max_bytes = b as usize,
            _ => problems.push(problem(
                "spec.source.options.max_batch_bytes",
                format!(
                    "`{}`: must be a whole number of bytes from 1024 to {MAX_BATCH_BYTES} (16 GiB)",
                    shown(&b)
                ),
            )),
        }
    }
    limits
}

/// Rules between source and sink: merge needs the source's `primary_key`, and the
/// source-side keys do not belong under the sink.
fn check_pair(src: &Endpoint, snk: &Endpoint, problems: &mut Vec<Problem>) {
    let merge = snk
        .options
        .get("incremental_strategy")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("merge"));
    if merge && !src.options.contains_key("primary_key") {
        problems.push(problem(
            "spec.sink.options.incremental_strategy",
            "merge needs spec.source.options.primary_key (the column or columns to upsert on)",
        ));
    }
    for k in ["mask", "type_hints", "primary_key"] {
        if snk.options.contains_key(k) {
            problems.push(problem(
                format!("spec.sink.options.{k}"),
                format!("`{k}` belongs under spec.source.options"),
            ));
        }
    }
}
