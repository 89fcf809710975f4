//! The run loop: `poll -> batcher -> write -> commit -> source.commit`, in two threads.
//!
//! The calling thread owns the [`Source`] and the [`Batcher`]; a sink thread owns the
//! [`Sink`]. Closed micro-batches go to the sink thread through a bounded queue (a full
//! queue is backpressure), so the poll of batch n+1 overlaps the write of batch n. The sink
//! thread writes and commits each batch in order and reports back; only then does the
//! calling thread commit the batch's positions to the source, in the same order.
//!
//! A sink failure (after retries) stops the pipeline with the source's positions at the end
//! of the last batch the sink committed: nothing is lost, the next run resumes there.

mod control;
mod rejected;
mod stages;

pub use control::StopSignal;

use crate::batcher::{BatchLimits, Batcher, MicroBatch};
use crate::connector::{ConnectorError, Position, PositionKey, Positions, Sink, Source};
use crate::manifest::Pipeline;
use crate::retry::RetryPolicy;
use crate::transform::{Transform, TransformError};
use stages::{shape_loop, sink_loop, FromSink, SinkCtx, ToSink};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a pipeline runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// The pipeline's name, for logs.
    pub pipeline: String,
    /// When micro-batches close.
    pub limits: BatchLimits,
    /// `false`: stop at the end positions seen at start. `true`: run until stopped.
    pub run_in_loop: bool,
    /// Retries of retriable connector errors.
    pub retry: RetryPolicy,
    /// Closed batches waiting for the sink, at most.
    pub queue: usize,
    /// The longest single poll, so a stop request is seen promptly.
    pub max_poll_wait: Duration,
}

impl RunConfig {
    /// The run configuration of a parsed manifest.
    pub fn from_pipeline(p: &Pipeline) -> Self {
        Self {
            pipeline: p.name.clone(),
            limits: p.limits,
            run_in_loop: p.run_in_loop,
            // A service rides out a broker's maintenance: retries go on (with capped backoff,
            // not ready meanwhile) until the call succeeds or a stop is requested. A drain
            // keeps its bound.
            retry: if p.run_in_loop {
                RetryPolicy {
                    attempts: u32::MAX,
                    ..p.retry
                }
            } else {
                p.retry
            },
            queue: 1,
            max_poll_wait: Duration::from_millis(100),
        }
    }
}

/// What one committed batch looked like, for progress reports.
#[derive(Clone, Debug)]
pub struct BatchReport {
    /// The batch's sequence number.
    pub seq: u64,
    /// Records in it.
    pub records: usize,
    /// Arrow memory of the records as they were read (before decoding).
    pub bytes: usize,
    /// Arrow memory of the records as they were written.
    pub bytes_out: usize,
    /// Time from the start of its write to its commit.
    pub commit_time: Duration,
    /// Rows set aside as dead letters.
    pub dead_letters: usize,
    /// The positions committed.
    pub positions: Positions,
}

/// Hears of pipeline progress. Called from the pipeline's threads; must be quick.
pub trait Observer: Send + Sync {
    /// Source and sink are open and positions are sought: the pipeline is running.
    fn started(&self) {}

    /// A batch is committed to sink and source.
    fn committed(&self, report: &BatchReport) {
        let _ = report;
    }

    /// A poll reported how far behind the broker's end each substream is (`next` = records).
    fn backlog(&self, backlog: &[Position]) {
        let _ = backlog;
    }

