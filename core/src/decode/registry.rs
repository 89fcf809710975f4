//! A Confluent schema registry client for the decode stage: `GET /schemas/ids/{id}` (and, for
//! the references of a Protobuf schema, `GET /subjects/{s}/versions/{v}`) on each of
//! `schema_registry_url`'s addresses in turn, with basic auth or a bearer token and an optional
//! CA file, and a bounded cache of what it fetched. Protobuf schemas are asked for in their
//! serialized form (`?format=serialized`: a base64 `FileDescriptorProto`), so no `.proto`
//! parser is needed. An id the registry does not know is an
//! answer (the message goes to dead letters); a registry that cannot be reached is reported as
//! unavailable, and the run retries the batch under its retry policy (not ready meanwhile).

use std::collections::BTreeMap;
use std::time::Duration;

/// How many schemas the cache keeps (the oldest ids go first).
const CACHE: usize = 1000;

/// A secret from the manifest: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Where the registry is and how to authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URLs, tried in order.
    pub urls: Vec<String>,
    /// Basic auth.
    pub username: Option<String>,
    /// Basic auth.
    pub password: Option<Redacted>,
    /// A bearer token instead of basic auth.
    pub token: Option<Redacted>,
    /// A PEM file of the CA that signed the registry's certificate.
    pub ca_file: Option<String>,
}

/// What went wrong with the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No address answered (the last error is given); retriable.
    #[error("the schema registry at {urls} cannot be reached: {why}")]
    Unavailable {
        /// The addresses tried.
        urls: String,
        /// The last error.
        why: String,
    },
    /// The registry refused the credentials or the client cannot be set up.
    #[error("the schema registry: {0}")]
    Config(String),
}

/// The registry's schema types (`schemaType`; absent means Avro).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaType {
    /// `AVRO`.
    Avro,
    /// `PROTOBUF`.
    Protobuf,
    /// `JSON` (JSON Schema).
    Json,
}

impl SchemaType {
    fn name(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Protobuf => "PROTOBUF",
            Self::Json => "JSON",
        }
    }
}

/// Another schema a schema imports (`references`): a Protobuf file by its import name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The import name (`google/type/date.proto`, `shop/address.proto`).
    pub name: String,
    /// The subject it is registered under.
    pub subject: String,
    /// Its version there.
    pub version: i64,
}

/// A schema as the registry gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The schema text (Avro JSON, base64 `FileDescriptorProto`, JSON Schema).
    pub schema: String,
    /// The schemas it refers to.
    pub references: Vec<Reference>,
}

/// A registry client with its cache.
pub struct Registry {
    cfg: RegistryConfig,
    client: reqwest::blocking::Client,
    cache: BTreeMap<u32, Fetched>,
}

