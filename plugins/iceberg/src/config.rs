//! The Iceberg sink's options, its catalog and its table.
//!
//! Addresses:
//! - `iceberg://PATH` (or `iceberg:///abs/path`): the embedded catalog, a SQLite file
//!   `PATH/catalog.db` with the warehouse `PATH/warehouse`; no server needed. With
//!   `catalog_uri: postgresql://...` the catalog lives in PostgreSQL instead (several writers),
//!   and `warehouse` may put the data elsewhere (`s3://bucket/wh`).
//! - `iceberg+rest://HOST:PORT/PATH?warehouse=NAME`: a REST catalog at
//!   `http://HOST:PORT/PATH` (`https` with `tls: true`), the token or OAuth2 client
//!   credentials from the options.
//!
//! Secrets (`token`, `client_secret`, `catalog_uri`, `aws_secret_access_key`,
//! `aws_session_token`) are [`Secret`]s: never in `Debug`, errors or logs.

use crate::partition::{self, PartitionField};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;
use weir_sdk::envelope::naming::Naming;
use weir_sdk::options::{self, KeyColumns, Secret, Side, Strategy};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SinkConfig};

/// `iceberg_metadata_compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", rename_all = "lowercase")]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) enum Compression {
    /// Plain `NNNNN-uuid.metadata.json` files.
    #[default]
    None,
    /// `NNNNN-uuid.gz.metadata.json` files.
    Gzip,
}

/// `spec.sink.options` of an Iceberg sink (each may also be given in the address query).
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct IcebergOptions {
    /// The table, `namespace.table` (or `table`, in namespace `default`); the namespace is
    /// created when missing. Names are snake_cased as Nilus normalises them unless
    /// `SCHEMA_NAMING=direct`. Example: `retail.orders`.
    pub(crate) dest_table: String,
    /// `append` adds every row (the only strategy the Iceberg sink has so far: `merge` is
    /// refused).
    #[serde(default)]
    pub(crate) incremental_strategy: Strategy,
    /// The merge key, passed on by the host from `spec.source.options`; unused while only
    /// `append` is served.
    #[serde(default)]
    pub(crate) primary_key: Option<KeyColumns>,
    /// The Nilus partition spec, set when the table is created: a list of `{column, type,
    /// name, index, bucket_count}` with `type` one of identity, year, month, day, hour,
    /// bucket (needs `bucket_count`), truncate (needs `width`).
    #[serde(default)]
    pub(crate) partition_by: Option<Value>,
    /// `none` or `gzip`: how the table's metadata files are written.
    #[serde(default)]
    pub(crate) iceberg_metadata_compression: Compression,
    /// Snapshots older than this are expired, as `N days|hours|minutes|seconds`; those holding
    /// the latest positions are always kept. Example: `12 hours`.
    #[serde(default = "default_expire")]
    pub(crate) expire_snapshots_older_than: String,
    /// How often expiry runs, as `N days|hours|minutes|seconds`.
    #[serde(default = "default_expire_interval")]
    pub(crate) expire_interval: String,
    /// The data file size a write rolls over at, in bytes. Default 512 MiB.
    #[serde(default = "default_target_file_size")]
    pub(crate) target_file_size: u64,
    /// `iceberg://` only: a PostgreSQL catalog instead of the SQLite file,
    /// `postgresql://USER:PASSWORD@HOST:PORT/DB`. Example: `{ICEBERG_CATALOG_URI}`.
    #[serde(default)]
    pub(crate) catalog_uri: Option<Secret>,
    /// The warehouse: for `iceberg://`, where data goes (default `PATH/warehouse`; `s3://`
    /// allowed); for `iceberg+rest://`, the warehouse name the server is asked for.
    #[serde(default)]
    pub(crate) warehouse: Option<String>,
    /// The catalog's name, kept in the SQL catalog's rows. Default `weir`.
    #[serde(default = "default_catalog_name")]
    pub(crate) catalog_name: String,
    /// REST: a bearer token. Example: `{ICEBERG_TOKEN}`.
    #[serde(default)]
    pub(crate) token: Option<Secret>,
    /// REST: the OAuth2 client id (client credentials, with `client_secret`).
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    /// REST: the OAuth2 client secret.
    #[serde(default)]
    pub(crate) client_secret: Option<Secret>,
    /// REST: the token endpoint. Default: the catalog's `v1/oauth/tokens`.
    #[serde(default)]
    pub(crate) oauth2_server_uri: Option<String>,
    /// REST: the OAuth2 scope. Default `catalog`.
    #[serde(default)]
    pub(crate) scope: Option<String>,
    /// REST: the path prefix after `v1/`, when the server does not hand one out.
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    /// REST: `https` to the catalog.
    #[serde(default)]
    pub(crate) tls: bool,
    /// REST: a PEM file of CA certificates to trust (with `tls`). Default: the system's.
    #[serde(default)]
    pub(crate) tls_ca: Option<String>,
    /// S3 warehouses: the region. Default: `AWS_REGION`. Example: `eu-west-1`.
    #[serde(default)]
    pub(crate) aws_region: Option<String>,
    /// S3 warehouses: an S3-compatible endpoint URL. Default: `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub(crate) aws_endpoint: Option<String>,
    /// S3 warehouses: the access key id. Default: `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub(crate) aws_access_key_id: Option<String>,
    /// S3 warehouses: the secret access key. Default: `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub(crate) aws_secret_access_key: Option<Secret>,
    /// S3 warehouses: a session token. Default: `AWS_SESSION_TOKEN`.
    #[serde(default)]
    pub(crate) aws_session_token: Option<Secret>,
    /// S3 warehouses: path-style requests (most S3-compatible stores need them). Default true
    /// with `aws_endpoint`, else false.
    #[serde(default)]
    pub(crate) aws_path_style: Option<bool>,
}

