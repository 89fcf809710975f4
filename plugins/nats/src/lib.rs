//! # weir-plugin-nats: NATS JetStream source
//!
//! Serves `nats+jetstream://[user:pass@|token@]host[:port]?subject=..&durable=..` addresses,
//! with `source.options.source_table` naming the JetStream stream (Nilus's form).
//!
//! - **With `durable=NAME`** the source binds to (or creates) a durable pull consumer with the
//!   subject filter and explicit acks. A batch's messages are acked only after the sink's
//!   commit, so the durable's ack floor is the pipeline's position: a restart resumes there, and
//!   several weir processes sharing the durable split the work. The durable's key is not
//!   claimed (the sdk's shared keys): no sink guards it, so no member's commit conflicts with
//!   another's. `ack_wait` defaults to 10 s, so a crashed member's messages come back to the
//!   others (or to it, restarted) within 10 s; a live member keeps the messages it holds with
//!   `+WPI` progress acks each third of `ack_wait`, so a slow commit is not redelivered. A
//!   crash between the sink's commit and the acks redelivers that batch: at-least-once,
//!   duplicates bounded by the batches in flight.
//! - **Without `durable`** the source reads through an ephemeral consumer (no acks) starting at
//!   the sink's stored position when the sink stores one (Delta: exactly-once), else at
//!   `start_sequence` (default 1). With a sink that stores no positions, every run starts again
//!   at `start_sequence`: use a durable for position tracking in that case.
//!
//! Records come as the broker envelope (`value`, `headers`, `subject`, `sequence`,
//! `timestamp`, `delivery_count`), one row per message. The position key is the stream name;
//! its value is the next stream sequence. With `run_in_loop: false` the source reads up to the
//! stream's last sequence seen at open, then ends.

mod config;
mod envelope;
mod progress;
mod source;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    Plugin::new("nats", env!("CARGO_PKG_VERSION")).connector(
        Connector::source("nats+jetstream", source::NatsSource::create)
            .describe("NATS JetStream stream through a durable or ephemeral pull consumer")
            .options_schema(config::schema()),
    )
}

weir_sdk::export_plugin!(define);
