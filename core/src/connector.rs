//! The traits core drives, and the plain data that flows through them: positions, polls and
//! connector errors. Implemented by the host's plugin adapters and by in-process test doubles.

use arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// An independently ordered substream (`<topic>/<partition>`, `<stream>`, `generator`).
pub type PositionKey = String;

/// `(key, next)`: the next offset or sequence to read in substream `key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The substream.
    pub key: PositionKey,
    /// The next offset to read.
    pub next: i64,
}

impl Position {
    /// Makes a position.
    pub fn new(key: impl Into<PositionKey>, next: i64) -> Self {
        Self {
            key: key.into(),
            next,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.key, self.next)
    }
}

/// The positions a batch advances: the latest `next` per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions(BTreeMap<PositionKey, i64>);

impl Positions {
    /// No positions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `key` advanced to `next` (later calls win).
    pub fn advance(&mut self, position: &Position) {
        self.0.insert(position.key.clone(), position.next);
    }

    /// Adds every position of `other` (its values win).
    pub fn merge(&mut self, other: &Positions) {
        for (k, v) in &other.0 {
            self.0.insert(k.clone(), *v);
        }
    }

    /// As a list, ordered by key.
    pub fn to_vec(&self) -> Vec<Position> {
        self.0
            .iter()
            .map(|(k, v)| Position::new(k.clone(), *v))
            .collect()
    }

    /// The stored `next` of a key.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.0.get(key).copied()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets a key.
    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

impl fmt::Display for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}@{v}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What the caller should do about a [`ConnectorError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Wrong configuration: never retried.
    Config,
    /// Broker or destination unreachable: retried.
    Connection,
    /// Transient: retried.
    Retriable,
    /// The connector cannot go on.
    Fatal,
    /// One record cannot be processed.
    Data,
    /// A transactional sink found its stored positions moved by another writer and dropped
    /// the batch: not retried; the pipeline restarts from the sink's positions.
    PositionsMoved,
}

impl ErrorKind {
    /// Whether a call failing with this kind is retried.
    pub fn is_retriable(self) -> bool {
        matches!(self, Self::Connection | Self::Retriable)
    }
}

/// An error from a source or sink call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConnectorError {
    /// What to do about it.
    pub kind: ErrorKind,
    /// What failed, on what, and what to do.
    pub message: String,
    /// The position concerned, if any.
    pub position: Option<Position>,
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Config => "config",
            ErrorKind::Connection => "connection",
            ErrorKind::Retriable => "retriable",
            ErrorKind::Fatal => "fatal",
            ErrorKind::Data => "data",
            ErrorKind::PositionsMoved => "positions moved by another writer",
        };
        let error = if self.kind == ErrorKind::PositionsMoved {
            ""
        } else {
            " error"
        };
        match &self.position {
            Some(p) => write!(f, "{kind}{error} at {p}: {}", self.message),
            None => write!(f, "{kind}{error}: {}", self.message),
        }
    }
}

impl ConnectorError {
    /// Makes an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            position: None,
        }
    }

    /// From a sink's commit: the rows of the staged batch its destination refuses, `(row
    /// index, reason)` (a data error in `weir_envelope::rejected`'s form); nothing of the
    /// batch was committed.
    pub fn rejected_rows(&self) -> Option<Vec<(usize, String)>> {
        if self.kind != ErrorKind::Data {
            return None;
        }
        weir_envelope::rejected::decode(&self.message)
    }
}

/// What one poll returned.
#[derive(Debug, Default)]
pub struct Polled {
    /// Records, if any arrived.
    pub batch: Option<RecordBatch>,
    /// The positions they advance.
    pub positions: Vec<Position>,
    /// The source is drained (only when not running in a loop).
    pub end: bool,
    /// Substreams newly assigned to this instance.
    pub assigned: Vec<PositionKey>,
    /// Substreams taken away.
    pub revoked: Vec<PositionKey>,
    /// Records behind the broker's end per substream, when the source knows (`next` = count).
    pub backlog: Vec<Position>,
}

/// A source of records. Called from one thread.
pub trait Source: Send {
    /// Connects; returns the position keys known now.
    fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError>;
    /// At most `max_records`, waiting at most `timeout` for the first.
    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Polled, ConnectorError>;
    /// Continue from these positions.
    fn seek(&mut self, positions: &[Position]) -> Result<(), ConnectorError>;
    /// The sink holds everything before these positions.
    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError>;
    /// Releases resources.
    fn close(&mut self) -> Result<(), ConnectorError>;
}

/// A destination of batches. Called from one thread.
pub trait Sink: Send {
    /// Prepares the destination.
    fn open(&mut self) -> Result<(), ConnectorError>;
    /// Positions stored with the data (exactly-once sinks), for these keys.
    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, ConnectorError>;
    /// Stages a batch.
    fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError>;
    /// Makes the staged batch durable together with its positions.
    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError>;
    /// Flushes and releases.
    fn close(&mut self) -> Result<(), ConnectorError>;
}