fn default_expire() -> String {
    "5 days".into()
}

fn default_expire_interval() -> String {
    "1 hours".into()
}

fn default_target_file_size() -> u64 {
    512 << 20
}

fn default_catalog_name() -> String {
    "weir".into()
}

/// The options' JSON schema; shown by `weir plugins --json`.
pub(crate) fn schema() -> Value {
    options::schema::<IcebergOptions>()
}

/// Which catalog holds the table.
#[derive(Clone, PartialEq)]
pub(crate) enum Catalog {
    /// The SQLite file (created when missing).
    Sqlite { file: PathBuf },
    /// A PostgreSQL database.
    Postgres { uri: Secret },
    /// A REST catalog.
    Rest {
        uri: String,
        warehouse: Option<String>,
        token: Option<Secret>,
        credential: Option<(String, Secret)>,
        oauth2_server_uri: Option<String>,
        scope: Option<String>,
        prefix: Option<String>,
        tls_ca: Option<PathBuf>,
    },
}

/// Where and how to write.
#[derive(Clone, PartialEq)]
pub(crate) struct IcebergConfig {
    pub(crate) catalog: Catalog,
    pub(crate) catalog_name: String,
    /// The SQL catalogs' warehouse URL (`file:///...` or `s3://...`).
    pub(crate) warehouse: Option<String>,
    pub(crate) namespace: String,
    pub(crate) table: String,
    pub(crate) partition_by: Vec<PartitionField>,
    pub(crate) compression: Compression,
    pub(crate) expire_after: Duration,
    pub(crate) expire_interval: Duration,
    pub(crate) target_file_size: u64,
    /// FileIO properties (`s3.*`).
    pub(crate) storage: HashMap<String, String>,
    secrets: Vec<Secret>,
}

impl fmt::Debug for IcebergConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcebergConfig")
            .field("catalog", &self.describe())
            .field("table", &format!("{}.{}", self.namespace, self.table))
            .field("partition_by", &self.partition_by)
            .finish()
    }
}

