//! The {{name}} source: what it reads, the positions it reports, and how it resumes.
//!
//! As generated it emits ids `0..count` (one int64 column `id`) under one position key,
//! `{{name}}`, whose `next` is the next id; [`Source::seek`] continues from a stored position,
//! so an exactly-once sink (Delta) never gets a row twice. Replace the body of `poll` with
//! your reads and keep the rest of the shape: report the positions each batch advances, and
//! `end` once everything seen at open has been read (unless `run_in_loop`).

use crate::config::{{Name}}Config;
use std::sync::Arc;
use std::time::Duration;
use weir_sdk::arrow::array::Int64Array;
use weir_sdk::arrow::datatypes::{DataType, Field, Schema};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::{Context, Error, Poll, Position, PositionKey, Source, SourceConfig};

/// The source's one position key.
const KEY: &str = "{{name}}";

/// A `{{name}}://` source instance. The host calls it from one thread at a time.
pub struct {{Name}}Source {
    config: {{Name}}Config,
    next: i64,
}

impl {{Name}}Source {
    /// The constructor the plugin exports: checks the options, connects nowhere.
    pub fn create(config: SourceConfig, ctx: Context) -> Result<Box<dyn Source>, Error> {
        let config = {{Name}}Config::from_source(&config)?;
        weir_sdk::tracing::debug!(pipeline = ctx.pipeline(), ?config, "source configured");
        Ok(Box::new(Self { config, next: 0 }))
    }
}

impl Source for {{Name}}Source {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        Ok(vec![PositionKey::new(KEY)])
    }

    fn poll(&mut self, max_records: usize, _timeout: Duration) -> Result<Poll, Error> {
        let end = self.config.count.unwrap_or(i64::MAX);
        if self.next >= end {
            return Ok(Poll::end());
        }
        let most = max_records.clamp(1, self.config.max_per_poll);
        let upto = self
            .next
            .saturating_add(i64::try_from(most).unwrap_or(i64::MAX))
            .min(end);
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids = Int64Array::from_iter_values(self.next..upto);
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ids)])
            .map_err(|e| Error::fatal(format!("{{name}}: cannot build a batch: {e}")))?;
        self.next = upto;
        let mut poll = Poll::records(batch, vec![Position::new(KEY, upto)]);
        poll.end = self.next >= end;
        Ok(poll)
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        for p in positions.iter().filter(|p| p.key.as_str() == KEY) {
            if p.next < 0 {
                return Err(Error::fatal(format!("{{name}}: cannot seek to {p}")));
            }
            self.next = p.next;
        }
        Ok(())
    }
}
