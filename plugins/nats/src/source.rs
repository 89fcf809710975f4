//! The NATS JetStream source: an async-nats client on a small runtime of its own, driven by
//! the host's blocking calls.
//!
//! Acks (durable mode) are sent at [`Source::commit`]: every poll's messages wait in a FIFO
//! with the position that poll reported; a commit of position P acks the polls up to the one
//! that reported P. Waiting polls report increasing positions (a poll of redeliveries alone
//! reports one past the poll before it), and batches commit in order, so no message is acked
//! before the sink holds it, and every message is acked once it does.

use crate::config::{Auth, NatsConfig};
use crate::envelope::{EnvelopeBuilder, Row};
use crate::progress::Progress;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, Context as JetStream};
use async_nats::{Client, ConnectErrorKind, Subject};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::runtime::Runtime;
use weir_sdk::{Context, Error, Poll, Position, PositionKey, Source, SourceConfig};

/// A pull, sorted (see `NatsSource::take`).
struct Taken {
    rows: EnvelopeBuilder,
    /// Replies of the rows, acked once the sink has committed them (durable consumers).
    replies: Vec<Subject>,
    /// Messages past the end seen at open.
    beyond: Vec<Subject>,
    /// Redeliveries of messages the sink already holds.
    again: Vec<Subject>,
    /// Stream sequences of the rows (durable consumers).
    sequences: Vec<u64>,
    /// The end seen at open is reached.
    caught_up: bool,
    /// Messages the server still holds for this consumer after the last one.
    pending: u64,
}

/// The messages of one poll, waiting for their batch's commit.
struct Unacked {
    position: i64,
    replies: Vec<Subject>,
    /// The stream sequences of `replies`.
    sequences: Vec<u64>,
}

struct Connection {
    client: Client,
    js: JetStream,
}

pub(crate) struct NatsSource {
    cfg: NatsConfig,
    rt: Runtime,
    conn: Option<Connection>,
    consumer: Option<PullConsumer>,
    /// Ephemeral mode: where the next consumer starts.
    start_from: u64,
    /// `run_in_loop: false`: the stream's last sequence at open.
    end_seq: Option<u64>,
    ended: bool,
    /// The highest stream sequence delivered so far, plus one.
    next: i64,
    unacked: VecDeque<Unacked>,
    /// Sequences of a durable's messages whose batch the sink committed, newest last (at
    /// most `max_ack_pending`). Their ack may not have reached the server (it was down, say):
    /// if the server redelivers one, it is acked again and not emitted a second time.
    committed: VecDeque<u64>,
    /// The stream's first sequence at open: what its limits have not removed yet.
    first_seq: u64,
    /// Durable mode: keeps the `unacked` messages from being redelivered elsewhere.
    progress: Option<Progress>,
}

impl NatsSource {
    pub(crate) fn create(config: SourceConfig, _ctx: Context) -> Result<Box<dyn Source>, Error> {
        let cfg = NatsConfig::from_source(&config)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weir-nats")
            .enable_all()
            .build()
            .map_err(|e| Error::fatal(format!("cannot start the NATS client's runtime: {e}")))?;
        Ok(Box::new(Self {
            start_from: cfg.start_sequence,
            cfg,
            rt,
            conn: None,
            consumer: None,
            progress: None,
            end_seq: None,
            ended: false,
            next: 0,
            unacked: VecDeque::new(),
            committed: VecDeque::new(),
            first_seq: 0,
        }))
    }

    fn key(&self) -> PositionKey {
        PositionKey::new(self.cfg.stream.as_str())
    }