impl IcebergConfig {
    pub(crate) fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        Self::from_sink_with(cfg, Naming::from_env(), &|k| std::env::var(k).ok())
    }

    pub(crate) fn from_sink_with(
        cfg: &SinkConfig,
        naming: Naming,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let url = Url::parse(&cfg.address).map_err(|e| {
            Error::config(format!(
                "spec.sink.address is not a valid URI ({e}); write iceberg://PATH or iceberg+rest://HOST:PORT/PATH?warehouse=NAME"
            ))
        })?;
        let o: IcebergOptions = options::read(Side::Sink, Some(&url), &cfg.options)?;
        let mut problems = Vec::new();
        let secrets: Vec<Secret> = [
            &o.token,
            &o.client_secret,
            &o.catalog_uri,
            &o.aws_secret_access_key,
            &o.aws_session_token,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let (catalog, warehouse) = catalog(&url, &o, &mut problems);
        let (namespace, table) = table_name(&o.dest_table, naming).unwrap_or_else(|| {
            problems.push(format!(
                "spec.sink.options.dest_table: `{}` is not `table` or `namespace.table`",
                o.dest_table
            ));
            (String::new(), String::new())
        });
        if o.incremental_strategy == Strategy::Merge {
            problems.push("spec.sink.options.incremental_strategy: the Iceberg sink appends only (merge needs row-level deletes, which it does not write yet); use append".into());
        }
        let partition_by = match &o.partition_by {
            None => Vec::new(),
            Some(v) => partition::parse(v, naming).unwrap_or_else(|e| {
                problems.push(format!("spec.sink.options.partition_by: {e}"));
                Vec::new()
            }),
        };
        let mut duration = |key: &str, text: &str| {
            parse_duration(text).unwrap_or_else(|| {
                problems.push(format!(
                    "spec.sink.options.{key}: `{text}` is not `N days|hours|minutes|seconds`"
                ));
                Duration::ZERO
            })
        };
        let expire_after = duration(
            "expire_snapshots_older_than",
            &o.expire_snapshots_older_than,
        );
        let expire_interval = duration("expire_interval", &o.expire_interval);
        if o.target_file_size == 0 {
            problems.push("spec.sink.options.target_file_size: must be at least 1 byte".into());
        }
        let storage = storage(&o, env);
        if !problems.is_empty() {
            let text = problems.join("; ");
            return Err(Error::config(redact(&text, &secrets)));
        }
        Ok(Self {
            catalog,
            catalog_name: o.catalog_name,
            warehouse,
            namespace,
            table,
            partition_by,
            compression: o.iceberg_metadata_compression,
            expire_after,
            expire_interval,
            target_file_size: o.target_file_size,
            storage,
            secrets,
        })
    }

    /// The catalog, secrets left out, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.catalog {
            Catalog::Sqlite { file } => format!("the SQLite catalog {}", file.display()),
            Catalog::Postgres { uri } => {
                let shown = Url::parse(uri.expose())
                    .map(|mut u| {
                        let _ = u.set_password(None);
                        u.to_string()
                    })
                    .unwrap_or_else(|_| "postgresql://...".into());
                format!("the PostgreSQL catalog {shown}")
            }
            Catalog::Rest { uri, .. } => format!("the REST catalog {uri}"),
        }
    }

    /// `namespace.table`.
    pub(crate) fn table_name(&self) -> String {
        format!("{}.{}", self.namespace, self.table)
    }

    /// `text` with every secret that appears in it replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }
}

fn redact(text: &str, secrets: &[Secret]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| s.redact(&t))
}

