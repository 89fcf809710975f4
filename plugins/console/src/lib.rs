//! # weir-plugin-console: JSON lines on stdout, or nothing at all
//!
//! Two sinks:
//! - `console://` writes each committed batch to stdout as JSON lines (one object per row);
//! - `null://` discards batches and counts them (for benchmarks and dry runs).
//!
//! Neither stores positions: with them a pipeline is at-least-once.

use arrow::json::LineDelimitedWriter;
use arrow::record_batch::RecordBatch;
use std::io::Write;
use weir_sdk::{Connector, Context, Error, Plugin, Position, Sink, SinkConfig};

fn define() -> Plugin {
    Plugin::new("console", env!("CARGO_PKG_VERSION"))
        .connector(
            Connector::sink("console", Console::create)
                .describe("writes rows to stdout as JSON lines")
                .options_schema(serde_json::json!({"type": "object", "properties": {}})),
        )
        .connector(
            Connector::sink("null", Null::create)
                .describe("discards batches, counting rows (benchmarks, dry runs)")
                .options_schema(serde_json::json!({"type": "object", "properties": {}})),
        )
}

weir_sdk::export_plugin!(define);

fn refuse_options(config: &SinkConfig, scheme: &str) -> Result<(), Error> {
    match config.options.keys().find(|k| k.as_str() != "dest_table") {
        None => Ok(()),
        Some(k) => Err(Error::config(format!(
            "spec.sink.options.{k}: the {scheme}:// sink takes no options"
        ))),
    }
}

/// JSON lines on stdout, written at commit.
struct Console {
    staged: Option<RecordBatch>,
}

impl Console {
    fn create(config: SinkConfig, _ctx: Context) -> Result<Box<dyn Sink>, Error> {
        refuse_options(&config, "console")?;
        Ok(Box::new(Self { staged: None }))
    }
}

impl Sink for Console {
    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        self.staged = Some(batch);
        Ok(())
    }

    fn commit(&mut self, _positions: &[Position]) -> Result<(), Error> {
        let Some(batch) = self.staged.take() else {
            return Ok(());
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let mut writer = LineDelimitedWriter::new(&mut out);
        writer
            .write(&batch)
            .and_then(|_| writer.finish())
            .map_err(|e| Error::fatal(format!("cannot write JSON lines: {e}")))?;
        out.flush()
            .map_err(|e| Error::connection(format!("cannot write to stdout: {e}")))
    }
}

/// Discards everything, counting rows.
struct Null {
    staged: usize,
    rows: u64,
}

impl Null {
    fn create(config: SinkConfig, _ctx: Context) -> Result<Box<dyn Sink>, Error> {
        refuse_options(&config, "null")?;
        Ok(Box::new(Self { staged: 0, rows: 0 }))
    }
}

impl Sink for Null {
    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        self.staged = batch.num_rows();
        Ok(())
    }

    fn commit(&mut self, _positions: &[Position]) -> Result<(), Error> {
        self.rows += std::mem::take(&mut self.staged) as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        tracing::info!(rows = self.rows, "null sink discarded rows");
        Ok(())
    }
}
