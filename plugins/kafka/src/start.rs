//! Where newly assigned partitions start, and the one call that starts them.
//!
//! The rebalance callback does not assign (see `context.rs`): a partition starts only here, in
//! one `assign` (or `incremental_assign`) with an explicit offset for each partition: the
//! sink's stored position the host sought, else the group's committed offset, else
//! `start_from`. librdkafka is never given a logical offset to look up while a seek is on its
//! way, so its own lookup can never win that race and restart a partition at
//! `auto.offset.reset` (librdkafka issue 2256: a seek right after an assignment was seen
//! overridden, and every record of the partition read again).

use crate::config::{KafkaConfig, StartFrom};
use crate::context::WeirContext;
use crate::source::Tp;
use rdkafka::consumer::{BaseConsumer, Consumer, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

/// Where each of `todo` (partitions the host did not seek) starts: the group's committed
/// offset, else `start_from` (the first offset, the end, or the first offset at a time).
/// Errors name the broker call that failed.
pub(crate) fn unsought(
    consumer: &BaseConsumer<WeirContext>,
    cfg: &KafkaConfig,
    todo: &[Tp],
) -> Result<Vec<(Tp, i64)>, (&'static str, rdkafka::error::KafkaError)> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let timeout = cfg.call_timeout();
    let mut tpl = TopicPartitionList::new();
    for (t, p) in todo {
        tpl.add_partition(t, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| ("cannot read the group's committed offsets", e))?;
    let mut by_time = TopicPartitionList::new();
    let mut starts = Vec::new();
    for e in committed.elements() {
        let tp = (e.topic().to_string(), e.partition());
        match (e.offset(), cfg.start_from) {
            (Offset::Offset(n), _) => starts.push((tp, n)),
            (_, StartFrom::Time(ms)) => {
                let _ = by_time.add_partition_offset(&tp.0, tp.1, Offset::Offset(ms));
            }
            (_, from) => {
                let (low, high) = consumer
                    .fetch_watermarks(&tp.0, tp.1, timeout)
                    .map_err(|e| ("cannot read watermarks", e))?;
                let n = if from == StartFrom::Latest { high } else { low };
                starts.push((tp, n));
            }
        }
    }
    if by_time.count() > 0 {
        let found = consumer
            .offsets_for_times(by_time, timeout)
            .map_err(|e| ("cannot look up offsets by time", e))?;
        for e in found.elements() {
            let tp = (e.topic().to_string(), e.partition());
            let n = match e.offset() {
                Offset::Offset(n) => n,
                // No message at or after the time: start at the end.
                _ => consumer
                    .fetch_watermarks(&tp.0, tp.1, timeout)
                    .map(|(_, h)| h)
                    .map_err(|e| ("cannot read watermarks", e))?,
            };
            starts.push((tp, n));
        }
    }
    Ok(starts)
}

/// Starts fetching `starting` at their offsets. `running` are the partitions already
/// fetching, with their next offsets: the eager protocol's `assign` replaces the whole
/// assignment, so they are given again (in practice an eager rebalance revokes everything
/// before it assigns, and `running` is empty); the cooperative protocol adds `starting` alone.
pub(crate) fn assign(
    consumer: &BaseConsumer<WeirContext>,
    starting: &[(Tp, i64)],
    running: &[(Tp, i64)],
) -> KafkaResult<()> {
    let cooperative = matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    let mut tpl = TopicPartitionList::new();
    let all = starting
        .iter()
        .chain(running.iter().filter(|_| !cooperative));
    for ((t, p), n) in all {
        tpl.add_partition_offset(t, *p, Offset::Offset(*n))?;
    }
    if cooperative {
        consumer.incremental_assign(&tpl)
    } else {
        consumer.assign(&tpl)
    }
}
