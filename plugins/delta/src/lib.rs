//! # weir-plugin-delta: the Delta Lake sink
//!
//! Serves sink addresses that are a plain directory path, `file://...` or `delta://...`:
//! the table lives at `<address>/<dest_table>` (a `schema.table` name becomes
//! `schema/table`), and is created from the first batch's schema.
//!
//! Each micro-batch is one Delta commit holding its data files and one `txn` action per
//! position key (`appId = weir/<pipeline>/<key>`, `version = next`), as kafka-delta-ingest
//! does. [`stored_positions`](weir_sdk::Sink::stored_positions) reads those back, so the host
//! resumes exactly where the table stands: data and positions change together.

mod config;
mod sink;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    let connector = |scheme: &str| {
        Connector::sink(scheme, sink::DeltaSink::create)
            .describe(
                "appends to a Delta Lake table; positions stored in the same commit (exactly-once)",
            )
            .options_schema(config::schema())
            .exactly_once()
    };
    Plugin::new("delta", env!("CARGO_PKG_VERSION"))
        .connector(connector("file"))
        .connector(connector("delta"))
}

weir_sdk::export_plugin!(define);
