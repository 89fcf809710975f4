//! A real Kafka-protocol broker for the tests: `tansu` (crates.io, a Kafka-compatible broker in
//! Rust), which `cargo xtask test` installs once into a cached root and names in
//! `WEIR_TEST_TANSU`. Started on a free 127.0.0.1 port with a SQLite store in a temporary
//! directory, restartable on the same port and store, stopped on drop. The independent
//! producer and checker is `harness/kafka_tool.py` (Python confluent-kafka).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running tansu broker.
pub struct KafkaBroker {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
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
        Self {
            child: None,
            port: crate::free_port(),
            store: tempfile::Builder::new()
                .prefix("weir-kafka-")
                .tempdir()
                .expect("store dir"),
        }
    }

    /// Starts the broker process and waits until it listens.
    pub fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.store.path().join("tansu.log")).expect("log file");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // tansu reads `sqlite://a/b` as host `a` and path `/b`: name the file relative to
            // the store directory, where the broker runs.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.store.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (run `cargo xtask test`, which installs it)",
                    tansu().display()
                )
            });
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "tansu did not listen on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Kills the broker and starts it again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn();
    }

    /// Stops the broker (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `127.0.0.1:PORT`, for `bootstrap_servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.store.path().join("tansu.log")).unwrap_or_default()
    }

    /// Creates a topic with this many partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
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

    /// Produces `{"id": i, ...}` for `i in from..from+count` (key `i`, partition `i % n`).
    pub fn produce(&self, topic: &str, from: u64, count: u64) {
        let out = self.tool(&["produce", topic, &from.to_string(), &count.to_string()]);
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

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
