//! The exactly-once decision of a sink that stores positions with its data (Delta's `txn`
//! actions, a PostgreSQL positions table), as a pure function shared by every such sink:
//! given the batch's positions, what the destination stores for their keys, what this sink
//! last read or wrote for them, and whether this is the retry of an attempt that reported a
//! failure, the batch is written, skipped (it already landed), or dropped (another writer
//! moved a key: return [`Error::positions_moved`](crate::Error::positions_moved)).
//!
//! ```
//! use std::collections::HashMap;
//! use weir_sdk::exactly_once::{decide, Decision};
//! use weir_sdk::{Position, PositionKey};
//!
//! let batch = [Position::new("orders/0", 200)];
//! let stored = [(PositionKey::new("orders/0"), Some(100))];
//! let mut seen = HashMap::new();
//! seen.insert("orders/0".to_string(), Some(100));
//! assert_eq!(decide(&batch, &stored, &seen, false), Decision::Write);
//! seen.insert("orders/0".to_string(), Some(90));
//! assert!(matches!(decide(&batch, &stored, &seen, false), Decision::Moved(_)));
//! ```

use crate::{Position, PositionKey};
use std::collections::HashMap;

/// What to do with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write it: the table is where this sink left it.
    Write,
    /// Do not write it again: this is a retry and the table already holds every position of
    /// the batch, so the attempt that reported a failure landed.
    Landed,
    /// Drop it: another writer moved these keys since this sink last read or wrote them; each
    /// entry names the key and both versions.
    Moved(Vec<String>),
}

/// Decides for a batch with `positions`; `stored` is the destination's position per key (in the
/// order of `positions`, `None` where it has none), `seen` what this sink last read or wrote per
/// guarded key. A key absent from `seen` was never read back: the source did not claim it
/// (a shared key) or claimed it mid-run; another writer moving it is not a conflict.
pub fn decide(
    positions: &[Position],
    stored: &[(PositionKey, Option<i64>)],
    seen: &HashMap<String, Option<i64>>,
    retry: bool,
) -> Decision {
    // Only a retry can find its own batch landed: positions of a first attempt may be behind
    // the table's without the rows being there. And only on guarded keys: a shared key (one
    // this sink never read, such as a NATS durable's stream) may be ahead because another
    // process committed past it, so its retry writes again (at-least-once).
    let landed = !positions.is_empty()
        && positions
            .iter()
            .zip(stored)
            .all(|(p, (_, v))| seen.contains_key(p.key.as_str()) && v.is_some_and(|v| v >= p.next));
    if retry && landed {
        return Decision::Landed;
    }
    let show = |v: &Option<i64>| v.map_or("none".to_string(), |v| v.to_string());
    let moved: Vec<String> = stored
        .iter()
        .filter_map(|(k, v)| match seen.get(k.as_str()) {
            Some(last) if last != v => Some(format!(
                "{} (this process last saw {}, the table has {})",
                k.as_str(),
                show(last),
                show(v)
            )),
            _ => None,
        })
        .collect();
    if moved.is_empty() {
        Decision::Write
    } else {
        Decision::Moved(moved)
    }
}

/// What a sink keeps between calls for [`decide`]: per key, the position it last read back or
/// committed, and whether its last commit reported a failure (whose transaction may have landed
/// all the same). One per sink instance.
///
/// ```
/// use weir_sdk::exactly_once::{Decision, Ledger};
/// use weir_sdk::{Position, PositionKey};
///
/// let key = PositionKey::new("orders/0");
/// let mut ledger = Ledger::default();
/// ledger.read(&key, Some(100));
/// let batch = [Position::new("orders/0", 200)];
/// let retry = ledger.take_retry();
/// assert_eq!(ledger.decide(&batch, &[(key.clone(), Some(100))], retry), Decision::Write);
/// ledger.committed(&batch);
/// // Another writer's commit moved the key past what this sink wrote.
/// let next = [Position::new("orders/0", 300)];
/// assert!(matches!(ledger.decide(&next, &[(key, Some(250))], false), Decision::Moved(_)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    seen: HashMap<String, Option<i64>>,
    failed: bool,
}

impl Ledger {
    /// Notes what the destination stores for `key` (`None`: nothing), as read back.
    pub fn read(&mut self, key: &PositionKey, stored: Option<i64>) {
        self.seen.insert(key.as_str().to_string(), stored);
    }

    /// Notes a batch's positions as stored: committed by this sink, or found landed. Only
    /// guarded keys (read back before, because the source claimed them) are noted: a key the
    /// source never claimed is shared with other processes and never guarded.
    pub fn committed(&mut self, positions: &[Position]) {
        for p in positions {
            if let Some(v) = self.seen.get_mut(p.key.as_str()) {
                *v = Some(p.next);
            }
        }
    }

