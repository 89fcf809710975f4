//! The Delta sink's options and where its table lives.
//!
//! Addresses: a directory path, `file://`, `delta://` (local), or `s3://bucket/path` (S3 or an
//! S3-compatible store). The table is `<address>/<dest_table>`, a `schema.table` name becoming
//! `schema/table`. S3 settings come from the options (`aws_region`, `aws_endpoint`, ...) or
//! the usual AWS environment variables.

use crate::partition::PartitionField;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use url::Url;
use weir_sdk::{Error, SinkConfig};

/// How batches land in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Every row is added.
    Append,
    /// Rows upsert on the primary key.
    Merge,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Append => "append",
            Self::Merge => "merge",
        })
    }
}

/// Where the table is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Location {
    /// A local directory.
    Local(PathBuf),
    /// An object-store URL (`s3://bucket/path/`).
    Remote(Url),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::Remote(u) => write!(f, "{u}"),
        }
    }
}

/// Where and how to write.
#[derive(Clone, PartialEq)]
pub(crate) struct DeltaConfig {
    pub(crate) location: Location,
    pub(crate) strategy: Strategy,
    /// Columns of the merge key (`source.options.primary_key`, passed on by the host).
    pub(crate) primary_key: Vec<String>,
    /// `partition_by`, in index order.
    pub(crate) partition_by: Vec<PartitionField>,
    /// A Delta checkpoint every this many commits.
    pub(crate) checkpoint_interval: u64,
    /// How long log entries are kept once a checkpoint covers them (a Delta interval).
    pub(crate) log_retention: String,
    /// Bin-pack small files every this many commits (0: never).
    pub(crate) compact_every: u64,
    /// The file size optimize aims for.
    pub(crate) target_file_size: u64,
    /// Object-store options handed to deltalake (`AWS_REGION`, ...). Secrets inside.
    pub(crate) storage: HashMap<String, String>,
}

impl fmt::Debug for DeltaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let storage: Vec<String> = self
            .storage
            .iter()
            .map(|(k, v)| {
                if is_secret(k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        f.debug_struct("DeltaConfig")
            .field("location", &self.location)
            .field("strategy", &self.strategy)
            .field("primary_key", &self.primary_key)
            .field("partition_by", &self.partition_by)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("log_retention", &self.log_retention)
            .field("compact_every", &self.compact_every)
            .field("storage", &storage)
            .finish()
    }
}

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("secret") || k.contains("session_token") || k.contains("password")
}

/// The option keys, for the error on an unknown one.
const KNOWN: &[&str] = &[
    "dest_table",
    "incremental_strategy",
    "primary_key",
    "partition_by",
    "checkpoint_interval",
    "log_retention",
    "compact_every",
    "target_file_size",
    "aws_region",
    "aws_endpoint",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_allow_http",
];

/// Options that map straight to a deltalake storage key, and the environment variable read
/// when the option is absent.
const STORAGE: &[(&str, &str, &str)] = &[
    ("aws_region", "AWS_REGION", "AWS_REGION"),
    ("aws_endpoint", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    (
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        "AWS_ACCESS_KEY_ID",
    ),
    (
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ),
    (
        "aws_session_token",
        "AWS_SESSION_TOKEN",
        "AWS_SESSION_TOKEN",
    ),
    ("aws_allow_http", "AWS_ALLOW_HTTP", "AWS_ALLOW_HTTP"),
];

pub(crate) fn schema() -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "dest_table": {"type": "string", "description": "table under the address; `schema.table` becomes schema/table"},
            "incremental_strategy": {"type": "string", "enum": ["append", "merge"], "default": "append"},
            "primary_key": {"description": "merge key (set under source.options; the host passes it on): a column, `a,b`, or a list"},
            "partition_by": {"type": "array", "description": "Nilus partition spec: items {column, type: identity|year|month|day|hour|bucket, name, index, bucket_count}"},
            "checkpoint_interval": {"type": "integer", "minimum": 1, "default": 10, "description": "a Delta checkpoint every N commits"},
            "log_retention": {"type": "string", "default": "30 days", "description": "log entries older than this are removed after a checkpoint"},
            "compact_every": {"type": "integer", "minimum": 0, "default": 0, "description": "bin-pack small files every N commits (0: never)"},
            "target_file_size": {"type": "integer", "minimum": 1, "default": 104857600, "description": "bytes per file after compaction"},
            "aws_region": {"type": "string"},
            "aws_endpoint": {"type": "string", "description": "S3-compatible endpoint URL"},
            "aws_access_key_id": {"type": "string"},
            "aws_secret_access_key": {"type": "string"},
            "aws_session_token": {"type": "string"},
            "aws_allow_http": {"type": "boolean"}
        },
        "additionalProperties": false
    })
}

