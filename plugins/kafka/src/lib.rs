//! # weir-plugin-kafka: Kafka source
//!
//! Serves Nilus Kafka addresses `kafka://?bootstrap_servers=host:9092&group_id=NAME` with
//! `source.options.source_table` naming the topic (or a comma list of topics). The optional
//! knobs of the Nilus reference (section 2.1: `security_protocol`, `sasl_mechanisms`,
//! `sasl_username`, `sasl_password`, `ssl_*`) may be given in the address or under
//! `source.options`; where both give one with different values, validation fails naming both.
//!
//! - A consumer in the group with auto-commit off: offsets are committed only after the
//!   sink's commit, per `<topic>/<partition>` position key, so lag shows in standard tools.
//! - A group with no committed offset starts at the earliest offset, as Nilus does;
//!   `start_from: earliest | latest | <RFC 3339 time>` (or Nilus's `interval_start`) changes
//!   that.
//! - With an exactly-once sink (Delta), each newly assigned partition resumes at the sink's
//!   stored position; records of revoked partitions still in the open batch are dropped.
//! - `run_in_loop: false` reads up to the high watermarks seen at open, then ends.
//! - librdkafka's prefetch is bounded from the batch size (`queued.min.messages`,
//!   `queued.max.messages.kbytes`), so a large backlog stays on the broker.
//!
//! librdkafka 2.12.1 is built from source and linked statically into this plugin (with zlib,
//! zstd and a vendored OpenSSL for SASL_SSL/SCRAM), so the host carries none of it.

mod config;
mod context;
mod envelope;
mod refusal;
mod source;
mod start;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    Plugin::new("kafka", env!("CARGO_PKG_VERSION")).connector(
        Connector::source("kafka", source::KafkaSource::create)
            .describe("Kafka topics through a consumer group, offsets committed after the sink")
            .options_schema(config::schema()),
    )
}

weir_sdk::export_plugin!(define);
