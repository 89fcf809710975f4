//! The Kafka source's options: the Nilus address `kafka://?bootstrap_servers=..&group_id=..`
//! (reference section 2.1), the same knobs under `source.options` (both places must agree),
//! `source.options.source_table` (the topic, or a comma list of topics) and `start_from`.
//! Turns them into librdkafka properties; secrets never appear in errors, logs or `Debug`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_sdk::options::{self, Secret, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
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

/// `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde")]
#[schemars(crate = "weir_sdk::schemars")]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub(crate) enum SecurityProtocol {
    PLAINTEXT,
    SSL,
    SASL_PLAINTEXT,
    SASL_SSL,
}

/// `sasl.mechanisms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde")]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// The kind of file `ssl_truststore_location` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde")]
#[schemars(crate = "weir_sdk::schemars")]
#[allow(clippy::upper_case_acronyms)]
pub(crate) enum TruststoreType {
    PKCS12,
    JKS,
}

/// The Kafka source's options: the Nilus address query
/// (`kafka://?bootstrap_servers=host:9092&group_id=NAME`) or `spec.source.options`; a knob in
/// both places with different values is an error.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct KafkaOptions {
    /// The topic, or a comma list of topics. Example: `orders,payments`.
    pub(crate) source_table: String,
    /// Comma list of `host:port`. Required (here, or as the address's host). Example:
    /// `b1:9092,b2:9092`.
    pub(crate) bootstrap_servers: Option<String>,
    /// The consumer group. Required; keep it stable so committed offsets carry over.
    pub(crate) group_id: Option<String>,
    /// Where a group with no committed offset (and a sink with no stored position) starts:
    /// `earliest`, `latest` or a time (RFC 3339, or `YYYY-MM-DD[THH:MM:SS]` in UTC).
    /// Default `earliest`.
    pub(crate) start_from: Option<String>,
    /// Nilus's name for a start time (as `start_from: <time>`).
    pub(crate) interval_start: Option<String>,
    /// librdkafka `security.protocol`. Default `PLAINTEXT`.
    pub(crate) security_protocol: Option<SecurityProtocol>,
    /// librdkafka `sasl.mechanisms`; a SASL protocol needs `sasl_username` and `sasl_password`.
    pub(crate) sasl_mechanisms: Option<SaslMechanism>,
    /// The same as `sasl_mechanisms` (the singular spelling some tools write).
    pub(crate) sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    pub(crate) sasl_username: Option<String>,
    /// SASL password.
    pub(crate) sasl_password: Option<Secret>,
    /// PEM file or directory of CA certificates that sign the brokers' certificates.
    pub(crate) ssl_ca_location: Option<String>,
    /// The client's certificate (PEM), for brokers that require mutual TLS.
    pub(crate) ssl_certificate_location: Option<String>,
    /// The client's private key (PEM).
    pub(crate) ssl_key_location: Option<String>,
    /// The password of `ssl_key_location`.
    pub(crate) ssl_key_password: Option<Secret>,
    /// A PKCS12 truststore (a JKS one is not readable by librdkafka: export its CA
    /// certificates to PEM and give `ssl_ca_location`).
    pub(crate) ssl_truststore_location: Option<String>,
    /// The truststore's password.
    pub(crate) ssl_truststore_password: Option<Secret>,
    /// The truststore's format. Default `JKS` (Nilus's default), which is refused.
    pub(crate) ssl_truststore_type: Option<TruststoreType>,
    /// librdkafka `session.timeout.ms`, in milliseconds.
    #[serde(default = "default_session_timeout_ms")]
    pub(crate) session_timeout_ms: u32,
    /// librdkafka `max.poll.interval.ms`, in milliseconds.
    #[serde(default = "default_max_poll_interval_ms")]
    pub(crate) max_poll_interval_ms: u32,
    /// librdkafka `client.id`.
    #[serde(default = "default_client_id")]
    pub(crate) client_id: String,
    /// librdkafka `group.instance.id`: static group membership. A member that restarts with
    /// the same id within `session_timeout_ms` gets its partitions back without a rebalance.
    /// Unique per process (for example `{HOSTNAME}`). Default: none (dynamic membership).
    pub(crate) group_instance_id: Option<String>,
    /// A Nilus batch option; accepted so batch manifests load, not used by a stream.
    #[allow(dead_code)]
    pub(crate) interval_end: Option<Value>,
    /// A Nilus batch option; accepted so batch manifests load, not used by a stream.
    #[allow(dead_code)]
    pub(crate) page_size: Option<Value>,
    /// A Nilus batch option; accepted so batch manifests load, not used by a stream.
    #[allow(dead_code)]
    pub(crate) extract_parallelism: Option<Value>,
    /// A Nilus batch option; accepted so batch manifests load, not used by a stream.
    #[allow(dead_code)]
    pub(crate) yield_limit: Option<Value>,
    /// A Nilus batch option; accepted so batch manifests load, not used by a stream.
    #[allow(dead_code)]
    pub(crate) incremental_key: Option<Value>,
}

