//! The NATS source's options: the address (server, credentials, query knobs) and
//! `source.options` (`source_table` = the stream; the same knobs may be given there too).
//! Secrets never appear in errors or logs: the server is shown without credentials.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_sdk::{Error, SourceConfig};

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    UserPassword(String, String),
    Token(String),
    NKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::UserPassword(..) => "user/password (redacted)",
            Self::Token(_) => "token (redacted)",
            Self::NKey(_) => "nkey (redacted)",
        })
    }
}

/// The checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NatsConfig {
    /// `nats://host:port`, without credentials (safe to show).
    pub(crate) server: String,
    pub(crate) auth: Auth,
    /// The JetStream stream (`source_table`).
    pub(crate) stream: String,
    /// The consumer's filter subject.
    pub(crate) subject: String,
    /// The durable consumer's name; `None`: ephemeral.
    pub(crate) durable: Option<String>,
    /// First stream sequence on a fresh start.
    pub(crate) start_sequence: u64,
    /// How long the server waits for an ack before redelivering.
    pub(crate) ack_wait: Duration,
    /// Unacked messages the server lets this durable have at once.
    pub(crate) max_ack_pending: i64,
    pub(crate) run_in_loop: bool,
}

/// Knobs that may come from the address query or `source.options`.
const KNOBS: &[&str] = &[
    "subject",
    "durable",
    "start_sequence",
    "token",
    "nkeys_seed",
    "ack_wait",
    "max_ack_pending",
];
/// Query keys the engine reads (batch sizing); accepted and ignored here.
const ENGINE_KEYS: &[&str] = &["batch_size", "timeout", "batch_timeout", "max_batch_bytes"];

