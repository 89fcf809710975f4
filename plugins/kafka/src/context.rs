//! The consumer's context: what librdkafka's callbacks (served inside `poll`, on the host's
//! thread) leave for the source. Rebalances record the partitions assigned and revoked; a
//! revocation is carried out at once, an assignment is not: the source starts the new
//! partitions itself at explicit offsets once the host has said where they resume
//! (`start.rs`; librdkafka allows `assign` after the callback, within the session timeout).
//! Statistics keep each partition's consumer lag. Broker failures (the error callback and
//! librdkafka's `FAIL` log lines) are kept for the source to tell a refusal from an outage
//! (`refusal.rs`); the lines of a refusal go to DEBUG, as the source reports it once.

use crate::refusal::{self, News, Setup};
use crate::source::Tp;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use weir_sdk::tracing::{debug, error, warn};

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
    /// librdkafka's latest broker failures.
    pub(crate) news: Arc<News>,
    /// The client's TLS set-up, to read those failures.
    pub(crate) setup: Setup,
    /// A refusal was seen: the "all brokers down" that follows it is no news.
    pub(crate) refused: AtomicBool,
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
    /// rdkafka's default mapping of librdkafka's levels, but a `FAIL` line is kept for
    /// `refusal.rs`, one that is a refusal goes to DEBUG, and so do OpenSSL's own lines and
    /// librdkafka's Info and Notice lines.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        if fac == "SSL" {
            // OpenSSL's error queue, dumped line by line before the `FAIL` line that sums the
            // handshake's failure up (and is reported as a refusal or an error).
            debug!(target: "librdkafka", "librdkafka: {fac} {line}");
            return;
        }
        if fac == "FAIL" {
            self.news.push(line);
            if refusal::is_refusal(line, self.setup) {
                self.refused.store(true, Ordering::Relaxed);
                debug!(target: "librdkafka", "librdkafka: {fac} {line}");
                return;
            }
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => error!(target: "librdkafka", "librdkafka: {fac} {line}"),
            RDKafkaLogLevel::Warning => warn!(target: "librdkafka", "librdkafka: {fac} {line}"),
            // Asked for (`source.rs` sets level Info) for the `FAIL` lines above; the rest
            // of librdkafka's Info chatter is DEBUG here.
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                debug!(target: "librdkafka", "librdkafka: {fac} {line}")
            }
            RDKafkaLogLevel::Debug => debug!(target: "librdkafka", "librdkafka: {fac} {line}"),
        }
    }

    /// librdkafka's global errors: kept for `refusal.rs`; a refusal goes to DEBUG, the rest
    /// to ERROR as rdkafka's default has it.
    fn error(&self, e: KafkaError, reason: &str) {
        self.news.push(reason);
        let refused = refusal::is_refusal(reason, self.setup);
        if refused {
            self.refused.store(true, Ordering::Relaxed);
        }
        let down = e.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        if refused || (down && self.refused.load(Ordering::Relaxed)) {
            // Its cause is the refusal, which the source reports.
            debug!("librdkafka: {e}: {reason}");
        } else if down {
            // The source's retry (or its error, on a refusal) says the same.
            warn!("librdkafka: {e}: {reason}");
        } else {
            error!("librdkafka: {e}: {reason}");
        }
    }

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