    /// A call failed with a retriable error and is retried after a wait.
    fn retrying(&self, call: &str, attempt: u32, error: &ConnectorError) {
        let _ = (call, attempt, error);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Batches committed.
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Arrow bytes committed.
    pub bytes: u64,
    /// Rows that did not decode and went to the dead-letter destination (or the log).
    pub dead_letters: u64,
    /// Where each substream stands in the sink: its stored positions at start, advanced by
    /// every batch the sink committed (even if the source's own commit then failed).
    pub committed: Positions,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether a stop request ended it.
    pub stopped: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The source could not open.
    #[error("source failed to open: {0}")]
    SourceOpen(ConnectorError),
    /// The sink could not open or report its stored positions.
    #[error("sink failed to open: {0}")]
    SinkOpen(ConnectorError),
    /// Seeking the source to the sink's stored positions failed.
    #[error("source could not seek to the sink's stored positions: {0}")]
    Seek(ConnectorError),
    /// A poll failed after retries.
    #[error("source failed: {0}")]
    Source(ConnectorError),
    /// A write or commit failed after retries; that batch and later ones are not committed.
    #[error("sink failed on batch {seq}: {error}")]
    Sink {
        /// The failed batch.
        seq: u64,
        /// The last error.
        error: ConnectorError,
    },
    /// A micro-batch could not be decoded or masked.
    #[error("{0}")]
    Transform(#[from] TransformError),
    /// The dead-letter destination failed after retries.
    #[error("dead-letter destination failed on batch {seq}: {error}")]
    DeadLetter {
        /// The batch.
        seq: u64,
        /// The last error.
        error: ConnectorError,
    },
    /// Committing positions to the source failed after the sink's commit.
    #[error("source commit failed after the sink committed: {0}")]
    Commit(ConnectorError),
    /// Batches could not be assembled.
    #[error("could not assemble a micro-batch: {0}")]
    Batch(#[from] arrow::error::ArrowError),
    /// The sink thread ended unexpectedly.
    #[error("the sink thread ended unexpectedly")]
    SinkThread,
}

impl RunError {
    /// The connector error behind this failure, if one is.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            Self::SourceOpen(e)
            | Self::SinkOpen(e)
            | Self::Seek(e)
            | Self::Source(e)
            | Self::Commit(e) => Some(e),
            Self::Sink { error, .. } | Self::DeadLetter { error, .. } => Some(error),
            Self::Transform(TransformError::Config(e)) => Some(e),
            Self::Batch(_) | Self::SinkThread | Self::Transform(_) => None,
        }
    }
}

/// A failed run, with what it had committed before.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunFailure {
    /// Why.
    pub error: RunError,
    /// What was committed before the failure.
    pub summary: RunSummary,
}

/// The optional stages around the source and the sink.
#[derive(Default)]
pub struct Stages {
    /// Decoding, shaping and masking of each micro-batch.
    pub transform: Option<Transform>,
    /// Where rows that do not decode go; without one they are logged (position and reason).
    pub dead_letter: Option<Box<dyn Sink>>,
}

/// Runs a pipeline to its end (`run_in_loop: false`), until `stop` (then drains), or until a
/// failure. Blocks the calling thread.
pub fn run(
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    cfg: &RunConfig,
    stop: &StopSignal,
    observer: Arc<dyn Observer>,
) -> Result<RunSummary, Box<RunFailure>> {
    run_with(source, sink, Stages::default(), cfg, stop, observer)
}

/// [`run`] with a transform and a dead-letter destination.
pub fn run_with(
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    stages: Stages,
    cfg: &RunConfig,
    stop: &StopSignal,
    observer: Arc<dyn Observer>,
) -> Result<RunSummary, Box<RunFailure>> {
    let Stages {
        transform,
        dead_letter,
    } = stages;
    let mut state = Run {
        transform,
        cfg: cfg.clone(),
        stop: stop.clone(),
        observer,
        summary: RunSummary::default(),
        started: Instant::now(),
    };
    match state.go(source, sink, dead_letter) {
        Ok(()) => {
            state.summary.elapsed = state.started.elapsed();
            Ok(state.summary)
        }
        Err(error) => {
            state.summary.elapsed = state.started.elapsed();
            Err(Box::new(RunFailure {
                error,
                summary: state.summary,
            }))
        }
    }
}

struct Run {
    transform: Option<Transform>,
    cfg: RunConfig,
    stop: StopSignal,
    observer: Arc<dyn Observer>,
    summary: RunSummary,
    started: Instant,
}

impl Run {
    fn retry<T>(
        &self,
        what: &str,
        f: impl FnMut() -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        retry(&self.cfg, &self.stop, self.observer.as_ref(), what, f)
    }

