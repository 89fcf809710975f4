//! Turns a checked manifest into plugin instances: picks the connector serving each address's
//! URI scheme and constructs it with the manifest's options, adapted to core's traits, in
//! this process or (`isolation: process`) each in a child process of its own.

use crate::adapt::{SinkAdapter, SourceAdapter};
use crate::crash;
use crate::failure::Failure;
use crate::isolate::remote::{Isolated, IsolatedSink, IsolatedSource};
use crate::isolate::wire::Hello;
use crate::loader::Registry;
use std::sync::OnceLock;
use weir_core::manifest::{Endpoint, Isolation, Pipeline};
use weir_sdk::abi::host::LoadedPlugin;
use weir_sdk::{ConnectorKind, ErrorKind, SinkConfig, SourceConfig};

/// A pipeline's source and sink, constructed but not opened.
pub struct Instances {
    /// The source.
    pub source: Box<dyn weir_core::Source>,
    /// The sink.
    pub sink: Box<dyn weir_core::Sink>,
    /// `plugin/version` of the source, for logs.
    pub source_plugin: String,
    /// `plugin/version` of the sink, for logs.
    pub sink_plugin: String,
    /// The dead-letter destination (`source.options.dead_letter`), if any.
    pub dead_letter: Option<Box<dyn weir_core::Sink>>,
    /// The source returns typed batches (no envelope to decode).
    pub typed_output: bool,
}

fn unserved(registry: &Registry, kind: ConnectorKind, endpoint: &Endpoint) -> Failure {
    let side = kind.as_str();
    if endpoint.scheme == "dataos" {
        return Failure::manifest(format!(
            "spec.{side}.address: `{}` is a depot address without a depot name (dataos://NAME?purpose=rw); name the depot of your depots file",
            endpoint.address
        ));
    }
    let list = |k| {
        let v = registry.schemes(k);
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Failure::manifest(format!(
        "spec.{side}.address: no installed plugin serves the URI scheme `{}` as a {side}; installed {side} schemes: {} (plugins in {}; `weir plugins` lists them)",
        endpoint.scheme,
        list(kind),
        registry.dir.display()
    ))
}

/// The isolation of pipelines whose manifest does not say (`weir run --isolation`).
static DEFAULT_ISOLATION: OnceLock<Isolation> = OnceLock::new();

/// Sets the isolation of pipelines whose manifest does not say (once, at start).
pub fn default_isolation(isolation: Isolation) {
    let _ = DEFAULT_ISOLATION.set(isolation);
}

/// Checks that both schemes are served and constructs both connectors (which checks their
/// options without connecting anywhere), where the pipeline's isolation says.
pub fn instantiate(pipeline: &Pipeline, registry: &Registry) -> Result<Instances, Failure> {
    let default = DEFAULT_ISOLATION
        .get()
        .copied()
        .unwrap_or(Isolation::InProcess);
    instantiate_with(pipeline, registry, pipeline.isolation.unwrap_or(default))
}

/// [`instantiate`] with the isolation given (`weir validate` constructs in-process).
pub fn instantiate_with(
    pipeline: &Pipeline,
    registry: &Registry,
    isolation: Isolation,
) -> Result<Instances, Failure> {
    let found_source = registry.find(ConnectorKind::Source, &pipeline.source.scheme);
    let found_sink = registry.find(ConnectorKind::Sink, &pipeline.sink.scheme);
    let (source_plugin, typed_output, sink_plugin) =
        match (found_source, found_sink) {
            (Some((s, c)), Some((k, _))) => (s, c.typed_output, k),
            (None, Some(_)) => {
                return Err(unserved(registry, ConnectorKind::Source, &pipeline.source))
            }
            (Some(_), None) => return Err(unserved(registry, ConnectorKind::Sink, &pipeline.sink)),
            (None, None) => {
                return Err(unserved(registry, ConnectorKind::Source, &pipeline.source)
                    .and(unserved(registry, ConnectorKind::Sink, &pipeline.sink)))
            }
        };
    let source_cfg = SourceConfig {
        address: pipeline.source.address.clone(),
        options: pipeline.source.options.clone(),
        run_in_loop: pipeline.run_in_loop,
        batch_size: pipeline.limits.max_records,
        batch_timeout: pipeline.limits.timeout,
    };
    let sink_cfg = SinkConfig {
        address: pipeline.sink.address.clone(),
        options: pipeline.sink.options.clone(),
    };
    let refused = |side: &str, plugin: &str, e: weir_sdk::Error| {
        let line = format!("spec.{side}: plugin `{plugin}` refused the configuration: {e}");
        if e.kind == ErrorKind::Config {
            Failure::manifest(line)
        } else {
            Failure::runtime(line)
        }
    };
    let make = Maker {
        pipeline: &pipeline.name,
        isolation,
    };
    let source = make
        .source(source_plugin, &pipeline.source.scheme, &source_cfg)
        .map_err(|e| refused("source", &source_plugin.info.name, e));
    let sink = make
        .sink(sink_plugin, &pipeline.sink.scheme, &sink_cfg, "sink")
        .map_err(|e| refused("sink", &sink_plugin.info.name, e));
    let dead_letter = dead_letter_sink(pipeline, registry, &make, &refused);
    match (source, sink, dead_letter) {
        (Ok(source), Ok(sink), Ok(dead_letter)) => Ok(Instances {
            source,
            sink,
            source_plugin: format!("{}/{}", source_plugin.info.name, source_plugin.info.version),
            sink_plugin: format!("{}/{}", sink_plugin.info.name, sink_plugin.info.version),
            dead_letter,
            typed_output,
        }),
        (source, sink, dead_letter) => {
            let problems = [source.err(), sink.err(), dead_letter.err()];
            Err(together(problems.into_iter().flatten()).unwrap_or_else(|| {
                Failure::runtime("spec: cannot construct the connectors".into())
            }))
        }
    }
}

/// Constructs a pipeline's instances where its isolation says: in this process, or each in
/// a child process (`isolate`).
struct Maker<'a> {
    pipeline: &'a str,
    isolation: Isolation,
}