/// The catalog and the SQL catalogs' warehouse URL the address and options name.
fn catalog(url: &Url, o: &IcebergOptions, problems: &mut Vec<String>) -> (Catalog, Option<String>) {
    match url.scheme() {
        "iceberg" => {
            let path = format!("{}{}", url.host_str().unwrap_or_default(), url.path());
            let path = PathBuf::from(if path.is_empty() { "." } else { &path });
            let root = std::path::absolute(&path).unwrap_or(path);
            for (set, key) in [
                (o.token.is_some(), "token"),
                (o.client_id.is_some(), "client_id"),
                (o.client_secret.is_some(), "client_secret"),
                (o.prefix.is_some(), "prefix"),
                (o.tls, "tls"),
            ] {
                if set {
                    problems.push(format!(
                        "spec.sink.options.{key}: applies to iceberg+rest:// catalogs only"
                    ));
                }
            }
            let warehouse = o
                .warehouse
                .clone()
                .unwrap_or_else(|| format!("file://{}", root.join("warehouse").display()));
            let catalog = match &o.catalog_uri {
                Some(uri) if uri.expose().starts_with("postgres") => {
                    Catalog::Postgres { uri: uri.clone() }
                }
                Some(_) => {
                    problems.push("spec.sink.options.catalog_uri: must be postgresql://USER:PASSWORD@HOST:PORT/DB".into());
                    Catalog::Sqlite {
                        file: root.join("catalog.db"),
                    }
                }
                None => Catalog::Sqlite {
                    file: root.join("catalog.db"),
                },
            };
            (catalog, Some(warehouse))
        }
        "iceberg+rest" => (rest(url, o, problems), None),
        other => {
            problems.push(format!(
                "spec.sink.address: scheme `{other}` is not served by the iceberg sink (iceberg://, iceberg+rest://)"
            ));
            (
                Catalog::Sqlite {
                    file: PathBuf::new(),
                },
                None,
            )
        }
    }
}

/// The REST catalog an `iceberg+rest://` address and the options name.
fn rest(url: &Url, o: &IcebergOptions, problems: &mut Vec<String>) -> Catalog {
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        problems.push(
            "spec.sink.address: no host; write iceberg+rest://HOST:PORT/PATH?warehouse=NAME".into(),
        );
    }
    if o.catalog_uri.is_some() {
        problems.push("spec.sink.options.catalog_uri: applies to iceberg:// catalogs only".into());
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    let scheme = if o.tls { "https" } else { "http" };
    let credential = match (&o.client_id, &o.client_secret) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        (None, None) => None,
        _ => {
            problems.push("spec.sink.options: client_id and client_secret go together (OAuth2 client credentials)".into());
            None
        }
    };
    if o.token.is_some() && credential.is_some() {
        problems.push("spec.sink.options: give a token or client credentials, not both".into());
    }
    Catalog::Rest {
        uri: format!("{scheme}://{host}{port}{path}"),
        warehouse: o.warehouse.clone(),
        token: o.token.clone(),
        credential,
        oauth2_server_uri: o.oauth2_server_uri.clone(),
        scope: o.scope.clone(),
        prefix: o.prefix.clone(),
        tls_ca: o.tls_ca.as_ref().map(PathBuf::from),
    }
}

/// The FileIO properties for S3 warehouses, options first, then the AWS environment.
fn storage(o: &IcebergOptions, env: &dyn Fn(&str) -> Option<String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let pairs = [
        ("s3.region", "AWS_REGION", o.aws_region.clone()),
        ("s3.endpoint", "AWS_ENDPOINT_URL", o.aws_endpoint.clone()),
        (
            "s3.access-key-id",
            "AWS_ACCESS_KEY_ID",
            o.aws_access_key_id.clone(),
        ),
        (
            "s3.secret-access-key",
            "AWS_SECRET_ACCESS_KEY",
            o.aws_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_string()),
        ),
        (
            "s3.session-token",
            "AWS_SESSION_TOKEN",
            o.aws_session_token.as_ref().map(|s| s.expose().to_string()),
        ),
    ];
    for (key, var, value) in pairs {
        if let Some(v) = value.or_else(|| env(var)) {
            out.insert(key.to_string(), v);
        }
    }
    let path_style = o.aws_path_style.unwrap_or(out.contains_key("s3.endpoint"));
    out.insert("s3.path-style-access".into(), path_style.to_string());
    out
}

