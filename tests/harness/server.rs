//! The one way the tests run a server: a process on a free 127.0.0.1 port with a directory of
//! its own (store, config and the server's log), waited for until it accepts connections,
//! stopped and started again on the same port and directory, killed on drop. When a server
//! does not come up, the panic carries its log. nats-server, tansu and moto use it, and so does
//! every server added later (a database, a catalog, a registry).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start a server: the command for a port and a directory.
pub type Launch = Box<dyn Fn(u16, &Path) -> Command + Send + Sync>;

/// A server process the tests own.
pub struct Server {
    name: String,
    port: u16,
    dir: tempfile::TempDir,
    launch: Launch,
    ready_within: Duration,
    child: Option<Child>,
}

impl Server {
    /// A server with a port and a directory, not started yet ([`Server::start`] starts it;
    /// tests of an absent server use the port without starting).
    pub fn new(name: &str, ready_within: Duration, launch: Launch) -> Self {
        Self {
            name: name.to_string(),
            port: crate::free_port(),
            dir: tempfile::Builder::new()
                .prefix(&format!("weir-{name}-"))
                .tempdir()
                .expect("server directory"),
            launch,
            ready_within,
            child: None,
        }
    }

    /// Starts the process (stdout and stderr into [`Server::log_path`]) and waits until its
    /// port accepts connections; panics with the log when it exits or takes too long.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let err = log.try_clone().expect("server log");
        let mut cmd = (self.launch)(self.port, self.dir.path());
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({program}): {e} (`cargo xtask test` installs it)",
                    self.name
                )
            });
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited ({status}) before listening: {}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                started.elapsed() < self.ready_within,
                "{} did not listen on 127.0.0.1:{} within {:?}: {}",
                self.name,
                self.port,
                self.ready_within,
                self.log()
            );
            // Not synchronisation: the poll interval of the wait for the port above.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (as a crash would); [`Server::start`] brings it back on the same
    /// port and directory.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server, keeps it down for `down_for`, and starts it again.
    pub fn restart(&mut self, down_for: Duration) {
        self.kill();
        // Not synchronisation: the outage itself, which the test wants to last this long.
        std::thread::sleep(down_for);
        self.start();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where its output goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