    /// Whether `key` is guarded: read back because the source claimed it. A sink need not
    /// store an unguarded (shared) key with its data.
    pub fn guards(&self, key: &PositionKey) -> bool {
        self.seen.contains_key(key.as_str())
    }

    /// Notes that a commit reported a failure after it may have reached the destination.
    pub fn failed(&mut self) {
        self.failed = true;
    }

    /// Whether this commit retries one that reported a failure; asking clears it, so call it
    /// once per commit attempt.
    pub fn take_retry(&mut self) -> bool {
        std::mem::take(&mut self.failed)
    }

    /// [`decide`] with what this ledger has seen.
    pub fn decide(
        &self,
        positions: &[Position],
        stored: &[(PositionKey, Option<i64>)],
        retry: bool,
    ) -> Decision {
        decide(positions, stored, &self.seen, retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(v: &[(&str, Option<i64>)]) -> Vec<(PositionKey, Option<i64>)> {
        v.iter().map(|(k, v)| (PositionKey::new(*k), *v)).collect()
    }

    fn seen(v: &[(&str, Option<i64>)]) -> HashMap<String, Option<i64>> {
        v.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_table_where_this_sink_left_it_is_written() {
        let p = [Position::new("orders/0", 200)];
        let d = decide(
            &p,
            &stored(&[("orders/0", Some(100))]),
            &seen(&[("orders/0", Some(100))]),
            false,
        );
        assert_eq!(d, Decision::Write);
        // A key this sink never stored and nobody else did either.
        let d = decide(
            &p,
            &stored(&[("orders/0", None)]),
            &seen(&[("orders/0", None)]),
            false,
        );
        assert_eq!(d, Decision::Write);
        // A key this sink has not read yet (assigned mid-run) is not a conflict.
        let d = decide(&p, &stored(&[("orders/0", Some(100))]), &seen(&[]), false);
        assert_eq!(d, Decision::Write);
    }

    #[test]
    fn a_key_another_writer_moved_drops_the_batch_naming_both_versions() {
        let p = [
            Position::new("orders/0", 200),
            Position::new("orders/1", 50),
        ];
        let d = decide(
            &p,
            &stored(&[("orders/0", Some(120)), ("orders/1", Some(10))]),
            &seen(&[("orders/0", Some(100)), ("orders/1", Some(10))]),
            false,
        );
        assert_eq!(
            d,
            Decision::Moved(vec![
                "orders/0 (this process last saw 100, the table has 120)".into()
            ])
        );
        // Moved from nothing: another writer created the key.
        let d = decide(
            &p[..1],
            &stored(&[("orders/0", Some(5))]),
            &seen(&[("orders/0", None)]),
            false,
        );
        assert!(matches!(d, Decision::Moved(m) if m[0].contains("last saw none")));
    }

    #[test]
    fn a_retry_whose_attempt_landed_is_not_written_twice() {
        let p = [Position::new("orders/0", 200)];
        let table = stored(&[("orders/0", Some(200))]);
        let last = seen(&[("orders/0", Some(100))]);
        assert_eq!(decide(&p, &table, &last, true), Decision::Landed);
        // The same table state on a first attempt is another writer's doing.
        assert!(matches!(
            decide(&p, &table, &last, false),
            Decision::Moved(_)
        ));
        // A retry whose attempt did not land is written.
        let behind = stored(&[("orders/0", Some(100))]);
        assert_eq!(decide(&p, &behind, &last, true), Decision::Write);
        // A batch without positions never counts as landed.
        assert_eq!(decide(&[], &[], &last, true), Decision::Write);
    }

    #[test]
    fn a_shared_key_is_never_guarded_nor_trusted_as_landed() {
        // A NATS durable's stream: several processes commit it, none reads it back.
        let mut ledger = Ledger::default();
        let mine = [Position::new("EVENTS", 200)];
        assert_eq!(
            ledger.decide(&mine, &stored(&[("EVENTS", None)]), false),
            Decision::Write
        );
        ledger.committed(&mine);
        // Another process committed past it: no conflict.
        let next = [Position::new("EVENTS", 260)];
        let table = stored(&[("EVENTS", Some(300))]);
        assert_eq!(ledger.decide(&next, &table, false), Decision::Write);
        // A retry finds the table ahead, but that may be the other process: write again.
        ledger.failed();
        let retry = ledger.take_retry();
        assert_eq!(ledger.decide(&next, &table, retry), Decision::Write);
        assert!(!ledger.guards(&PositionKey::new("EVENTS")));
        ledger.read(&PositionKey::new("orders/0"), None);
        assert!(ledger.guards(&PositionKey::new("orders/0")));
    }
}
