//! Telling a broker that refuses this client from a broker that is away. librdkafka reports
//! both the same way to a metadata request (a transport failure) and retries forever; what
//! tells them apart is what it said on the way, in its error callback and its `FAIL` log
//! lines. [`News`] keeps the latest of those; [`refusal`] reads the newest and names the
//! option to fix: a refused login, a SASL mechanism the broker does not offer, or a
//! certificate the client does not trust is a configuration error (retrying cannot help); a
//! broker that closes the TLS connection after the handshake (one that requires a client
//! certificate, or a TLS proxy whose broker is down) is a hint on a retried connection error.

use crate::config::KafkaConfig;
use crate::context::WeirContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weir_sdk::Error;

/// How many of librdkafka's latest broker failures are kept.
const KEPT: usize = 16;

/// librdkafka's latest broker failures, newest last (written by the consumer's context on
/// librdkafka's threads and inside `poll`, read by the source).
#[derive(Default)]
pub(crate) struct News {
    list: Mutex<VecDeque<String>>,
}

impl News {
    pub(crate) fn push(&self, line: &str) {
        if let Ok(mut l) = self.list.lock() {
            if l.len() == KEPT {
                l.pop_front();
            }
            l.push_back(line.to_string());
        }
    }

    /// The failures seen since the last call.
    pub(crate) fn take(&self) -> Vec<String> {
        self.list
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default()
    }
}

/// What the client knows of its own TLS set-up, to explain a refusal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Setup {
    /// `security_protocol` is `SSL` or `SASL_SSL`.
    pub(crate) tls: bool,
    /// `ssl_certificate_location` is set.
    pub(crate) client_cert: bool,
}

impl KafkaConfig {
    /// The client's TLS set-up, for reading a broker's refusal.
    pub(crate) fn setup(&self) -> Setup {
        let protocol = self.properties.get("security.protocol").map(String::as_str);
        Setup {
            tls: matches!(protocol, Some("SSL" | "SASL_SSL")),
            client_cert: self.properties.contains_key("ssl.certificate.location")
                || self.properties.contains_key("ssl.keystore.location"),
        }
    }
}

/// A line that says the broker refused this client: the source reports it as one
/// configuration error ([`refusal`]), so librdkafka's own lines for it are kept at DEBUG.
pub(crate) fn is_refusal(line: &str, setup: Setup) -> bool {
    kind(line, setup).is_some_and(|k| k != Kind::ClosedAfterHandshake)
}

/// A line that says nothing of its own (it follows every failure).
fn neutral(line: &str) -> bool {
    line.contains("brokers are down")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Login,
    Mechanism,
    Untrusted,
    ClosedAfterHandshake,
}

fn kind(line: &str, setup: Setup) -> Option<Kind> {
    if line.contains("SASL authentication error") || line.contains("SASL authentication failed") {
        Some(Kind::Login)
    } else if line.contains("mechanism handshake failed") {
        Some(Kind::Mechanism)
    } else if line.contains("certificate verify failed") {
        Some(Kind::Untrusted)
    } else if setup.tls
        && !setup.client_cert
        && line.contains("SSL connection closed by peer")
        && line.contains("state APIVERSION_QUERY")
    {
        Some(Kind::ClosedAfterHandshake)
    } else {
        None
    }
}

/// What the newest failure says of the broker: it refused this client (`fatal`: a
/// configuration error), or it may require a client certificate (a hint for a connection
/// error: a TLS proxy whose broker is down closes connections the same way).
pub(crate) struct Refusal {
    pub(crate) message: String,
    pub(crate) fatal: bool,
}

/// Reads the newest failure of `news` (lines that follow every failure aside); `None` when it
/// is of another kind (the broker is away).
pub(crate) fn refusal(news: &[String], setup: Setup) -> Option<Refusal> {
    let line = news.iter().rev().find(|l| !neutral(l))?;
    let kind = kind(line, setup)?;
    let what = match kind {
        Kind::Login => {
            "the broker refused the login: check sasl_username, sasl_password and sasl_mechanisms"
                .to_string()
        }
        Kind::Mechanism => format!(
            "the broker does not accept this SASL mechanism: set sasl_mechanisms to one it offers ({})",
            offered(line).unwrap_or("it did not say which")
        ),
        Kind::Untrusted => "the broker's certificate is not trusted: set ssl_ca_location to the CA certificate (PEM) that signed it (or the certificate has expired, or names another host)".to_string(),
        Kind::ClosedAfterHandshake => "the broker closes the TLS connection after the handshake, as one that requires a client certificate does (or a TLS proxy whose broker is down): if it requires one, set ssl_certificate_location and ssl_key_location".to_string(),
    };
    Some(Refusal {
        message: format!("spec.source.address: {what} (librdkafka: {line})"),
        fatal: kind != Kind::ClosedAfterHandshake,
    })
}

