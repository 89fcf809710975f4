//! The Kafka source's security protocols against tansu requiring them: `SASL_PLAINTEXT` with
//! `PLAIN`, `SASL_SSL` with `SCRAM-SHA-256` and `SCRAM-SHA-512` (users made by `tansu user`),
//! and `SSL` with a client certificate. tansu serves SASL itself; TLS is served by the
//! harness's TLS front (`tls_front.py`, Python's OpenSSL), because tansu 0.6.0 never wraps its
//! connections in TLS. Each works (every message lands once, read back by the Python Delta
//! reader) and each wrong password, unknown mechanism and untrusted certificate is one clear
//! error (exit 2) that never prints the secret; a missing client certificate is retried with
//! a hint naming it (a TLS proxy whose broker is down looks the same).

use serde_json::Value;
use std::path::{Path, PathBuf};
use weir_tests::certs::Certs;
use weir_tests::kafka::{KafkaBroker, Secure};
use weir_tests::manifest::Manifest;
use weir_tests::nats::json_ids;
use weir_tests::*;

const TOPIC: &str = "orders";
const N: u64 = 2_000;
const SCRAM256: (&str, &str) = ("alice", "kafka-Pass-256-e1a9");
const SCRAM512: (&str, &str) = ("bob", "kafka-Pass-512-5c3f");

/// A broker with [`N`] messages in [`TOPIC`] and the two SCRAM users, then locked down.
fn broker(secure: Secure) -> KafkaBroker {
    let mut b = KafkaBroker::start();
    b.create_topic(TOPIC, 2);
    b.produce(TOPIC, 0, N);
    b.create_user("scram256", SCRAM256.0, SCRAM256.1);
    b.create_user("scram512", SCRAM512.0, SCRAM512.1);
    b.secure(secure);
    b
}

/// One pipeline: its own group and table, these source options, `{KAFKA_SECRET}` wherever the
/// secret goes.
struct Case<'a> {
    name: &'a str,
    options: Vec<(&'a str, Value)>,
}

struct Fixture {
    broker: KafkaBroker,
    scratch: Scratch,
    plugins: PathBuf,
    lake: PathBuf,
}

impl Fixture {
    fn new(broker: KafkaBroker) -> Self {
        let scratch = Scratch::new();
        let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
        let lake = scratch.join("lake");
        Self {
            broker,
            scratch,
            plugins,
            lake,
        }
    }

    fn manifest(&self, case: &Case) -> PathBuf {
        let mut m = Manifest::new(case.name)
            .source(format!(
                "kafka://?bootstrap_servers={}&group_id={}",
                self.broker.bootstrap(),
                case.name
            ))
            .source_option("source_table", TOPIC)
            .sink(&self.lake)
            .sink_option("dest_table", case.name);
        for (k, v) in &case.options {
            m = m.source_option(k, v.clone());
        }
        self.scratch.write(&m)
    }

    /// Runs `case` with `secret` as `$KAFKA_SECRET`; nothing printed holds the secret.
    fn run(&self, case: &Case, secret: &str) -> Outcome {
        let out = output(
            weir(&self.plugins)
                .env("KAFKA_SECRET", secret)
                .arg("run")
                .arg(self.manifest(case)),
        );
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "{}: the secret was printed: {}",
            case.name,
            out.stderr
        );
        out
    }

    /// `case` lands every message once.
    fn lands(&self, case: &Case, secret: &str) {
        let out = self.run(case, secret);
        assert_eq!(out.code, Some(0), "{}: {}", case.name, out.stderr);
        let ids = json_ids(&self.lake.join(case.name));
        assert_eq!(
            (ids["rows"].clone(), ids["distinct"].clone()),
            (N.into(), N.into()),
            "{}: {ids}",
            case.name
        );
    }

    /// `case` exits 2 with one ERROR line that contains `says`, and writes no table.
    fn refused(&self, case: &Case, secret: &str, says: &str) {
        self.fails(case, secret, 2, says);
    }

    /// `case` exits `code` with one ERROR line that contains `says`, and writes no table.
    fn fails(&self, case: &Case, secret: &str, code: i32, says: &str) {
        let out = self.run(case, secret);
        assert_eq!(out.code, Some(code), "{}: {}", case.name, out.stderr);
        // A running pipeline's failure is an ERROR line; a manifest refused before any
        // pipeline runs is the `weir: error:` line alone.
        let mut errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
        if errors.is_empty() {
            errors = out
                .stderr
                .lines()
                .filter(|l| l.starts_with("weir: error"))
                .collect();
        }
        assert_eq!(errors.len(), 1, "{}: one error: {}", case.name, out.stderr);
        assert!(errors[0].contains(says), "{}: {}", case.name, errors[0]);
        assert!(
            !self.lake.join(case.name).join("_delta_log").exists(),
            "{}: a table was written",
            case.name
        );
    }
}

