//! The host side of `isolation: process`: starts a child `weir isolate` per plugin instance,
//! and drives it through core's `Source` and `Sink` traits, so core cannot tell an isolated
//! instance from an in-process one.
//!
//! When the child dies (a crash, an out-of-memory kill), the call in flight and every later
//! one fail with a fatal error naming the plugin, the call and the signal: the runner stops
//! this pipeline without committing, the supervisor restarts it (with new children) as it
//! restarts any failed pipeline, and every other pipeline goes on.

use super::wire::{self, Call, Hello, Reply, WireFailure, WirePosition};
use crate::adapt;
use std::io::{BufReader, BufWriter};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_core::{ConnectorError, ErrorKind, Polled, Position, PositionKey};

/// How long a closed child may take to end before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// One child process serving one plugin instance.
pub struct Isolated {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
    /// The instance's crash label (`plugin `x` 0.1.0 (sink of pipeline `p`)`).
    who: &'static str,
    pipeline: String,
    /// Set once the child is gone: every later call fails with it.
    dead: Option<ConnectorError>,
}

impl Isolated {
    /// Starts the child and constructs the instance in it; a refused configuration comes back
    /// as the plugin's own error.
    pub fn start(hello: Hello, who: &'static str) -> Result<Self, weir_sdk::Error> {
        let cannot = |e: std::io::Error| {
            weir_sdk::Error::fatal(format!("{who}: cannot start its isolated process: {e}"))
        };
        // This very binary even when its file was replaced since (an upgrade in place): the
        // child speaks the host's protocol.
        let exe = match std::path::Path::new("/proc/self/exe") {
            p if p.exists() => p.to_path_buf(),
            _ => std::env::current_exe().map_err(cannot)?,
        };
        let (ours, theirs) = UnixStream::pair().map_err(cannot)?;
        let json = crate::LOG_JSON.get().copied().unwrap_or(false);
        let child = Command::new(exe)
            .arg("--log-format")
            .arg(if json { "json" } else { "text" })
            .arg("--listen")
            .arg("off")
            .arg("isolate")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .spawn()
            .map_err(cannot)?;
        let reader = BufReader::with_capacity(1 << 16, ours.try_clone().map_err(cannot)?);
        let mut me = Self {
            child,
            reader,
            writer: BufWriter::with_capacity(1 << 16, ours),
            who,
            pipeline: hello.pipeline.clone(),
            dead: None,
        };
        tracing::debug!(
            plugin = who,
            pid = me.child.id(),
            "isolated plugin process started"
        );
        match me.call(&Call::Hello(Box::new(hello)), None) {
            Ok((Reply::Done, _)) => Ok(me),
            Ok((other, _)) => Err(weir_sdk::Error::fatal(format!(
                "{who}: unexpected answer to hello: {other:?}"
            ))),
            Err(e) => Err(weir_sdk::Error::new(sdk_kind(e.kind), e.message)),
        }
    }

    /// Makes one call: the reply and its body, or the plugin's error, or the child's death.
    fn call(
        &mut self,
        call: &Call,
        body: Option<&[u8]>,
    ) -> Result<(Reply, Option<Vec<u8>>), ConnectorError> {
        if let Some(dead) = &self.dead {
            return Err(dead.clone());
        }
        let name = call.name();
        let exchanged = wire::send(&mut self.writer, call, body).and_then(|()| loop {
            match wire::receive::<Reply>(&mut self.reader)? {
                (Reply::Skipped { key, count }, _) => {
                    crate::service::record_skipped(&self.pipeline, &key, count)
                }
                reply => break Ok(reply),
            }
        });
        match exchanged {
            Ok((Reply::Failed(e), _)) => Err(adapt::error(e.into())),
            Ok(reply) => Ok(reply),
            Err(WireFailure::Io(_)) => Err(self.died(name)),
            Err(e @ WireFailure::Garbled(_)) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(self.died_with(name, e.to_string()))
            }
        }
    }

    /// The child's end, as the error of this and every later call.
    fn died(&mut self, call: &str) -> ConnectorError {
        let how = match self.wait_exit() {
            Some(status) => match (status.signal(), status.code()) {
                (Some(sig), _) => format!("crashed with {}", crate::crash::signal_name(sig)),
                (None, Some(code)) => format!("exited with code {code}"),
                (None, None) => "ended".to_string(),
            },
            None => "closed its socket but did not exit; killed".to_string(),
        };
        self.died_with(call, how)
    }

    fn died_with(&mut self, call: &str, how: String) -> ConnectorError {
        let e = ConnectorError {
            kind: ErrorKind::Fatal,
            message: format!(
                "{} {how} in `{call}` (isolated in process {}): this pipeline alone fails; its positions stay at the last commit",
                self.who,
                self.child.id()
            ),
            position: None,
        };
        self.dead = Some(e.clone());
        e
    }

    /// Waits for the child to end (killing it after [`EXIT_GRACE`]): its status, or `None`
    /// when it had to be killed.
    fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + EXIT_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
            }
        }
    }

    fn done(&mut self, call: &Call) -> Result<(), ConnectorError> {
        self.call(call, None).map(|_| ())
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        // Closing the socket ends the child's loop; it drops the instance and exits.
        let _ = self.writer.get_ref().shutdown(std::net::Shutdown::Both);
        if self.dead.is_none() {
            self.wait_exit();
        }
    }
}