impl Registry {
    /// A client for `cfg`.
    pub fn new(cfg: RegistryConfig) -> Result<Self, RegistryError> {
        let mut b = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5));
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| RegistryError::Config(format!("cannot read {ca}: {e}")))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                RegistryError::Config(format!("{ca} is not a PEM certificate: {e}"))
            })?;
            b = b.add_root_certificate(cert);
        }
        let client = b
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot make the HTTP client: {e}")))?;
        Ok(Self {
            cfg,
            client,
            cache: BTreeMap::new(),
        })
    }

    /// The Avro schema text of `id` (`None`: the registry does not know it), fetched once.
    pub fn schema(&mut self, id: u32) -> Result<Option<String>, RegistryError> {
        Ok(self.by_id(id, SchemaType::Avro)?.map(|f| f.schema))
    }

    /// The schema `id`, which must be of type `want` (`None`: the registry does not know it),
    /// fetched once.
    pub fn by_id(&mut self, id: u32, want: SchemaType) -> Result<Option<Fetched>, RegistryError> {
        if let Some(s) = self.cache.get(&id) {
            return Ok(Some(s.clone()));
        }
        let path = match want {
            SchemaType::Protobuf => format!("schemas/ids/{id}?format=serialized"),
            _ => format!("schemas/ids/{id}"),
        };
        let found = self.fetch(&path, &format!("schema id {id}"), want)?;
        if let Some(s) = &found {
            if self.cache.len() >= CACHE {
                self.cache.pop_first();
            }
            self.cache.insert(id, s.clone());
        }
        Ok(found)
    }

    /// A referenced schema: `subject` at `version` (`None`: the registry does not know it).
    pub fn by_subject(
        &self,
        reference: &Reference,
        want: SchemaType,
    ) -> Result<Option<Fetched>, RegistryError> {
        let serialized = if want == SchemaType::Protobuf {
            "?format=serialized"
        } else {
            ""
        };
        let path = format!(
            "subjects/{}/versions/{}{serialized}",
            url_segment(&reference.subject),
            reference.version
        );
        self.fetch(
            &path,
            &format!("{} (subject {})", reference.name, reference.subject),
            want,
        )
    }

    /// One pass over the addresses for `path`; `what` names the schema in errors.
    fn fetch(
        &self,
        path: &str,
        what: &str,
        want: SchemaType,
    ) -> Result<Option<Fetched>, RegistryError> {
        let mut last = String::from("no schema_registry_url");
        for base in &self.cfg.urls {
            let url = format!("{}/{path}", base.trim_end_matches('/'));
            let mut req = self.client.get(&url);
            if let Some(t) = &self.cfg.token {
                req = req.bearer_auth(&t.0);
            } else if let Some(u) = &self.cfg.username {
                req = req.basic_auth(u, self.cfg.password.as_ref().map(|p| &p.0));
            }
            let resp = match req.send() {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{base}: {}", without_url(&e));
                    continue;
                }
            };
            let status = resp.status().as_u16();
            match status {
                200 => {
                    let doc: serde_json::Value = resp.json().map_err(|e| {
                        RegistryError::Unavailable {
                            urls: base.clone(),
                            why: format!("an answer that is not JSON: {}", without_url(&e)),
                        }
                    })?;
                    let Some(schema) = doc["schema"].as_str() else {
                        last = format!("{base}: an answer without `schema`");
                        continue;
                    };
                    let kind = doc["schemaType"].as_str().unwrap_or("AVRO");
                    if kind != want.name() {
                        return Err(RegistryError::Config(format!(
                            "{what} is a {kind} schema; this pipeline decodes {} (format)",
                            want.name()
                        )));
                    }
                    return Ok(Some(Fetched {
                        schema: schema.to_string(),
                        references: references(&doc),
                    }));
                }
                404 => return Ok(None),
                401 | 403 => {
                    return Err(RegistryError::Config(format!(
                        "{base} refused the credentials (HTTP {status}); check schema_registry_username and schema_registry_password, or schema_registry_token"
                    )))
                }
                _ => last = format!("{base}: HTTP {status}"),
            }
        }
        Err(RegistryError::Unavailable {
            urls: self.cfg.urls.join(", "),
            why: last,
        })
    }
}

/// The schema id of a value in the Confluent wire format (magic byte 0, a 4-byte big-endian
/// id, then the payload), or why it is not in it.
pub fn confluent_id(v: &[u8]) -> Result<u32, String> {
    match v {
        [0, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(format!(
            "not in the Confluent wire format (magic byte {}, expected 0x00 and a 4-byte schema id)",
            v.first().map_or("missing".into(), |b| format!("0x{b:02x}"))
        )),
    }
}

/// The `references` of a registry answer.
fn references(doc: &serde_json::Value) -> Vec<Reference> {
    doc["references"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| Reference {
                    name: r["name"].as_str().unwrap_or_default().to_string(),
                    subject: r["subject"].as_str().unwrap_or_default().to_string(),
                    version: r["version"].as_i64().unwrap_or(-1),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A subject name as one URL path segment (subjects may hold `/` and `.`).
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A reqwest error's text without the URL (which may carry credentials), with its sources.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(u) = e.url() {
        text = text.replace(u.as_str(), "<registry>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let cfg = RegistryConfig {
            urls: vec!["http://127.0.0.1:1".into()],
            username: Some("u".into()),
            password: Some(Redacted("Reg-Secret-9".into())),
            token: Some(Redacted("Tok-Secret-9".into())),
            ca_file: None,
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("Reg-Secret-9") && !shown.contains("Tok-Secret-9"),
            "{shown}"
        );
    }

    #[test]
    fn an_unreachable_registry_is_unavailable_naming_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let mut r = Registry::new(RegistryConfig {
            urls: vec![format!("http://127.0.0.1:{port}")],
            username: None,
            password: None,
            token: None,
            ca_file: None,
        })
        .unwrap();
        match r.schema(7) {
            Err(RegistryError::Unavailable { urls, .. }) => {
                assert!(urls.contains(&port.to_string()))
            }
            other => panic!("{other:?}"),
        }
    }
}
