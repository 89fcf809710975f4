//! What a plugin implements: the [`Source`] and [`Sink`] traits, their configurations, and
//! the [`Plugin`] description that lists a library's connectors.

use crate::{Context, Error, Position, PositionKey};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};
use std::time::Duration;

/// The configuration handed to a source connector's constructor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceConfig {
    /// `spec.source.address` with `{ENV}` placeholders already filled in.
    pub address: String,
    /// `spec.source.options`, keys normalised to snake_case.
    pub options: Map<String, Value>,
    /// `false`: read up to the end positions seen at open, then report [`Poll::end`].
    /// `true`: keep reading until the host stops polling.
    pub run_in_loop: bool,
    /// The host's micro-batch size in records; a hint for prefetch sizing.
    pub batch_size: usize,
    /// The host's micro-batch timeout; a hint for prefetch sizing.
    pub batch_timeout: Duration,
}

impl SourceConfig {
    /// The address parsed as a URL, or a config error naming it.
    ///
    /// ```
    /// let cfg = weir_sdk::SourceConfig { address: "generator://?count=5".into(), ..Default::default() };
    /// assert_eq!(cfg.url().unwrap().scheme(), "generator");
    /// ```
    pub fn url(&self) -> Result<url::Url, Error> {
        parse_url(&self.address)
    }

    /// The options deserialised into the connector's own serde struct, or a config error
    /// naming `spec.source.options` and what serde found.
    ///
    /// ```
    /// #[derive(weir_sdk::serde::Deserialize)]
    /// #[serde(crate = "weir_sdk::serde")]
    /// struct Options { path: String }
    ///
    /// let mut cfg = weir_sdk::SourceConfig::default();
    /// cfg.options.insert("path".into(), "/data".into());
    /// assert_eq!(cfg.options_as::<Options>().unwrap().path, "/data");
    /// ```
    pub fn options_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        options_as(&self.options, "spec.source.options")
    }
}

/// The configuration handed to a sink connector's constructor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SinkConfig {
    /// `spec.sink.address` with `{ENV}` placeholders already filled in.
    pub address: String,
    /// `spec.sink.options`, keys normalised to snake_case.
    pub options: Map<String, Value>,
}

impl SinkConfig {
    /// The address parsed as a URL, or a config error naming it.
    ///
    /// ```
    /// let cfg = weir_sdk::SinkConfig { address: "console://".into(), ..Default::default() };
    /// assert_eq!(cfg.url().unwrap().scheme(), "console");
    /// ```
    pub fn url(&self) -> Result<url::Url, Error> {
        parse_url(&self.address)
    }

    /// The options deserialised into the connector's own serde struct, or a config error
    /// naming `spec.sink.options` and what serde found.
    ///
    /// ```
    /// #[derive(Debug, weir_sdk::serde::Deserialize)]
    /// #[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
    /// struct Options { path: String }
    ///
    /// let mut cfg = weir_sdk::SinkConfig::default();
    /// cfg.options.insert("paht".into(), "/data".into());
    /// let err = cfg.options_as::<Options>().unwrap_err();
    /// assert!(err.message.contains("spec.sink.options"), "{err}");
    /// ```
    pub fn options_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        options_as(&self.options, "spec.sink.options")
    }
}

fn options_as<T: serde::de::DeserializeOwned>(
    options: &Map<String, Value>,
    path: &str,
) -> Result<T, Error> {
    serde_json::from_value(Value::Object(options.clone()))
        .map_err(|e| Error::config(format!("{path}: {e}")))
}

fn parse_url(address: &str) -> Result<url::Url, Error> {
    url::Url::parse(address)
        .map_err(|e| Error::config(format!("address `{address}` is not a valid URI: {e}")))
}