fn sdk_kind(kind: ErrorKind) -> weir_sdk::ErrorKind {
    match kind {
        ErrorKind::Config => weir_sdk::ErrorKind::Config,
        ErrorKind::Connection => weir_sdk::ErrorKind::Connection,
        ErrorKind::Retriable => weir_sdk::ErrorKind::Retriable,
        ErrorKind::Data => weir_sdk::ErrorKind::Data,
        ErrorKind::PositionsMoved => weir_sdk::ErrorKind::PositionsMoved,
        _ => weir_sdk::ErrorKind::Fatal,
    }
}

fn to_wire(positions: &[Position]) -> Vec<WirePosition> {
    positions
        .iter()
        .map(|p| WirePosition {
            key: p.key.clone(),
            next: p.next,
        })
        .collect()
}

fn from_wire(positions: Vec<WirePosition>) -> Vec<Position> {
    positions
        .into_iter()
        .map(|p| Position::new(p.key, p.next))
        .collect()
}

fn unexpected(call: &str, reply: &Reply) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Fatal,
        format!("the isolated plugin process answered `{call}` with {reply:?}"),
    )
}

/// An isolated source.
pub struct IsolatedSource(pub Isolated);

/// An isolated sink.
pub struct IsolatedSink(pub Isolated);

impl weir_core::Source for IsolatedSource {
    fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError> {
        match self.0.call(&Call::Open, None)? {
            (Reply::Keys { keys }, _) => Ok(keys),
            (other, _) => Err(unexpected("open", &other)),
        }
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Polled, ConnectorError> {
        let call = Call::Poll {
            max_records: max_records as u64,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let (reply, body) = self.0.call(&call, None)?;
        let Reply::Polled(p) = reply else {
            return Err(unexpected("poll", &reply));
        };
        let batch = body.map(wire::decode).transpose().map_err(|e| {
            ConnectorError::new(
                ErrorKind::Fatal,
                format!("{}: the polled batch: {e}", self.0.who),
            )
        })?;
        Ok(Polled {
            batch,
            positions: from_wire(p.positions),
            end: p.end,
            assigned: p.assigned,
            revoked: p.revoked,
            backlog: from_wire(p.backlog),
        })
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        self.0.done(&Call::Seek {
            positions: to_wire(positions),
        })
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        self.0.done(&Call::Commit {
            positions: to_wire(positions),
        })
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        self.0.done(&Call::Close)
    }
}

impl weir_core::Sink for IsolatedSink {
    fn open(&mut self) -> Result<(), ConnectorError> {
        self.0.done(&Call::Open)
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, ConnectorError> {
        let call = Call::StoredPositions {
            keys: keys.to_vec(),
        };
        match self.0.call(&call, None)? {
            (Reply::Positions { positions }, _) => Ok(from_wire(positions)),
            (other, _) => Err(unexpected("stored_positions", &other)),
        }
    }

    fn write(&mut self, batch: arrow::record_batch::RecordBatch) -> Result<(), ConnectorError> {
        let body = wire::encode(&batch).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Fatal,
                format!("{}: cannot send the batch: {e}", self.0.who),
            )
        })?;
        self.0.call(&Call::Write, Some(&body)).map(|_| ())
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        self.0.done(&Call::Commit {
            positions: to_wire(positions),
        })
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        self.0.done(&Call::Close)
    }
}
