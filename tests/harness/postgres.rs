//! A real PostgreSQL for the tests: Debian's server binaries (`cargo xtask test` installs the
//! `postgresql` package when they are missing), a cluster made by `initdb` in a directory of
//! its own with scram-sha-256 passwords, listening on a free 127.0.0.1 port, stopped as
//! `pg_ctl stop -m fast` does and started again on the same port and data (`server.rs` runs
//! the process). initdb and the server refuse to run as root, so as root they run as the
//! `postgres` user. The independent reader is `psql`.

use crate::server::Server;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The superuser the harness creates, and its password.
pub const USER: &str = "weir";
/// The password of [`USER`] (a test secret: tests grep outputs for it).
pub const PASSWORD: &str = "pg-Secret-7f3a";

/// A running PostgreSQL.
pub struct Postgres {
    server: Server,
    bin: PathBuf,
}

/// PostgreSQL's server binaries: `WEIR_TEST_PG_BIN`, which `cargo xtask test` and `cargo
/// xtask bench` set after finding (or installing) Debian's package.
fn bin_dir() -> PathBuf {
    std::env::var_os("WEIR_TEST_PG_BIN")
        .map(PathBuf::from)
        .expect("WEIR_TEST_PG_BIN is not set: run `cargo xtask test`, or set it to PostgreSQL's bin directory (e.g. /usr/lib/postgresql/15/bin)")
}

/// The uid and gid to run the server as: `postgres` when we are root, else ourselves.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

fn as_server_user(cmd: &mut Command) {
    if let Some((uid, gid)) = run_as() {
        cmd.uid(uid).gid(gid);
    }
}

impl Postgres {
    /// A new cluster, started.
    pub fn start() -> Self {
        let bin = bin_dir();
        let server_bin = bin.join("postgres");
        let launch = move |port: u16, dir: &Path| {
            let mut cmd = Command::new(&server_bin);
            cmd.arg("-D")
                .arg(dir.join("data"))
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-k")
                .arg(dir)
                .args(["-c", "fsync=off", "-c", "max_connections=50"]);
            as_server_user(&mut cmd);
            cmd
        };
        let mut server = Server::new("postgres", Duration::from_secs(60), Box::new(launch));
        let dir = server.dir().to_path_buf();
        if let Some((uid, gid)) = run_as() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the server dir");
        }
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("password file");
        if let Some((uid, gid)) = run_as() {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown");
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        as_server_user(&mut initdb);
        let out = initdb.output().unwrap_or_else(|e| {
            panic!(
                "cannot run {}/initdb: {e} (`cargo xtask test` installs Debian's postgresql)",
                bin.display()
            )
        });
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.start();
        let pg = Self { server, bin };
        // The port accepts connections a little before the server takes queries.
        crate::wait_for(
            "PostgreSQL to take queries",
            Duration::from_secs(30),
            || pg.try_psql("postgres", "SELECT 1").is_some(),
        );
        // initdb makes only `postgres`; the tests write to a database of their user's name.
        pg.psql("postgres", &format!("CREATE DATABASE {USER}"));
        pg
    }

    /// The address of `database` with the password in it.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.server.port()
        )
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Stops the server as `pg_ctl stop -m fast` does (SIGINT to the postmaster: sessions are
    /// ended, transactions in flight roll back) and waits until it has exited.
    pub fn stop_fast(&mut self) {
        let mut stop = Command::new(self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.server.dir().join("data"))
            .args(["stop", "-m", "fast", "-w", "-t", "60"]);
        as_server_user(&mut stop);
        let out = stop.output().expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop -m fast: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The postmaster has exited; this reaps it.
        self.server.kill();
    }

    /// Starts the server again on the same port and data after [`Postgres::stop_fast`], and
    /// waits until it takes queries.
    pub fn start_again(&mut self) {
        self.server.start();
        crate::wait_for(
            "PostgreSQL to take queries again",
            Duration::from_secs(30),
            || self.try_psql("postgres", "SELECT 1").is_some(),
        );
    }

    /// `psql -At -c SQL` on `database`: its output, or `None` when it fails.
    pub fn try_psql(&self, database: &str, sql: &str) -> Option<String> {
        let out = Command::new(self.bin.join("psql"))
            .arg(self.url(database))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `psql -At -c SQL` on `database`; panics with psql's error when it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg(self.url(database))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A number `psql` prints for `sql` (0 when the query fails, for example before the
    /// table exists).
    pub fn count(&self, database: &str, sql: &str) -> i64 {
        self.try_psql(database, sql)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Its log.
    pub fn log(&self) -> String {
        self.server.log()
    }
}