pub(crate) fn schema() -> Value {
    serde_json::json!({
        "type": "object",
        "description": "nats+jetstream://[user:pass@|token@]host[:port]?subject=..&durable=..; knobs may also be given in options",
        "properties": {
            "source_table": {"type": "string", "description": "the JetStream stream name (required)"},
            "subject": {"type": "string", "description": "the consumer's filter subject (required), e.g. events.>"},
            "durable": {"type": "string", "description": "durable pull consumer name; absent: an ephemeral consumer"},
            "start_sequence": {"type": "integer", "minimum": 1, "default": 1},
            "token": {"type": "string"},
            "nkeys_seed": {"type": "string"},
            "ack_wait": {"type": "number", "description": "seconds; default max(60, 10 x batch_timeout)"},
            "max_ack_pending": {"type": "integer", "description": "default max(10000, 4 x batch_size)"}
        },
        "required": ["source_table"]
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl NatsConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let url = match url::Url::parse(&cfg.address) {
            Ok(u) => u,
            Err(e) => {
                return Err(Error::config(format!(
                    "spec.source.address is not a valid nats+jetstream:// URI: {e}"
                )))
            }
        };
        let host = url.host_str().unwrap_or("").to_string();
        if host.is_empty() {
            problems.push("spec.source.address: a host is required, e.g. nats+jetstream://localhost:4222?subject=events.>".to_string());
        }
        let server = format!("nats://{}:{}", host, url.port().unwrap_or(4222));

        // Knobs from the query and from options; both places must agree.
        let mut knobs: BTreeMap<&str, (String, &str)> = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            let key = k.replace('-', "_");
            match KNOBS.iter().find(|n| **n == key) {
                Some(name) => {
                    knobs.insert(name, (v.into_owned(), "spec.source.address"));
                }
                None if ENGINE_KEYS.contains(&key.as_str()) => {}
                None => problems.push(format!(
                    "spec.source.address: unknown parameter `{key}` (known: {}, {})",
                    KNOBS.join(", "),
                    ENGINE_KEYS.join(", ")
                )),
            }
        }
        let mut stream = None;
        for (k, v) in &cfg.options {
            if k == "source_table" {
                stream = Some(text(v));
                continue;
            }
            match KNOBS.iter().find(|n| **n == k.as_str()) {
                Some(name) => {
                    let value = text(v);
                    if let Some((other, _)) = knobs.get(name) {
                        if *other != value {
                            let shown = if matches!(*name, "token" | "nkeys_seed") { "(redacted)".to_string() } else { format!("`{other}` and `{value}`") };
                            problems.push(format!(
                                "spec.source.options.{name} and the `{name}` parameter of spec.source.address differ: {shown}; give it once"
                            ));
                        }
                    }
                    knobs.insert(name, (value, "spec.source.options"));
                }
                None => problems.push(format!(
                    "spec.source.options.{k}: not an option of the nats+jetstream source (known: source_table, {})",
                    KNOBS.join(", ")
                )),
            }
        }
        let get = |k: &str| knobs.get(k).map(|(v, _)| v.clone());
        let subject = get("subject").unwrap_or_default();
        if subject.is_empty() {
            problems.push("spec.source.address: `subject` is required to consume from NATS JetStream, e.g. ?subject=events.>".to_string());
        }
        let stream = stream.unwrap_or_default();
        if stream.is_empty() {
            problems.push(
                "spec.source.options.source_table: required, the JetStream stream name".to_string(),
            );
        }
        let number = |k: &str, problems: &mut Vec<String>| -> Option<f64> {
            let (v, place) = knobs.get(k)?;
            match v.parse::<f64>() {
                Ok(n) if n > 0.0 && n.is_finite() => Some(n),
                _ => {
                    problems.push(format!(
                        "{place}: `{k}` must be a positive number, not `{v}`"
                    ));
                    None
                }
            }
        };
        let start_sequence = number("start_sequence", &mut problems)
            .map(|n| n as u64)
            .unwrap_or(1);
        let default_ack_wait = (cfg.batch_timeout.as_secs_f64() * 10.0).max(60.0);
        let ack_wait =
            Duration::from_secs_f64(number("ack_wait", &mut problems).unwrap_or(default_ack_wait));
        let max_ack_pending = number("max_ack_pending", &mut problems)
            .map(|n| n as i64)
            .unwrap_or_else(|| (cfg.batch_size as i64 * 4).max(10_000));

        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        let mut auths = Vec::new();
        if !user.is_empty() {
            match password {
                Some(p) => auths.push(Auth::UserPassword(user, p)),
                None => auths.push(Auth::Token(user)),
            }
        }
        if let Some(t) = get("token") {
            auths.push(Auth::Token(t));
        }
        if let Some(seed) = get("nkeys_seed") {
            auths.push(Auth::NKey(seed));
        }
        if auths.len() > 1 {
            problems.push("spec.source.address: give one of user:password@, token (token@ or ?token=) and nkeys_seed".to_string());
        }
        let durable = get("durable").filter(|d| !d.is_empty());
        if let Some(d) = &durable {
            if d.contains(['.', '*', '>', ' ']) {
                problems.push(format!(
                    "spec.source.address: durable `{d}` may not contain `.`, `*`, `>` or spaces"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        Ok(Self {
            server,
            auth: auths.pop().unwrap_or(Auth::None),
            stream,
            subject,
            durable,
            start_sequence,
            ack_wait,
            max_ack_pending,
            run_in_loop: cfg.run_in_loop,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str, options: Value) -> SourceConfig {
        SourceConfig {
            address: address.into(),
            options: options.as_object().cloned().unwrap_or_default(),
            run_in_loop: false,
            batch_size: 100,
            batch_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn reads_the_nilus_address() {
        let c = NatsConfig::from_source(&cfg(
            "nats+jetstream://u:p%40ss@nats.local?subject=events.>&durable=weir&start_sequence=5",
            serde_json::json!({"source_table": "EVENTS"}),
        ))
        .unwrap();
        assert_eq!(c.server, "nats://nats.local:4222");
        assert_eq!(c.auth, Auth::UserPassword("u".into(), "p@ss".into()));
        assert_eq!(c.stream, "EVENTS");
        assert_eq!(c.subject, "events.>");
        assert_eq!(c.durable.as_deref(), Some("weir"));
        assert_eq!(c.start_sequence, 5);
        assert_eq!(c.ack_wait, Duration::from_secs(100));
        let t = NatsConfig::from_source(&cfg(
            "nats+jetstream://tok@h:4000?subject=a",
            serde_json::json!({"source_table": "S"}),
        ))
        .unwrap();
        assert_eq!(t.auth, Auth::Token("tok".into()));
        assert_eq!(t.server, "nats://h:4000");
    }

    #[test]
    fn names_every_problem_without_secrets() {
        let e = NatsConfig::from_source(&cfg(
            "nats+jetstream://h?token=s3cret&colour=red",
            serde_json::json!({"token": "other-s3cret"}),
        ))
        .unwrap_err();
        let m = e.to_string();
        assert!(m.contains("`subject` is required"), "{m}");
        assert!(m.contains("source_table"), "{m}");
        assert!(m.contains("`colour`"), "{m}");
        assert!(m.contains("token"), "{m}");
        assert!(!m.contains("s3cret"), "{m}");
    }
}
