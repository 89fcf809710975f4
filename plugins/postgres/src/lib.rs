//! # weir-plugin-postgres: the PostgreSQL sink
//!
//! Serves `postgresql://user:password@host:port/database` and `postgres://...` addresses
//! (TLS through rustls by `sslmode`). The table is `dest_table` (`schema.table`; the schema
//! is created when missing), created from the first batch's schema with the type mapping of
//! [`types`]; an existing table is used as it is.
//!
//! Each micro-batch is one transaction: a binary `COPY` into a temporary staging table, an
//! `INSERT ... SELECT` into the table (append) or `INSERT ... ON CONFLICT DO UPDATE` (merge,
//! the last row per key winning), and the batch's positions upserted into the positions
//! table (`<schema>.weir_positions (pipeline, key, next)`), then `COMMIT`: data and
//! positions change together, so a restart resumes exactly where the table stands.
//! Writers of one pipeline are serialised by a transaction advisory lock, and the positions
//! are compared with what this sink last read or wrote ([`weir_sdk::exactly_once`]).

mod config;
mod copy;
mod evolve;
mod sink;
mod sql;
mod tls;
mod types;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    let connector = |scheme: &str| {
        Connector::sink(scheme, sink::PostgresSink::create)
            .describe(
                "appends or merges into a PostgreSQL table by binary COPY; positions stored in the same transaction (exactly-once)",
            )
            .options_schema(config::schema())
            .exactly_once()
    };
    Plugin::new("postgres", env!("CARGO_PKG_VERSION"))
        .connector(connector("postgresql"))
        .connector(connector("postgres"))
}

weir_sdk::export_plugin!(define);
