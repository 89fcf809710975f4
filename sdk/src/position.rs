//! Positions: how far an independently ordered substream has been read.

use std::fmt;

/// The name of an independently ordered substream: `<topic>/<partition>` for Kafka,
/// `<stream>` for JetStream, `generator` for the generator.
///
/// ```
/// let key = weir_sdk::PositionKey::new("orders/3");
/// assert_eq!(key.as_str(), "orders/3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PositionKey(String);

impl PositionKey {
    /// Makes a key from its name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The key's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PositionKey {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// A position `(key, next)`: `next` is the next offset or sequence to read in substream `key`.
///
/// ```
/// let p = weir_sdk::Position::new("orders/0", 42);
/// assert_eq!(p.to_string(), "orders/0@42");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The substream.
    pub key: PositionKey,
    /// The next offset or sequence to read.
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
