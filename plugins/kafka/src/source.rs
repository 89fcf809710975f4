//! The Kafka source: an rdkafka `BaseConsumer` in a consumer group, driven by the host's
//! blocking calls (no runtime needed: librdkafka runs its own threads).
//!
//! - Offsets move only in [`Source::commit`] (synchronous group commit), which the host calls
//!   after the sink's commit; auto-commit and auto offset store are off.
//! - Rebalances are served inside `poll`. Revoked partitions are reported (the host drops
//!   their records from the batch being built) and no longer committed; newly assigned ones
//!   are reported too, the poll ends there, and the host seeks them to the sink's stored
//!   positions. The next poll starts them, all in one assignment with explicit offsets
//!   (`start.rs`): the sought position, else the group's committed offset, else `start_from`.
//! - `run_in_loop: false` reads up to the high watermarks seen at open, then ends.
//! - Consumer lag (`Poll::backlog`) comes from librdkafka's statistics: per partition, the high
//!   watermark minus the group's committed offset, as Kafka's own tools show it.

use crate::config::KafkaConfig;
use crate::context::{Change, Changes, WeirContext};
use crate::envelope::{EnvelopeBuilder, Row};
use crate::refusal::{self, News};
use crate::start;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_sdk::tracing::{debug, info, warn};
use weir_sdk::{Context, Error, Poll, Position, PositionKey, Source, SourceConfig};

pub(crate) type Tp = (String, i32);

/// One poll's rows so far and what they advance.
struct Fill {
    poll: Poll,
    /// Each partition's next offset after the rows taken.
    touched: BTreeMap<Tp, i64>,
    rows: EnvelopeBuilder,
    /// Payload bytes taken (for the next poll's capacity guess).
    payload: usize,
    /// The partition of the last record (records come in runs of one partition).
    current: Option<Tp>,
}

/// What the source knows of one assigned partition.
#[derive(Clone, Copy, Debug, Default)]
struct Part {
    /// The next offset to read, once known (a message read, a seek, the committed offset).
    next: Option<i64>,
    /// The host sought it since it was assigned.
    sought: bool,
    /// librdkafka fetches it (assigned at an explicit offset by `start_assigned`).
    started: bool,
}

pub(crate) struct KafkaSource {
    cfg: KafkaConfig,
    changes: Arc<Changes>,
    lag: Arc<Mutex<HashMap<Tp, i64>>>,
    news: Arc<News>,
    consumer: Option<BaseConsumer<WeirContext>>,
    /// Partitions the group gave this member; those not yet `started` wait for the host's
    /// seek and the next poll.
    assigned: BTreeMap<Tp, Part>,
    /// `run_in_loop: false`: each partition's high watermark at open.
    ends: HashMap<Tp, i64>,
    ended: bool,
    last_lag: Option<Instant>,
    backlog: Vec<Position>,
    /// Average payload size seen, to size the builders.
    avg_bytes: usize,
}

fn key_of(tp: &Tp) -> PositionKey {
    PositionKey::new(format!("{}/{}", tp.0, tp.1))
}

/// `topic/partition` back to its parts (topics may contain neither `/` nor spaces).
fn parse_key(key: &PositionKey) -> Option<Tp> {
    let (t, p) = key.as_str().rsplit_once('/')?;
    Some((t.to_string(), p.parse().ok()?))
}

impl KafkaSource {
    pub(crate) fn create(config: SourceConfig, _ctx: Context) -> Result<Box<dyn Source>, Error> {
        let cfg = KafkaConfig::from_source(&config)?;
        Ok(Box::new(Self {
            cfg,
            changes: Arc::default(),
            lag: Arc::default(),
            news: Arc::default(),
            consumer: None,
            assigned: BTreeMap::new(),
            ends: HashMap::new(),
            ended: false,
            last_lag: None,
            backlog: Vec::new(),
            avg_bytes: 256,
        }))
    }

