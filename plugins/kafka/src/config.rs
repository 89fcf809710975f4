//! The Kafka source's options: the Nilus address `kafka://?bootstrap_servers=..&group_id=..`
//! (reference section 2.1), the same knobs under `source.options` (both places must agree),
//! `source.options.source_table` (the topic, or a comma list of topics) and `start_from`.
//! Turns them into librdkafka properties; secrets never appear in errors, logs or `Debug`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_sdk::{Error, SourceConfig};

/// Where a group with no committed offset (and a sink with no stored position) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartFrom {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Time(i64),
}

/// The checked configuration.
#[derive(Clone, PartialEq)]
pub(crate) struct KafkaConfig {
    /// `bootstrap.servers` (safe to show).
    pub(crate) brokers: String,
    pub(crate) group_id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) start_from: StartFrom,
    pub(crate) run_in_loop: bool,
    /// librdkafka properties, secrets included: never shown.
    pub(crate) properties: BTreeMap<String, String>,
    /// Property names whose values are secret.
    pub(crate) secret_keys: Vec<String>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let v = if self.secret_keys.contains(k) {
                    "(redacted)"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("start_from", &self.start_from)
            .field("properties", &shown)
            .finish()
    }
}

/// Knobs accepted in the address query and in `source.options`, with their librdkafka key
/// (`None`: handled here) and whether the value is secret.
const KNOBS: &[(&str, Option<&str>, bool)] = &[
    ("bootstrap_servers", Some("bootstrap.servers"), false),
    ("group_id", Some("group.id"), false),
    ("security_protocol", Some("security.protocol"), false),
    ("sasl_mechanisms", Some("sasl.mechanisms"), false),
    ("sasl_mechanism", Some("sasl.mechanisms"), false),
    ("sasl_username", Some("sasl.username"), false),
    ("sasl_password", Some("sasl.password"), true),
    ("ssl_ca_location", Some("ssl.ca.location"), false),
    (
        "ssl_certificate_location",
        Some("ssl.certificate.location"),
        false,
    ),
    ("ssl_key_location", Some("ssl.key.location"), false),
    ("ssl_key_password", Some("ssl.key.password"), true),
    ("ssl_truststore_location", None, false),
    ("ssl_truststore_password", None, true),
    ("ssl_truststore_type", None, false),
    ("session_timeout_ms", Some("session.timeout.ms"), false),
    ("max_poll_interval_ms", Some("max.poll.interval.ms"), false),
    ("client_id", Some("client.id"), false),
    ("start_from", None, false),
    ("interval_start", None, false),
];

/// Query or option keys the engine reads (batching, decoding); accepted and left alone here.
const ENGINE_KEYS: &[&str] = &[
    "batch_size",
    "timeout",
    "batch_timeout",
    "max_batch_bytes",
    "run_in_loop",
];

/// `source.options` keys the engine reads (decoding, masking, dead letters).
const ENGINE_OPTIONS: &[&str] = &[
    "source_table",
    "batch_size",
    "batch_timeout",
    "timeout",
    "max_batch_bytes",
    "run_in_loop",
    "format",
    "type_hints",
    "mask",
    "max_table_nesting",
    "primary_key",
    "dead_letter",
    "on_error",
    "interval_end",
    "page_size",
    "extract_parallelism",
    "yield_limit",
    "incremental_key",
];

