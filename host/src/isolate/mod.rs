//! `isolation: process`: a plugin instance in a child `weir` process of its own, so that a
//! crash no panic handler catches (an `abort()`, a segfault, a stack overflow, an
//! out-of-memory kill) fails its pipeline alone. The child loads the same library and serves
//! the same calls over a socket pair, batches as Arrow IPC: a plugin needs no change and no
//! rebuild.
//!
//! - `wire`: the frames, calls and replies, and batches as Arrow IPC.
//! - `child`: `weir isolate`, the process serving one instance.
//! - `remote`: the host's side, core's `Source` and `Sink` over a child.

pub mod child;
pub mod remote;
pub mod wire;
