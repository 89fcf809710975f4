//! The isolated side (`weir isolate`, started by the host, never by hand): one process serving
//! one plugin instance. It reads the host's calls from the socket it was given as stdin, makes
//! them on the plugin exactly as the host would in-process, and answers each one.
//!
//! The host orchestrates shutdown, so this process ignores SIGINT, SIGTERM and SIGHUP (a
//! terminal's Ctrl-C or a service manager's SIGTERM reaches every process; the host drains
//! and then closes the socket). It ends when the host closes the socket, after `close`, or
//! when the host is gone. A crash in the plugin is reported by the crash handler as in the
//! host, and the host names it again from this process's exit status.

use super::wire::{self, Call, Hello, Polled, Reply, WireFailure, WirePosition};
use crate::crash;
use crate::failure::Failure;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;
use weir_sdk::abi::host::LoadedPlugin;

/// Skipped-record reports since the last reply, sent before the next one.
static SKIPPED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// The instance served.
enum Instance {
    Source(Box<dyn weir_sdk::Source>),
    Sink(Box<dyn weir_sdk::Sink>),
}

/// Serves the host until it closes the socket or asks `close`.
pub fn serve() -> Result<(), Failure> {
    ignore_stop_signals();
    crash::set_isolated();
    watch_parent();
    let socket = take_socket()?;
    let lost = |e: std::io::Error| {
        Failure::runtime(format!("weir isolate: the host's socket: {e} (this command is started by `weir run` for `isolation: process`)"))
    };
    let mut reader = BufReader::with_capacity(1 << 16, socket.try_clone().map_err(lost)?);
    let mut writer = BufWriter::with_capacity(1 << 16, socket);
    let hello = match wire::receive::<Call>(&mut reader) {
        Ok((Call::Hello(hello), _)) => hello,
        Ok((other, _)) => {
            return Err(Failure::runtime(format!(
                "weir isolate: the host's first call is `{}`, not hello",
                other.name()
            )))
        }
        Err(e) => return Err(Failure::runtime(format!("weir isolate: {e}"))),
    };
    let _in = tracing::info_span!("pipeline", pipeline = %hello.pipeline).entered();
    weir_sdk::abi::host::set_default_pipeline(&hello.pipeline);
    weir_sdk::abi::host::on_records_skipped(|_, key, count| {
        if let Ok(mut v) = SKIPPED.lock() {
            v.push((key.to_string(), count));
        }
    });
    let (mut instance, who) = match make(&hello) {
        Ok(made) => {
            answer(&mut writer, &Reply::Done, None)?;
            made
        }
        Err(e) => return answer(&mut writer, &Reply::Failed((&e).into()), None),
    };
    loop {
        let (call, body) = match wire::receive::<Call>(&mut reader) {
            Ok(frame) => frame,
            // The host closed the socket (it dropped this instance) or is gone.
            Err(WireFailure::Io(_)) => return Ok(()),
            Err(e) => return Err(Failure::runtime(format!("weir isolate: {e}"))),
        };
        let close = call == Call::Close;
        let name = call.name();
        let (reply, body) = crash::during(who, name, || instance.serve(call, body));
        answer(&mut writer, &reply, body.as_deref())?;
        if close {
            return Ok(());
        }
    }
}

/// Sends the skipped-record reports gathered since the last reply, then the reply.
fn answer(
    writer: &mut BufWriter<UnixStream>,
    reply: &Reply,
    body: Option<&[u8]>,
) -> Result<(), Failure> {
    let skipped = SKIPPED
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    let lost = |e: WireFailure| Failure::runtime(format!("weir isolate: {e}"));
    for (key, count) in skipped {
        wire::send(writer, &Reply::Skipped { key, count }, None).map_err(lost)?;
    }
    wire::send(writer, reply, body).map_err(lost)?;
    writer
        .flush()
        .map_err(|e| Failure::runtime(format!("weir isolate: {e}")))
}

/// Loads the plugin and constructs the instance; its crash label too.
fn make(hello: &Hello) -> Result<(Instance, &'static str), weir_sdk::Error> {
    let plugin: LoadedPlugin = crate::loader::load_one(&hello.library)
        .map_err(|e| weir_sdk::Error::fatal(e.to_string()))?;
    let who = crash::label(
        &plugin.info.name,
        &plugin.info.version,
        &hello.role,
        &hello.pipeline,
    );
    let instance = crash::during(who, "new", || {
        if hello.role == "source" {
            let cfg = weir_sdk::SourceConfig {
                address: hello.address.clone(),
                options: hello.options.clone(),
                run_in_loop: hello.run_in_loop,
                batch_size: hello.batch_size as usize,
                batch_timeout: Duration::from_millis(hello.batch_timeout_ms),
            };
            plugin
                .new_source(&hello.scheme, &hello.pipeline, &cfg)
                .map(Instance::Source)
        } else {
            let cfg = weir_sdk::SinkConfig {
                address: hello.address.clone(),
                options: hello.options.clone(),
            };
            plugin
                .new_sink(&hello.scheme, &hello.pipeline, &cfg)
                .map(Instance::Sink)
        }
    })?;
    Ok((instance, who))
}