pub(crate) fn schema() -> Value {
    serde_json::json!({
        "type": "object",
        "description": "kafka://?bootstrap_servers=host:9092&group_id=NAME; every knob may also be given in options",
        "properties": {
            "source_table": {"type": "string", "description": "the topic, or a comma list of topics (required)"},
            "bootstrap_servers": {"type": "string", "description": "comma list of host:port (required)"},
            "group_id": {"type": "string", "description": "consumer group; keep it stable for offset continuity (required)"},
            "start_from": {"type": "string", "description": "earliest (default) | latest | an RFC 3339 time; where a group with no committed offset starts"},
            "interval_start": {"type": "string", "description": "Nilus's name for a start time (as start_from: <time>)"},
            "security_protocol": {"enum": ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]},
            "sasl_mechanisms": {"enum": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]},
            "sasl_username": {"type": "string"},
            "sasl_password": {"type": "string"},
            "ssl_ca_location": {"type": "string", "description": "PEM file or directory of CA certificates"},
            "ssl_certificate_location": {"type": "string"},
            "ssl_key_location": {"type": "string"},
            "ssl_key_password": {"type": "string"},
            "ssl_truststore_location": {"type": "string", "description": "a PKCS12 truststore (JKS is not readable by librdkafka)"},
            "ssl_truststore_password": {"type": "string"},
            "ssl_truststore_type": {"enum": ["PKCS12", "JKS"]},
            "session_timeout_ms": {"type": "integer", "default": 45000},
            "max_poll_interval_ms": {"type": "integer", "default": 300000},
            "client_id": {"type": "string", "default": "weir"}
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

fn knob(name: &str) -> Option<&'static (&'static str, Option<&'static str>, bool)> {
    KNOBS.iter().find(|(n, _, _)| *n == name)
}

/// Parses `earliest`, `latest` or a time (RFC 3339, or Nilus's `YYYY-MM-DD[THH:MM:SS]`, UTC).
fn parse_start(value: &str) -> Option<StartFrom> {
    match value.trim().to_ascii_lowercase().as_str() {
        "earliest" | "beginning" | "smallest" => return Some(StartFrom::Earliest),
        "latest" | "end" | "largest" => return Some(StartFrom::Latest),
        _ => {}
    }
    let v = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(StartFrom::Time(t.with_timezone(&Utc).timestamp_millis()));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Some(StartFrom::Time(t.and_utc().timestamp_millis()));
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| StartFrom::Time(t.and_utc().timestamp_millis()))
}

