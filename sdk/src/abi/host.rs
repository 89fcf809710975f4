//! The host side (feature `host`): load a plugin's root module and call its connectors
//! through the safe [`Source`] and [`Sink`] traits.
//!
//! The host first checks the library's [`Declaration`](super::Declaration) (with its own
//! loader), then calls [`LoadedPlugin::load`], which lets abi_stable check the sdk version
//! and the layout of every type in the root module. Libraries are never unloaded.

use super::{
    batch, positions_from_ffi, positions_to_ffi, FfiContext, FfiKind, FfiLevel, FfiLogRecord,
    FfiSinkBox, FfiSinkConfig, FfiSourceBox, FfiSourceConfig, PluginModRef,
};
use crate::{
    ConnectorKind, Error, LogLevel, Poll, Position, PositionKey, Sink, SinkConfig, Source,
    SourceConfig,
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RResult, RString};
use arrow::record_batch::RecordBatch;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One connector as a loaded plugin describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorInfo {
    /// Source or sink.
    pub kind: ConnectorKind,
    /// The URI scheme it serves.
    pub scheme: String,
    /// A one-line description.
    pub description: String,
    /// The JSON schema of its options.
    pub options_schema: String,
    /// A source that returns typed batches rather than the broker envelope.
    pub typed_output: bool,
    /// A sink that stores positions with its data.
    pub exactly_once: bool,
}

/// A loaded plugin's description.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The weir-sdk version it was built with.
    pub sdk_version: String,
    /// The ABI version it was built for.
    pub abi_version: u32,
    /// Its connectors.
    pub connectors: Vec<ConnectorInfo>,
}

/// Why abi_stable refused a library whose declaration was fine.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LoadError {
    /// The library.
    pub path: PathBuf,
    /// What abi_stable found.
    pub reason: String,
}

/// A plugin library whose root module passed the version and layout checks.
#[derive(Clone)]
pub struct LoadedPlugin {
    module: PluginModRef,
    /// What the plugin says about itself.
    pub info: PluginInfo,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("path", &self.path)
            .finish()
    }
}

impl LoadedPlugin {
    /// Loads the root module of a library (which stays loaded for the life of the process).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let fail = |reason: String| LoadError {
            path: path.to_path_buf(),
            reason,
        };
        let header = lib_header_from_path(path).map_err(|e| fail(describe(e)))?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| fail(describe(e)))?;
        let raw = (module.info())();
        let info = PluginInfo {
            name: raw.name.into(),
            version: raw.version.into(),
            sdk_version: raw.sdk_version.into(),
            abi_version: raw.abi_version,
            connectors: raw
                .connectors
                .into_iter()
                .map(|c| ConnectorInfo {
                    kind: match c.kind {
                        FfiKind::Source => ConnectorKind::Source,
                        FfiKind::Sink => ConnectorKind::Sink,
                    },
                    scheme: c.scheme.into(),
                    description: c.description.into(),
                    options_schema: c.options_schema.into(),
                    typed_output: c.typed_output,
                    exactly_once: c.exactly_once,
                })
                .collect(),
        };
        Ok(Self {
            module,
            info,
            path: path.to_path_buf(),
        })
    }

    /// The connector serving `scheme` as `kind`, if this plugin has one.
    pub fn connector(&self, kind: ConnectorKind, scheme: &str) -> Option<&ConnectorInfo> {
        self.info
            .connectors
            .iter()
            .find(|c| c.kind == kind && c.scheme == scheme)
    }

    fn context(&self, pipeline: &str) -> FfiContext {
        FfiContext {
            pipeline: pipeline.into(),
            log: host_log,
            max_level: LogLevel::current().into(),
        }
    }

    /// Makes a source instance.
    pub fn new_source(
        &self,
        scheme: &str,
        pipeline: &str,
        config: &SourceConfig,
    ) -> Result<Box<dyn Source>, Error> {
        let cfg = FfiSourceConfig {
            address: config.address.as_str().into(),
            options_json: serde_json::Value::Object(config.options.clone())
                .to_string()
                .into(),
            run_in_loop: config.run_in_loop,
            batch_size: config.batch_size as u64,
            batch_timeout_ms: u64::try_from(config.batch_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let made = (self.module.new_source())(scheme.into(), self.context(pipeline), cfg);
        into_result(made).map(|inner| Box::new(ForeignSource { inner }) as Box<dyn Source>)
    }

    /// Makes a sink instance.
    pub fn new_sink(
        &self,
        scheme: &str,
        pipeline: &str,
        config: &SinkConfig,
    ) -> Result<Box<dyn Sink>, Error> {
        let cfg = FfiSinkConfig {
            address: config.address.as_str().into(),
            options_json: serde_json::Value::Object(config.options.clone())
                .to_string()
                .into(),
        };
        let made = (self.module.new_sink())(scheme.into(), self.context(pipeline), cfg);
        into_result(made).map(|inner| Box::new(ForeignSink { inner }) as Box<dyn Sink>)
    }
}

fn describe(e: LibraryError) -> String {
    match e {
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!(
            "built with weir-sdk {actual_version}, which this host (weir-sdk {expected_version}) cannot serve; rebuild the plugin against weir-sdk {expected_version}"
        ),
        LibraryError::AbiInstability(_) => {
            "its ABI types differ from this host's although the versions match; rebuild the plugin against this host's weir-sdk".to_string()
        }
        other => {
            let text = other.to_string();
            text.lines().next().unwrap_or("cannot load").to_string()
        }
    }
}

fn into_result<T>(r: RResult<T, super::FfiError>) -> Result<T, Error> {
    r.into_result().map_err(Error::from)
}

static DEFAULT_PIPELINE: std::sync::RwLock<String> = std::sync::RwLock::new(String::new());

/// The pipeline named in plugin log events that carry none (events from a plugin's own worker
/// threads). A host running one pipeline sets it so every log line names its pipeline.
pub fn set_default_pipeline(name: &str) {
    if let Ok(mut p) = DEFAULT_PIPELINE.write() {
        *p = name.to_string();
    }
}

/// What the host does with a source's records-skipped report: (pipeline, key, count).
pub type SkippedHook = fn(&str, &str, u64);

static SKIPPED_HOOK: std::sync::OnceLock<SkippedHook> = std::sync::OnceLock::new();

/// Sets the host's handler of [`crate::records_skipped`] reports (once per process).
pub fn on_records_skipped(hook: SkippedHook) {
    let _ = SKIPPED_HOOK.set(hook);
}

static FIELDS_AS_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How plugin events' own fields reach the host's events: `true`, as one `plugin_fields`
/// field holding a JSON object (for a host writing JSON lines, which makes them keys of the
/// line); `false` (the default), as ` key=value` after the message, for text logs.
pub fn set_fields_as_json(json: bool) {
    FIELDS_AS_JSON.store(json, std::sync::atomic::Ordering::Relaxed);
}

/// A JSON object of fields as ` key=value` pairs (text values without quotes).
fn as_pairs(fields: &str) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(fields) else {
        return format!(" {fields}");
    };
    m.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!(" {k}={s}"),
            other => format!(" {k}={other}"),
        })
        .collect()
}

