//! Adapts loaded plugin instances (weir-sdk's `Source`/`Sink`) to weir-core's traits, so core
//! drives plugins without knowing they live in dynamic libraries. Every call is noted for the
//! crash handler (`crash.rs`), which names the plugin if the call takes the process down.

use crate::crash::during;
use std::time::Duration;
use weir_core::{ConnectorError, ErrorKind, Polled, Position, PositionKey};

/// A plugin source seen as a core source: the instance and its label (`crash::label`).
pub struct SourceAdapter(pub Box<dyn weir_sdk::Source>, pub &'static str);

/// A plugin sink seen as a core sink: the instance and its label (`crash::label`).
pub struct SinkAdapter(pub Box<dyn weir_sdk::Sink>, pub &'static str);

/// An sdk error as core's error.
pub fn error(e: weir_sdk::Error) -> ConnectorError {
    let kind = match e.kind {
        weir_sdk::ErrorKind::Config => ErrorKind::Config,
        weir_sdk::ErrorKind::Connection => ErrorKind::Connection,
        weir_sdk::ErrorKind::Retriable => ErrorKind::Retriable,
        weir_sdk::ErrorKind::Fatal => ErrorKind::Fatal,
        weir_sdk::ErrorKind::Data => ErrorKind::Data,
        weir_sdk::ErrorKind::PositionsMoved => ErrorKind::PositionsMoved,
        // A kind from a newer sdk than this host knows: the pipeline stops.
        _ => ErrorKind::Fatal,
    };
    ConnectorError {
        kind,
        message: e.message,
        position: e.position.map(from_sdk),
    }
}

fn from_sdk(p: weir_sdk::Position) -> Position {
    Position::new(p.key.as_str(), p.next)
}

fn to_sdk(positions: &[Position]) -> Vec<weir_sdk::Position> {
    positions
        .iter()
        .map(|p| weir_sdk::Position::new(p.key.as_str(), p.next))
        .collect()
}

fn keys_from_sdk(keys: Vec<weir_sdk::PositionKey>) -> Vec<PositionKey> {
    keys.into_iter().map(|k| k.as_str().to_string()).collect()
}

impl weir_core::Source for SourceAdapter {
    fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError> {
        during(self.1, "open", || self.0.open())
            .map(keys_from_sdk)
            .map_err(error)
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Polled, ConnectorError> {
        let p = during(self.1, "poll", || self.0.poll(max_records, timeout)).map_err(error)?;
        Ok(Polled {
            batch: p.batch,
            positions: p.positions.into_iter().map(from_sdk).collect(),
            end: p.end,
            assigned: keys_from_sdk(p.assigned),
            revoked: keys_from_sdk(p.revoked),
            backlog: p.backlog.into_iter().map(from_sdk).collect(),
        })
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        let positions = to_sdk(positions);
        during(self.1, "seek", || self.0.seek(&positions)).map_err(error)
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        let positions = to_sdk(positions);
        during(self.1, "commit", || self.0.commit(&positions)).map_err(error)
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        during(self.1, "close", || self.0.close()).map_err(error)
    }
}

impl weir_core::Sink for SinkAdapter {
    fn open(&mut self) -> Result<(), ConnectorError> {
        during(self.1, "open", || self.0.open()).map_err(error)
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, ConnectorError> {
        let keys: Vec<weir_sdk::PositionKey> = keys
            .iter()
            .map(|k| weir_sdk::PositionKey::new(k.as_str()))
            .collect();
        during(self.1, "stored_positions", || {
            self.0.stored_positions(&keys)
        })
        .map(|v| v.into_iter().map(from_sdk).collect())
        .map_err(error)
    }

    fn write(&mut self, batch: arrow::record_batch::RecordBatch) -> Result<(), ConnectorError> {
        during(self.1, "write", || self.0.write(batch)).map_err(error)
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        let positions = to_sdk(positions);
        during(self.1, "commit", || self.0.commit(&positions)).map_err(error)
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        during(self.1, "close", || self.0.close()).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_kind_message_and_position() {
        let e = error(weir_sdk::Error::data("bad json").at(weir_sdk::Position::new("t/0", 9)));
        assert_eq!(e.kind, ErrorKind::Data);
        assert_eq!(e.message, "bad json");
        assert_eq!(e.position, Some(Position::new("t/0", 9)));
        assert!(!error(weir_sdk::Error::fatal("x")).kind.is_retriable());
        assert!(error(weir_sdk::Error::connection("x")).kind.is_retriable());
    }
}