impl KafkaConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let url = url::Url::parse(&cfg.address).map_err(|e| {
            Error::config(format!(
                "spec.source.address is not a valid kafka:// URI: {e}; write kafka://?bootstrap_servers=host:9092&group_id=NAME"
            ))
        })?;
        // Knobs from the query and from options; where both give one, they must agree.
        let mut knobs: BTreeMap<&'static str, (String, &'static str)> = BTreeMap::new();
        for (k, v) in url.query_pairs() {
            let key = k.replace('-', "_");
            match knob(&key) {
                Some((name, _, _)) => {
                    knobs.insert(name, (v.into_owned(), "spec.source.address"));
                }
                None if ENGINE_KEYS.contains(&key.as_str()) => {}
                None => problems.push(format!(
                    "spec.source.address: unknown parameter `{key}` (known: {})",
                    KNOBS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        let mut topics = None;
        for (k, v) in &cfg.options {
            if k == "source_table" {
                topics = Some(text(v));
                continue;
            }
            match knob(k) {
                Some((name, _, secret)) => {
                    let value = text(v);
                    if let Some((other, _)) = knobs.get(name) {
                        if *other != value {
                            let shown = if *secret {
                                "(values redacted)".to_string()
                            } else {
                                format!("`{other}` and `{value}`")
                            };
                            problems.push(format!(
                                "spec.source.options.{name} and the `{name}` parameter of spec.source.address differ: {shown}; give it once"
                            ));
                        }
                    }
                    knobs.insert(name, (value, "spec.source.options"));
                }
                None if ENGINE_OPTIONS.contains(&k.as_str()) => {}
                None => problems.push(format!(
                    "spec.source.options.{k}: not an option of the kafka source (known: source_table, {})",
                    KNOBS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        let get = |k: &str| {
            knobs
                .get(k)
                .map(|(v, _)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        // A host in the address (kafka://broker:9092?...) is accepted as the bootstrap server.
        let from_host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .map(|h| format!("{h}:{}", url.port().unwrap_or(9092)));
        let brokers = match (get("bootstrap_servers"), from_host) {
            (Some(b), _) => b,
            (None, Some(h)) => h,
            (None, None) => {
                problems.push("bootstrap_servers in the URI is required to connect to kafka (spec.source.address: kafka://?bootstrap_servers=host:9092&group_id=NAME)".to_string());
                String::new()
            }
        };
        let group_id = get("group_id").unwrap_or_else(|| {
            problems.push("group_id in the URI is required to connect to kafka (spec.source.address: add &group_id=NAME; keep it stable so offsets carry over)".to_string());
            String::new()
        });
        let topics: Vec<String> = topics
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if topics.is_empty() {
            problems.push(
                "spec.source.options.source_table: required, the topic (or a comma list of topics)"
                    .to_string(),
            );
        }
        for t in &topics {
            if t.len() > 249
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                problems.push(format!("spec.source.options.source_table: `{t}` is not a valid Kafka topic name (letters, digits, `.`, `_`, `-`)"));
            }
        }

        let start_from = match (get("start_from"), get("interval_start")) {
            (Some(a), Some(b)) if a != b => {
                problems.push("spec.source.options: give one of start_from and interval_start".to_string());
                StartFrom::Earliest
            }
            (Some(v), _) | (None, Some(v)) => parse_start(&v).unwrap_or_else(|| {
                problems.push(format!("spec.source.options.start_from: `{v}` is not earliest, latest or an RFC 3339 time such as 2025-01-01T00:00:00Z"));
                StartFrom::Earliest
            }),
            (None, None) => StartFrom::Earliest,
        };

        let mut properties = BTreeMap::new();
        let mut secret_keys = Vec::new();
        for (name, (value, _)) in &knobs {
            if let Some((_, Some(key), secret)) = knob(name) {
                if *secret {
                    secret_keys.push(key.to_string());
                }
                properties.insert(key.to_string(), value.trim().to_string());
            }
        }
        properties.insert("bootstrap.servers".into(), brokers.clone());
        properties.insert("group.id".into(), group_id.clone());
        for n in ["session_timeout_ms", "max_poll_interval_ms"] {
            if let Some(v) = get(n) {
                if v.parse::<u32>().map_or(true, |n| n == 0) {
                    problems.push(format!(
                        "spec.source.options.{n}: `{v}` is not a positive integer"
                    ));
                }
            }
        }
        if let Some(p) = get("security_protocol") {
            let up = p.to_ascii_uppercase();
            if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&up.as_str()) {
                problems.push(format!("spec.source.address: security_protocol `{p}` is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"));
            }
            properties.insert("security.protocol".into(), up);
        }
        if let Some(m) = get("sasl_mechanisms").or(get("sasl_mechanism")) {
            let up = m.to_ascii_uppercase();
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&up.as_str()) {
                problems.push(format!("spec.source.address: sasl_mechanisms `{m}` is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"));
            }
            properties.insert("sasl.mechanisms".into(), up);
        }
        let sasl = properties
            .get("security.protocol")
            .is_some_and(|p| p.starts_with("SASL"));
        if sasl && (get("sasl_username").is_none() || get("sasl_password").is_none()) {
            problems.push("spec.source.address: a SASL security_protocol needs sasl_username and sasl_password".to_string());
        }
        if let Some(loc) = get("ssl_truststore_location") {
            let kind = get("ssl_truststore_type").unwrap_or_else(|| "JKS".into());
            if kind.eq_ignore_ascii_case("PKCS12") {
                properties.insert("ssl.keystore.location".into(), loc);
                if let Some(p) = get("ssl_truststore_password") {
                    properties.insert("ssl.keystore.password".into(), p);
                    secret_keys.push("ssl.keystore.password".into());
                }
            } else {
                problems.push(format!("spec.source.address: ssl_truststore_location `{loc}` is a {kind} truststore, which librdkafka cannot read; export its CA certificates to PEM and give ssl_ca_location instead"));
            }
        }
        properties
            .entry("client.id".into())
            .or_insert_with(|| "weir".into());
        // Offsets move only when the host commits after the sink's commit.
        properties.insert("enable.auto.commit".into(), "false".into());
        properties.insert("enable.auto.offset.store".into(), "false".into());
        properties.insert(
            "auto.offset.reset".into(),
            match start_from {
                StartFrom::Latest => "latest",
                _ => "earliest",
            }
            .into(),
        );
        properties.insert("enable.partition.eof".into(), "false".into());
        // Statistics carry each partition's consumer lag (for `weir_consumer_lag`).
        if cfg.run_in_loop {
            properties.insert("statistics.interval.ms".into(), "2000".into());
        }
        // Bounded prefetch: about two micro-batches of ~1 KiB records per partition, so a
        // backlog of millions of messages stays on the broker, not in RSS.
        let batch = cfg.batch_size.max(1);
        properties.insert(
            "queued.min.messages".into(),
            (batch * 2).clamp(1_000, 100_000).to_string(),
        );
        properties.insert(
            "queued.max.messages.kbytes".into(),
            (batch * 2).clamp(4_096, 65_536).to_string(),
        );
        properties.insert(
            "fetch.wait.max.ms".into(),
            (cfg.batch_timeout.as_millis() as u64)
                .clamp(10, 500)
                .to_string(),
        );

        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        Ok(Self {
            brokers,
            group_id,
            topics,
            start_from,
            run_in_loop: cfg.run_in_loop,
            properties,
            secret_keys,
        })
    }

    /// How long a metadata or commit call may take before it counts as a connection failure.
    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }

    /// Replaces every secret value in `text` (a librdkafka error, say) with `(redacted)`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for k in &self.secret_keys {
            if let Some(v) = self.properties.get(k).filter(|v| v.len() >= 3) {
                out = out.replace(v.as_str(), "(redacted)");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str, options: Value) -> SourceConfig {
        SourceConfig {
            address: address.into(),
            options: options.as_object().cloned().unwrap_or_default(),
            run_in_loop: false,
            batch_size: 3000,
            batch_timeout: Duration::from_secs(3),
        }
    }

    #[test]
    fn reads_the_nilus_address_and_maps_security_keys() {
        let c = KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b1:9092,b2:9092&group_id=g&security_protocol=SASL_SSL&sasl_mechanisms=SCRAM-SHA-512&sasl_username=u&sasl_password=s3cr3t&ssl_ca_location=/ca.pem",
            serde_json::json!({"source_table": "orders, payments", "start_from": "latest"}),
        ))
        .unwrap();
        assert_eq!(c.brokers, "b1:9092,b2:9092");
        assert_eq!(c.topics, vec!["orders", "payments"]);
        assert_eq!(c.start_from, StartFrom::Latest);
        let p = &c.properties;
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanisms"], "SCRAM-SHA-512");
        assert_eq!(p["sasl.username"], "u");
        assert_eq!(p["sasl.password"], "s3cr3t");
        assert_eq!(p["ssl.ca.location"], "/ca.pem");
        assert_eq!(p["enable.auto.commit"], "false");
        assert_eq!(p["auto.offset.reset"], "latest");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(c.redact("login s3cr3t failed"), "login (redacted) failed");
    }

    #[test]
    fn nilus_errors_for_missing_servers_and_group() {
        let m =
            KafkaConfig::from_source(&cfg("kafka://", serde_json::json!({"source_table": "t"})))
                .unwrap_err()
                .to_string();
        assert!(
            m.contains("bootstrap_servers in the URI is required to connect to kafka"),
            "{m}"
        );
        assert!(
            m.contains("group_id in the URI is required to connect to kafka"),
            "{m}"
        );
    }

    #[test]
    fn a_knob_given_twice_differently_names_both_places() {
        let m = KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a&sasl_password=one",
            serde_json::json!({"source_table": "t", "group_id": "b", "sasl_password": "two", "colour": 1}),
        ))
        .unwrap_err()
        .to_string();
        assert!(m.contains("spec.source.options.group_id and the `group_id` parameter of spec.source.address differ: `a` and `b`"), "{m}");
        assert!(m.contains("sasl_password"), "{m}");
        assert!(!m.contains("one") && !m.contains("two"), "{m}");
        assert!(m.contains("spec.source.options.colour"), "{m}");
        // The same value in both places is fine.
        KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a",
            serde_json::json!({"source_table": "t", "group_id": "a", "batch_size": 10}),
        ))
        .unwrap();
    }

    #[test]
    fn start_positions() {
        assert_eq!(parse_start("earliest"), Some(StartFrom::Earliest));
        assert_eq!(
            parse_start("2025-01-01T00:00:00Z"),
            Some(StartFrom::Time(1_735_689_600_000))
        );
        assert_eq!(
            parse_start("2025-01-01T00:00:00"),
            Some(StartFrom::Time(1_735_689_600_000))
        );
        assert_eq!(parse_start("yesterday"), None);
        let m = KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a",
            serde_json::json!({"source_table": "t", "start_from": "soon"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(m.contains("start_from: `soon`"), "{m}");
    }

    #[test]
    fn java_truststores_get_a_way_out() {
        let m = KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a&ssl_truststore_location=/t.jks&ssl_truststore_password=pw123",
            serde_json::json!({"source_table": "t"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(m.contains("ssl_ca_location"), "{m}");
        assert!(!m.contains("pw123"), "{m}");
    }
}