    async fn connect(cfg: &NatsConfig) -> Result<Client, Error> {
        let mut opts = async_nats::ConnectOptions::new()
            .name("weir")
            .connection_timeout(Duration::from_secs(5));
        opts = match &cfg.auth {
            Auth::None => opts,
            Auth::UserPassword(u, p) => opts.user_and_password(u.clone(), p.expose().to_string()),
            Auth::Token(t) => opts.token(t.expose().to_string()),
            Auth::NKey(seed) => opts.nkey(seed.expose().to_string()),
            Auth::Creds(file) => opts.credentials_file(file).await.map_err(|e| {
                Error::config(format!(
                    "spec.source.options.creds_file {}: not a .creds file ({e})",
                    file.display()
                ))
            })?,
        };
        if cfg.tls.required {
            // rustls needs a process-wide crypto provider when more than one is compiled in
            // (this library's copy of rustls; other plugins have their own). Any TLS file
            // makes TLS required (config.rs).
            let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
            opts = opts.require_tls(true);
        }
        if let Some(ca) = &cfg.tls.ca {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &cfg.tls.client {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        opts.connect(cfg.server.as_str()).await.map_err(|e| match e.kind() {
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => Error::config(format!(
                "{} refused the login ({e}): check the credentials in spec.source.address (user:password@, token, nkeys_seed or creds_file)",
                cfg.server
            )),
            // rustls's verdict on the server's certificate arrives as an IO error.
            kind if kind == ConnectErrorKind::Tls
                || e.to_string().contains("invalid peer certificate") =>
            {
                Error::config(format!(
                "TLS with {} failed ({e}): check tls_ca (the CA that signed the server's certificate), and tls_cert and tls_key when the server verifies clients",
                cfg.server
            ))
            }
            ConnectErrorKind::ServerParse => Error::config(format!("spec.source.address: cannot parse the server {}: {e}", cfg.server)),
            _ => Error::connection(format!("cannot connect to {}: {e}", cfg.server)),
        })
    }

    fn consumer_config(&self) -> pull::Config {
        let start = self.start_from.max(1);
        let deliver_policy = if start > 1 {
            DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        } else {
            DeliverPolicy::All
        };
        match &self.cfg.durable {
            Some(name) => pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: self.cfg.subject.clone(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.cfg.ack_wait,
                max_ack_pending: self.cfg.max_ack_pending,
                deliver_policy,
                ..Default::default()
            },
            None => pull::Config {
                filter_subject: self.cfg.subject.clone(),
                ack_policy: AckPolicy::None,
                deliver_policy,
                inactive_threshold: Duration::from_secs(300),
                ..Default::default()
            },
        }
    }

    /// Binds or creates the consumer (lazily, so a seek before the first poll is honoured).
    fn consumer(&mut self) -> Result<PullConsumer, Error> {
        if let Some(c) = &self.consumer {
            return Ok(c.clone());
        }
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| Error::fatal("poll before open"))?;
        let config = self.consumer_config();
        let stream_name = self.cfg.stream.clone();
        let subject = self.cfg.subject.clone();
        let durable_name = self.cfg.durable.clone();
        let js = conn.js.clone();
        let consumer = self.rt.block_on(async move {
            let stream = js
                .get_stream(&stream_name)
                .await
                .map_err(|e| Error::connection(format!("stream `{stream_name}`: {e}")))?;
            let consumer: PullConsumer = match &durable_name {
                Some(name) => stream.get_or_create_consumer(name, config).await,
                None => stream.create_consumer(config).await,
            }
            .map_err(|e| Error::config(format!(
                "cannot bind or create the consumer on stream `{stream_name}` (filter `{subject}`): {e}"
            )))?;
            Ok::<_, Error>(consumer)
        })?;
        if self.cfg.durable.is_some() {
            let filter = consumer.cached_info().config.filter_subject.clone();
            if filter != self.cfg.subject {
                return Err(Error::config(format!(
                    "spec.source.address: durable `{}` exists with filter subject `{filter}`, not `{}`; use another durable name or delete it",
                    self.cfg.durable.as_deref().unwrap_or_default(),
                    self.cfg.subject
                )));
            }
        }
        if self.cfg.durable.is_some() && self.progress.is_none() {
            let ack_wait = consumer.cached_info().config.ack_wait; // a durable keeps its own
            if ack_wait != self.cfg.ack_wait {
                weir_sdk::tracing::info!(?ack_wait, "the durable keeps its ack_wait");
            }
            self.progress = Some(Progress::start(&self.rt, conn.client.clone(), ack_wait));
        }
        self.consumer = Some(consumer.clone());
        Ok(consumer)
    }

    /// The client reconnects by itself and a pull meanwhile just returns nothing: say so, so
    /// the host retries with backoff and reports not ready while the server is away.
    fn check_connected(&self) -> Result<(), Error> {
        if let Some(conn) = &self.conn {
            let state = conn.client.connection_state();
            if state != async_nats::connection::State::Connected {
                return Err(Error::connection(format!(
                    "not connected to the NATS server {} ({state}); the client reconnects by itself",
                    self.cfg.server
                )));
            }
        }
        Ok(())
    }

    /// One pull of up to `want` messages, waiting at most `timeout` (at least 50 ms); an
    /// error after the first message ends the pull with what came.
    fn fetch(
        &self,
        consumer: &mut PullConsumer,
        want: usize,
        timeout: Duration,
    ) -> Result<Vec<jetstream::Message>, Error> {
        let expires = timeout.max(Duration::from_millis(50));
        self.rt.block_on(async {
            let mut batch = consumer
                .batch()
                .max_messages(want)
                .expires(expires)
                .messages()
                .await
                .map_err(|e| Error::connection(format!("pull from `{}`: {e}", self.cfg.stream)))?;
            let mut out = Vec::with_capacity(want);
            while let Some(m) = batch.next().await {
                match m {
                    Ok(m) => out.push(m),
                    Err(e) if out.is_empty() => {
                        return Err(Error::connection(format!(
                            "pull from `{}`: {e}",
                            self.cfg.stream
                        )))
                    }
                    Err(_) => break,
                }
            }
            Ok(out)
        })
    }

    /// Sorts a pull: rows for the batch, messages past the end seen at open (to NAK), and
    /// redeliveries of messages the sink already holds (to ack again).
    fn take(&mut self, fetched: &[jetstream::Message]) -> Result<Taken, Error> {
        let mut t = Taken {
            rows: EnvelopeBuilder::with_capacity(fetched.len()),
            replies: Vec::with_capacity(fetched.len()),
            beyond: Vec::new(),
            again: Vec::new(),
            sequences: Vec::new(),
            caught_up: false,
            pending: 0,
        };
        for m in fetched {
            let info = m
                .info()
                .map_err(|e| Error::fatal(format!("a message without JetStream metadata: {e}")))?;
            let seq = info.stream_sequence;
            t.pending = info.pending;
            if let Some(end) = self.end_seq {
                if seq > end {
                    // Past the end seen at open: leave it for the next run.
                    t.beyond.extend(m.reply.clone());
                    t.caught_up = true;
                    continue;
                }
                if seq >= end || info.pending == 0 {
                    t.caught_up = true;
                }
            }
            if info.delivered > 1 && self.committed.contains(&seq) {
                // A redelivery of a message the sink already holds (its ack was lost).
                t.again.extend(m.reply.clone());
                continue;
            }
            t.rows
                .push(Row {
                    value: &m.payload,
                    headers: headers_of(m),
                    subject: m.subject.as_str(),
                    sequence: seq,
                    timestamp_us: (info.published.unix_timestamp_nanos() / 1000) as i64,
                    delivery_count: info.delivered,
                })
                .map_err(|e| Error::fatal(format!("cannot build the batch: {e}")))?;
            self.next = self
                .next
                .max(i64::try_from(seq).unwrap_or(i64::MAX - 1) + 1);
            if self.cfg.durable.is_some() {
                t.replies.extend(m.reply.clone());
                t.sequences.push(seq);
            }
        }
        Ok(t)
    }

    /// Tells the progress keeper which messages this process holds now.
    fn keep(&self) {
        if let Some(p) = &self.progress {
            p.hold(self.unacked.iter().flat_map(|u| u.replies.iter()));
        }
    }

    /// Sends `payload` (`+ACK` or `-NAK`) to each reply subject, then flushes.
    fn reply_all(&self, replies: Vec<Subject>, payload: &'static [u8]) -> Result<(), Error> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        if replies.is_empty() {
            return Ok(());
        }
        let client = conn.client.clone();
        self.rt.block_on(async move {
            for r in replies {
                client
                    .publish(r, payload.into())
                    .await
                    .map_err(|e| Error::connection(format!("cannot ack: {e}")))?;
            }
            client
                .flush()
                .await
                .map_err(|e| Error::connection(format!("cannot flush acks: {e}")))
        })
    }

