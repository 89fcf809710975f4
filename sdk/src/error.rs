//! The one error type every plugin call returns, and the kinds that tell the host what to do.

use crate::Position;
use std::fmt;

/// What the host should do about an [`Error`].
///
/// `#[non_exhaustive]`: a later compatible sdk may add kinds, so a `match` outside this crate
/// needs a `_` arm (treat an unknown kind as [`Fatal`](Self::Fatal)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is wrong (a missing option, a bad value). Never retried.
    Config,
    /// The broker or destination cannot be reached. Retried with backoff.
    Connection,
    /// A transient failure (a commit conflict, a timeout). Retried with backoff.
    Retriable,
    /// The instance cannot go on. The pipeline stops without committing.
    Fatal,
    /// A record cannot be processed; the error names its position when known.
    Data,
    /// From a transactional sink's `commit`: another writer moved the stored positions of
    /// this batch's keys, so the sink dropped the batch. Not retried as it is: the host
    /// restarts the pipeline, which seeks the source to the sink's stored positions.
    ///
    /// Across the ABI it travels as a fatal error whose message begins with
    /// [`POSITIONS_MOVED`] (a new `FfiErrorKind` would need a new ABI version), so hosts
    /// and plugins of every sdk `0.1.*` read it alike: a 0.1.2 plugin's
    /// `Error::positions_moved` arrives as this kind, and an older host sees a fatal error.
    PositionsMoved,
}

/// How a positions-moved error's message begins when it crosses the ABI (and when it is
/// displayed): the marker that carries [`ErrorKind::PositionsMoved`] inside a fatal error.
pub const POSITIONS_MOVED: &str = "positions moved by another writer";

impl ErrorKind {
    /// Whether the host retries a call that failed with this kind.
    ///
    /// ```
    /// assert!(weir_sdk::ErrorKind::Connection.is_retriable());
    /// assert!(!weir_sdk::ErrorKind::Fatal.is_retriable());
    /// ```
    pub fn is_retriable(self) -> bool {
        matches!(self, Self::Connection | Self::Retriable)
    }

    /// A lower-case name for messages: `config`, `connection`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Connection => "connection",
            Self::Retriable => "retriable",
            Self::Fatal => "fatal",
            Self::Data => "data",
            Self::PositionsMoved => "positions-moved",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a plugin call: its kind, a message that says what failed and what to do,
/// and the position it concerns, if any.
///
/// ```
/// use weir_sdk::{Error, ErrorKind, Position};
/// let e = Error::data("not JSON").at(Position::new("orders/0", 7));
/// assert_eq!(e.kind, ErrorKind::Data);
/// assert_eq!(e.to_string(), "data error at orders/0@7: not JSON");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// What the host should do.
    pub kind: ErrorKind,
    /// What failed, on what, and what to do.
    pub message: String,
    /// The position concerned, if any.
    pub position: Option<Position>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |f: &mut fmt::Formatter<'_>| match &self.position {
            Some(p) => write!(f, " at {p}"),
            None => Ok(()),
        };
        if self.kind == ErrorKind::PositionsMoved {
            f.write_str(POSITIONS_MOVED)?;
            at(f)?;
            return write!(f, ": {}", self.message);
        }
        write!(f, "{} error", self.kind)?;
        at(f)?;
        write!(f, ": {}", self.message)
    }
}

impl Error {
    /// Makes an error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            position: None,
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A connection error (retried).
    pub fn connection(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connection, message)
    }

    /// A transient error (retried).
    pub fn retriable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retriable, message)
    }

    /// A fatal error: the pipeline stops.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    /// A data error: one record cannot be processed.
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Data, message)
    }

    /// From a transactional sink's `commit`: another writer moved stored positions of this
    /// batch's keys, so the sink dropped the batch (kind [`ErrorKind::PositionsMoved`]).
    ///
    /// ```
    /// let e = weir_sdk::Error::positions_moved("orders/3 is at 120, expected 100");
    /// assert_eq!(e.kind, weir_sdk::ErrorKind::PositionsMoved);
    /// assert!(e.is_positions_moved());
    /// assert_eq!(
    ///     e.to_string(),
    ///     "positions moved by another writer: orders/3 is at 120, expected 100"
    /// );
    /// assert!(!weir_sdk::Error::fatal("disk gone").is_positions_moved());
    /// ```
    pub fn positions_moved(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::PositionsMoved, detail.to_string())
    }

    /// Whether this is a [`positions_moved`](Self::positions_moved) error.
    pub fn is_positions_moved(&self) -> bool {
        self.kind == ErrorKind::PositionsMoved
    }

    /// From a sink's `commit`: the destination refuses these rows of the staged batch (a NOT
    /// NULL or CHECK constraint of an existing table, a value out of range), and nothing of
    /// the batch was committed. The host sets the rows aside as dead letters (or, without a
    /// dead-letter destination, stops before committing the batch's positions, naming the
    /// first row) and calls `write` and `commit` again with the other rows.
    ///
    /// Each reason should name the table and column, as the destination's message does. An
    /// error of kind [`ErrorKind::Data`] whose message is [`weir_envelope::rejected`]'s form,
    /// so hosts and plugins of every sdk `0.1.*` read it alike.
    ///
    /// ```
    /// use weir_sdk::{Error, RejectedRow};
    /// let e = Error::rows_rejected(vec![RejectedRow::new(4, "shop.t: null value in column \"name\"")]);
    /// assert_eq!(e.kind, weir_sdk::ErrorKind::Data);
    /// assert_eq!(e.rejected_rows().unwrap()[0].row, 4);
    /// assert!(Error::data("not JSON").rejected_rows().is_none());
    /// ```
    pub fn rows_rejected(rows: Vec<RejectedRow>) -> Self {
        let rows: Vec<(usize, String)> = rows.into_iter().map(|r| (r.row, r.reason)).collect();
        Self::data(weir_envelope::rejected::encode(&rows))
    }

    /// The rows of a [`rows_rejected`](Self::rows_rejected) error, in the order reported.
    pub fn rejected_rows(&self) -> Option<Vec<RejectedRow>> {
        if self.kind != ErrorKind::Data {
            return None;
        }
        let rows = weir_envelope::rejected::decode(&self.message)?;
        Some(
            rows.into_iter()
                .map(|(row, reason)| RejectedRow { row, reason })
                .collect(),
        )
    }

    /// The same error, naming the position it concerns.
    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }
}

/// One row of a staged batch that the destination refuses: see [`Error::rows_rejected`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedRow {
    /// Its index in the batch handed to `write`.
    pub row: usize,
    /// The destination's reason, naming the table and column.
    pub reason: String,
}

impl RejectedRow {
    /// Row `row` of the batch, refused for `reason`.
    pub fn new(row: usize, reason: impl Into<String>) -> Self {
        Self {
            row,
            reason: reason.into(),
        }
    }
}