/// The host's log callback: plugin events become host `tracing` events.
extern "C" fn host_log(record: &FfiLogRecord<'_>) {
    let _ = std::panic::catch_unwind(|| {
        let plugin = record.plugin.as_str();
        let fallback = DEFAULT_PIPELINE
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        let pipeline = match record.pipeline.as_str() {
            "" => fallback.as_str(),
            p => p,
        };
        let target = record.target.as_str();
        let message = record.message.as_str();
        if target == crate::RECORDS_SKIPPED {
            if let (Some(hook), Some((key, count))) =
                (SKIPPED_HOOK.get(), crate::skipped::parse(message))
            {
                hook(pipeline, key, count);
            }
        }
        // Events from a plugin's own worker threads have no pipeline; leave the field out.
        let pipeline = (!pipeline.is_empty()).then_some(pipeline);
        // The plugin's event fields, a JSON object after the separator (sdk 0.1.3 on): one
        // `plugin_fields` field for a JSON log, ` key=value` after the message for text.
        let joined;
        let (message, fields) = match message.split_once(super::forward::FIELDS_SEPARATOR) {
            Some((m, f)) if FIELDS_AS_JSON.load(std::sync::atomic::Ordering::Relaxed) => {
                (m, Some(f))
            }
            Some((m, f)) => {
                joined = format!("{m}{}", as_pairs(f));
                (joined.as_str(), None)
            }
            None => (message, None),
        };
        macro_rules! emit {
            ($lvl:expr) => {
                tracing::event!(target: "weir::plugin", $lvl, plugin, pipeline, module = target, plugin_fields = fields, "{message}")
            };
        }
        match record.level {
            FfiLevel::Off => {}
            FfiLevel::Error => emit!(tracing::Level::ERROR),
            FfiLevel::Warn => emit!(tracing::Level::WARN),
            FfiLevel::Info => emit!(tracing::Level::INFO),
            FfiLevel::Debug => emit!(tracing::Level::DEBUG),
            FfiLevel::Trace => emit!(tracing::Level::TRACE),
        }
    });
}

struct ForeignSource {
    inner: FfiSourceBox,
}

impl Source for ForeignSource {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        into_result(self.inner.open()).map(|keys| {
            keys.into_iter()
                .map(|k| PositionKey::new(k.as_str()))
                .collect()
        })
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let polled = into_result(self.inner.poll(max_records as u64, timeout_ms))?;
        let batch = match polled.batch.into_option() {
            // SAFETY: the plugin exported this batch with `batch::export`; its release
            // callback points into the plugin library, which is never unloaded.
            Some(b) => Some(unsafe { batch::import(b) }?),
            None => None,
        };
        let keys = |v: abi_stable::std_types::RVec<RString>| {
            v.into_iter()
                .map(|k| PositionKey::new(k.as_str()))
                .collect()
        };
        Ok(Poll {
            batch,
            positions: positions_from_ffi(polled.positions),
            end: polled.end,
            assigned: keys(polled.assigned),
            revoked: keys(polled.revoked),
            backlog: positions_from_ffi(polled.backlog),
        })
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        into_result(self.inner.seek(positions_to_ffi(positions)))
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        into_result(self.inner.commit(positions_to_ffi(positions)))
    }

    fn close(&mut self) -> Result<(), Error> {
        into_result(self.inner.close())
    }
}

struct ForeignSink {
    inner: FfiSinkBox,
}

impl Sink for ForeignSink {
    fn open(&mut self) -> Result<(), Error> {
        into_result(self.inner.open())
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        let keys = keys.iter().map(|k| RString::from(k.as_str())).collect();
        into_result(self.inner.stored_positions(keys)).map(positions_from_ffi)
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        into_result(self.inner.write(batch::export(batch)?))
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        into_result(self.inner.commit(positions_to_ffi(positions)))
    }

    fn close(&mut self) -> Result<(), Error> {
        into_result(self.inner.close())
    }
}
