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
pub(crate) use weir_sdk::options::Strategy;
use weir_sdk::options::{self, KeyColumns, Secret, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SinkConfig};

/// `spec.sink.options` of a Delta sink.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct DeltaOptions {
    /// The table under the address: `events` is the directory `<address>/events`, and
    /// `schema.table` becomes `<address>/schema/table`. Absent: the address is the table.
    /// Example: `raw.events`.
    #[serde(default)]
    pub(crate) dest_table: Option<String>,
    /// `append` adds every row; `merge` upserts on `primary_key` (the last row per key in a
    /// batch wins; needs the plugin's `datafusion` feature, on by default).
    #[serde(default)]
    pub(crate) incremental_strategy: Strategy,
    /// The merge key: a column, `a,b`, or a list of columns. Set under
    /// `spec.source.options`, as Nilus does; the host passes it on. Example: `id`.
    #[serde(default)]
    pub(crate) primary_key: Option<KeyColumns>,
    /// The Nilus partition spec: a list of `{column, type, name, index}` with `type` one of
    /// identity, year, month, day, hour (`bucket` is refused: Delta has no bucket transform).
    #[serde(default)]
    pub(crate) partition_by: Option<Value>,
    /// A Delta checkpoint every this many commits. At least 1.
    #[serde(default = "default_checkpoint_interval")]
    pub(crate) checkpoint_interval: u64,
    /// How long log entries are kept once a checkpoint covers them, as `N days|hours|minutes`.
    /// Example: `7 days`.
    #[serde(default = "default_log_retention")]
    pub(crate) log_retention: String,
    /// Bin-pack small files every this many commits; 0 never does (needs the `datafusion`
    /// feature).
    #[serde(default)]
    pub(crate) compact_every: u64,
    /// The size compaction aims for, in bytes. At least 1. Default 100 MiB.
    #[serde(default = "default_target_file_size")]
    pub(crate) target_file_size: u64,
    /// The S3 region (`s3://` addresses only). Default: `AWS_REGION`. Example: `eu-west-1`.
    #[serde(default)]
    pub(crate) aws_region: Option<String>,
    /// An S3-compatible endpoint URL; with `http://` plain HTTP is allowed. Default:
    /// `AWS_ENDPOINT_URL`. Example: `http://127.0.0.1:9000`.
    #[serde(default)]
    pub(crate) aws_endpoint: Option<String>,
    /// The access key id. Default: `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub(crate) aws_access_key_id: Option<String>,
    /// The secret access key. Default: `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub(crate) aws_secret_access_key: Option<Secret>,
    /// A session token for temporary credentials. Default: `AWS_SESSION_TOKEN`.
    #[serde(default)]
    pub(crate) aws_session_token: Option<Secret>,
    /// Allow plain HTTP to the endpoint. Default: `AWS_ALLOW_HTTP`, else true for an
    /// `http://` endpoint.
    #[serde(default)]
    pub(crate) aws_allow_http: Option<bool>,
}

fn default_checkpoint_interval() -> u64 {
    10
}

fn default_log_retention() -> String {
    "30 days".into()
}