/// A broker call that failed at open: a configuration error when the broker refused this
/// client, else a connection error with librdkafka's last word on the brokers. librdkafka's
/// callbacks run inside `poll`, so they are served first.
pub(crate) fn open_failed(
    consumer: &BaseConsumer<WeirContext>,
    news: &News,
    cfg: &KafkaConfig,
    e: &KafkaError,
) -> Error {
    let until = Instant::now() + Duration::from_millis(300);
    while consumer
        .poll(until.saturating_duration_since(Instant::now()))
        .is_some()
    {}
    let news = news.take();
    let refused = refusal(&news, cfg.setup());
    if let Some(r) = refused.as_ref().filter(|r| r.fatal) {
        return Error::config(cfg.redact(&r.message));
    }
    let mut msg = format!(
        "cannot reach the Kafka brokers; check bootstrap_servers and that the brokers are up ({} at {}): {e}",
        cfg.group_id, cfg.brokers
    );
    match (refused, news.iter().rev().find(|l| !neutral(l))) {
        (Some(hint), _) => msg.push_str(&format!("; {}", hint.message)),
        (None, Some(last)) => msg.push_str(&format!("; librdkafka last said: {last}")),
        (None, None) => {}
    }
    Error::connection(cfg.redact(&msg))
}

/// After an open succeeded: what was said before (a bad bootstrap address among good ones)
/// is no reason to fail a later poll.
pub(crate) fn forget(news: &News, consumer: &BaseConsumer<WeirContext>) {
    news.take();
    consumer
        .context()
        .refused
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The mechanisms in librdkafka's `broker's supported mechanisms: A,B (after ...)`.
fn offered(line: &str) -> Option<&str> {
    let rest = line.split("supported mechanisms: ").nth(1)?;
    let list = rest.split(" (").next()?.trim();
    (!list.is_empty() && list != "(n/a)").then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROOF: &str = "sasl_ssl://127.0.0.1:1/bootstrap: SASL authentication error: SASL SCRAM authentication failed: broker responded with invalid-proof (after 28ms in state AUTH_REQ)";
    const VERIFY: &str = "sasl_ssl://127.0.0.1:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified (after 1ms in state SSL_HANDSHAKE)";
    const CLOSED: &str = "ssl://127.0.0.1:1/bootstrap: Disconnected: SSL connection closed by peer (after 0ms in state APIVERSION_QUERY)";
    const DOWN: &str = "1/1 brokers are down";
    const TLS: Setup = Setup {
        tls: true,
        client_cert: false,
    };

    #[test]
    fn each_refusal_names_what_to_fix() {
        let says = |line: &str| {
            refusal(&[line.to_string(), DOWN.to_string()], TLS).map(|r| (r.fatal, r.message))
        };
        let fatal = |line: &str, what: &str| {
            let (fatal, m) = says(line).expect("a refusal");
            assert!(fatal && m.contains(what), "{m}");
        };
        fatal(PROOF, "sasl_password");
        fatal(VERIFY, "ssl_ca_location");
        let mech = "SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's supported mechanisms: SCRAM-SHA-256,SCRAM-SHA-512 (after 1ms in state AUTH_HANDSHAKE)";
        fatal(mech, "SCRAM-SHA-256,SCRAM-SHA-512");
        // A closed connection may be a TLS proxy whose broker is down: a hint, retried.
        let (fatal, m) = says(CLOSED).expect("a hint");
        assert!(!fatal && m.contains("ssl_certificate_location"), "{m}");
    }

    #[test]
    fn only_the_newest_failure_counts() {
        let news = [
            PROOF.to_string(),
            DOWN.to_string(),
            "Connect to ipv4#127.0.0.1:1 failed: Connection refused".to_string(),
            DOWN.to_string(),
        ];
        assert!(refusal(&news, TLS).is_none());
    }

    #[test]
    fn an_absent_broker_is_no_refusal() {
        let away = [
            DOWN.to_string(),
            "Connect to ipv4#127.0.0.1:1 failed: Connection refused".to_string(),
        ];
        assert!(refusal(&away, TLS).is_none());
        // A closed connection is only a missing certificate's sign when none is configured.
        let with_cert = Setup {
            tls: true,
            client_cert: true,
        };
        assert!(refusal(&[CLOSED.to_string()], with_cert).is_none());
        assert!(refusal(&[CLOSED.to_string()], Setup::default()).is_none());
    }

    #[test]
    fn news_keeps_the_latest() {
        let n = News::default();
        for i in 0..40 {
            n.push(&i.to_string());
        }
        let got = n.take();
        assert_eq!(got.len(), KEPT);
        assert_eq!(got.last().map(String::as_str), Some("39"));
        assert!(n.take().is_empty());
    }
}