/// What one [`Source::poll`] returns.
///
/// ```
/// let p = weir_sdk::Poll::idle();
/// assert!(p.batch.is_none() && !p.end);
/// ```
#[derive(Debug, Default)]
pub struct Poll {
    /// Records read, or `None` when nothing arrived before the timeout.
    pub batch: Option<RecordBatch>,
    /// The positions this batch advances: for each substream touched, the next offset to read.
    pub positions: Vec<Position>,
    /// The source has reached the end positions it saw at open (only when not `run_in_loop`).
    /// A poll may return records and `end` together.
    pub end: bool,
    /// Substreams newly assigned to this instance (consumer-group rebalance). The host looks up
    /// the sink's stored positions for them and calls [`Source::seek`] before the next poll.
    pub assigned: Vec<PositionKey>,
    /// Substreams taken away. Records of these still in the batch being built are dropped.
    pub revoked: Vec<PositionKey>,
    /// Consumer lag, when the source knows it: for each substream, how many records are behind
    /// the end of the broker's log (here `next` is that count, not an offset). The host exports
    /// it as `weir_consumer_lag{key}`.
    pub backlog: Vec<Position>,
}

impl Poll {
    /// Nothing arrived before the timeout.
    pub fn idle() -> Self {
        Self::default()
    }

    /// The source is drained.
    pub fn end() -> Self {
        Self {
            end: true,
            ..Self::default()
        }
    }

    /// Some records and the positions they advance.
    pub fn records(batch: RecordBatch, positions: Vec<Position>) -> Self {
        Self {
            batch: Some(batch),
            positions,
            ..Self::default()
        }
    }
}

/// A source connector instance. The host calls it from one thread at a time.
///
/// Call order: [`open`](Self::open), then [`seek`](Self::seek) (if the sink stores
/// positions), then [`poll`](Self::poll) repeatedly, with [`commit`](Self::commit) in between
/// once the sink holds the polled data, then [`close`](Self::close).
pub trait Source: Send {
    /// Connects, and returns the position keys known now (for example the assigned partitions),
    /// so the host can ask the sink where each one stands.
    ///
    /// Returning a key (here or in [`Poll::assigned`]) claims it: this instance alone advances
    /// it, the host seeks it to the sink's stored position, and an exactly-once sink guards it
    /// (another writer moving it drops the batch as
    /// [`positions_moved`](crate::Error::positions_moved)). A key a source puts in its
    /// batches' positions without claiming it is shared: several processes may advance it (a
    /// NATS durable's stream, whose progress is the server's ack floor); the host never seeks
    /// it, the sink never guards it and need not store it (Delta does not: commits carrying
    /// one `txn` application id conflict), and a retried commit writes again rather than
    /// trusting the table (at-least-once).
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        Ok(Vec::new())
    }

    /// Returns at most `max_records` records, waiting at most `timeout` for the first one.
    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error>;

    /// Continues reading from these positions (the sink's stored ones) on the next poll.
    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        match positions.first() {
            None => Ok(()),
            Some(p) => Err(Error::config(format!(
                "this source cannot seek, but the sink stores position {p}"
            ))),
        }
    }

    /// The sink holds everything before these positions: make them durable in the source
    /// (Kafka group offsets, JetStream acks). Called in batch order.
    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        let _ = positions;
        Ok(())
    }

    /// Releases connections. No call follows.
    fn close(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A sink connector instance. The host calls it from one thread at a time.
///
/// For each micro-batch the host calls [`write`](Self::write) then [`commit`](Self::commit)
/// with the positions the batch advances. If either fails, the sink must discard what it
/// staged for that batch: the host retries by calling `write` again with the same batch.
pub trait Sink: Send {
    /// Connects or prepares the destination.
    fn open(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// For exactly-once sinks: the positions stored with the data for these keys (keys the
    /// sink has never seen are left out). Other sinks return nothing.
    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        let _ = keys;
        Ok(Vec::new())
    }

    /// Stages one micro-batch.
    fn write(&mut self, batch: RecordBatch) -> Result<(), Error>;

    /// Makes the staged batch durable, together with `positions` if the sink stores them.
    fn commit(&mut self, positions: &[Position]) -> Result<(), Error>;

    /// Flushes and releases. No call follows.
    fn close(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// Whether a connector reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// Reads records: [`Source`].
    Source,
    /// Writes batches: [`Sink`].
    Sink,
}

impl ConnectorKind {
    /// `source` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Sink => "sink",
        }
    }
}

