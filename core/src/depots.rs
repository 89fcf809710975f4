//! Nilus depot addresses: `dataos://NAME?purpose=rw` (or `?acl=rw`) names a depot, which a
//! depots file maps to where it is. weir reads the file given by `--depots FILE` (or
//! `WEIR_DEPOTS`) and turns each depot address into the address of the plugin that serves it.
//!
//! ```yaml
//! depots:
//!   pgdepot:   {type: postgresql, host: db.local, port: 5432, database: shop, user: weir, password: "{PG_PASSWORD}"}
//!   events:    {type: kafka, bootstrap_servers: "k1:9092,k2:9092", security_protocol: SASL_SSL}
//!   stream:    {type: nats, host: nats.local, port: 4222}
//!   lakehouse: {type: lakehouse, format: delta, warehouse: "s3://lake/warehouse"}
//!   anything:  {address: "file:///data/lake"}   # any depot may give its address as it is
//! ```
//!
//! Values may hold `{NAME}` / `${NAME}` placeholders, filled from the environment; a password
//! filled in never shows in an error.
//!
//! ```
//! let d = weir_core::depots::Depots::parse(
//!     "depots:\n  lake: {type: lakehouse, format: delta, warehouse: /data/lake}\n",
//!     "depots.yaml",
//!     &|_| None,
//! )
//! .unwrap();
//! assert_eq!(d.address("lake").unwrap(), "/data/lake");
//! assert!(d.address("nope").unwrap_err().contains("`nope` is not in depots.yaml"));
//! ```

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The depots of a depots file, by name.
#[derive(Clone, Debug)]
pub struct Depots {
    file: String,
    depots: BTreeMap<String, Map<String, Value>>,
}

/// A depots file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DepotsError {
    /// The file cannot be read.
    #[error("{file}: cannot read the depots file: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a depots file.
    #[error(
        "{file}: not a depots file ({why}); it is YAML with `depots: {{NAME: {{type: ..., ...}}}}`"
    )]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong.
        why: String,
    },
}

/// The depot an address names: `dataos://NAME?...` gives `NAME`.
pub fn depot_name(address: &str) -> Option<&str> {
    let rest = address.strip_prefix("dataos://")?;
    let name = rest.split(['?', '/']).next().unwrap_or("");
    (!name.is_empty()).then_some(name)
}

impl Depots {
    /// Reads a depots file.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, DepotsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DepotsError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file, env)
    }

    /// Parses depots-file text; `file` names it in messages.
    pub fn parse(
        text: &str,
        file: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DepotsError> {
        let malformed = |why: String| DepotsError::Malformed {
            file: file.to_string(),
            why,
        };
        let doc: Value = serde_yaml::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let Some(list) = doc.get("depots").and_then(Value::as_object) else {
            return Err(malformed("no `depots` mapping".into()));
        };
        let mut depots = BTreeMap::new();
        for (name, d) in list {
            let Some(d) = d.as_object() else {
                return Err(malformed(format!("depots.{name} must be a mapping")));
            };
            let mut filled = Map::new();
            for (k, v) in d {
                let v = match v {
                    Value::String(s) => Value::String(fill(s, env).map_err(|var| {
                        malformed(format!(
                            "depots.{name}.{k}: `{var}` is not set in the environment"
                        ))
                    })?),
                    other => other.clone(),
                };
                filled.insert(k.clone(), v);
            }
            depots.insert(name.clone(), filled);
        }
        Ok(Self {
            file: file.to_string(),
            depots,
        })
    }

    /// The address of depot `name`, or why there is none.
    pub fn address(&self, name: &str) -> Result<String, String> {
        let Some(d) = self.depots.get(name) else {
            let known: Vec<&str> = self.depots.keys().map(String::as_str).collect();
            return Err(format!(
                "depot `{name}` is not in {} (depots there: {})",
                self.file,
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ));
        };
        address_of(name, d)
    }
}

