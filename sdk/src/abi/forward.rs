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
/// when a sink closes during an outage.
const BENIGN: &[(&str, &str)] = &[
    ("deltalake", "because it's a binary field"),
    ("deltalake", "Missing target skipped-file metric"),
    ("deltalake", "conflict detected, aborting transaction"),
    ("object_store", "Already shut down"),
    ("deltalake", "Already shut down"),
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

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let Some(host) = HOST.get() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields.message.push_str(&fields.rest);
        let mut level = *event.metadata().level();
        if level <= tracing::Level::WARN && benign(event.metadata().target(), &fields.message) {
            level = tracing::Level::DEBUG;
            if host.max < tracing::level_filters::LevelFilter::DEBUG {
                return;
            }
        }
        let level: FfiLevel = LogLevel::from_tracing(&level).into();
        PIPELINE.with(|p| {
            let pipeline = p.borrow();
            let record = FfiLogRecord {
                plugin: host.plugin.as_str().into(),
                pipeline: pipeline.as_str().into(),
                level,
                target: event.metadata().target().into(),
                message: fields.message.as_str().into(),
            };
            (host.log)(&record);
        });
    }
}

#[cfg(test)]
mod tests {
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