    /// Takes records until `max`, the deadline, or an assignment change: it waits only for
    /// the first record, then takes what librdkafka has already fetched.
    fn fill(
        &mut self,
        consumer: &BaseConsumer<WeirContext>,
        fill: &mut Fill,
        max: usize,
        deadline: Instant,
    ) -> Result<(), Error> {
        while fill.rows.len() < max {
            let wait = if fill.rows.len() == 0 {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            let Some(next) = consumer.poll(wait) else {
                if self.apply_changes(&mut fill.poll, &mut fill.touched) {
                    break;
                }
                if fill.rows.len() > 0 || Instant::now() >= deadline {
                    break;
                }
                continue;
            };
            match next {
                Ok(m) => self.take(&m, fill)?,
                Err(e) => {
                    // librdkafka reconnects by itself; a transport error is news, not a failure.
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
                        return Err(Error::config(self.err("a subscribed topic went away", &e)));
                    }
                    // A broker that stops accepting the login or the certificate mid-run (a
                    // closed connection is news only at open: a restarting TLS front looks
                    // the same).
                    let running = refusal::Setup {
                        client_cert: true,
                        ..self.cfg.setup()
                    };
                    if let Some(r) = refusal::refusal(&self.news.take(), running) {
                        return Err(Error::config(self.cfg.redact(&r.message)));
                    }
                    warn!(error = %self.cfg.redact(&e.to_string()), "kafka consumer error (librdkafka retries by itself)");
                    if fill.rows.len() > 0 {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// One record into the poll's rows, unless its partition is no longer assigned or it lies
    /// past the partition's end (`run_in_loop: false`).
    fn take(&mut self, m: &BorrowedMessage<'_>, fill: &mut Fill) -> Result<(), Error> {
        // Messages come in runs of one partition: its key is made once per run.
        if !fill
            .current
            .as_ref()
            .is_some_and(|(t, p)| t == m.topic() && *p == m.partition())
        {
            fill.current = Some((m.topic().to_string(), m.partition()));
        }
        let Some(tp) = fill.current.as_ref() else {
            return Ok(());
        };
        let Some(part) = self.assigned.get_mut(tp) else {
            // A record of a partition taken away before we saw it.
            return Ok(());
        };
        if self.ends.get(tp).is_some_and(|end| m.offset() >= *end) {
            return Ok(());
        }
        let value = m.payload();
        fill.payload += value.map_or(0, <[u8]>::len);
        fill.rows
            .push(
                Row {
                    key: m.key(),
                    value,
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp_ms: m.timestamp().to_millis(),
                },
                m.headers()
                    .into_iter()
                    .flat_map(|h| h.iter().map(|h| (h.key, h.value))),
            )
            .map_err(|e| Error::fatal(format!("cannot build the batch: {e}")))?;
        part.next = Some(m.offset() + 1);
        fill.touched.insert(tp.clone(), m.offset() + 1);
        Ok(())
    }

    /// Where to resume a partition whose stored position is `p`: `p` itself, or the
    /// partition's first offset when retention removed records after `p` before they were
    /// read; those are reported as skipped (a WARN and `weir_records_skipped_total`).
    fn after_retention_gap(&self, tp: &Tp, p: &Position) -> i64 {
        let Ok(consumer) = self.consumer() else {
            return p.next;
        };
        match consumer.fetch_watermarks(&tp.0, tp.1, self.cfg.call_timeout()) {
            Ok((low, _)) if low > p.next => {
                weir_sdk::records_skipped(
                    p.key.as_str(),
                    u64::try_from(low - p.next).unwrap_or(0),
                    &format!(
                        "the topic's retention removed offsets {} to {} before they were read (the partition now starts at {low})",
                        p.next,
                        low - 1
                    ),
                );
                low
            }
            Ok(_) => p.next,
            Err(e) => {
                debug!(position = %p, error = %e, "cannot read the partition's first offset");
                p.next
            }
        }
    }

    fn consumer(&self) -> Result<&BaseConsumer<WeirContext>, Error> {
        self.consumer
            .as_ref()
            .ok_or_else(|| Error::fatal("kafka source polled before open"))
    }

    fn err(&self, what: &str, e: &KafkaError) -> String {
        self.cfg.redact(&format!(
            "{what} ({} at {}): {e}",
            self.cfg.group_id, self.cfg.brokers
        ))
    }

    /// Starts the assigned partitions not yet fetching, in one assignment with explicit
    /// offsets: where the host sought them, else the group's committed offset, else
    /// `start_from`. On an error nothing starts, and the next poll tries again.
    fn start_assigned(&mut self) -> Result<(), Error> {
        let pending: Vec<Tp> = self
            .assigned
            .iter()
            .filter(|(_, p)| !p.started)
            .map(|(tp, _)| tp.clone())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let todo: Vec<Tp> = pending
            .iter()
            .filter(|tp| self.assigned.get(*tp).is_some_and(|p| !p.sought))
            .cloned()
            .collect();
        let found = start::unsought(self.consumer()?, &self.cfg, &todo)
            .map_err(|(what, e)| Error::retriable(self.err(what, &e)))?;
        for (tp, n) in found {
            if let Some(p) = self.assigned.get_mut(&tp) {
                p.next.get_or_insert(n);
            }
        }
        let mut starting = Vec::new();
        let mut running = Vec::new();
        for (tp, p) in &self.assigned {
            match (p.started, p.next) {
                (false, Some(n)) => starting.push((tp.clone(), n)),
                (true, Some(n)) => running.push((tp.clone(), n)),
                (false, None) => {
                    return Err(Error::retriable(format!(
                        "no start offset found for {}/{} ({} at {}); retrying",
                        tp.0, tp.1, self.cfg.group_id, self.cfg.brokers
                    )))
                }
                (true, None) => {}
            }
        }
        start::assign(self.consumer()?, &starting, &running)
            .map_err(|e| Error::retriable(self.err("cannot start the assigned partitions", &e)))?;
        for (tp, n) in &starting {
            let from = if self.assigned.get(tp).is_some_and(|p| p.sought) {
                "the sink's stored position"
            } else {
                "the group's offset or start_from"
            };
            info!(topic = %tp.0, partition = tp.1, offset = n, from, "partition started");
            if let Some(p) = self.assigned.get_mut(tp) {
                p.started = true;
            }
        }
        Ok(())
    }

    /// `run_in_loop: false`: whether every assigned partition has reached its end.
    fn drained(&self) -> bool {
        if self.cfg.run_in_loop
            || self.assigned.is_empty()
            || self.assigned.values().any(|p| !p.started)
        {
            return false;
        }
        let position = self.consumer.as_ref().and_then(|c| c.position().ok());
        self.assigned.iter().all(|(tp, part)| {
            let end = self.ends.get(tp).copied().unwrap_or(0);
            let read = part.next.unwrap_or(-1);
            let fetched = position
                .as_ref()
                .and_then(|l| l.find_partition(&tp.0, tp.1))
                .and_then(|e| match e.offset() {
                    Offset::Offset(n) => Some(n),
                    _ => None,
                })
                .unwrap_or(-1);
            read.max(fetched) >= end
        })
    }

    /// Consumer lag per assigned partition, from the latest statistics, read at most once a
    /// second.
    fn refresh_backlog(&mut self) {
        if self
            .last_lag
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_lag = Some(Instant::now());
        let Ok(lag) = self.lag.lock() else { return };
        self.backlog = self
            .assigned
            .keys()
            .filter_map(|tp| lag.get(tp).map(|n| Position::new(key_of(tp), *n)))
            .collect();
    }

    /// Applies recorded rebalance changes to the poll being built; whether any happened.
    fn apply_changes(&mut self, poll: &mut Poll, touched: &mut BTreeMap<Tp, i64>) -> bool {
        let changes = self.changes.take();
        let any = !changes.is_empty();
        for c in changes {
            match c {
                Change::Revoked(list) => {
                    for tp in list {
                        info!(topic = %tp.0, partition = tp.1, "partition revoked: its records not yet committed are dropped");
                        self.assigned.remove(&tp);
                        touched.remove(&tp);
                        poll.revoked.push(key_of(&tp));
                    }
                }
                Change::Assigned(list) => {
                    for tp in list {
                        info!(topic = %tp.0, partition = tp.1, "partition assigned");
                        self.assigned.insert(tp.clone(), Part::default());
                        poll.assigned.push(key_of(&tp));
                    }
                }
            }
        }
        any
    }
}

impl Source for KafkaSource {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        let mut client = ClientConfig::new();
        for (k, v) in &self.cfg.properties {
            client.set(k, v);
        }
        // librdkafka reports a closed connection as an Info `FAIL` line, which tells a broker
        // requiring a client certificate (`refusal.rs`); `context.rs` keeps Info at DEBUG.
        client.set_log_level(rdkafka::config::RDKafkaLogLevel::Info);
        let consumer: BaseConsumer<WeirContext> = client
            .create_with_context(WeirContext {
                changes: self.changes.clone(),
                lag: self.lag.clone(),
                news: self.news.clone(),
                setup: self.cfg.setup(),
                refused: Default::default(),
            })
            .map_err(|e| {
                Error::config(self.err(
                    "spec.source.address: librdkafka refused the configuration",
                    &e,
                ))
            })?;
        let metadata = consumer
            .fetch_metadata(None, self.cfg.call_timeout())
            .map_err(|e| refusal::open_failed(&consumer, &self.news, &self.cfg, &e))?;
        let mut missing = Vec::new();
        let mut parts = Vec::new();
        for t in &self.cfg.topics {
            match metadata.topics().iter().find(|m| m.name() == t) {
                Some(m) if m.error().is_none() && !m.partitions().is_empty() => {
                    parts.extend(m.partitions().iter().map(|p| (t.clone(), p.id())));
                }
                _ => missing.push(t.clone()),
            }
        }
        if !missing.is_empty() {
            let mut known: Vec<&str> = metadata
                .topics()
                .iter()
                .map(|m| m.name())
                .filter(|n| !n.starts_with("__"))
                .collect();
            known.sort_unstable();
            return Err(Error::config(format!(
                "spec.source.options.source_table: topic `{}` does not exist on {} (topics there: {}); create it or fix the name",
                missing.join("`, `"),
                self.cfg.brokers,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        if !self.cfg.run_in_loop {
            for tp in &parts {
                let (_, high) = consumer
                    .fetch_watermarks(&tp.0, tp.1, self.cfg.call_timeout())
                    .map_err(|e| {
                        Error::connection(self.err("cannot read the high watermarks", &e))
                    })?;
                self.ends.insert(tp.clone(), high);
            }
        }
        let topics: Vec<&str> = self.cfg.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| Error::config(self.err("cannot subscribe", &e)))?;
        info!(
            brokers = %self.cfg.brokers,
            group = %self.cfg.group_id,
            topics = %self.cfg.topics.join(","),
            partitions = parts.len(),
            run_in_loop = self.cfg.run_in_loop,
            "kafka source open"
        );
        refusal::forget(&self.news, &consumer);
        self.consumer = Some(consumer);
        Ok(Vec::new())
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error> {
        self.start_assigned()?;
        if self.ended || self.drained() {
            self.ended = true;
            return Ok(Poll::end());
        }
        let max = max_records.max(1);
        let mut fill = Fill {
            poll: Poll::idle(),
            touched: BTreeMap::new(),
            rows: EnvelopeBuilder::with_capacity(max.min(100_000), self.avg_bytes),
            payload: 0,
            current: None,
        };
        let consumer = self
            .consumer
            .take()
            .ok_or_else(|| Error::fatal("kafka source polled before open"))?;
        let result = self.fill(&consumer, &mut fill, max, Instant::now() + timeout);
        if self.apply_changes(&mut fill.poll, &mut fill.touched) {
            debug!("assignment changed during a poll");
        }
        // Records of partitions revoked in this poll are dropped by the host.
        let n = fill.rows.len();
        if let Some(avg) = fill.payload.checked_div(n) {
            self.avg_bytes = avg.clamp(16, 1 << 20);
        }
        self.consumer = Some(consumer);
        result?;
        let Fill {
            mut poll,
            touched,
            rows,
            ..
        } = fill;
        if self.cfg.run_in_loop {
            self.refresh_backlog();
            poll.backlog = self.backlog.clone();
        }
        if n > 0 {
            let batch = rows
                .finish()
                .map_err(|e| Error::fatal(format!("cannot build the batch: {e}")))?;
            poll.batch = Some(batch);
            poll.positions = touched
                .iter()
                .map(|(tp, n)| Position::new(key_of(tp), *n))
                .collect();
        }
        Ok(poll)
    }

    /// Sets where newly assigned partitions start (the next poll starts them there); a
    /// partition already fetching is sought at once.
    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        let timeout = self.cfg.call_timeout();
        let mut sought = Vec::new();
        for p in positions {
            let Some(tp) = parse_key(&p.key) else {
                continue;
            };
            let Some(started) = self.assigned.get(&tp).map(|part| part.started) else {
                continue;
            };
            // Past a retention gap the partition starts later: start there, whatever
            // `auto.offset.reset` would do with an offset out of range.
            let next = self.after_retention_gap(&tp, p);
            if started {
                self.consumer()?
                    .seek(&tp.0, tp.1, Offset::Offset(next), timeout)
                    .map_err(|e| {
                        Error::retriable(self.err(
                            &format!(
                                "cannot seek {} to the sink's stored position {}",
                                p.key, p.next
                            ),
                            &e,
                        ))
                    })?;
            }
            info!(position = %p, "resuming at the sink's stored position");
            if let Some(part) = self.assigned.get_mut(&tp) {
                part.next = Some(next);
                part.sought = true;
            }
            sought.push(Position::new(p.key.clone(), next));
        }
        // The sink holds everything before these positions: the group's offsets go there too,
        // or a member killed between its sink commit and its offset commit would leave the
        // group behind the sink until new records arrive on those partitions.
        self.commit(&sought)
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::new();
        for p in positions {
            let Some(tp) = parse_key(&p.key) else {
                continue;
            };
            if !self.assigned.contains_key(&tp) {
                // Revoked since: its new owner resumes from the sink or the group's offset.
                debug!(position = %p, "not committing a partition no longer assigned");
                continue;
            }
            tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(p.next))
                .map_err(|e| Error::fatal(format!("bad position {p}: {e}")))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        match self.consumer()?.commit(&tpl, CommitMode::Sync) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::RebalanceInProgress
                            | RDKafkaErrorCode::IllegalGeneration
                            | RDKafkaErrorCode::UnknownMemberId
                    )
                ) =>
            {
                // The group is rebalancing: these partitions are being handed over, and the
                // next owner starts from the last committed offset (at-least-once) or the
                // sink's stored position (exactly-once).
                warn!(error = %e, "offset commit refused during a rebalance; the partitions' next owner re-reads from the last committed offset");
                Ok(())
            }
            Err(e) => Err(Error::retriable(self.err("offset commit failed", &e))),
        }
    }

    fn close(&mut self) -> Result<(), Error> {
        if let Some(c) = self.consumer.take() {
            c.unsubscribe();
            // Dropping the consumer leaves the group and waits for librdkafka to close.
            drop(c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let tp = ("orders.v1".to_string(), 3);
        assert_eq!(key_of(&tp).as_str(), "orders.v1/3");
        assert_eq!(parse_key(&key_of(&tp)), Some(tp));
        assert_eq!(parse_key(&PositionKey::new("nope")), None);
    }
}
