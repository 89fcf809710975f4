//! End-to-end tests of the built `weir` binary with its real plugins (see `harness/`).

mod arrows;
mod boundary;
mod demo;
mod kafka;
mod loading;
mod nats;
mod panics;
mod service;
mod shaping;
mod signals;
