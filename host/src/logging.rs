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
        .with_writer(std::io::stderr)
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