/// `table` or `namespace.table`, each part normalised by `naming`.
fn table_name(s: &str, naming: Naming) -> Option<(String, String)> {
    let parts: Vec<&str> = s.split('.').map(str::trim).collect();
    match parts.as_slice() {
        [t] if !t.is_empty() => Some(("default".into(), naming.apply(t))),
        [n, t] if !n.is_empty() && !t.is_empty() => Some((naming.apply(n), naming.apply(t))),
        _ => None,
    }
}

/// `N days|hours|minutes|seconds` (singular too, and `Nd`, `Nh`, `Nm`, `Ns`).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok()?;
    let unit = match s[split..].trim() {
        "d" | "day" | "days" => 86_400,
        "h" | "hour" | "hours" => 3_600,
        "m" | "min" | "minute" | "minutes" => 60,
        "s" | "second" | "seconds" => 1,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(address: &str, options: Value) -> Result<IcebergConfig, Error> {
        let options = options.as_object().cloned().unwrap_or_default();
        IcebergConfig::from_sink_with(
            &SinkConfig {
                address: address.into(),
                options,
            },
            Naming::Snake,
            &|_| None,
        )
    }

    #[test]
    fn reads_both_address_kinds() {
        let c = cfg(
            "iceberg:///data/lake",
            json!({"dest_table": "Retail.OrderLines"}),
        )
        .unwrap();
        assert_eq!(c.table_name(), "retail.order_lines");
        assert_eq!(c.warehouse.as_deref(), Some("file:///data/lake/warehouse"));
        assert!(
            matches!(&c.catalog, Catalog::Sqlite { file } if file == &PathBuf::from("/data/lake/catalog.db"))
        );
        let c = cfg(
            "iceberg+rest://cat.local:8181/api/catalog?warehouse=lake&token=tok-hunter2",
            json!({"dest_table": "orders"}),
        )
        .unwrap();
        assert_eq!(c.table_name(), "default.orders");
        let Catalog::Rest {
            uri,
            warehouse,
            token,
            ..
        } = &c.catalog
        else {
            panic!("{c:?}")
        };
        assert_eq!(uri, "http://cat.local:8181/api/catalog");
        assert_eq!(warehouse.as_deref(), Some("lake"));
        assert_eq!(token.as_ref().map(Secret::expose), Some("tok-hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(parse_duration("5 days"), Some(Duration::from_secs(432_000)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn every_problem_at_once_and_never_a_secret() {
        let e = cfg(
            "iceberg+rest://h:1/?client_secret=cs-hunter2",
            json!({"dest_table": "a.b.c", "incremental_strategy": "merge",
                   "expire_interval": "soon", "catalog_uri": "postgresql://u:pw-hunter2@h/db",
                   "partition_by": [{"column": "id", "type": "bucket", "name": "b", "index": 1}]}),
        )
        .unwrap_err();
        for what in [
            "dest_table",
            "merge",
            "expire_interval",
            "catalog_uri",
            "client_id",
            "bucket_count",
        ] {
            assert!(e.message.contains(what), "{what}: {e}");
        }
        assert!(!e.message.contains("hunter2"), "{e}");
        let e = cfg("kafka://x", json!({"dest_table": "t"})).unwrap_err();
        assert!(e.message.contains("scheme `kafka`"), "{e}");
        let e = cfg("iceberg:///x", json!({"dest_tabel": "t"})).unwrap_err();
        assert!(e.message.contains("did you mean `dest_table`"), "{e}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        options::check_readme(readme, &options::table::<IcebergOptions>()).unwrap();
    }
}
