//! # weir-core: the engine
//!
//! weir-core turns a Nilus stream manifest into a running pipeline:
//! `source.poll -> batcher -> sink.write -> sink.commit -> source.commit`.
//! It owns micro-batch timing, the ordering of commits (the source's position advances only
//! after the sink's commit returned, and always in batch order), retries with capped
//! exponential backoff, and the manifest model.
//!
//! It knows nothing of dynamic libraries: it drives the [`Source`] and [`Sink`] traits of
//! [`connector`]; the `weir` host adapts loaded plugins to them, and tests use in-process ones.
//!
//! ```no_run
//! use std::sync::Arc;
//! use weir_core::{manifest, runner::{run, NoObserver, RunConfig, StopSignal}};
//! # fn source() -> Box<dyn weir_core::Source> { unimplemented!() }
//! # fn sink() -> Box<dyn weir_core::Sink> { unimplemented!() }
//! let pipeline = manifest::load(std::path::Path::new("pipeline.yaml")).expect("valid manifest");
//! let cfg = RunConfig::from_pipeline(&pipeline);
//! let summary = run(source(), sink(), &cfg, &StopSignal::new(), Arc::new(NoObserver))
//!     .expect("pipeline ran");
//! println!("{} records", summary.records);
//! ```

pub mod batcher;
pub mod connector;
pub mod decode;
pub mod depots;
pub mod manifest;
pub mod mask;
pub mod retry;
pub mod runner;
pub mod transform;

pub use connector::{
    ConnectorError, ErrorKind, Polled, Position, PositionKey, Positions, Sink, Source,
};
