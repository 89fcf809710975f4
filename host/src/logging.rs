//! The host's log output: one `tracing` subscriber for the host and, through the sdk's log
//! callback, for every plugin. Human-readable text on a terminal, JSON lines otherwise or
//! with `--log-format json`. The level comes from `WEIR_LOG` (or `RUST_LOG`), default `info`.
//!
//! Each pipeline's thread (and core's threads under it) runs inside a span carrying
//! `pipeline`; a JSON line holds the fields of its spans and of the event itself as top-level
//! keys (the event's win), so every line names its pipeline without each event saying so.

use serde_json::{Map, Value};
use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
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
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    if let Err(e) = result {
        eprintln!("weir: could not set up logging: {e}");
    }
    weir_sdk::abi::host::set_fields_as_json(json);
    json
}

/// One JSON object per event: `timestamp`, `level`, the fields of the event's spans from the
/// outermost in, then the event's own fields (`message` among them).
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        let mut now = String::new();
        SystemTime.format_time(&mut Writer::new(&mut now))?;
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let fields = ext.get::<FormattedFields<N>>().map(|f| f.as_str());
                if let Some(Ok(Value::Object(m))) = fields.map(serde_json::from_str::<Value>) {
                    line.extend(m);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        // A plugin's own event fields arrive as one JSON object: its keys become keys here,
        // never overriding the host's.
        if let Some(Value::String(text)) = line.remove("plugin_fields") {
            if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&text) {
                for (k, v) in fields {
                    line.entry(k).or_insert(v);
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
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