fn text(d: &Map<String, Value>, key: &str) -> Option<String> {
    match d.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

fn need(d: &Map<String, Value>, name: &str, key: &str) -> Result<String, String> {
    text(d, key).ok_or_else(|| format!("depot `{name}` has no `{key}`"))
}

/// A depot's address by its type.
fn address_of(name: &str, d: &Map<String, Value>) -> Result<String, String> {
    if let Some(a) = text(d, "address") {
        return Ok(a);
    }
    let kind = need(d, name, "type")?.to_ascii_lowercase();
    match kind.as_str() {
        "postgresql" | "postgres" => Ok(format!(
            "postgresql://{}:{}@{}:{}/{}",
            encode(&need(d, name, "user")?),
            encode(&text(d, "password").unwrap_or_default()),
            need(d, name, "host")?,
            text(d, "port").unwrap_or_else(|| "5432".into()),
            need(d, name, "database")?
        )),
        "kafka" => {
            let mut query = format!("bootstrap_servers={}", encode(&need(d, name, "bootstrap_servers")?));
            for k in d.keys().filter(|k| !["type", "bootstrap_servers"].contains(&k.as_str())) {
                query.push_str(&format!("&{k}={}", encode(&text(d, k).unwrap_or_default())));
            }
            Ok(format!("kafka://?{query}"))
        }
        "nats" => Ok(format!(
            "nats+jetstream://{}:{}",
            need(d, name, "host")?,
            text(d, "port").unwrap_or_else(|| "4222".into())
        )),
        "lakehouse" => match text(d, "format").unwrap_or_else(|| "delta".into()).as_str() {
            "delta" => need(d, name, "warehouse"),
            "iceberg" => iceberg_address(name, d),
            other => Err(format!(
                "depot `{name}`: lakehouse format `{other}` has no plugin here yet; give the depot an `address`"
            )),
        },
        other => Err(format!(
            "depot `{name}`: type `{other}` is not one weir resolves (postgresql, kafka, nats, lakehouse); give the depot an `address`"
        )),
    }
}

/// An Iceberg lakehouse depot: its REST catalog (`metastore_url`, as DataOS names it, with the
/// `warehouse` name) or an embedded catalog directory (`path`).
fn iceberg_address(name: &str, d: &Map<String, Value>) -> Result<String, String> {
    if let Some(url) = text(d, "metastore_url") {
        let (tls, rest) = match url.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            _ => {
                return Err(format!(
                    "depot `{name}`: metastore_url `{url}` is not an http:// or https:// URL"
                ))
            }
        };
        let mut query = Vec::new();
        if let Some(w) = text(d, "warehouse") {
            query.push(format!("warehouse={}", encode(&w)));
        }
        if tls {
            query.push("tls=true".into());
        }
        let rest = rest.trim_end_matches('/');
        return Ok(if query.is_empty() {
            format!("iceberg+rest://{rest}")
        } else {
            format!("iceberg+rest://{rest}?{}", query.join("&"))
        });
    }
    match text(d, "path") {
        Some(p) => Ok(format!("iceberg://{p}")),
        None => Err(format!(
            "depot `{name}`: an iceberg lakehouse needs `metastore_url` (its REST catalog) or `path` (an embedded catalog directory)"
        )),
    }
}

/// `{NAME}` and `${NAME}` filled from `env`; the name of a variable that is not set.
fn fill(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        let name = &rest[i + 1..i + j];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&rest[..=i]);
            rest = &rest[i + 1..];
            continue;
        }
        let before = rest[..i].strip_suffix('$').unwrap_or(&rest[..i]);
        out.push_str(before);
        out.push_str(&env(name).ok_or_else(|| name.to_string())?);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Percent-encodes what may not appear in a URI's user info or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PG_PASSWORD").then(|| "s3cr@t/pw".to_string())
    }

    const FILE: &str = "depots:
  pgdepot: {type: postgresql, host: db.local, database: shop, user: weir, password: \"{PG_PASSWORD}\"}
  events: {type: kafka, bootstrap_servers: [k1:9092, k2:9092], security_protocol: SASL_SSL}
  stream: {type: nats, host: nats.local}
  lakehouse: {type: lakehouse, warehouse: \"s3://lake/warehouse\"}
  raw: {address: \"file:///data/raw\"}
  ice: {type: lakehouse, format: iceberg}
  lake: {type: lakehouse, format: iceberg, metastore_url: \"https://cat.local:8181/api/catalog/\", warehouse: main}
  local: {type: lakehouse, format: iceberg, path: /data/lake}
";

    #[test]
    fn each_type_resolves_to_the_address_its_plugin_serves() {
        let d = Depots::parse(FILE, "depots.yaml", &env).unwrap();
        assert_eq!(
            d.address("pgdepot").unwrap(),
            "postgresql://weir:s3cr%40t%2Fpw@db.local:5432/shop"
        );
        assert_eq!(
            d.address("events").unwrap(),
            "kafka://?bootstrap_servers=k1%3A9092,k2%3A9092&security_protocol=SASL_SSL"
        );
        assert_eq!(
            d.address("stream").unwrap(),
            "nats+jetstream://nats.local:4222"
        );
        assert_eq!(d.address("lakehouse").unwrap(), "s3://lake/warehouse");
        assert_eq!(d.address("raw").unwrap(), "file:///data/raw");
        assert!(d
            .address("ice")
            .unwrap_err()
            .contains("`metastore_url` (its REST catalog) or `path`"));
        assert_eq!(
            d.address("lake").unwrap(),
            "iceberg+rest://cat.local:8181/api/catalog?warehouse=main&tls=true"
        );
        assert_eq!(d.address("local").unwrap(), "iceberg:///data/lake");
        let e = d.address("pg").unwrap_err();
        assert!(
            e.contains("`pg` is not in depots.yaml") && e.contains("pgdepot"),
            "{e}"
        );
        assert_eq!(depot_name("dataos://pgdepot?purpose=rw"), Some("pgdepot"));
        assert_eq!(depot_name("kafka://?x=1"), None);
    }

    #[test]
    fn a_bad_file_or_a_missing_variable_is_one_clear_error() {
        let e = Depots::parse("depots: [1]", "d.yaml", &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("d.yaml") && e.contains("no `depots` mapping"),
            "{e}"
        );
        let e = Depots::parse("depots:\n  a: {password: \"{NOPE}\"}\n", "d.yaml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("depots.a.password: `NOPE` is not set"), "{e}");
        let e = Depots::parse(": :", "d.yaml", &env)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.yaml: not a depots file"), "{e}");
    }
}
