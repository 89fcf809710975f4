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
use weir_sdk::options::{self, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Connector, Context, Error, Plugin, Position, Sink, SinkConfig};

/// The options of `console://` and `null://`: none of their own.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
struct ConsoleOptions {
    /// Accepted and not used, so a manifest written for a table sink can be pointed here.
    #[allow(dead_code)]
    dest_table: Option<String>,
}

fn define() -> Plugin {
    Plugin::new("console", env!("CARGO_PKG_VERSION"))
        .connector(
            Connector::sink("console", Console::create)
                .describe("writes rows to stdout as JSON lines")
                .options_schema(options::schema::<ConsoleOptions>()),
        )
        .connector(
            Connector::sink("null", Null::create)
                .describe("discards batches, counting rows (benchmarks, dry runs)")
                .options_schema(options::schema::<ConsoleOptions>()),
        )
}

weir_sdk::export_plugin!(define);

fn refuse_options(config: &SinkConfig) -> Result<(), Error> {
    options::read::<ConsoleOptions>(Side::Sink, None, &config.options).map(|_| ())
}

/// JSON lines on stdout, written at commit.
struct Console {
    staged: Option<RecordBatch>,
}

impl Console {
    fn create(config: SinkConfig, _ctx: Context) -> Result<Box<dyn Sink>, Error> {
        refuse_options(&config)?;
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
        refuse_options(&config)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dest_table_is_accepted() {
        let mut config = SinkConfig::default();
        config.options.insert("dest_table".into(), "t".into());
        refuse_options(&config).unwrap();
        config.options.insert("dest_tabel".into(), "t".into());
        let e = refuse_options(&config).unwrap_err();
        assert!(
            e.message.contains(
                "spec.sink.options.dest_tabel: unknown option; did you mean `dest_table`?"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        options::check_readme(readme, &options::table::<ConsoleOptions>()).unwrap();
    }
}
