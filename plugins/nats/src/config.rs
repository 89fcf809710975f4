//! The NATS source's options: the address (server, credentials, query knobs) and
//! `source.options` (`source_table` = the stream; the same knobs may be given there too).
//! Secrets never appear in errors or logs: the server is shown without credentials.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use weir_sdk::options::{self, Secret, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SourceConfig};

/// How to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    UserPassword(String, Secret),
    Token(Secret),
    NKey(Secret),
    /// A `.creds` file: the user's JWT and NKey seed.
    Creds(PathBuf),
}

/// TLS to the server: required whenever any TLS option is given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) required: bool,
    /// PEM CA certificates to trust beside the system's.
    pub(crate) ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for servers that verify clients.
    pub(crate) client: Option<(PathBuf, PathBuf)>,
}

/// The checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NatsConfig {
    /// `nats://host:port`, without credentials (safe to show).
    pub(crate) server: String,
    pub(crate) auth: Auth,
    pub(crate) tls: Tls,
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

/// The NATS JetStream source's options: in the address query
/// (`nats+jetstream://[user:pass@|token@]host[:port]?subject=..&durable=..`) or under
/// `spec.source.options`; both places with different values is an error.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct NatsOptions {
    /// The JetStream stream to read. Example: `EVENTS`.
    pub(crate) source_table: String,
    /// The consumer's filter subject. Required (here or in the address). Example: `events.>`.
    pub(crate) subject: Option<String>,
    /// The durable pull consumer's name: progress survives restarts on the server as well as
    /// in the sink. Absent: an ephemeral consumer that starts where the sink's positions say.
    /// No `.`, `*`, `>` or spaces. Example: `weir-orders`.
    pub(crate) durable: Option<String>,
    /// The first stream sequence to read on a fresh start (no stored position). Default 1.
    pub(crate) start_sequence: Option<u64>,
    /// A token to log in with (also `token@host` in the address).
    pub(crate) token: Option<Secret>,
    /// An NKey seed (`SU...`) to log in with.
    pub(crate) nkeys_seed: Option<Secret>,
    /// A `.creds` file (the user's JWT and NKey seed, as `nsc` writes it) to log in with.
    /// Example: `/etc/weir/orders.creds`.
    pub(crate) creds_file: Option<String>,
    /// Require TLS (implied by `tls_ca`, `tls_cert` and `tls_key`). Default false: TLS only
    /// when the server asks for it.
    pub(crate) tls: Option<bool>,
    /// A PEM file of CA certificates to trust for the server's certificate, beside the
    /// system's. Example: `/etc/weir/nats-ca.pem`.
    pub(crate) tls_ca: Option<String>,
    /// A PEM client certificate, for servers that verify clients (mutual TLS; with `tls_key`).
    pub(crate) tls_cert: Option<String>,
    /// The PEM key of `tls_cert`.
    pub(crate) tls_key: Option<String>,
    /// Seconds the server waits for an ack before redelivering a message to another member
    /// (a crashed member's messages come back within it; live members keep theirs with
    /// progress acks). Default: 10. Example: `30`.
    pub(crate) ack_wait: Option<f64>,
    /// Unacked messages the server lets this consumer have at once. Default: 4 x batch_size,
    /// at least 10 000.
    pub(crate) max_ack_pending: Option<i64>,
}

/// The options' schema, derived from [`NatsOptions`].
pub(crate) fn schema() -> Value {
    options::schema::<NatsOptions>()
}

/// The default `ack_wait`, short so a crashed member's messages come back soon: live members
/// keep theirs with progress acks (`progress.rs`).
const DEFAULT_ACK_WAIT_S: f64 = 10.0;