/// Makes a source instance from its configuration.
///
/// A constructor checks the configuration (returning [`Error::config`] naming every bad
/// option) and must not connect anywhere: `weir validate` calls it to check a manifest.
/// Connections are made in [`Source::open`].
pub type SourceFactory = fn(SourceConfig, Context) -> Result<Box<dyn Source>, Error>;
/// Makes a sink instance from its configuration.
///
/// As with [`SourceFactory`]: check the configuration here, connect in [`Sink::open`].
pub type SinkFactory = fn(SinkConfig, Context) -> Result<Box<dyn Sink>, Error>;

#[derive(Clone, Copy)]
pub(crate) enum Factory {
    Source(SourceFactory),
    Sink(SinkFactory),
}

/// One connector a plugin provides: its kind, URI scheme, options schema and constructor.
///
/// ```
/// # use weir_sdk::*;
/// # fn make(_: SourceConfig, _: Context) -> Result<Box<dyn Source>, Error> { unimplemented!() }
/// let c = Connector::source("demo", make)
///     .describe("demo events")
///     .options_schema(serde_json::json!({"type": "object"}))
///     .typed_output();
/// assert_eq!(c.scheme(), "demo");
/// ```
#[derive(Clone)]
pub struct Connector {
    pub(crate) scheme: String,
    pub(crate) description: String,
    pub(crate) options_schema: Value,
    pub(crate) typed_output: bool,
    pub(crate) exactly_once: bool,
    pub(crate) factory: Factory,
}

impl Connector {
    fn new(scheme: &str, factory: Factory) -> Self {
        Self {
            scheme: scheme.to_ascii_lowercase(),
            description: String::new(),
            options_schema: serde_json::json!({"type": "object"}),
            typed_output: false,
            exactly_once: false,
            factory,
        }
    }

    /// A source serving addresses `<scheme>://...`.
    pub fn source(scheme: &str, factory: SourceFactory) -> Self {
        Self::new(scheme, Factory::Source(factory))
    }

    /// A sink serving addresses `<scheme>://...`.
    pub fn sink(scheme: &str, factory: SinkFactory) -> Self {
        Self::new(scheme, Factory::Sink(factory))
    }

    /// A one-line description shown by `weir plugins`.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// The JSON schema of the connector's options, shown by `weir plugins`.
    pub fn options_schema(mut self, schema: Value) -> Self {
        self.options_schema = schema;
        self
    }

    /// The source returns typed record batches rather than the broker envelope
    /// (`key`, `value`, `headers`, ...), so the host does not decode `value`.
    pub fn typed_output(mut self) -> Self {
        self.typed_output = true;
        self
    }

    /// The sink stores positions with its data ([`Sink::stored_positions`]).
    pub fn exactly_once(mut self) -> Self {
        self.exactly_once = true;
        self
    }

    /// The URI scheme.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Source or sink.
    pub fn kind(&self) -> ConnectorKind {
        match self.factory {
            Factory::Source(_) => ConnectorKind::Source,
            Factory::Sink(_) => ConnectorKind::Sink,
        }
    }
}

/// A plugin library's description: its name, version and connectors.
///
/// ```
/// let p = weir_sdk::Plugin::new("empty", "0.1.0");
/// assert_eq!(p.name(), "empty");
/// ```
#[derive(Clone)]
pub struct Plugin {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) connectors: Vec<Connector>,
}

impl Plugin {
    /// A plugin with no connectors yet.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            connectors: Vec::new(),
        }
    }

    /// Adds a connector.
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connectors.push(connector);
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
