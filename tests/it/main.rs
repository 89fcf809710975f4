//! End-to-end tests of the built `weir` binary with its real plugins (see `harness/`).

mod arrows;
mod avro;
mod boundary;
mod compat;
mod delta;
mod demo;
mod file;
mod iceberg;
mod iceberg_lakehouse;
mod json_schema;
mod kafka;
mod kafka_security;
mod kit;
mod loading;
mod nats;
mod nats_scale;
mod nats_security;
mod panics;
mod poison;
mod postgres;
mod protobuf;
mod secrets;
mod service;
mod shaping;
mod signals;
