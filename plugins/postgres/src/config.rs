//! The PostgreSQL sink's options, its connection and its table names.
//!
//! Address: `postgresql://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=...` (or `postgres://`);
//! the port defaults to 5432 and the database to the user, as libpq does. Every option may
//! also sit in the address query. The password is a [`Secret`]: it never appears in `Debug`,
//! errors or logs; [`PostgresConfig::address`] shows the address without it.

use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;
use weir_sdk::envelope::naming::Naming;
use weir_sdk::options::{self, KeyColumns, Secret, Side, Strategy};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::{Deserialize, Serialize};
use weir_sdk::{Error, SinkConfig};

/// `sslmode`, as libpq names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", rename_all = "kebab-case")]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, its certificate not verified (libpq's default).
    #[default]
    Prefer,
    /// TLS, the certificate not verified.
    Require,
    /// TLS, the certificate chaining to `sslrootcert` (or the system's roots).
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host.
    VerifyFull,
}

/// `spec.sink.options` of a PostgreSQL sink (each may also be given in the address query).
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct PostgresOptions {
    /// The table, `schema.table` (or `table`, in schema `public`). The schema is created when
    /// missing; names are snake_cased as Nilus normalises them unless `SCHEMA_NAMING=direct`.
    /// Example: `retail.orders`.
    pub(crate) dest_table: String,
    /// `append` adds every row; `merge` upserts on `primary_key` (the last row per key in a
    /// batch wins; the table gets a unique index on the key).
    #[serde(default)]
    pub(crate) incremental_strategy: Strategy,
    /// The merge key: a column, `a,b`, or a list of columns. Set under
    /// `spec.source.options`, as Nilus does; the host passes it on. Example: `id`.
    #[serde(default)]
    pub(crate) primary_key: Option<KeyColumns>,
    /// TLS: `disable`, `prefer` (TLS when offered, unverified), `require` (TLS, unverified),
    /// `verify-ca` (the certificate chains to `sslrootcert`), `verify-full` (and names the
    /// host).
    #[serde(default)]
    pub(crate) sslmode: SslMode,
    /// A PEM file of the CA certificates `verify-ca` and `verify-full` trust. Default: the
    /// system's roots. Example: `/etc/weir/pg-ca.pem`.
    #[serde(default)]
    pub(crate) sslrootcert: Option<String>,
    /// The password when the address has none. Example: `{PG_PASSWORD}`.
    #[serde(default)]
    pub(crate) password: Option<Secret>,
    /// Seconds to wait for a connection.
    #[serde(default = "default_connect_timeout")]
    pub(crate) connect_timeout: u64,
    /// Where positions are stored, `schema.table`. Default: `weir_positions` in the schema of
    /// `dest_table`.
    #[serde(default)]
    pub(crate) positions_table: Option<String>,
    /// The name the server shows in `pg_stat_activity`.
    #[serde(default = "default_application_name")]
    pub(crate) application_name: String,
}

fn default_connect_timeout() -> u64 {
    10
}

fn default_application_name() -> String {
    "weir".into()
}

/// The options' JSON schema, derived from [`PostgresOptions`]; shown by `weir plugins --json`.
pub(crate) fn schema() -> Value {
    options::schema::<PostgresOptions>()
}

/// A schema-qualified table name (unquoted; [`crate::sql`] quotes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableName {
    pub(crate) schema: String,
    pub(crate) table: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// Where and how to write.
#[derive(Clone, PartialEq)]
pub(crate) struct PostgresConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<Secret>,
    pub(crate) database: String,
    pub(crate) sslmode: SslMode,
    pub(crate) sslrootcert: Option<PathBuf>,
    pub(crate) connect_timeout: Duration,
    pub(crate) application_name: String,
    pub(crate) table: TableName,
    pub(crate) positions: TableName,
    pub(crate) strategy: Strategy,
    /// Columns of the merge key (`source.options.primary_key`, passed on by the host).
    pub(crate) primary_key: Vec<String>,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("address", &self.address())
            .field("sslmode", &self.sslmode)
            .field("table", &self.table.to_string())
            .field("positions", &self.positions.to_string())
            .field("strategy", &self.strategy)
            .field("primary_key", &self.primary_key)
            .finish()
    }
}

impl PostgresConfig {
    pub(crate) fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        Self::from_sink_with(cfg, Naming::from_env())
    }

    pub(crate) fn from_sink_with(cfg: &SinkConfig, naming: Naming) -> Result<Self, Error> {
        let url = Url::parse(&cfg.address).map_err(|e| {
            Error::config(format!(
                "spec.sink.address is not a valid postgresql:// URI ({e}); write postgresql://USER:PASSWORD@HOST:5432/DATABASE"
            ))
        })?;
        let o: PostgresOptions = options::read(Side::Sink, Some(&url), &cfg.options)?;
        let mut problems = Vec::new();
        if !matches!(url.scheme(), "postgresql" | "postgres") {
            problems.push(format!(
                "spec.sink.address: scheme `{}` is not served by the postgres sink (postgresql://, postgres://)",
                url.scheme()
            ));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        if host.is_empty() {
            problems.push(
                "spec.sink.address: no host; write postgresql://USER:PASSWORD@HOST:5432/DATABASE"
                    .into(),
            );
        }
        let user = decode(url.username());
        if user.is_empty() {
            problems.push(
                "spec.sink.address: no user; write postgresql://USER:PASSWORD@HOST:5432/DATABASE"
                    .into(),
            );
        }
        let password = match (url.password(), o.password.clone()) {
            (Some(p), None) => Some(Secret::new(decode(p))),
            (None, p) => p,
            (Some(_), Some(_)) => {
                problems.push("spec.sink: the password is given in the address and in options.password; keep one".into());
                None
            }
        };
        let database = match url.path().trim_start_matches('/') {
            "" => user.clone(),
            db => decode(db),
        };
        let (table, positions, primary_key) = tables_and_key(&o, naming, &mut problems);
        if o.incremental_strategy == Strategy::Merge && primary_key.is_empty() {
            problems.push("spec.sink.options.incremental_strategy: merge needs spec.source.options.primary_key (the column or columns to upsert on)".into());
        }
        if o.connect_timeout == 0 {
            problems.push(
                "spec.sink.options.connect_timeout: must be a positive number of seconds".into(),
            );
        }
        if !problems.is_empty() {
            return Err(Error::config(redact(
                &problems.join("; "),
                password.as_ref(),
            )));
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(5432),
            user,
            password,
            database,
            sslmode: o.sslmode,
            sslrootcert: o.sslrootcert.map(PathBuf::from),
            connect_timeout: Duration::from_secs(o.connect_timeout),
            application_name: o.application_name,
            table,
            positions,
            strategy: o.incremental_strategy,
            primary_key,
        })
    }

    /// The address without the password, for messages: `postgresql://user@host:port/db`.
    pub(crate) fn address(&self) -> String {
        format!(
            "postgresql://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    /// `text` with the password, if it appears, replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact(text, self.password.as_ref())
    }
}