    /// Acks redelivered messages whose batch the sink already committed.
    fn ack_again(&self, again: Vec<Subject>) -> Result<(), Error> {
        if !again.is_empty() {
            weir_sdk::tracing::debug!(
                count = again.len(),
                "acked again redelivered messages the sink already holds"
            );
        }
        self.reply_all(again, b"+ACK")
    }

    /// Whether nothing matching the filter is left to deliver.
    fn drained(&mut self, consumer: &mut PullConsumer) -> Result<bool, Error> {
        let info = self
            .rt
            .block_on(consumer.info())
            .map_err(|e| Error::connection(format!("consumer info: {e}")))?;
        Ok(info.num_pending == 0)
    }
}

impl Source for NatsSource {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        let cfg = self.cfg.clone();
        let (client, js, last, first) = self.rt.block_on(async move {
            let client = Self::connect(&cfg).await?;
            let js = jetstream::new(client.clone());
            let mut stream = js.get_stream(&cfg.stream).await.map_err(|e| {
                if e.to_string().contains("not found") {
                    Error::config(format!(
                        "spec.source.options.source_table: stream `{}` does not exist on {}",
                        cfg.stream, cfg.server
                    ))
                } else {
                    Error::connection(format!("stream `{}` on {}: {e}", cfg.stream, cfg.server))
                }
            })?;
            let info = stream
                .info()
                .await
                .map_err(|e| Error::connection(format!("stream `{}` info: {e}", cfg.stream)))?;
            Ok::<_, Error>((
                client,
                js,
                info.state.last_sequence,
                info.state.first_sequence,
            ))
        })?;
        self.conn = Some(Connection { client, js });
        self.first_seq = first;
        if !self.cfg.run_in_loop {
            self.end_seq = Some(last);
        }
        weir_sdk::tracing::info!(
            server = %self.cfg.server,
            stream = %self.cfg.stream,
            subject = %self.cfg.subject,
            durable = self.cfg.durable.as_deref(),
            last_sequence = last,
            "nats source open"
        );
        // An ephemeral consumer claims the stream's key (sought, guarded); a durable's progress
        // is its ack floor, shared by every member: not claimed (sdk `Source::open`).
        Ok(if self.cfg.durable.is_some() {
            Vec::new()
        } else {
            vec![self.key()]
        })
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error> {
        if self.ended || self.end_seq == Some(0) {
            self.ended = true;
            return Ok(Poll::end());
        }
        self.check_connected()?;
        let mut consumer = self.consumer()?;
        let fetched = self.fetch(&mut consumer, max_records.clamp(1, 10_000), timeout)?;
        let mut taken = self.take(&fetched)?;
        if !taken.beyond.is_empty() {
            self.reply_all(std::mem::take(&mut taken.beyond), b"-NAK")?;
        }
        self.ack_again(std::mem::take(&mut taken.again))?;
        if fetched.is_empty() && self.end_seq.is_some() && self.drained(&mut consumer)? {
            taken.caught_up = true;
        }
        self.ended = taken.caught_up;
        // Lag: not yet delivered (the server's count after the last message) plus delivered
        // and not yet acked by this instance. An empty fetch means nothing is pending.
        let unacked: usize = self.unacked.iter().map(|u| u.replies.len()).sum::<usize>()
            + if self.cfg.durable.is_some() {
                taken.replies.len()
            } else {
                0
            };
        let lag = if fetched.is_empty() { 0 } else { taken.pending } + unacked as u64;
        let backlog = vec![Position::new(
            self.key(),
            i64::try_from(lag).unwrap_or(i64::MAX),
        )];
        if taken.rows.len() == 0 {
            return Ok(Poll {
                end: self.ended,
                backlog,
                ..Poll::idle()
            });
        }
        let batch = taken
            .rows
            .finish()
            .map_err(|e| Error::fatal(format!("cannot build the batch: {e}")))?;
        let mut position = self.next;
        if self.cfg.durable.is_some() {
            // Each waiting poll has a position of its own, so a commit acks exactly its polls:
            // redeliveries alone report one past the poll before (shown, never sought).
            if let Some(last) = self.unacked.back() {
                position = position.max(last.position + 1);
            }
            self.unacked.push_back(Unacked {
                position,
                replies: taken.replies,
                sequences: taken.sequences,
            });
            self.keep();
        }
        let mut poll = Poll::records(batch, vec![Position::new(self.key(), position)]);
        poll.end = self.ended;
        poll.backlog = backlog;
        Ok(poll)
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        let Some(p) = positions.iter().find(|p| p.key.as_str() == self.cfg.stream) else {
            return Ok(());
        };
        if self.cfg.durable.is_some() {
            // The durable's ack floor is the position; the sink's is not used to skip.
            weir_sdk::tracing::debug!(
                stored = p.next,
                "durable consumer: resuming from its own ack floor"
            );
            return Ok(());
        }
        let next = u64::try_from(p.next.max(1)).unwrap_or(1);
        weir_sdk::tracing::info!(stream = %self.cfg.stream, next, "resuming at the sink's stored position");
        if p.next > 0 && next < self.first_seq {
            weir_sdk::records_skipped(
                &self.cfg.stream,
                self.first_seq - next,
                &format!(
                    "the stream's limits removed sequences {next} to {} before they were read (its first sequence is {}); up to that many, since other subjects share the sequence",
                    self.first_seq - 1,
                    self.first_seq
                ),
            );
        }
        self.start_from = next;
        self.next = p.next;
        if let Some(old) = self.consumer.take() {
            let name = old.cached_info().name.clone();
            if let Some(conn) = &self.conn {
                let js = conn.js.clone();
                let stream = self.cfg.stream.clone();
                let _ = self.rt.block_on(async move {
                    let s = js.get_stream(&stream).await.ok()?;
                    s.delete_consumer(&name).await.ok()
                });
            }
        }
        if let Some(end) = self.end_seq {
            if next > end {
                self.ended = true;
            }
        }
        Ok(())
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        let Some(p) = positions.iter().find(|p| p.key.as_str() == self.cfg.stream) else {
            return Ok(());
        };
        let mut replies = Vec::new();
        while let Some(front) = self.unacked.front() {
            if front.position > p.next {
                break;
            }
            let done = front.position == p.next;
            if let Some(u) = self.unacked.pop_front() {
                replies.extend(u.replies);
                self.committed.extend(u.sequences);
            }
            if done {
                break;
            }
        }
        let keep = usize::try_from(self.cfg.max_ack_pending).unwrap_or(10_000);
        while self.committed.len() > keep {
            self.committed.pop_front();
        }
        self.keep();
        self.reply_all(replies, b"+ACK")
    }

    fn close(&mut self) -> Result<(), Error> {
        // Messages delivered but never committed go back at once, not after ack_wait.
        let pending: Vec<Subject> = self.unacked.drain(..).flat_map(|u| u.replies).collect();
        self.progress = None;
        let nak = self.reply_all(pending, b"-NAK");
        if let (Some(conn), None) = (&self.conn, &self.cfg.durable) {
            if let Some(c) = self.consumer.take() {
                let name = c.cached_info().name.clone();
                let js = conn.js.clone();
                let stream = self.cfg.stream.clone();
                let _ = self.rt.block_on(async move {
                    let s = js.get_stream(&stream).await.ok()?;
                    s.delete_consumer(&name).await.ok()
                });
            }
        }
        if let Some(conn) = self.conn.take() {
            let _ = self.rt.block_on(conn.client.drain());
        }
        nak
    }
}

/// A message's headers as (name, value) pairs for the envelope.
fn headers_of(m: &async_nats::jetstream::Message) -> Vec<(&str, &[u8])> {
    m.headers
        .as_ref()
        .map(|h| {
            h.iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_ref(), v.as_str().as_bytes())))
                .collect()
        })
        .unwrap_or_default()
}