impl DeltaConfig {
    pub(crate) fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        Self::from_sink_with_env(cfg, &|k| std::env::var(k).ok())
    }

    pub(crate) fn from_sink_with_env(
        cfg: &SinkConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let mut location = base_location(&cfg.address, &mut problems);
        let mut strategy = Strategy::Append;
        let mut primary_key = Vec::new();
        let mut partition_by = Vec::new();
        let mut checkpoint_interval = 10;
        let mut log_retention = "interval 30 days".to_string();
        let mut compact_every = 0;
        let mut target_file_size = 100 * 1024 * 1024;
        let mut storage = HashMap::new();
        for (k, v) in &cfg.options {
            let at = format!("spec.sink.options.{k}");
            match k.as_str() {
                "dest_table" => match v.as_str() {
                    Some(t) => {
                        let parts: Vec<&str> = t.split('.').collect();
                        if parts
                            .iter()
                            .any(|p| p.is_empty() || p.contains('/') || *p == "..")
                        {
                            problems.push(format!("{at} `{t}` must be `table` or `schema.table`"));
                        }
                        for p in parts {
                            location = location.join(p);
                        }
                    }
                    None => problems.push(format!("{at} must be a string")),
                },
                "incremental_strategy" => {
                    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("append") => strategy = Strategy::Append,
                        Some("merge") => strategy = Strategy::Merge,
                        _ => problems.push(format!(
                            "{at} `{}` is not served by the delta sink; use append or merge",
                            show(v)
                        )),
                    }
                }
                "primary_key" => match key_columns(v) {
                    Some(cols) => primary_key = cols,
                    None => problems.push(format!(
                        "{at} must be a column name, `a,b`, or a list of column names"
                    )),
                },
                "partition_by" => match crate::partition::parse(v) {
                    Ok(p) => partition_by = p,
                    Err(e) => problems.push(format!("{at}: {e}")),
                },
                "checkpoint_interval" => match v.as_u64() {
                    Some(n) if n > 0 => checkpoint_interval = n,
                    _ => problems.push(format!("{at} must be a positive number of commits")),
                },
                "log_retention" => match v.as_str().and_then(parse_interval) {
                    Some(s) => log_retention = s,
                    None => problems.push(format!(
                        "{at} must be a duration such as `7 days` or `12 hours`"
                    )),
                },
                "compact_every" => match v.as_u64() {
                    Some(n) => compact_every = n,
                    None => problems.push(format!("{at} must be a number of commits (0: never)")),
                },
                "target_file_size" => match v.as_u64() {
                    Some(n) if n > 0 => target_file_size = n,
                    _ => problems.push(format!("{at} must be a positive number of bytes")),
                },
                key => match STORAGE.iter().find(|(o, _, _)| *o == key) {
                    Some((_, storage_key, _)) => match v {
                        Value::String(s) => {
                            storage.insert(storage_key.to_string(), s.clone());
                        }
                        Value::Bool(b) => {
                            storage.insert(storage_key.to_string(), b.to_string());
                        }
                        _ => problems.push(format!("{at} must be a string")),
                    },
                    None => problems.push(format!(
                        "{at}: unknown option (known: {})",
                        KNOWN.join(", ")
                    )),
                },
            }
        }
        if matches!(location, Location::Remote(_)) {
            for (_, storage_key, var) in STORAGE {
                if !storage.contains_key(*storage_key) {
                    if let Some(v) = env(var) {
                        storage.insert(storage_key.to_string(), v);
                    }
                }
            }
            if let Some(endpoint) = storage.get("AWS_ENDPOINT_URL") {
                if endpoint.starts_with("http://") && !storage.contains_key("AWS_ALLOW_HTTP") {
                    storage.insert("AWS_ALLOW_HTTP".into(), "true".into());
                }
            }
            if !storage.contains_key("AWS_REGION") {
                problems.push(
                    "spec.sink.options.aws_region: an S3 table needs a region (the option or AWS_REGION)"
                        .into(),
                );
            }
        } else if !storage.is_empty() {
            problems.push(format!(
                "spec.sink.options: {} only apply to an s3:// address",
                storage_names(&storage)
            ));
        }
        if strategy == Strategy::Merge && primary_key.is_empty() {
            problems.push(
                "spec.sink.options.incremental_strategy: merge needs spec.source.options.primary_key (the column or columns to upsert on)"
                    .into(),
            );
        }
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        Ok(Self {
            location,
            strategy,
            primary_key,
            partition_by,
            checkpoint_interval,
            log_retention,
            compact_every,
            target_file_size,
            storage,
        })
    }

    /// The table's URL (a directory URL, ending in `/`).
    pub(crate) fn url(&self) -> Result<Url, Error> {
        match &self.location {
            Location::Remote(u) => Ok(u.clone()),
            Location::Local(p) => {
                let dir = std::path::absolute(p)
                    .map_err(|e| Error::config(format!("table path {}: {e}", p.display())))?;
                Url::from_directory_path(&dir).map_err(|_| {
                    Error::config(format!(
                        "table path {} is not a directory path",
                        dir.display()
                    ))
                })
            }
        }
    }
}

