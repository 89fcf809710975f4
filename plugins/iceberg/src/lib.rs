//! # weir-plugin-iceberg: the Iceberg sink
//!
//! Serves `iceberg://PATH` (an embedded SQLite catalog and a warehouse under PATH, or a
//! PostgreSQL catalog with `catalog_uri`) and `iceberg+rest://HOST:PORT/PATH?warehouse=NAME`
//! (an Iceberg REST catalog) addresses; see [`config`] for every option.
//!
//! Each micro-batch is one fast-append commit whose snapshot summary carries the batch's
//! positions (`weir.<pipeline>.<key>` = next); [`stored_positions`](weir_sdk::Sink::stored_positions)
//! reads them back from the current snapshot and its ancestors, so a restart resumes exactly
//! where the table stands. Commits are checked against the snapshot the sink decided on
//! ([`catalog::Pinned`]). The table is created from the first batch with the Nilus
//! `partition_by` as an Iceberg partition spec; new columns are added by schema updates, other
//! type changes go to variant columns.
//!
//! iceberg-rust uses Arrow 58 and the host Arrow 59: [`bridge`] moves batches between them
//! through the Arrow C Data Interface, and nothing else sees both.

pub mod bridge;
mod catalog;
mod config;
mod errors;
mod evolve;
mod partition;
mod positions;
mod promoted;
mod sink;
mod types;
mod write;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    let connector = |scheme: &str| {
        Connector::sink(scheme, sink::IcebergSink::create)
            .describe(
                "appends into an Apache Iceberg table (SQLite, PostgreSQL or REST catalog); positions stored in each snapshot's summary (exactly-once)",
            )
            .options_schema(config::schema())
            .exactly_once()
    };
    Plugin::new("iceberg", env!("CARGO_PKG_VERSION"))
        .connector(connector("iceberg"))
        .connector(connector("iceberg+rest"))
}

weir_sdk::export_plugin!(define);
