//! Positions in snapshot summaries: each commit's snapshot carries the batch's positions as
//! `weir.<pipeline>.<key>` = next (as the Kafka Connect Iceberg sink keeps its offsets), and
//! a key's stored position is the value of the newest snapshot in the current snapshot's
//! ancestry that has it.

use iceberg::spec::{Snapshot, TableMetadata};
use std::collections::HashMap;
use weir_sdk::Position;

/// Every weir property starts with this.
const PREFIX: &str = "weir.";

/// The summary property of `key` for `pipeline`.
pub(crate) fn property(pipeline: &str, key: &str) -> String {
    format!("{PREFIX}{pipeline}.{key}")
}

/// The summary properties of a batch's positions.
pub(crate) fn properties(pipeline: &str, positions: &[Position]) -> HashMap<String, String> {
    positions
        .iter()
        .map(|p| (property(pipeline, p.key.as_str()), p.next.to_string()))
        .collect()
}

/// The current snapshot and its ancestors, newest first.
fn ancestry(md: &TableMetadata) -> impl Iterator<Item = &Snapshot> {
    let mut next = md.current_snapshot_id();
    std::iter::from_fn(move || {
        let s = md.snapshot_by_id(next?)?;
        next = s.parent_snapshot_id();
        Some(s.as_ref())
    })
}

/// The stored position of each of `keys` (`None`: never stored), in their order.
pub(crate) fn stored(md: &TableMetadata, pipeline: &str, keys: &[&str]) -> Vec<Option<i64>> {
    let wanted: Vec<String> = keys.iter().map(|k| property(pipeline, k)).collect();
    let mut found: Vec<Option<i64>> = vec![None; keys.len()];
    let mut left = keys.len();
    for s in ancestry(md) {
        if left == 0 {
            break;
        }
        let props = &s.summary().additional_properties;
        for (i, w) in wanted.iter().enumerate() {
            if found[i].is_none() {
                if let Some(v) = props.get(w).and_then(|v| v.parse().ok()) {
                    found[i] = Some(v);
                    left -= 1;
                }
            }
        }
    }
    found
}

/// The timestamp (ms) of the oldest snapshot that holds the latest value of some weir
/// position: expiry must keep it and everything newer, so the ancestry still reaches it.
pub(crate) fn oldest_needed(md: &TableMetadata) -> Option<i64> {
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut oldest = None;
    for s in ancestry(md) {
        for k in s.summary().additional_properties.keys() {
            if k.starts_with(PREFIX) && seen.insert(k.as_str()) {
                oldest = Some(s.timestamp_ms());
            }
        }
    }
    oldest
}