fn redact(text: &str, password: Option<&Secret>) -> String {
    match password {
        Some(p) => p.redact(text),
        None => text.to_string(),
    }
}

/// Percent-decoding of a URL part (user, password, database).
fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `table` or `schema.table`, each part normalised by `naming`.
fn table_name(s: &str, default_schema: &str, naming: Naming) -> Option<TableName> {
    let parts: Vec<&str> = s.split('.').map(str::trim).collect();
    let (schema, table) = match parts.as_slice() {
        [t] if !t.is_empty() => (default_schema.to_string(), naming.apply(t)),
        [s, t] if !s.is_empty() && !t.is_empty() => (naming.apply(s), naming.apply(t)),
        _ => return None,
    };
    Some(TableName { schema, table })
}

/// The table, the positions table and the merge key of the options, problems noted.
fn tables_and_key(
    o: &PostgresOptions,
    naming: Naming,
    problems: &mut Vec<String>,
) -> (TableName, TableName, Vec<String>) {
    let table = table_name(&o.dest_table, "public", naming).unwrap_or_else(|| {
        problems.push(format!(
            "spec.sink.options.dest_table: `{}` is not `table` or `schema.table`",
            o.dest_table
        ));
        TableName {
            schema: String::new(),
            table: String::new(),
        }
    });
    let positions = match &o.positions_table {
        None => TableName {
            schema: table.schema.clone(),
            table: "weir_positions".into(),
        },
        Some(p) => table_name(p, &table.schema, naming).unwrap_or_else(|| {
            problems.push(format!(
                "spec.sink.options.positions_table: `{p}` is not `table` or `schema.table`"
            ));
            table.clone()
        }),
    };
    let primary_key = match &o.primary_key {
            None => Vec::new(),
            Some(k) => k
                .columns()
                .map(|c| c.iter().map(|c| naming.apply(c)).collect())
                .unwrap_or_else(|| {
                    problems.push("spec.sink.options.primary_key: must be a column name, `a,b`, or a list of column names".into());
                    Vec::new()
                }),
        };
    (table, positions, primary_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(address: &str, options: Value) -> Result<PostgresConfig, Error> {
        let options = options.as_object().cloned().unwrap_or_default();
        PostgresConfig::from_sink_with(
            &SinkConfig {
                address: address.into(),
                options,
            },
            Naming::Snake,
        )
    }

    #[test]
    fn reads_the_address_and_normalises_the_table() {
        let c = cfg(
            "postgresql://weir:p%40ss@db.local:6543/shop?sslmode=require",
            json!({"dest_table": "Retail.OrderLines"}),
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("db.local", 6543, "weir")
        );
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(c.database, "shop");
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(c.table.to_string(), "retail.order_lines");
        assert_eq!(c.positions.to_string(), "retail.weir_positions");
        assert_eq!(c.address(), "postgresql://weir@db.local:6543/shop");
        let c = cfg("postgres://me@h", json!({"dest_table": "t"})).unwrap();
        assert_eq!((c.port, c.database.as_str()), (5432, "me"));
        assert_eq!(c.table.to_string(), "public.t");
    }

    #[test]
    fn every_problem_at_once_and_never_the_password() {
        let e = cfg(
            "postgresql://u:hunter2@h/db",
            json!({"dest_table": "t", "sslmode": "verify-all"}),
        )
        .unwrap_err();
        assert!(e.message.contains("sslmode"), "{e}");
        let e = cfg(
            "postgresql://:hunter2@h/db",
            json!({"dest_table": "a.b.c", "incremental_strategy": "merge"}),
        )
        .unwrap_err();
        for what in ["no user", "dest_table", "primary_key"] {
            assert!(e.message.contains(what), "{what}: {e}");
        }
        assert!(!e.message.contains("hunter2"), "{e}");
        let e = cfg("postgresql:///db", json!({"dest_table": "t"})).unwrap_err();
        assert!(e.message.contains("no host"), "{e}");
        let c = cfg("postgresql://u:hunter2@h/db", json!({"dest_table": "t"})).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = cfg("postgresql://u@h/db", json!({"dest_tabel": "t"})).unwrap_err();
        assert!(e.message.contains("did you mean `dest_table`"), "{e}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        options::check_readme(readme, &options::table::<PostgresOptions>()).unwrap();
    }
}