impl NatsConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let url = url::Url::parse(&cfg.address).map_err(|e| {
            Error::config(format!(
                "spec.source.address is not a valid nats+jetstream:// URI: {e}"
            ))
        })?;
        let mut problems = Vec::new();
        let host = url.host_str().unwrap_or("").to_string();
        if host.is_empty() {
            problems.push("spec.source.address: a host is required, e.g. nats+jetstream://localhost:4222?subject=events.>".to_string());
        }
        let server = format!("nats://{}:{}", host, url.port().unwrap_or(4222));
        let o: NatsOptions = match options::read(Side::Source, Some(&url), &cfg.options) {
            Ok(o) => o,
            Err(e) => {
                problems.push(e.message);
                return Err(Error::config(problems.join("; ")));
            }
        };
        let subject = o.subject.clone().unwrap_or_default();
        if subject.is_empty() {
            problems.push("spec.source.address: `subject` is required to consume from NATS JetStream, e.g. ?subject=events.>".to_string());
        }
        if o.source_table.trim().is_empty() {
            problems.push(
                "spec.source.options.source_table: required, the JetStream stream name".to_string(),
            );
        }
        let positive = |k: &str, v: Option<f64>, problems: &mut Vec<String>| match v {
            Some(n) if !(n > 0.0 && n.is_finite()) => {
                problems.push(format!(
                    "spec.source.options.{k}: must be a positive number, not `{n}`"
                ));
                None
            }
            other => other,
        };
        let start_sequence = positive(
            "start_sequence",
            o.start_sequence.map(|n| n as f64),
            &mut problems,
        )
        .map_or(1, |n| n as u64);
        let ack_wait = Duration::from_secs_f64(
            positive("ack_wait", o.ack_wait, &mut problems).unwrap_or(DEFAULT_ACK_WAIT_S),
        );
        let max_ack_pending = positive(
            "max_ack_pending",
            o.max_ack_pending.map(|n| n as f64),
            &mut problems,
        )
        .map_or_else(|| (cfg.batch_size as i64 * 4).max(10_000), |n| n as i64);
        let auth = auth(&url, &o, &mut problems);
        let tls = tls(&o, &mut problems);
        let durable = o.durable.filter(|d| !d.is_empty());
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
            auth,
            tls,
            stream: o.source_table,
            subject,
            durable,
            start_sequence,
            ack_wait,
            max_ack_pending,
            run_in_loop: cfg.run_in_loop,
        })
    }
}

/// The one way to log in, from the address's user info, `token` or `nkeys_seed`.
fn auth(url: &url::Url, o: &NatsOptions, problems: &mut Vec<String>) -> Auth {
    let user = percent_decode(url.username());
    let password = url.password().map(percent_decode);
    let mut auths = Vec::new();
    if !user.is_empty() {
        match password {
            Some(p) => auths.push(Auth::UserPassword(user, Secret::new(p))),
            None => auths.push(Auth::Token(Secret::new(user))),
        }
    }
    if let Some(t) = &o.token {
        auths.push(Auth::Token(t.clone()));
    }
    if let Some(seed) = &o.nkeys_seed {
        auths.push(Auth::NKey(seed.clone()));
    }
    if let Some(file) = &o.creds_file {
        let file = PathBuf::from(file);
        if !file.is_file() {
            problems.push(format!(
                "spec.source.options.creds_file: {} is not a readable file",
                file.display()
            ));
        }
        auths.push(Auth::Creds(file));
    }
    if auths.len() > 1 {
        problems.push("spec.source.address: give one of user:password@, token (token@ or ?token=), nkeys_seed and creds_file".to_string());
    }
    auths.pop().unwrap_or(Auth::None)
}

