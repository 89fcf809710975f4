//! Plugin side of logging: a `tracing` layer that hands each event to the host's callback.
//!
//! A plugin library has its own copy of `tracing`'s statics, so without this its events would
//! vanish. The layer is installed in the plugin's copy once, at the first instance; it prints
//! nothing itself. The pipeline an event belongs to is the one whose call is running on the
//! thread (set around every entry point).

use super::{FfiContext, FfiLevel, FfiLogFn, FfiLogRecord};
use crate::LogLevel;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt as _};
use tracing_subscriber::Layer;

struct HostLog {
    plugin: String,
    log: FfiLogFn,
    /// The host's level: events downgraded below it are not sent.
    max: tracing::level_filters::LevelFilter,
}

/// Warnings dependencies print during healthy operation, sent at DEBUG: (target prefix,
/// message part). Each was seen on every ordinary call: statistics skipped for binary columns
/// on each write, a metric missing after each merge, the conflict checker retrying a commit
/// another writer raced (resolved by the retry), the object store's runtime shutting down
/// when a sink closes during an outage. Also the NATS client's own line for a refused login,
/// which the source reports as the pipeline's configuration error (one error, not two).
const BENIGN: &[(&str, &str)] = &[
    ("deltalake", "because it's a binary field"),
    ("deltalake", "Missing target skipped-file metric"),
    ("deltalake", "conflict detected, aborting transaction"),
    ("object_store", "Already shut down"),
    ("deltalake", "Already shut down"),
    ("async_nats", "authorization violation"),
];

/// Whether an event is one of the [`BENIGN`] warnings.
fn benign(target: &str, message: &str) -> bool {
    BENIGN
        .iter()
        .any(|(t, m)| target.starts_with(t) && message.contains(m))
}

static HOST: OnceLock<HostLog> = OnceLock::new();

thread_local! {
    static PIPELINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs the forwarding layer (once per library).
pub(super) fn install(plugin: &str, ctx: &FfiContext) {
    let mut first = false;
    HOST.get_or_init(|| {
        first = true;
        HostLog {
            plugin: plugin.to_string(),
            log: ctx.log,
            max: LogLevel::from(ctx.max_level).to_filter(),
        }
    });
    if first {
        let level: LogLevel = ctx.max_level.into();
        let filter = level.to_filter();
        // The plugin's own events pass at the host's level; its dependencies' (Delta kernel,
        // librdkafka bindings, ...) only from WARN up unless the host asks for debug.
        let own_or_loud = tracing_subscriber::filter::filter_fn(move |meta| {
            let level = *meta.level();
            if level > filter {
                return false;
            }
            meta.target().starts_with("weir")
                || level <= tracing::Level::WARN
                || filter >= tracing::level_filters::LevelFilter::DEBUG
        });
        let subscriber = tracing_subscriber::registry().with(Forward.with_filter(own_or_loud));
        // Fails only when the plugin is linked into the host itself (benchmarks): then the
        // host's subscriber already sees these events.
        if tracing::subscriber::set_global_default(subscriber).is_ok() {
            // This library has its own copy of std, so its panics would print to stderr
            // through std's default hook. Send them to the host's log instead; the call's
            // catch_unwind turns them into a fatal error naming the plugin.
            std::panic::set_hook(Box::new(|info| {
                let message = super::export::panic_message(info.payload());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                tracing::error!(target: "weir_sdk::panic", location, "panicked: {message}");
            }));
        }
    }
}

/// Runs `f` with `pipeline` as the current pipeline of this thread's log events.
pub(super) fn with_pipeline<R>(pipeline: &str, f: impl FnOnce() -> R) -> R {
    let previous = PIPELINE.with(|p| std::mem::replace(&mut *p.borrow_mut(), pipeline.to_string()));
    let result = f();
    PIPELINE.with(|p| *p.borrow_mut() = previous);
    result
}

struct Forward;

/// Separates an event's message from its other fields (a JSON object) in
/// [`FfiLogRecord::message`]: the host makes them fields of its own event again. A host of
/// sdk 0.1.2 or older prints the whole text.
pub(crate) const FIELDS_SEPARATOR: char = '\u{1e}';

#[derive(Default)]
struct Fields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        self.rest.insert(field.name().to_string(), value);
    }

    /// The message, then the separator and the other fields when there are any.
    fn into_text(self) -> String {
        if self.rest.is_empty() {
            return self.message;
        }
        let fields = serde_json::Value::Object(self.rest);
        format!("{}{FIELDS_SEPARATOR}{fields}", self.message)
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.put(field, value.into());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.put(field, format!("{value:?}").into());
        }
    }
}

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let Some(host) = HOST.get() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut level = *event.metadata().level();
        if level <= tracing::Level::WARN && benign(event.metadata().target(), &fields.message) {
            level = tracing::Level::DEBUG;
            if host.max < tracing::level_filters::LevelFilter::DEBUG {
                return;
            }
        }
        let level: FfiLevel = LogLevel::from_tracing(&level).into();
        let message = fields.into_text();
        PIPELINE.with(|p| {
            let pipeline = p.borrow();
            let record = FfiLogRecord {
                plugin: host.plugin.as_str().into(),
                pipeline: pipeline.as_str().into(),
                level,
                target: event.metadata().target().into(),
                message: message.as_str().into(),
            };
            (host.log)(&record);
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_travel_as_json_after_the_message() {
        let mut f = super::Fields::default();
        f.message.push_str("batch committed");
        assert_eq!(f.into_text(), "batch committed");
        let mut f = super::Fields::default();
        f.message.push_str("batch committed");
        f.rest.insert("version".into(), 7.into());
        f.rest.insert("table".into(), "/lake/t".into());
        let text = f.into_text();
        let (message, fields) = text.split_once(super::FIELDS_SEPARATOR).unwrap();
        assert_eq!(message, "batch committed");
        let fields: serde_json::Value = serde_json::from_str(fields).unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"version": 7, "table": "/lake/t"})
        );
    }

    #[test]
    fn healthy_operation_warnings_are_recognised_and_others_are_not() {
        assert!(super::benign(
            "deltalake_core::writer::stats",
            "Skipping column value because it's a binary field"
        ));
        assert!(!super::benign("deltalake_core::writer", "commit failed"));
        assert!(!super::benign("weir_plugin_delta", "Already shut down"));
    }
}