fn default_session_timeout_ms() -> u32 {
    45_000
}

fn default_max_poll_interval_ms() -> u32 {
    300_000
}

fn default_client_id() -> String {
    "weir".into()
}

/// The options' schema, derived from [`KafkaOptions`].
pub(crate) fn schema() -> Value {
    options::schema::<KafkaOptions>()
}

fn protocol_name(p: SecurityProtocol) -> &'static str {
    match p {
        SecurityProtocol::PLAINTEXT => "PLAINTEXT",
        SecurityProtocol::SSL => "SSL",
        SecurityProtocol::SASL_PLAINTEXT => "SASL_PLAINTEXT",
        SecurityProtocol::SASL_SSL => "SASL_SSL",
    }
}

fn mechanism_name(m: SaslMechanism) -> &'static str {
    match m {
        SaslMechanism::Plain => "PLAIN",
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
        SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
    }
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

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The bootstrap servers and the group, with Nilus's messages when one is missing.
fn brokers_and_group(
    url: &url::Url,
    o: &KafkaOptions,
    problems: &mut Vec<String>,
) -> (String, String) {
    // A host in the address (kafka://broker:9092?...) is accepted as the bootstrap server.
    let from_host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .map(|h| format!("{h}:{}", url.port().unwrap_or(9092)));
    let brokers = nonempty(&o.bootstrap_servers).or(from_host).unwrap_or_else(|| {
        problems.push("bootstrap_servers in the URI is required to connect to kafka (spec.source.address: kafka://?bootstrap_servers=host:9092&group_id=NAME)".to_string());
        String::new()
    });
    let group_id = nonempty(&o.group_id).unwrap_or_else(|| {
        problems.push("group_id in the URI is required to connect to kafka (spec.source.address: add &group_id=NAME; keep it stable so offsets carry over)".to_string());
        String::new()
    });
    (brokers, group_id)
}

fn topics(o: &KafkaOptions, problems: &mut Vec<String>) -> Vec<String> {
    let topics: Vec<String> = o
        .source_table
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
        let valid = t.len() <= 249
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !valid {
            problems.push(format!("spec.source.options.source_table: `{t}` is not a valid Kafka topic name (letters, digits, `.`, `_`, `-`)"));
        }
    }
    topics
}

fn start_from(o: &KafkaOptions, problems: &mut Vec<String>) -> StartFrom {
    match (nonempty(&o.start_from), nonempty(&o.interval_start)) {
        (Some(a), Some(b)) if a != b => {
            problems.push(
                "spec.source.options: give one of start_from and interval_start".to_string(),
            );
            StartFrom::Earliest
        }
        (Some(v), _) | (None, Some(v)) => parse_start(&v).unwrap_or_else(|| {
            problems.push(format!("spec.source.options.start_from: `{v}` is not earliest, latest or an RFC 3339 time such as 2025-01-01T00:00:00Z"));
            StartFrom::Earliest
        }),
        (None, None) => StartFrom::Earliest,
    }
}

/// The librdkafka properties the options give, and which of them are secret.
fn client_properties(
    o: &KafkaOptions,
    problems: &mut Vec<String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut p = BTreeMap::new();
    let mut secret_keys = Vec::new();
    let mut put = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            p.insert(key.to_string(), v);
        }
    };
    put("client.id", Some(o.client_id.clone()));
    put("group.instance.id", nonempty(&o.group_instance_id));
    put("session.timeout.ms", Some(o.session_timeout_ms.to_string()));
    put(
        "max.poll.interval.ms",
        Some(o.max_poll_interval_ms.to_string()),
    );
    put(
        "security.protocol",
        o.security_protocol.map(|x| protocol_name(x).to_string()),
    );
    put(
        "sasl.mechanisms",
        o.sasl_mechanisms
            .or(o.sasl_mechanism)
            .map(|m| mechanism_name(m).to_string()),
    );
    put("sasl.username", nonempty(&o.sasl_username));
    put("ssl.ca.location", nonempty(&o.ssl_ca_location));
    put(
        "ssl.certificate.location",
        nonempty(&o.ssl_certificate_location),
    );
    put("ssl.key.location", nonempty(&o.ssl_key_location));
    for (key, secret) in [
        ("sasl.password", &o.sasl_password),
        ("ssl.key.password", &o.ssl_key_password),
    ] {
        if let Some(s) = secret {
            put(key, Some(s.expose().to_string()));
            secret_keys.push(key.to_string());
        }
    }
    for (name, v) in [
        ("session_timeout_ms", o.session_timeout_ms),
        ("max_poll_interval_ms", o.max_poll_interval_ms),
    ] {
        if v == 0 {
            problems.push(format!(
                "spec.source.options.{name}: must be a positive integer"
            ));
        }
    }
    let sasl = matches!(
        o.security_protocol,
        Some(SecurityProtocol::SASL_PLAINTEXT | SecurityProtocol::SASL_SSL)
    );
    if sasl && (nonempty(&o.sasl_username).is_none() || o.sasl_password.is_none()) {
        problems.push(
            "spec.source.address: a SASL security_protocol needs sasl_username and sasl_password"
                .to_string(),
        );
    }
    if let Some(loc) = nonempty(&o.ssl_truststore_location) {
        if o.ssl_truststore_type == Some(TruststoreType::PKCS12) {
            put("ssl.keystore.location", Some(loc));
            if let Some(pw) = &o.ssl_truststore_password {
                put("ssl.keystore.password", Some(pw.expose().to_string()));
                secret_keys.push("ssl.keystore.password".into());
            }
        } else {
            problems.push(format!("spec.source.address: ssl_truststore_location `{loc}` is a JKS truststore, which librdkafka cannot read; export its CA certificates to PEM and give ssl_ca_location instead"));
        }
    }
    (p, secret_keys)
}