fn default_target_file_size() -> u64 {
    100 * 1024 * 1024
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

/// The options' JSON schema, derived from [`DeltaOptions`]; shown by `weir plugins --json`.
pub(crate) fn schema() -> Value {
    options::schema::<DeltaOptions>()
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
        let location = base_location(&cfg.address, &mut problems);
        let o: DeltaOptions = match options::read(Side::Sink, None, &cfg.options) {
            Ok(o) => o,
            Err(e) => {
                problems.push(e.message);
                return Err(Error::config(problems.join("; ")));
            }
        };
        let location = table_location(location, o.dest_table.as_deref(), &mut problems);
        let primary_key = match &o.primary_key {
            None => Vec::new(),
            Some(k) => k.columns().unwrap_or_else(|| {
                problems.push("spec.sink.options.primary_key: must be a column name, `a,b`, or a list of column names".into());
                Vec::new()
            }),
        };
        let partition_by = match &o.partition_by {
            None => Vec::new(),
            Some(v) => crate::partition::parse(v).unwrap_or_else(|e| {
                problems.push(format!("spec.sink.options.partition_by: {e}"));
                Vec::new()
            }),
        };
        let log_retention = parse_interval(&o.log_retention).unwrap_or_else(|| {
            problems.push(
                "spec.sink.options.log_retention: must be a duration such as `7 days` or `12 hours`"
                    .into(),
            );
            String::new()
        });
        if o.checkpoint_interval == 0 {
            problems.push(
                "spec.sink.options.checkpoint_interval: must be a positive number of commits"
                    .into(),
            );
        }
        if o.target_file_size == 0 {
            problems.push(
                "spec.sink.options.target_file_size: must be a positive number of bytes".into(),
            );
        }
        let storage = storage(&o, &location, env, &mut problems);
        if o.incremental_strategy == Strategy::Merge && primary_key.is_empty() {
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
            strategy: o.incremental_strategy,
            primary_key,
            partition_by,
            checkpoint_interval: o.checkpoint_interval,
            log_retention,
            compact_every: o.compact_every,
            target_file_size: o.target_file_size,
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

/// The S3 options, each with the deltalake storage key it sets and the environment variable
/// read when the option is absent.
fn storage_options(o: &DeltaOptions) -> [(&'static str, &'static str, Option<String>); 6] {
    [
        ("aws_region", "AWS_REGION", o.aws_region.clone()),
        ("aws_endpoint", "AWS_ENDPOINT_URL", o.aws_endpoint.clone()),
        (
            "aws_access_key_id",
            "AWS_ACCESS_KEY_ID",
            o.aws_access_key_id.clone(),
        ),
        (
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            o.aws_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_string()),
        ),
        (
            "aws_session_token",
            "AWS_SESSION_TOKEN",
            o.aws_session_token.as_ref().map(|s| s.expose().to_string()),
        ),
        (
            "aws_allow_http",
            "AWS_ALLOW_HTTP",
            o.aws_allow_http.map(|b| b.to_string()),
        ),
    ]
}

/// The object-store settings for deltalake: the options, then the environment (S3 only).
fn storage(
    o: &DeltaOptions,
    location: &Location,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> HashMap<String, String> {
    let given = storage_options(o);
    let mut storage = HashMap::new();
    if !matches!(location, Location::Remote(_)) {
        let mut names: Vec<&str> = given
            .iter()
            .filter(|(_, _, v)| v.is_some())
            .map(|(n, _, _)| *n)
            .collect();
        if !names.is_empty() {
            names.sort();
            problems.push(format!(
                "spec.sink.options: {} only apply to an s3:// address",
                names.join(", ")
            ));
        }
        return storage;
    }
    for (_, key, value) in given {
        if let Some(v) = value.or_else(|| env(key)) {
            storage.insert(key.to_string(), v);
        }
    }
    let plain_http = storage
        .get("AWS_ENDPOINT_URL")
        .is_some_and(|e| e.starts_with("http://"));
    if plain_http && !storage.contains_key("AWS_ALLOW_HTTP") {
        storage.insert("AWS_ALLOW_HTTP".into(), "true".into());
    }
    if !storage.contains_key("AWS_REGION") {
        problems.push(
            "spec.sink.options.aws_region: an S3 table needs a region (the option or AWS_REGION)"
                .into(),
        );
    }
    storage
}

/// The table's place: `dest_table` (`table` or `schema.table`) under the address.
fn table_location(
    mut location: Location,
    dest_table: Option<&str>,
    problems: &mut Vec<String>,
) -> Location {
    let Some(t) = dest_table else {
        return location;
    };
    let parts: Vec<&str> = t.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains('/') || *p == "..")
    {
        problems.push(format!(
            "spec.sink.options.dest_table `{t}` must be `table` or `schema.table`"
        ));
    }
    for p in parts {
        location = location.join(p);
    }
    location
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
            serde_json::json!({"incremental_strategy": "scd2", "colour": "red", "checkpont_interval": 3}),
        ))
        .unwrap_err();
        for needle in ["scd2", "colour", "did you mean `checkpoint_interval`"] {
            assert!(e.message.contains(needle), "{needle}: {e}");
        }
        let e = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"dest_table": "../up", "checkpoint_interval": 0,
                "log_retention": "soon", "aws_region": "x", "aws_secret_access_key": "hunter2"}),
        ))
        .unwrap_err();
        for needle in [
            "dest_table",
            "checkpoint_interval",
            "log_retention",
            "aws_region, aws_secret_access_key only apply",
        ] {
            assert!(e.message.contains(needle), "{needle}: {e}");
        }
        assert!(!e.message.contains("hunter2"), "{e}");
        let e = DeltaConfig::from_sink(&cfg("gs://b/x", serde_json::json!({}))).unwrap_err();
        assert!(e.message.contains("`gs`"), "{e}");
    }

    #[test]
    fn no_secret_field_prints() {
        let options = serde_json::json!({"aws_region": "r", "aws_secret_access_key": "sk-hunter2",
            "aws_session_token": "st-hunter2"});
        let o: DeltaOptions =
            options::read(Side::Sink, None, options.as_object().unwrap()).unwrap();
        let c = DeltaConfig::from_sink_with_env(&cfg("s3://b/t", options), &no_env).unwrap();
        for shown in [format!("{o:?}"), format!("{c:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(c.storage["AWS_SECRET_ACCESS_KEY"], "sk-hunter2");
        assert_eq!(c.storage["AWS_SESSION_TOKEN"], "st-hunter2");
        // Refused (a local table takes no S3 settings): the error names the key, not the value.
        let e = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"aws_session_token": "st-hunter2"}),
        ))
        .unwrap_err();
        assert!(
            e.message.contains("aws_session_token") && !e.message.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        options::check_readme(readme, &options::table::<DeltaOptions>()).unwrap();
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
