//! # weir-sdk: the contract between the weir host and its plugins
//!
//! A weir plugin is a dynamic library (`crate-type = ["cdylib"]`) that depends on this crate
//! alone. It provides one or more *connectors*: sources (read records from a broker, a file,
//! a generator) and sinks (write record batches to a table, a console, a queue). The host
//! loads the library, picks a connector by the URI scheme of a manifest's `source.address`
//! or `sink.address`, and drives it through the calls of [`Source`] or [`Sink`].
//!
//! What a plugin author writes is plain, safe Rust:
//!
//! ```
//! use std::time::Duration;
//! use weir_sdk::{
//!     arrow::record_batch::RecordBatch, Connector, Context, Error, Plugin, Position, PositionKey,
//!     Sink, SinkConfig,
//! };
//!
//! /// Counts rows and forgets them.
//! struct Counter {
//!     rows: usize,
//! }
//!
//! impl Sink for Counter {
//!     fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
//!         self.rows += batch.num_rows();
//!         Ok(())
//!     }
//!     fn commit(&mut self, _positions: &[Position]) -> Result<(), Error> {
//!         tracing::info!(rows = self.rows, "committed");
//!         Ok(())
//!     }
//! }
//!
//! fn make_counter(_config: SinkConfig, _ctx: Context) -> Result<Box<dyn Sink>, Error> {
//!     Ok(Box::new(Counter { rows: 0 }))
//! }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("counter", env!("CARGO_PKG_VERSION"))
//!         .connector(Connector::sink("count", make_counter).describe("counts rows"))
//! }
//!
//! weir_sdk::export_plugin!(plugin);
//! # fn main() {}
//! ```
//!
//! ## The contract in short
//! - **Calls are blocking.** The host calls each connector instance from one thread at a time
//!   (a thread of its own, never an async worker). A plugin that needs async I/O runs its own
//!   runtime inside.
//! - **Positions** ([`Position`]) name how far a substream ([`PositionKey`]) has been read: the
//!   next offset or sequence to read. A source reports the positions each poll advances; the
//!   host commits them back to the source only after the sink's [`Sink::commit`] returned.
//!   An exactly-once sink stores the positions in the same atomic commit as the data and
//!   returns them from [`Sink::stored_positions`]; the host then seeks the source there.
//! - **Batches** are Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es. They cross the
//!   library boundary through the Arrow C Data Interface without copying, so plugin and host
//!   need not share an arrow-rs version.
//! - **Errors** are [`Error`]s with an [`ErrorKind`] that tells the host what to do:
//!   retry ([`ErrorKind::Retriable`], [`ErrorKind::Connection`]), stop ([`ErrorKind::Fatal`],
//!   [`ErrorKind::Config`]) or set the record aside ([`ErrorKind::Data`]).
//! - **Panics** never cross the boundary: [`export_plugin!`] catches them at every entry point
//!   and turns them into a fatal error naming the plugin; the instance is then poisoned and
//!   never called again.
//! - **Logs**: use `tracing` as usual. Events are forwarded to the host's log under the plugin's
//!   name; a plugin never prints to stdout or installs a subscriber of its own.
//!
//! ## Testing a plugin
//! The `testing` feature adds `weir_sdk::testing`: load the library your crate built, run a source to
//! its end or feed a sink, and assert on batches and positions, without the host binary.
//! The guide (`docs/plugins.md` in the weir repository) walks through writing, testing and
//! installing a plugin; `cargo xtask new-plugin` generates a crate to start from.
//!
//! ## ABI versions
//! [`ABI_VERSION`] changes whenever the binary contract changes; the host refuses a plugin
//! built for another one with exit code 3, naming both. The sdk's version is `0.<ABI>.z`:
//! every `0.1.z` is ABI 1, and a plugin built with any of them loads in a host built with any
//! other (abi_stable checks every type's layout at load). What may change within one ABI, and
//! what needs a new one, is written down in the sdk's `CHANGELOG.md`.
#![warn(missing_docs, unreachable_pub)]
// `#[sabi_trait]` expands to impls in nested items, which Rust 1.95 warns about.
#![allow(non_local_definitions)]

pub mod abi;
mod connector;
mod context;
mod error;
pub mod exactly_once;
mod log;
pub mod options;
mod position;
mod skipped;
#[cfg(feature = "testing")]
pub mod testing;
pub mod variant;

pub use arrow;
pub use connector::{
    Connector, ConnectorKind, Plugin, Poll, Sink, SinkConfig, SinkFactory, Source, SourceConfig,
    SourceFactory,
};
pub use context::Context;
pub use error::{Error, ErrorKind, RejectedRow, POSITIONS_MOVED};
pub use log::LogLevel;
pub use position::{Position, PositionKey};
pub use schemars;
pub use serde;
pub use serde_json;
pub use skipped::{records_skipped, RECORDS_SKIPPED};
pub use tracing;
/// The broker envelope a message source hands the host (`weir-envelope`): its layouts, their
/// schemas tagged in their metadata, and the dead-letter columns. A source declared without
/// `typed_output()` emits one of these.
pub use weir_envelope as envelope;

// The README's plugin example is compiled as a doc test, so it cannot drift from the sdk.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

// Every code block of the plugin guide is compiled as a doc test (some use the `testing`
// feature: `cargo test --doc -p weir-sdk --features testing`).
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../docs/plugins.md")]
struct PluginGuideDoctests;

/// The version of the binary contract between host and plugins.
///
/// A host serves exactly one ABI version; a plugin declares the one it was built for
/// (through [`export_plugin!`]). Bumped for any change that is not an append-only extension
/// of the root module; see the sdk CHANGELOG.
pub const ABI_VERSION: u32 = 1;

/// The version of this sdk crate, recorded in every plugin built against it.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    /// The version rule of CHANGELOG.md: the sdk is `0.<ABI>.z`, because abi_stable refuses
    /// types of a `0.y` package in a host of another `0.y` (its layout check compares the
    /// package version of every type). Bumping one without the other fails here.
    #[test]
    fn sdk_minor_is_the_abi_version() {
        let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(u32::MAX);
        let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(u32::MAX);
        assert_eq!(
            (major, minor),
            (0, super::ABI_VERSION),
            "see sdk/CHANGELOG.md, Versions"
        );
    }
}