impl Maker<'_> {
    fn source(
        &self,
        plugin: &LoadedPlugin,
        scheme: &str,
        cfg: &SourceConfig,
    ) -> Result<Box<dyn weir_core::Source>, weir_sdk::Error> {
        let who = crash::label(
            &plugin.info.name,
            &plugin.info.version,
            "source",
            self.pipeline,
        );
        if self.isolation == Isolation::InProcess {
            let source = plugin.new_source(scheme, self.pipeline, cfg)?;
            return Ok(Box::new(SourceAdapter(source, who)));
        }
        let mut hello = self.hello(plugin, scheme, "source", &cfg.address, &cfg.options);
        hello.run_in_loop = cfg.run_in_loop;
        hello.batch_size = cfg.batch_size as u64;
        hello.batch_timeout_ms = u64::try_from(cfg.batch_timeout.as_millis()).unwrap_or(u64::MAX);
        Ok(Box::new(IsolatedSource(Isolated::start(hello, who)?)))
    }

    /// What an isolated process is started with (a sink's; a source adds its hints).
    fn hello(
        &self,
        plugin: &LoadedPlugin,
        scheme: &str,
        role: &str,
        address: &str,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Hello {
        Hello {
            library: plugin.path.clone(),
            scheme: scheme.to_string(),
            role: role.to_string(),
            pipeline: self.pipeline.to_string(),
            address: address.to_string(),
            options: options.clone(),
            run_in_loop: false,
            batch_size: 0,
            batch_timeout_ms: 0,
        }
    }

    /// A sink; `role` is `sink` or `dead-letter sink`.
    fn sink(
        &self,
        plugin: &LoadedPlugin,
        scheme: &str,
        cfg: &SinkConfig,
        role: &str,
    ) -> Result<Box<dyn weir_core::Sink>, weir_sdk::Error> {
        let who = crash::label(&plugin.info.name, &plugin.info.version, role, self.pipeline);
        if self.isolation == Isolation::InProcess {
            let sink = plugin.new_sink(scheme, self.pipeline, cfg)?;
            return Ok(Box::new(SinkAdapter(sink, who)));
        }
        let hello = self.hello(plugin, scheme, role, &cfg.address, &cfg.options);
        Ok(Box::new(IsolatedSink(Isolated::start(hello, who)?)))
    }
}

/// Every problem as one failure; `None` when there is none.
fn together(problems: impl Iterator<Item = Failure>) -> Option<Failure> {
    problems.reduce(Failure::and)
}

/// The dead-letter destination's sink, if `source.options.dead_letter` names one.
fn dead_letter_sink(
    pipeline: &Pipeline,
    registry: &Registry,
    make: &Maker<'_>,
    refused: &dyn Fn(&str, &str, weir_sdk::Error) -> Failure,
) -> Result<Option<Box<dyn weir_core::Sink>>, Failure> {
    let Some((address, scheme)) = &pipeline.transform.dead_letter else {
        return Ok(None);
    };
    let Some((plugin, _)) = registry.find(ConnectorKind::Sink, scheme) else {
        return Err(Failure::manifest(format!(
            "spec.source.options.dead_letter: no installed plugin serves `{scheme}` as a sink; installed sink schemes: {}",
            registry.schemes(ConnectorKind::Sink).join(", ")
        )));
    };
    let cfg = SinkConfig {
        address: address.clone(),
        options: Default::default(),
    };
    make.sink(plugin, scheme, &cfg, "dead-letter sink")
        .map(Some)
        .map_err(|e| refused("source.options.dead_letter", &plugin.info.name, e))
}
