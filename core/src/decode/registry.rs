//! A Confluent schema registry client for the decode stage: `GET /schemas/ids/{id}` on each of
//! `schema_registry_url`'s addresses in turn, with basic auth or a bearer token and an optional
//! CA file, and a bounded cache of what it fetched. An id the registry does not know is an
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

/// A registry client with its cache.
pub struct Registry {
    cfg: RegistryConfig,
    client: reqwest::blocking::Client,
    cache: BTreeMap<u32, String>,
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

    /// The schema text of `id` (`None`: the registry does not know it), fetched once.
    pub fn schema(&mut self, id: u32) -> Result<Option<String>, RegistryError> {
        if let Some(s) = self.cache.get(&id) {
            return Ok(Some(s.clone()));
        }
        let found = self.fetch(id)?;
        if let Some(s) = &found {
            if self.cache.len() >= CACHE {
                self.cache.pop_first();
            }
            self.cache.insert(id, s.clone());
        }
        Ok(found)
    }

    /// One pass over the addresses.
    fn fetch(&self, id: u32) -> Result<Option<String>, RegistryError> {
        let mut last = String::from("no schema_registry_url");
        for base in &self.cfg.urls {
            let url = format!("{}/schemas/ids/{id}", base.trim_end_matches('/'));
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
                    if let Some(t) = doc["schemaType"].as_str().filter(|t| *t != "AVRO") {
                        return Err(RegistryError::Config(format!(
                            "schema id {id} is a {t} schema; this pipeline decodes format: avro"
                        )));
                    }
                    return Ok(Some(schema.to_string()));
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