fn storage_names(storage: &HashMap<String, String>) -> String {
    let mut names: Vec<String> = STORAGE
        .iter()
        .filter(|(_, k, _)| storage.contains_key(*k))
        .map(|(o, _, _)| o.to_string())
        .collect();
    names.sort();
    names.join(", ")
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Location {
    fn join(self, part: &str) -> Self {
        match self {
            Self::Local(p) => Self::Local(p.join(part)),
            Self::Remote(u) => {
                let mut s = u.to_string();
                if !s.ends_with('/') {
                    s.push('/');
                }
                s.push_str(part);
                s.push('/');
                Self::Remote(Url::parse(&s).unwrap_or(u))
            }
        }
    }
}

fn base_location(address: &str, problems: &mut Vec<String>) -> Location {
    match address.split_once("://") {
        None => Location::Local(PathBuf::from(address)),
        Some(("file", _)) => match Url::parse(address).ok().and_then(|u| u.to_file_path().ok()) {
            Some(p) => Location::Local(p),
            None => {
                problems.push(format!(
                    "spec.sink.address `{address}` is not a local file URI"
                ));
                Location::Local(PathBuf::new())
            }
        },
        Some(("delta", rest)) => Location::Local(PathBuf::from(rest)),
        Some(("s3" | "s3a", _)) => match Url::parse(address) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {
                let mut s = format!("s3://{}{}", u.host_str().unwrap_or_default(), u.path());
                if !s.ends_with('/') {
                    s.push('/');
                }
                match Url::parse(&s) {
                    Ok(u) => Location::Remote(u),
                    Err(e) => {
                        problems.push(format!("spec.sink.address `{address}`: {e}"));
                        Location::Local(PathBuf::new())
                    }
                }
            }
            _ => {
                problems.push(format!(
                    "spec.sink.address `{address}` must be s3://bucket[/path]"
                ));
                Location::Local(PathBuf::new())
            }
        },
        Some((scheme, _)) => {
            problems.push(format!(
                "spec.sink.address: scheme `{scheme}` is not served by the delta sink"
            ));
            Location::Local(PathBuf::new())
        }
    }
}

/// `id`, `a,b` or `["a", "b"]`.
fn key_columns(v: &Value) -> Option<Vec<String>> {
    let cols: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|c| c.trim().to_string()).collect(),
        Value::Array(a) => a
            .iter()
            .map(|c| c.as_str().map(|c| c.trim().to_string()))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    (!cols.is_empty() && cols.iter().all(|c| !c.is_empty())).then_some(cols)
}

