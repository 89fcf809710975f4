//! # weir-contract: plain definitions the engine and the plugins share
//!
//! What both sides of the plugin boundary must agree on and that needs neither abi_stable nor
//! the engine: today the "did you mean" rule used for manifest keys (core) and connector
//! options (sdk). `weir-core` depends on this crate and not on `weir-sdk`; `weir-sdk`
//! re-exports it as `weir_sdk::contract`.
#![warn(missing_docs, unreachable_pub)]

pub mod suggest;