/// What weir itself sets: offsets stored only after the sink's commit, statistics for lag,
/// and a prefetch bounded by the micro-batch size.
fn engine_properties(p: &mut BTreeMap<String, String>, cfg: &SourceConfig, start: StartFrom) {
    // Offsets move only when the host commits after the sink's commit.
    p.insert("enable.auto.commit".into(), "false".into());
    p.insert("enable.auto.offset.store".into(), "false".into());
    let reset = if start == StartFrom::Latest {
        "latest"
    } else {
        "earliest"
    };
    p.insert("auto.offset.reset".into(), reset.into());
    p.insert("enable.partition.eof".into(), "false".into());
    // Statistics carry each partition's consumer lag (for `weir_consumer_lag`).
    if cfg.run_in_loop {
        p.insert("statistics.interval.ms".into(), "2000".into());
    }
    // Bounded prefetch: about two micro-batches of ~1 KiB records per partition, so a
    // backlog of millions of messages stays on the broker, not in RSS.
    let batch = cfg.batch_size.max(1);
    p.insert(
        "queued.min.messages".into(),
        (batch * 2).clamp(1_000, 100_000).to_string(),
    );
    p.insert(
        "queued.max.messages.kbytes".into(),
        (batch * 2).clamp(4_096, 65_536).to_string(),
    );
    p.insert(
        "fetch.wait.max.ms".into(),
        (cfg.batch_timeout.as_millis() as u64)
            .clamp(10, 500)
            .to_string(),
    );
}

impl KafkaConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let url = url::Url::parse(&cfg.address).map_err(|e| {
            Error::config(format!(
                "spec.source.address is not a valid kafka:// URI: {e}; write kafka://?bootstrap_servers=host:9092&group_id=NAME"
            ))
        })?;
        let o: KafkaOptions = options::read(Side::Source, Some(&url), &cfg.options)?;
        let mut problems = Vec::new();
        let (brokers, group_id) = brokers_and_group(&url, &o, &mut problems);
        let topics = topics(&o, &mut problems);
        let start_from = start_from(&o, &mut problems);
        let (mut properties, secret_keys) = client_properties(&o, &mut problems);
        properties.insert("bootstrap.servers".into(), brokers.clone());
        properties.insert("group.id".into(), group_id.clone());
        engine_properties(&mut properties, cfg, start_from);
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
            serde_json::json!({"source_table": "orders, payments", "start_from": "latest", "group_instance_id": "m1"}),
        ))
        .unwrap();
        assert_eq!(c.properties["group.instance.id"], "m1");
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
        assert!(m.contains("sasl_password and the `sasl_password` parameter of spec.source.address differ: (values redacted)"), "{m}");
        assert!(m.contains("sasl_password"), "{m}");
        assert!(!m.contains("one") && !m.contains("two"), "{m}");
        assert!(m.contains("spec.source.options.colour"), "{m}");
        // The same value in both places is fine.
        KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a",
            serde_json::json!({"source_table": "t", "group_id": "a"}),
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

    #[test]
    fn no_secret_field_prints() {
        let c = KafkaConfig::from_source(&cfg(
            "kafka://?bootstrap_servers=b:9092&group_id=a&security_protocol=sasl_ssl&sasl_mechanism=plain&sasl_username=u&sasl_password=pw-sasl&ssl_key_password=pw-key&ssl_truststore_location=/t.p12&ssl_truststore_type=pkcs12&ssl_truststore_password=pw-trust",
            serde_json::json!({"source_table": "t"}),
        ))
        .unwrap();
        assert_eq!(c.properties["sasl.mechanisms"], "PLAIN");
        assert_eq!(c.properties["ssl.keystore.password"], "pw-trust");
        let shown = format!("{c:?}");
        for secret in ["pw-sasl", "pw-key", "pw-trust"] {
            assert!(!shown.contains(secret), "{shown}");
            assert_eq!(c.redact(&format!("x {secret} y")), "x (redacted) y");
        }
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        options::check_readme(readme, &options::table::<KafkaOptions>()).unwrap();
    }
}
