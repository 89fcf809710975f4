//! # weir-plugin-generator: deterministic synthetic events
//!
//! A source for `generator://?count=N&rate=R&seed=S` (all optional; no `count` means endless,
//! no `rate` means as fast as asked). Event `i` is a pure function of `(seed, i)`, so a replay
//! from any position produces the same rows: the demo and the benchmarks need no broker, and
//! tests can check every value.
//!
//! Columns: `id` (int64, equal to the position), `ts` (timestamp µs UTC), `user_id` (int64),
//! `email`, `phone`, `country` (utf8), `amount` (float64), `device` (struct of `os` utf8 and
//! `version` int32). Position key: `generator`, next = the next id.

mod config;
pub mod events;
mod source;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    Plugin::new("generator", env!("CARGO_PKG_VERSION")).connector(
        Connector::source("generator", source::Generator::create)
            .describe("deterministic synthetic events (id, ts, user_id, email, phone, amount, country, device)")
            .options_schema(config::schema())
            .typed_output(),
    )
}

weir_sdk::export_plugin!(define);
