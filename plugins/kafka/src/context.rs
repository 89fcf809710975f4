//! The consumer's context: what librdkafka's callbacks (served inside `poll`, on the host's
//! thread) leave for the source. Rebalances record the partitions assigned and revoked; a
//! revocation is carried out at once, an assignment is not: the source starts the new
//! partitions itself at explicit offsets once the host has said where they resume
//! (`start.rs`; librdkafka allows `assign` after the callback, within the session timeout).
//! Statistics keep each partition's consumer lag.

use crate::source::Tp;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use weir_sdk::tracing::{debug, warn};

/// An assignment change seen in a rebalance callback.
pub(crate) enum Change {
    Assigned(Vec<Tp>),
    Revoked(Vec<Tp>),
}

/// Rebalance callbacks run inside `poll` on the host's thread; they only record what changed.
#[derive(Default)]
pub(crate) struct Changes {
    any: AtomicBool,
    list: Mutex<Vec<Change>>,
}

impl Changes {
    pub(crate) fn push(&self, c: Change) {
        if let Ok(mut l) = self.list.lock() {
            l.push(c);
        }
        self.any.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take(&self) -> Vec<Change> {
        if !self.any.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        self.list
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

pub(crate) struct WeirContext {
    pub(crate) changes: Arc<Changes>,
    /// Consumer lag per partition from librdkafka's statistics (no broker round trip).
    pub(crate) lag: Arc<Mutex<HashMap<Tp, i64>>>,
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

// librdkafka's own log lines go through rdkafka's `tracing` events (target `librdkafka`),
// which the sdk forwards to the host's log.
impl ClientContext for WeirContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, served inside `poll`): keeps
    /// each partition's `consumer_lag`, the high watermark minus the committed offset.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Ok(mut lag) = self.lag.lock() else { return };
        for (topic, t) in &statistics.topics {
            for (id, p) in &t.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    lag.insert((topic.clone(), *id), p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for WeirContext {
    /// Replaces rdkafka's default, which assigns at once with logical offsets.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.changes.push(Change::Assigned(partitions(tpl)));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.changes.push(Change::Revoked(partitions(tpl)));
                unassign(consumer, tpl, cooperative);
            }
            _ => {
                warn!(error = %RDKafkaErrorCode::from(err), "kafka rebalance failed");
                unassign(consumer, tpl, cooperative);
            }
        }
    }
}

/// Gives up `tpl` (cooperative) or the whole assignment (eager), as rdkafka's default does.
fn unassign(consumer: &BaseConsumer<WeirContext>, tpl: &TopicPartitionList, cooperative: bool) {
    let done = if cooperative {
        consumer.incremental_unassign(tpl)
    } else {
        consumer.unassign()
    };
    if let Err(e) = done {
        // Partitions revoked before the source started them were never assigned.
        debug!(error = %e, "unassign after a revocation");
    }
}