    fn go(
        &mut self,
        mut source: Box<dyn Source>,
        mut sink: Box<dyn Sink>,
        dead_letter: Option<Box<dyn Sink>>,
    ) -> Result<(), RunError> {
        let claimed = self.open(source.as_mut(), sink.as_mut())?;
        self.observer.started();

        let (ack_tx, acks) = channel::<FromSink>();
        let (to_sink, sink_rx) = sync_channel::<ToSink>(self.cfg.queue.max(1));
        // With a transform, a shaping thread sits between the batcher and the sink, so decoding
        // and masking batch n overlap the poll of n+1 and the write of n-1.
        let (to_sink, shape_thread) = match self.transform.take() {
            None => (to_sink, None),
            Some(t) => {
                let (to_shape, shape_rx) = sync_channel::<ToSink>(self.cfg.queue.max(1));
                let shape_acks = ack_tx.clone();
                let (cfg, stop, observer) =
                    (self.cfg.clone(), self.stop.clone(), self.observer.clone());
                let handle = self.stage_thread("shape", move || {
                    let ctx = SinkCtx {
                        cfg: &cfg,
                        stop: &stop,
                        observer: observer.as_ref(),
                    };
                    shape_loop(t, shape_rx, to_sink, shape_acks, &ctx)
                })?;
                (to_shape, Some(handle))
            }
        };
        let (sink_cfg, sink_stop, sink_observer) =
            (self.cfg.clone(), self.stop.clone(), self.observer.clone());
        let sink_thread = self.stage_thread("sink", move || {
            let ctx = SinkCtx {
                cfg: &sink_cfg,
                stop: &sink_stop,
                observer: sink_observer.as_ref(),
            };
            sink_loop(sink, dead_letter, claimed, sink_rx, ack_tx, &ctx)
        })?;

        let result = self.pump(source.as_mut(), &to_sink, &acks);
        drop(to_sink);
        let mut drained = self.drain(source.as_mut(), &acks, result.is_err());
        if sink_thread.join().is_err() || shape_thread.is_some_and(|h| h.join().is_err()) {
            drained = drained.and(Err(RunError::SinkThread));
        }
        if let Err(e) = source.close() {
            tracing::warn!(error = %e, "source close failed");
        }
        match (result, drained) {
            // The sink thread's own report says why it stopped taking batches.
            (Err(RunError::SinkThread), Err(reported)) => Err(reported),
            (Err(e), _) => Err(e),
            (Ok(()), d) => d,
        }
    }

    /// Opens both ends and seeks the source to the sink's stored positions, if any; the keys
    /// the source claimed.
    fn open(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
    ) -> Result<Vec<PositionKey>, RunError> {
        let keys = self
            .retry("source open", || source.open())
            .map_err(RunError::SourceOpen)?;
        self.retry("sink open", || sink.open())
            .map_err(RunError::SinkOpen)?;
        let stored = self
            .retry("sink stored positions", || sink.stored_positions(&keys))
            .map_err(RunError::SinkOpen)?;
        if !stored.is_empty() {
            self.retry("source seek", || source.seek(&stored))
                .map_err(RunError::Seek)?;
            for p in &stored {
                self.summary.committed.advance(p);
            }
            tracing::info!(positions = %self.summary.committed, "resuming from the sink's stored positions");
        }
        Ok(keys)
    }