fn sasl(protocol: &str, mechanism: &str, user: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("security_protocol", protocol.into()),
        ("sasl_mechanisms", mechanism.into()),
        ("sasl_username", user.into()),
        ("sasl_password", "{KAFKA_SECRET}".into()),
    ]
}

fn path(p: &Path) -> Value {
    p.display().to_string().into()
}

#[test]
fn sasl_plaintext_with_plain() {
    let f = Fixture::new(broker(Secure {
        sasl: true,
        tls: None,
        client_certs: false,
    }));
    let plain = Case {
        name: "plain",
        options: sasl("SASL_PLAINTEXT", "PLAIN", "carol"),
    };
    f.lands(&plain, "kafka-Pass-plain-77b2");
    // A SCRAM user with the wrong password: tansu 0.6.0 checks SCRAM proofs against the users
    // `tansu user` made, but accepts any PLAIN password (its PLAIN check only requires one), so
    // the wrong-password case is SCRAM's.
    let wrong = Case {
        name: "wrong_password",
        options: sasl("SASL_PLAINTEXT", "SCRAM-SHA-256", SCRAM256.0),
    };
    f.refused(&wrong, "not-the-Pass-3", "refused the login");
    let unknown = Case {
        name: "unknown_mechanism",
        options: sasl("SASL_PLAINTEXT", "GSSAPI", SCRAM256.0),
    };
    f.refused(&unknown, SCRAM256.1, "sasl_mechanisms");
}

#[test]
fn sasl_ssl_with_scram_sha_256_and_512() {
    let dir = tempfile::tempdir().expect("certs dir");
    let certs = Certs::make(dir.path());
    let other = tempfile::tempdir().expect("certs dir");
    let stranger = Certs::make(other.path());
    let f = Fixture::new(broker(Secure {
        sasl: true,
        tls: Some(&certs),
        client_certs: false,
    }));
    let case = |name, mechanism, user, ca: &Path| {
        let mut options = sasl("SASL_SSL", mechanism, user);
        options.push(("ssl_ca_location", path(ca)));
        Case { name, options }
    };
    f.lands(
        &case("scram256", "SCRAM-SHA-256", SCRAM256.0, &certs.ca),
        SCRAM256.1,
    );
    f.lands(
        &case("scram512", "SCRAM-SHA-512", SCRAM512.0, &certs.ca),
        SCRAM512.1,
    );
    f.refused(
        &case("wrong_512", "SCRAM-SHA-512", SCRAM512.0, &certs.ca),
        "not-the-Pass-4",
        "refused the login",
    );
    f.refused(
        &case("untrusted", "SCRAM-SHA-512", SCRAM512.0, &stranger.ca),
        SCRAM512.1,
        "ssl_ca_location",
    );
}

#[test]
fn ssl_with_a_client_certificate() {
    let dir = tempfile::tempdir().expect("certs dir");
    let certs = Certs::make(dir.path());
    let f = Fixture::new(broker(Secure {
        sasl: false,
        tls: Some(&certs),
        client_certs: true,
    }));
    let mut options = vec![
        ("security_protocol", "SSL".into()),
        ("ssl_ca_location", path(&certs.ca)),
    ];
    // Closing the connection after the handshake is also what a TLS proxy whose broker is
    // down does: a retried connection error with the hint, not a configuration error.
    let mut bounded = options.clone();
    bounded.push(("max_retry_time", 1.5.into()));
    let without = Case {
        name: "no_client_cert",
        options: bounded,
    };
    options.push(("ssl_certificate_location", path(&certs.client_cert)));
    options.push(("ssl_key_location", path(&certs.client_key)));
    f.lands(
        &Case {
            name: "mtls",
            options,
        },
        "unused-secret-9e0d",
    );
    f.fails(
        &without,
        "unused-secret-9e0d",
        1,
        "ssl_certificate_location",
    );
}
