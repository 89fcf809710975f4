//! The {{name}} sink: rows as JSON lines appended to a file.
//!
//! [`Sink::write`] only encodes the batch into memory; [`Sink::commit`] appends it and (with
//! `sync`) fsyncs, so a batch is either in the file whole or, after a failed write or commit,
//! not at all: the host retries `write` with the same batch. Positions are not stored, so the
//! guarantee is at-least-once (a crash between the commit and the source's commit replays the
//! batch); an exactly-once sink stores them with the data and returns them from
//! [`Sink::stored_positions`].

use crate::config::{{Name}}Config;
use std::io::Write;
use weir_sdk::arrow::json::LineDelimitedWriter;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::{Context, Error, Position, Sink, SinkConfig};

/// A `{{name}}://` sink instance. The host calls it from one thread at a time.
pub struct {{Name}}Sink {
    config: {{Name}}Config,
    file: Option<std::fs::File>,
    staged: Vec<u8>,
}

impl {{Name}}Sink {
    /// The constructor the plugin exports: checks the options, opens nothing.
    pub fn create(config: SinkConfig, ctx: Context) -> Result<Box<dyn Sink>, Error> {
        let config = {{Name}}Config::from_sink(&config)?;
        weir_sdk::tracing::debug!(pipeline = ctx.pipeline(), ?config, "sink configured");
        Ok(Box::new(Self {
            config,
            file: None,
            staged: Vec::new(),
        }))
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> Error {
        Error::connection(format!("{what} {}: {e}", self.config.path.display()))
    }
}

impl Sink for {{Name}}Sink {
    fn open(&mut self) -> Result<(), Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.path)
            .map_err(|e| self.io_error("cannot open", e))?;
        self.file = Some(file);
        Ok(())
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        // A retried batch replaces whatever a failed attempt staged.
        self.staged.clear();
        let mut writer = LineDelimitedWriter::new(&mut self.staged);
        writer
            .write(&batch)
            .and_then(|()| writer.finish())
            .map_err(|e| Error::data(format!("{{name}}: cannot encode the batch as JSON: {e}")))
    }

    fn commit(&mut self, _positions: &[Position]) -> Result<(), Error> {
        let Some(file) = self.file.as_mut() else {
            return Err(Error::fatal("{{name}}: commit before open"));
        };
        let written = file.write_all(&self.staged).and_then(|()| {
            if self.config.sync {
                file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            return Err(self.io_error("cannot append to", e));
        }
        self.staged.clear();
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        self.file = None;
        Ok(())
    }
}