    /// A stage thread named after the pipeline, logging inside the caller's span (the host's
    /// pipeline span).
    fn stage_thread(
        &self,
        stage: &str,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<std::thread::JoinHandle<()>, RunError> {
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name(format!("{}-{stage}", self.cfg.pipeline))
            .spawn(move || {
                let _in = span.enter();
                f()
            })
            .map_err(|_| RunError::SinkThread)
    }

    /// Takes every report the stage threads still send (each batch handed to the sink is
    /// reported before its thread ends) and commits the source in order; the first failure.
    fn drain(
        &mut self,
        source: &mut dyn Source,
        acks: &Receiver<FromSink>,
        source_failed: bool,
    ) -> Result<(), RunError> {
        let mut drained = Ok(());
        for msg in acks.iter() {
            match self.acknowledge(source, msg) {
                Ok(()) => {}
                // After the source failed, its commits may fail too; the source's own
                // error is the one to report.
                Err(e @ RunError::Commit(_)) if source_failed => {
                    tracing::warn!(error = %e, "source commit after the source failed");
                }
                Err(e) => {
                    if drained.is_ok() {
                        drained = Err(e);
                    }
                }
            }
        }
        drained
    }

    /// Substreams assigned during a run (a Kafka rebalance): the sink thread reads their stored
    /// positions, and the source seeks there.
    fn seek_assigned(
        &self,
        source: &mut dyn Source,
        to_sink: &SyncSender<ToSink>,
        assigned: &[PositionKey],
    ) -> Result<(), RunError> {
        let (tx, rx) = channel();
        to_sink
            .send(ToSink::Stored(assigned.to_vec(), tx))
            .map_err(|_| RunError::SinkThread)?;
        let stored = rx
            .recv()
            .map_err(|_| RunError::SinkThread)?
            .map_err(RunError::SinkOpen)?;
        if !stored.is_empty() {
            self.retry("source seek", || source.seek(&stored))
                .map_err(RunError::Seek)?;
        }
        Ok(())
    }

    /// Polls, batches and hands batches to the sink until the end, a stop or a failure.
    fn pump(
        &mut self,
        source: &mut dyn Source,
        to_sink: &SyncSender<ToSink>,
        acks: &Receiver<FromSink>,
    ) -> Result<(), RunError> {
        let mut batcher = Batcher::new(self.cfg.limits);
        let mut ended = false;
        loop {
            while let Ok(msg) = acks.try_recv() {
                self.acknowledge(source, msg)?;
            }
            if ended {
                break;
            }
            if self.stop.is_stopped() {
                tracing::info!(
                    open_records = batcher.len(),
                    "stop requested: committing the open batch, then exiting"
                );
                break;
            }
            if self.stop.is_paused() {
                // The open batch is committed; then nothing is polled until a resume.
                if let Some(b) = batcher.flush()? {
                    send(to_sink, b)?;
                }
                self.stop.wait_while_paused(self.cfg.max_poll_wait);
                continue;
            }
            let now = Instant::now();
            if let Some(b) = batcher.close_if_due(now)? {
                send(to_sink, b)?;
            }
            let wait = batcher
                .deadline()
                .map(|d| d.saturating_duration_since(now))
                .unwrap_or(self.cfg.max_poll_wait)
                .min(self.cfg.max_poll_wait);
            let room = batcher.room();
            let polled = self
                .retry("poll", || source.poll(room, wait))
                .map_err(RunError::Source)?;
            if !polled.backlog.is_empty() {
                self.observer.backlog(&polled.backlog);
            }
            if !polled.assigned.is_empty() {
                self.seek_assigned(source, to_sink, &polled.assigned)?;
            }
            let (batch, positions) = if polled.revoked.is_empty() {
                (polled.batch, polled.positions)
            } else {
                // Records of partitions taken away are dropped, not committed: their new owner
                // reads them again from the last committed position.
                batcher.revoke(&polled.revoked)?;
                let batch = polled
                    .batch
                    .map(|b| crate::batcher::drop_substreams(b, &polled.revoked))
                    .transpose()?;
                let positions = polled
                    .positions
                    .into_iter()
                    .filter(|p| !polled.revoked.contains(&p.key))
                    .collect::<Vec<_>>();
                tracing::info!(revoked = ?polled.revoked, "substreams revoked: their uncommitted records are dropped");
                (batch, positions)
            };
            for b in batcher.push(batch, &positions, Instant::now())? {
                send(to_sink, b)?;
            }
            ended = polled.end;
        }
        if let Some(b) = batcher.flush()? {
            send(to_sink, b)?;
        }
        self.summary.stopped = self.stop.is_stopped() && !ended;
        Ok(())
    }

    fn acknowledge(&mut self, source: &mut dyn Source, msg: FromSink) -> Result<(), RunError> {
        match msg {
            FromSink::Failed { seq, error } => Err(RunError::Sink { seq, error }),
            FromSink::DeadLetterFailed { seq, error } => Err(RunError::DeadLetter { seq, error }),
            FromSink::TransformFailed(error) => Err(RunError::Transform(error)),
            FromSink::Committed(report) => {
                // The sink holds the batch whatever happens to the source commit below.
                self.summary.batches += 1;
                self.summary.records += report.records as u64;
                self.summary.bytes += report.bytes as u64;
                self.summary.dead_letters += report.dead_letters as u64;
                self.summary.committed.merge(&report.positions);
                let positions = report.positions.to_vec();
                self.retry("source commit", || source.commit(&positions))
                    .map_err(RunError::Commit)?;
                if report.seq == 0 {
                    tracing::info!(records = report.records, positions = %report.positions, "first batch committed");
                }
                tracing::debug!(batch = report.seq, records = report.records, bytes = report.bytes, positions = %report.positions, "batch committed");
                self.observer.committed(&report);
                Ok(())
            }
        }
    }
}

/// Hands a closed batch on (to the shaping thread, or straight to the sink thread).
fn send(to_sink: &SyncSender<ToSink>, batch: MicroBatch) -> Result<(), RunError> {
    to_sink
        .send(ToSink::Batch(batch))
        .map_err(|_| RunError::SinkThread)
}

/// Retries `f` by the run's policy. A stop request ends the retrying (the error stands and
/// positions stay where they are), and interrupts the wait between attempts.
fn retry<T>(
    cfg: &RunConfig,
    stop: &StopSignal,
    observer: &dyn Observer,
    what: &str,
    f: impl FnMut() -> Result<T, ConnectorError>,
) -> Result<T, ConnectorError> {
    cfg.retry.run(
        f,
        |attempt, e, wait| {
            if stop.is_stopped() {
                tracing::warn!(call = what, attempt, error = %e, "not retrying: stop requested");
                return false;
            }
            tracing::warn!(call = what, attempt, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
            observer.retrying(what, attempt, e);
            true
        },
        |wait| {
            let until = Instant::now() + wait;
            while !stop.is_stopped() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
        },
    )
}

#[cfg(test)]
mod tests;
