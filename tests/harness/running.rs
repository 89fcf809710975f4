//! A `weir` process a test watches while it runs: its log goes to a file, so the test can
//! wait for a line ("first batch committed", "retrying") instead of sleeping, and still gets
//! the whole output when the process ends.

use crate::Outcome;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running process with its stderr in a file.
pub struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Starts `cmd` with stderr into `log` (created or truncated) and stdout captured.
    pub fn start(cmd: &mut Command, log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start weir");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// `weir run MANIFEST` (a file or a directory) with `plugins`, serving its API on
    /// 127.0.0.1:`port` with `token` required, its log in `log`.
    pub fn serving(plugins: &Path, manifest: &Path, port: u16, token: &str, log: &Path) -> Self {
        Self::start(
            crate::weir(plugins)
                .env("WEIR_API_TOKEN", token)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("run")
                .arg(manifest),
            log,
        )
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many lines of the log so far satisfy `line`.
    pub fn count(&self, line: impl Fn(&str) -> bool) -> usize {
        self.log().lines().filter(|l| line(l)).count()
    }

    /// Waits until `n` lines of the log satisfy `line`, for at most `limit`; panics naming
    /// `what`, with the log, when they do not appear or the process exits first.
    pub fn wait_for_lines(
        &mut self,
        what: &str,
        n: usize,
        limit: Duration,
        line: impl Fn(&str) -> bool,
    ) {
        let start = Instant::now();
        while self.count(&line) < n {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("weir exited ({status}) before {what}:\n{}", self.log());
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}:\n{}",
                self.log()
            );
            // Not synchronisation: the poll interval of this wait for the log.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        crate::signal(&self.child, sig);
    }

    /// The process, for what the other helpers take.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits up to a minute for the process to exit (killing it after that); its outcome with
    /// the log as stderr.
    pub fn wait_exit(mut self) -> Outcome {
        crate::eventually(Duration::from_secs(60), || {
            self.child.try_wait().expect("wait").is_some()
        });
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait");
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut out, &mut stdout);
        }
        Outcome {
            code: status.code(),
            stdout,
            stderr: self.log(),
        }
    }
}

impl Drop for Running {
    /// A test that ends (or panics) with the process still running kills it, so no weir
    /// outlives its test to load the machine under the next ones.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