/// TLS from `tls`, `tls_ca`, `tls_cert` and `tls_key`; every file named must exist.
fn tls(o: &NatsOptions, problems: &mut Vec<String>) -> Tls {
    let mut file = |key: &str, v: &Option<String>| {
        let p = PathBuf::from(v.as_ref()?);
        if !p.is_file() {
            problems.push(format!(
                "spec.source.options.{key}: {} is not a readable file",
                p.display()
            ));
        }
        Some(p)
    };
    let ca = file("tls_ca", &o.tls_ca);
    let (cert, key) = (file("tls_cert", &o.tls_cert), file("tls_key", &o.tls_key));
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            problems.push(
                "spec.source.options: tls_cert and tls_key go together (a client certificate and its key)"
                    .to_string(),
            );
            None
        }
    };
    let named = ca.is_some() || client.is_some();
    if o.tls == Some(false) && named {
        problems.push(
            "spec.source.options.tls: false, but tls_ca, tls_cert or tls_key is given".to_string(),
        );
    }
    Tls {
        required: o.tls.unwrap_or(named),
        ca,
        client,
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
        assert_eq!(c.auth, Auth::UserPassword("u".into(), Secret::new("p@ss")));
        // A raw `@` in the password works too: the user info ends at the last `@`.
        let raw = NatsConfig::from_source(&cfg(
            "nats+jetstream://u:p@ss@nats.local?subject=events.>",
            serde_json::json!({"source_table": "EVENTS"}),
        ))
        .unwrap();
        assert_eq!(raw.auth, c.auth);
        assert_eq!(raw.server, "nats://nats.local:4222");
        assert_eq!(c.stream, "EVENTS");
        assert_eq!(c.subject, "events.>");
        assert_eq!(c.durable.as_deref(), Some("weir"));
        assert_eq!(c.start_sequence, 5);
        // The default, whatever the batch timeout: live members keep their messages with
        // progress acks.
        assert_eq!(c.ack_wait, Duration::from_secs(10));
        let t = NatsConfig::from_source(&cfg(
            "nats+jetstream://tok@h:4000?subject=a",
            serde_json::json!({"source_table": "S"}),
        ))
        .unwrap();
        assert_eq!(t.auth, Auth::Token(Secret::new("tok")));
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
        assert!(m.contains("source_table: required"), "{m}");
        assert!(m.contains("`colour`"), "{m}");
        assert!(m.contains("token"), "{m}");
        assert!(!m.contains("s3cret"), "{m}");
        let m = NatsConfig::from_source(&cfg(
            "nats+jetstream://h",
            serde_json::json!({"source_table": "S"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(m.contains("`subject` is required"), "{m}");
    }

    #[test]
    fn tls_files_must_exist_and_come_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let c = NatsConfig::from_source(&cfg(
            "nats+jetstream://h?subject=a",
            serde_json::json!({"source_table": "S", "tls_ca": ca}),
        ))
        .unwrap();
        assert_eq!(
            c.tls,
            Tls {
                required: true,
                ca: Some(ca.clone()),
                client: None
            }
        );
        let m = NatsConfig::from_source(&cfg(
            "nats+jetstream://h?subject=a",
            serde_json::json!({"source_table": "S", "tls_cert": ca, "tls_ca": "/no/such.pem"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("tls_ca: /no/such.pem is not a readable file"),
            "{m}"
        );
        assert!(m.contains("tls_cert and tls_key go together"), "{m}");
        let m = NatsConfig::from_source(&cfg(
            "nats+jetstream://h?subject=a&token=t",
            serde_json::json!({"source_table": "S", "creds_file": ca}),
        ))
        .unwrap_err()
        .to_string();
        assert!(m.contains("give one of"), "{m}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        options::check_readme(readme, &options::table::<NatsOptions>()).unwrap();
    }

    #[test]
    fn no_secret_field_prints() {
        for (address, options) in [
            (
                "nats+jetstream://u:pw-in-url@h?subject=a",
                serde_json::json!({}),
            ),
            (
                "nats+jetstream://h?subject=a&token=tok-in-url",
                serde_json::json!({}),
            ),
            (
                "nats+jetstream://h?subject=a",
                serde_json::json!({"token": "tok-in-options"}),
            ),
            (
                "nats+jetstream://h?subject=a",
                serde_json::json!({"nkeys_seed": "SU-seed-value"}),
            ),
        ] {
            let mut o = options;
            o["source_table"] = "S".into();
            let c = NatsConfig::from_source(&cfg(address, o)).unwrap();
            let shown = format!("{c:?}");
            for secret in ["pw-in-url", "tok-in-url", "tok-in-options", "SU-seed-value"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}
