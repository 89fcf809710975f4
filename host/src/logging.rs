//! The host's log output: one `tracing` subscriber for the host and, through the sdk's log
//! callback, for every plugin. Human-readable text on a terminal, JSON lines otherwise or
//! with `--log-format json`. The level comes from `WEIR_LOG` (or `RUST_LOG`), default `info`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber (writing to stderr); returns whether lines are JSON.
pub fn init(format: LogFormat) -> bool {
    let filter = std::env::var("WEIR_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Auto => !terminal,
        LogFormat::Text => false,
        LogFormat::Json => true,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LineWriter { terminal })
        .with_target(false);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    if let Err(e) = result {
        eprintln!("weir: could not set up logging: {e}");
    }
    json
}

/// Stderr; on a terminal each log line first clears the line, so the live progress line
/// (redrawn in place) never runs into a log line.
#[derive(Clone, Copy)]
struct LineWriter {
    terminal: bool,
}

struct Line {
    terminal: bool,
    started: bool,
}

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if self.terminal && !self.started {
            err.write_all(b"\r\x1b[2K")?;
        }
        self.started = true;
        err.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            terminal: self.terminal,
            started: false,
        }
    }
}
