//! # weir-plugin-delta: the Delta Lake sink
//!
//! Serves sink addresses that are a plain directory path, `file://...`, `delta://...` or
//! `s3://bucket/path` (S3 or an S3-compatible store; commits use conditional puts, so
//! concurrent writers are safe): the table lives at `<address>/<dest_table>` (a
//! `schema.table` name becomes `schema/table`), and is created from the first batch's schema
//! with the declared `partition_by` columns, a checkpoint every `checkpoint_interval` commits
//! and log cleanup after `log_retention`.
//!
//! Each micro-batch is one Delta commit holding its data files and one `txn` action per
//! position key (`appId = weir/<pipeline>/<key>`, `version = next`), as kafka-delta-ingest
//! does. [`stored_positions`](weir_sdk::Sink::stored_positions) reads those back, so the host
//! resumes exactly where the table stands: data and positions change together.
//!
//! `incremental_strategy: merge` upserts on the primary key; schema changes follow Nilus
//! (new columns added, missing ones null, an unwidenable type to `<col>__v_<type>`);
//! `compact_every` bin-packs small files between batches.

mod config;
mod evolve;
#[cfg(feature = "datafusion")]
mod merge;
mod partition;
mod readable;
mod sink;
mod types;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    let connector = |scheme: &str| {
        Connector::sink(scheme, sink::DeltaSink::create)
            .describe(
                "appends or merges into a Delta Lake table (local or S3); positions stored in the same commit (exactly-once)",
            )
            .options_schema(config::schema())
            .exactly_once()
    };
    Plugin::new("delta", env!("CARGO_PKG_VERSION"))
        .connector(connector("file"))
        .connector(connector("delta"))
        .connector(connector("s3"))
}

weir_sdk::export_plugin!(define);