fn positions(v: &[WirePosition]) -> Vec<weir_sdk::Position> {
    v.iter().map(weir_sdk::Position::from).collect()
}

fn wire_positions(v: &[weir_sdk::Position]) -> Vec<WirePosition> {
    v.iter().map(WirePosition::from).collect()
}

fn keys(v: Vec<weir_sdk::PositionKey>) -> Vec<String> {
    v.into_iter().map(|k| k.as_str().to_string()).collect()
}

/// A reply of nothing or of the error.
fn done(r: Result<(), weir_sdk::Error>) -> Reply {
    match r {
        Ok(()) => Reply::Done,
        Err(e) => Reply::Failed((&e).into()),
    }
}

impl Instance {
    /// Makes one call; the reply and its body.
    fn serve(&mut self, call: Call, body: Option<Vec<u8>>) -> (Reply, Option<Vec<u8>>) {
        let failed = |e: weir_sdk::Error| (Reply::Failed((&e).into()), None);
        match (self, call) {
            (Self::Source(s), Call::Open) => match s.open() {
                Ok(k) => (Reply::Keys { keys: keys(k) }, None),
                Err(e) => failed(e),
            },
            (
                Self::Source(s),
                Call::Poll {
                    max_records,
                    timeout_ms,
                },
            ) => match s.poll(max_records as usize, Duration::from_millis(timeout_ms)) {
                Ok(p) => polled(p),
                Err(e) => failed(e),
            },
            (Self::Source(s), Call::Seek { positions: p }) => (done(s.seek(&positions(&p))), None),
            (Self::Source(s), Call::Commit { positions: p }) => {
                (done(s.commit(&positions(&p))), None)
            }
            (Self::Source(s), Call::Close) => (done(s.close()), None),
            (Self::Sink(s), Call::Open) => (done(s.open()), None),
            (Self::Sink(s), Call::StoredPositions { keys }) => {
                let keys: Vec<_> = keys.into_iter().map(weir_sdk::PositionKey::new).collect();
                match s.stored_positions(&keys) {
                    Ok(p) => (
                        Reply::Positions {
                            positions: wire_positions(&p),
                        },
                        None,
                    ),
                    Err(e) => failed(e),
                }
            }
            (Self::Sink(s), Call::Write) => {
                let batch = body
                    .ok_or_else(|| weir_sdk::Error::fatal("write without a batch"))
                    .and_then(|b| {
                        wire::decode(b).map_err(|e| {
                            weir_sdk::Error::fatal(format!("the batch from the host: {e}"))
                        })
                    });
                (done(batch.and_then(|b| s.write(b))), None)
            }
            (Self::Sink(s), Call::Commit { positions: p }) => {
                (done(s.commit(&positions(&p))), None)
            }
            (Self::Sink(s), Call::Close) => (done(s.close()), None),
            (_, call) => failed(weir_sdk::Error::fatal(format!(
                "`{}` is not a call of this instance",
                call.name()
            ))),
        }
    }
}

/// A poll's reply: its batch as the body.
fn polled(p: weir_sdk::Poll) -> (Reply, Option<Vec<u8>>) {
    let body = match p.batch.as_ref().map(wire::encode).transpose() {
        Ok(b) => b,
        Err(e) => {
            let e = weir_sdk::Error::fatal(format!("cannot send the polled batch: {e}"));
            return (Reply::Failed((&e).into()), None);
        }
    };
    let reply = Polled {
        positions: wire_positions(&p.positions),
        end: p.end,
        assigned: keys(p.assigned),
        revoked: keys(p.revoked),
        backlog: wire_positions(&p.backlog),
    };
    (Reply::Polled(Box::new(reply)), body)
}

/// The host's socket, moved off stdin: a close-on-exec copy (a process the plugin starts
/// must not hold it, or the host would never see this process's end), with `/dev/null` put
/// on fd 0 so plugin code reading stdin cannot take protocol bytes.
fn take_socket() -> Result<UnixStream, Failure> {
    // SAFETY: fcntl and open/dup2/close on descriptors this process owns; the host passes
    // one end of a socket pair as fd 0.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(Failure::runtime(format!(
            "weir isolate: no socket on stdin: {} (this command is started by `weir run` for `isolation: process`)",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: as above; a null path literal.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
    }
    // SAFETY: `fd` is a fresh descriptor this process owns; the stream owns it from here on.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// SIGINT, SIGTERM and SIGHUP are the host's to act on.
fn ignore_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// Ends this process when the host is gone, even inside a plugin call that never returns
/// (the closed socket ends it otherwise, at the next call).
fn watch_parent() {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let _ = std::thread::Builder::new()
        .name("weir-isolate-parent".into())
        .spawn(move || loop {
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                // SAFETY: _exit ends the process at once, which is the point.
                unsafe { libc::_exit(1) };
            }
            std::thread::sleep(Duration::from_millis(250));
        });
}
