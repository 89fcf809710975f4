//! The schema registry of the tests: `tests/harness/registry.py`, the REST subset of
//! Confluent's Schema Registry that clients use, on a free 127.0.0.1 port, its schemas kept in
//! a file of its directory so it can be stopped and started again (no
//! Confluent-compatible registry server is installable here). The messages themselves are
//! made by Confluent's own serializers (`avro_tool.py`), so the bytes are the real format.

use crate::server::Server;
use std::process::Command;
use std::time::Duration;

/// A running registry.
pub struct SchemaRegistry {
    server: Server,
}

impl SchemaRegistry {
    /// Starts a registry with no schemas; with `user` (`USER:PASSWORD`), every request needs
    /// HTTP basic auth with it.
    pub fn start(user: Option<&str>) -> Self {
        let user = user.map(str::to_string);
        let launch = move |port: u16, dir: &std::path::Path| {
            let mut cmd = Command::new(crate::python());
            cmd.arg(crate::root().join("tests/harness/registry.py"))
                .arg(port.to_string())
                .arg("--state")
                .arg(dir.join("schemas.json"));
            if let Some(u) = &user {
                cmd.args(["--user", u]);
            }
            cmd
        };
        let mut server = Server::new("registry", Duration::from_secs(30), Box::new(launch));
        server.start();
        Self { server }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Stops it (SIGKILL); the schemas it gave out are kept for [`SchemaRegistry::start_again`].
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts it again on the same port, with the same schemas.
    pub fn start_again(&mut self) {
        self.server.start();
    }

    /// Its log (one line per request).
    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// Asks a serializer tool (`avro_tool.py`, `proto_tool.py`, `jsonschema_tool.py`) to `check`
/// `table` against the records `from..from + count` it produced: exactly those rows, each
/// once, every value equal. Returns the tool's report.
pub fn check_table(
    script: &str,
    table: &std::path::Path,
    from: u64,
    count: u64,
) -> serde_json::Value {
    let c = crate::python_tool(
        script,
        "check",
        &table.display().to_string(),
        &[&from.to_string(), &count.to_string()],
    );
    assert_eq!(c["rows"], count, "{c}");
    assert_eq!(c["distinct"], count, "{c}");
    assert_eq!(c["missing"], serde_json::json!([]), "{c}");
    assert_eq!(c["mismatches"], serde_json::json!([]), "{c}");
    c
}