/// `7 days`, `12 hours`, `30 minutes` (singular too) to Delta's `interval N unit`.
fn parse_interval(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("interval ").unwrap_or(s);
    let (n, unit) = s.split_once(' ')?;
    let n: u64 = n.trim().parse().ok()?;
    let unit = match unit.trim().trim_end_matches('s') {
        "day" => "days",
        "hour" => "hours",
        "minute" => "minutes",
        "second" => "seconds",
        "week" => "weeks",
        _ => return None,
    };
    Some(format!("interval {n} {unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str, options: Value) -> SinkConfig {
        SinkConfig {
            address: address.into(),
            options: options.as_object().cloned().unwrap_or_default(),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn dest_table_goes_under_the_address() {
        let c = DeltaConfig::from_sink(&cfg(
            "/data/lake",
            serde_json::json!({"dest_table": "raw.events"}),
        ))
        .unwrap();
        assert_eq!(
            c.location,
            Location::Local(PathBuf::from("/data/lake/raw/events"))
        );
        let c = DeltaConfig::from_sink(&cfg("file:///data/lake", serde_json::json!({}))).unwrap();
        assert_eq!(c.location, Location::Local(PathBuf::from("/data/lake")));
        assert_eq!(c.checkpoint_interval, 10);
        assert_eq!(c.log_retention, "interval 30 days");
    }

    #[test]
    fn s3_address_takes_options_then_environment_and_hides_secrets() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("from-env".to_string()),
            _ => None,
        };
        let c = DeltaConfig::from_sink_with_env(
            &cfg(
                "s3://lake/root",
                serde_json::json!({"dest_table": "raw.events", "aws_endpoint": "http://127.0.0.1:9000",
                    "aws_access_key_id": "AK", "aws_secret_access_key": "hunter2"}),
            ),
            &env,
        )
        .unwrap();
        assert_eq!(c.url().unwrap().as_str(), "s3://lake/root/raw/events/");
        assert_eq!(c.storage["AWS_REGION"], "eu-west-1");
        assert_eq!(c.storage["AWS_SECRET_ACCESS_KEY"], "hunter2");
        assert_eq!(c.storage["AWS_ALLOW_HTTP"], "true");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let e = DeltaConfig::from_sink_with_env(&cfg("s3://lake", serde_json::json!({})), &no_env)
            .unwrap_err();
        assert!(e.message.contains("aws_region"), "{e}");
    }

    #[test]
    fn merge_needs_a_key_and_takes_one_or_several_columns() {
        let e = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"incremental_strategy": "merge"}),
        ))
        .unwrap_err();
        assert!(e.message.contains("primary_key"), "{e}");
        let c = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"incremental_strategy": "merge", "primary_key": "a, b"}),
        ))
        .unwrap();
        assert_eq!(c.strategy, Strategy::Merge);
        assert_eq!(c.primary_key, vec!["a", "b"]);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let e = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"dest_table": "../up", "incremental_strategy": "scd2", "colour": "red",
                "checkpoint_interval": 0, "log_retention": "soon", "aws_region": "x"}),
        ))
        .unwrap_err();
        for needle in [
            "dest_table",
            "scd2",
            "colour",
            "checkpoint_interval",
            "log_retention",
            "aws_region only apply",
        ] {
            assert!(e.message.contains(needle), "{needle}: {e}");
        }
        let e = DeltaConfig::from_sink(&cfg("gs://b/x", serde_json::json!({}))).unwrap_err();
        assert!(e.message.contains("`gs`"), "{e}");
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("7 days").as_deref(), Some("interval 7 days"));
        assert_eq!(
            parse_interval("1 hour").as_deref(),
            Some("interval 1 hours")
        );
        assert_eq!(
            parse_interval("interval 2 weeks").as_deref(),
            Some("interval 2 weeks")
        );
        assert_eq!(parse_interval("forever"), None);
    }
}
