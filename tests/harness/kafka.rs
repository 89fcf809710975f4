//! A real Kafka-protocol broker for the tests: `tansu` (crates.io, a Kafka-compatible broker in
//! Rust), which `cargo xtask test` installs once into a cached root and names in
//! `WEIR_TEST_TANSU`. Started on a free 127.0.0.1 port with a SQLite store in a temporary
//! directory, restartable on the same port and store, stopped on drop (`server.rs` runs the process). The independent
//! producer and checker is `harness/kafka_tool.py` (Python confluent-kafka).

use crate::certs::Certs;
use crate::server::Server;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running tansu broker.
pub struct KafkaBroker {
    server: Server,
    /// How the next start listens: read by the launch closure.
    mode: Arc<Mutex<Mode>>,
    /// The TLS front, once [`KafkaBroker::secure`] started one.
    front: Option<Server>,
}

/// What a broker requires of its clients.
#[derive(Clone, Copy, Default)]
struct Mode {
    /// `--authentication`: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) on every connection.
    sasl: bool,
    /// The port advertised in metadata when a TLS front stands before the broker.
    advertised: Option<u16>,
}

/// How [`KafkaBroker::secure`] locks a broker down.
pub struct Secure<'a> {
    /// Require SASL.
    pub sasl: bool,
    /// Serve TLS (a front with this CA's server certificate).
    pub tls: Option<&'a Certs>,
    /// With `tls`, require a client certificate signed by the CA.
    pub client_certs: bool,
}

/// The tansu binary: `$WEIR_TEST_TANSU`, else `tansu` on the PATH.
pub fn tansu() -> PathBuf {
    std::env::var_os("WEIR_TEST_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tansu"))
}

impl KafkaBroker {
    /// Starts a broker with an empty store.
    pub fn start() -> Self {
        let mut b = Self::unstarted();
        b.spawn();
        b
    }

    /// A broker with a port and a store, not yet listening (for tests of an absent broker).
    pub fn unstarted() -> Self {
        let mode = Arc::new(Mutex::new(Mode::default()));
        let shared = mode.clone();
        let launch = move |port: u16, dir: &std::path::Path| {
            let mode = *shared.lock().expect("broker mode");
            let url = format!("tcp://127.0.0.1:{port}");
            let advertised = format!("tcp://127.0.0.1:{}", mode.advertised.unwrap_or(port));
            let mut cmd = Command::new(tansu());
            cmd.args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ]);
            if mode.sasl {
                cmd.arg("--authentication");
            }
            cmd
                // tansu reads `sqlite://a/b` as host `a` and path `/b`: name the file relative
                // to the store directory, where the broker runs.
                .args(["--storage-engine", "sqlite://tansu.db"])
                .current_dir(dir)
                .env("RUST_LOG", "warn");
            cmd
        };
        Self {
            server: Server::new("tansu", Duration::from_secs(30), Box::new(launch)),
            mode,
            front: None,
        }
    }

    /// Creates a SCRAM user (`mechanism` `scram256` or `scram512`) with `tansu user`, which
    /// needs the broker still open: call it before [`KafkaBroker::secure`].
    pub fn create_user(&self, mechanism: &str, name: &str, password: &str) {
        let out = Command::new(tansu())
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.server.port()))
            .args(["--mechanism", mechanism, name, password])
            .output()
            .expect("run tansu user create");
        assert!(
            out.status.success(),
            "tansu user create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Restarts the broker on its store requiring what `secure` says, and starts its TLS front.
    /// Topics, messages and users made before stay; from here on only a client that meets the
    /// requirements gets in ([`KafkaBroker::bootstrap`] names the front), so the harness's own
    /// tool is used before this call.
    pub fn secure(&mut self, secure: Secure) {
        let front = secure.tls.map(|certs| {
            let target = self.server.port();
            let (cert, key) = (certs.server_cert.clone(), certs.server_key.clone());
            let client_ca = secure.client_certs.then(|| certs.ca.clone());
            let launch = move |port: u16, _dir: &std::path::Path| {
                let mut cmd = Command::new(crate::python());
                cmd.arg(crate::root().join("tests/harness/tls_front.py"))
                    .args([port.to_string(), target.to_string()])
                    .args([&cert, &key])
                    .args(client_ca.iter());
                cmd
            };
            Server::new("tls-front", Duration::from_secs(20), Box::new(launch))
        });
        *self.mode.lock().expect("broker mode") = Mode {
            sasl: secure.sasl,
            advertised: front.as_ref().map(Server::port),
        };
        self.server.restart(Duration::ZERO);
        self.front = front;
        if let Some(f) = self.front.as_mut() {
            f.start();
        }
    }

    /// Starts the broker process and waits until it listens.
    pub fn spawn(&mut self) {
        self.server.start();
    }

    /// Kills the broker and starts it again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) {
        self.server.restart(down_for);
    }

    /// Stops the broker (SIGKILL).
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// `127.0.0.1:PORT`, for `bootstrap_servers`: the TLS front's port once there is one.
    pub fn bootstrap(&self) -> String {
        let port = self.front.as_ref().unwrap_or(&self.server).port();
        format!("127.0.0.1:{port}")
    }

    /// The broker's own log so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// Creates a topic with this many partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.server.port()))
            .args(["--partitions", &partitions.to_string(), name])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `kafka_tool.py CMD BOOTSTRAP ARGS...`, returning its JSON output.
    pub fn tool(&self, args: &[&str]) -> serde_json::Value {
        crate::python_tool("kafka_tool.py", args[0], &self.bootstrap(), &args[1..])
    }

    /// Produces `{"id": i, ...}` for `i in from..from+count` (key `i`, partition `i % n`);
    /// returns the newest message timestamp (ms since the epoch, the producer's CreateTime).
    pub fn produce(&self, topic: &str, from: u64, count: u64) -> i64 {
        let out = self.tool(&["produce", topic, &from.to_string(), &count.to_string()]);
        assert_eq!(out["produced"], count, "{out}");
        out["newest_timestamp_ms"].as_i64().expect("a timestamp")
    }

    /// Produces `count` updates over `keys` keys: update `n` is `{"id": n * 7 % keys,
    /// "version": n, "note": "v<n>"}`, keyed by its id, each key on one partition (so a key's
    /// updates stay in order and its latest is the largest such `n`).
    pub fn produce_updates(&self, topic: &str, count: u64, keys: u64) {
        let out = self.tool(&[
            "produce-updates",
            topic,
            &count.to_string(),
            &keys.to_string(),
        ]);
        assert_eq!(out["produced"], count, "{out}");
    }

    /// Starts `kafka_tool.py produce ...` at `rate` messages/s in the background.
    pub fn produce_in_background(&self, topic: &str, from: u64, count: u64, rate: u64) -> Child {
        Command::new(crate::python())
            .arg(crate::root().join("tests/harness/kafka_tool.py"))
            .args([
                "produce",
                &self.bootstrap(),
                topic,
                &from.to_string(),
                &count.to_string(),
                &rate.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the producer")
    }

    /// The group's committed offsets and the high watermarks, per partition, by the
    /// independent client: `{"committed": {"0": n, ...}, "high": {"0": n, ...}}`.
    pub fn offsets(&self, group: &str, topic: &str) -> serde_json::Value {
        self.tool(&["offsets", group, topic])
    }
}
