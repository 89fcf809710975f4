//! The threads after the batcher: shaping (decode, shape, mask) and the sink (dead letters,
//! then the batch, each written and committed with the batch's positions). Both report back
//! to the run in batch order; a failure ends the thread and so the run.

use super::rejected;
use super::{retry, BatchReport, Observer, RunConfig, StopSignal};
use crate::batcher::MicroBatch;
use crate::connector::{ConnectorError, ErrorKind, Position, PositionKey, Sink};
use crate::transform::{Transform, TransformError};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::Instant;
use weir_envelope::dead_letter;

/// What the batcher sends down the pipe: a micro-batch, or a request for stored positions.
pub(super) enum ToSink {
    Batch(MicroBatch),
    Stored(
        Vec<PositionKey>,
        Sender<Result<Vec<Position>, ConnectorError>>,
    ),
}

/// What comes back from the shaping and sink threads, in batch order.
pub(super) enum FromSink {
    Committed(BatchReport),
    Failed { seq: u64, error: ConnectorError },
    DeadLetterFailed { seq: u64, error: ConnectorError },
    TransformFailed(TransformError),
}

/// The shaping thread: decodes, shapes and masks each batch in order, then passes it on. A
/// failure is reported and ends the thread (and so the run), before the batch reaches the sink;
/// a batch whose decoding needs a service that cannot be reached (the schema registry) is
/// retried under the run's retry policy first, the pipeline not ready meanwhile.
pub(super) fn shape_loop(
    mut transform: Transform,
    batches: Receiver<ToSink>,
    to_sink: SyncSender<ToSink>,
    acks: Sender<FromSink>,
    ctx: &SinkCtx<'_>,
) {
    for msg in batches.iter() {
        let msg = match msg {
            ToSink::Batch(mut b) => match shape_with_retry(&mut transform, &b.batch, ctx) {
                Ok(decoded) => {
                    b.batch = decoded
                        .batch
                        .unwrap_or_else(|| RecordBatch::new_empty(Arc::new(Schema::empty())));
                    b.dead = decoded.dead;
                    ToSink::Batch(b)
                }
                Err(e) => {
                    let _ = acks.send(FromSink::TransformFailed(e));
                    return;
                }
            },
            other => other,
        };
        if to_sink.send(msg).is_err() {
            return;
        }
    }
}

/// `transform.apply`, retried while it reports [`TransformError::Unavailable`].
fn shape_with_retry(
    transform: &mut Transform,
    batch: &RecordBatch,
    ctx: &SinkCtx<'_>,
) -> Result<crate::decode::Decoded, TransformError> {
    let mut other = None;
    let out = super::retry(
        ctx.cfg,
        ctx.stop,
        ctx.observer,
        "decode",
        || match transform.apply(batch.clone()) {
            Ok(d) => Ok(Some(d)),
            Err(TransformError::Unavailable(why)) => Err(ConnectorError::new(
                crate::connector::ErrorKind::Connection,
                why,
            )),
            Err(e) => {
                other = Some(e);
                Ok(None)
            }
        },
    );
    match (out, other) {
        (_, Some(e)) => Err(e),
        (Ok(Some(d)), None) => Ok(d),
        (Ok(None), None) => Err(TransformError::Unavailable("internal: no outcome".into())),
        (Err(e), None) => Err(TransformError::Unavailable(e.to_string())),
    }
}

/// What the sink thread needs besides its sinks and channels.
pub(super) struct SinkCtx<'a> {
    pub(super) cfg: &'a RunConfig,
    pub(super) stop: &'a StopSignal,
    pub(super) observer: &'a dyn Observer,
}

/// The sink thread: dead letters, then the batch, each written and committed with the batch's
/// positions under the retry policy; every outcome reported back in order.
pub(super) fn sink_loop(
    mut sink: Box<dyn Sink>,
    mut dead_letter: Option<Box<dyn Sink>>,
    claimed: Vec<PositionKey>,
    batches: Receiver<ToSink>,
    acks: Sender<FromSink>,
    ctx: &SinkCtx<'_>,
) {
    let (cfg, stop, observer) = (ctx.cfg, ctx.stop, ctx.observer);
    // The keys the source claimed (at open, and each assignment): only those are looked up at
    // the dead-letter destination; a shared key (a NATS durable's) is not its to guard.
    let mut claimed: HashSet<PositionKey> = claimed.into_iter().collect();
    for msg in batches.iter() {
        match msg {
            ToSink::Stored(keys, reply) => {
                claimed.extend(keys.iter().cloned());
                let _ = reply.send(retry(cfg, stop, observer, "sink stored positions", || {
                    sink.stored_positions(&keys)
                }));
            }
            ToSink::Batch(b) => {
                let started = Instant::now();
                let positions = b.positions.to_vec();
                let dead_rows = b.dead.as_ref().map_or(0, RecordBatch::num_rows);
                // Dead letters first: once the table holds the batch, its positions move on.
                let guarded = of_claimed(&positions, &claimed);
                if let Some(dead) = &b.dead {
                    if let Err(error) =
                        set_aside(dead_letter.as_deref_mut(), dead, &positions, &guarded, ctx)
                    {
                        let _ = acks.send(FromSink::DeadLetterFailed { seq: b.seq, error });
                        break;
                    }
                }
                let msg = match write_all(
                    sink.as_mut(),
                    dead_letter.as_deref_mut(),
                    b.batch,
                    (&positions, &guarded),
                    ctx,
                ) {
                    Ok(w) => FromSink::Committed(BatchReport {
                        seq: b.seq,
                        records: w.records,
                        bytes: b.bytes,
                        bytes_out: w.bytes_out,
                        commit_time: started.elapsed(),
                        dead_letters: dead_rows + w.refused,
                        positions: b.positions,
                    }),
                    Err(Stop::Sink(error)) => FromSink::Failed { seq: b.seq, error },
                    Err(Stop::DeadLetter(error)) => {
                        FromSink::DeadLetterFailed { seq: b.seq, error }
                    }
                };
                let failed = !matches!(msg, FromSink::Committed(_));
                if acks.send(msg).is_err() || failed {
                    break;
                }
            }
        }
    }
    for s in std::iter::once(&mut sink).chain(dead_letter.as_mut()) {
        if let Err(e) = s.close() {
            tracing::warn!(error = %e, "sink close failed");
        }
    }
}

/// Decode's dead letters to the dead-letter destination, or to the log without one.
fn set_aside(
    dead_letter: Option<&mut (dyn Sink + 'static)>,
    dead: &RecordBatch,
    positions: &[Position],
    guarded: &[Position],
    ctx: &SinkCtx<'_>,
) -> Result<(), ConnectorError> {
    let Some(d) = dead_letter else {
        log_dead_letters(dead);
        return Ok(());
    };
    retry(ctx.cfg, ctx.stop, ctx.observer, "dead-letter write", || {
        // A batch replayed after a restart (its rows all dead, so the table did not move)
        // finds its dead letters already there.
        if holds(d, guarded)? {
            return Ok(());
        }
        d.write(dead.clone())?;
        d.commit(positions)
    })
}

/// The positions of claimed keys.
fn of_claimed(positions: &[Position], claimed: &HashSet<PositionKey>) -> Vec<Position> {
    positions
        .iter()
        .filter(|p| claimed.contains(&p.key))
        .cloned()
        .collect()
}

/// What [`write_all`] wrote.
struct Written {
    records: usize,
    bytes_out: usize,
    refused: usize,
}

/// Why [`write_all`] stopped.
enum Stop {
    Sink(ConnectorError),
    DeadLetter(ConnectorError),
}

/// The batch written and committed with its positions under the retry policy. Rows the sink
/// refuses go to the dead-letter destination (committed first, under keys of their own so a
/// replay finds them there) and the rest is written again; without a dead-letter destination
/// the first refusal stops the pipeline before the batch's positions are committed.
fn write_all(
    sink: &mut dyn Sink,
    mut dead_letter: Option<&mut (dyn Sink + 'static)>,
    mut batch: RecordBatch,
    (positions, guarded): (&[Position], &[Position]),
    ctx: &SinkCtx<'_>,
) -> Result<Written, Stop> {
    let mut refused = 0;
    for round in 0.. {
        if batch.num_rows() == 0 {
            break;
        }
        let error = match retry(ctx.cfg, ctx.stop, ctx.observer, "sink write", || {
            sink.write(batch.clone())?;
            sink.commit(positions)
        }) {
            Ok(()) => break,
            Err(e) => e,
        };
        let Some(mut rows) = error.rejected_rows() else {
            return Err(Stop::Sink(error));
        };
        rows.sort_by_key(|(r, _)| *r);
        rows.dedup_by_key(|(r, _)| *r);
        let arrow = |e: arrow::error::ArrowError| {
            Stop::Sink(ConnectorError::new(ErrorKind::Fatal, e.to_string()))
        };
        let Some(d) = dead_letter.as_deref_mut() else {
            let at = rejected::row_positions(&batch, positions).map_err(arrow)?;
            let (row, why) = &rows[0];
            return Err(Stop::Sink(ConnectorError::new(
                ErrorKind::Data,
                format!(
                    "the sink refused {} row(s) of the batch ending at {}; the first, at {}: {why}. \
                     Nothing of the batch was committed and its positions stay where they were; \
                     set source.options.dead_letter to set refused rows aside and commit the rest",
                    rows.len(),
                    positions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    at.get(*row).map_or("?", String::as_str),
                ),
            )));
        };
        let dead = rejected::dead_letters(&batch, &rows, positions).map_err(arrow)?;
        let keys = refused_keys(positions, round);
        let looked_up = refused_keys(guarded, round);
        retry(ctx.cfg, ctx.stop, ctx.observer, "dead-letter write", || {
            if holds(d, &looked_up)? {
                return Ok(());
            }
            d.write(dead.clone())?;
            d.commit(&keys)
        })
        .map_err(Stop::DeadLetter)?;
        tracing::warn!(
            rows = rows.len(),
            first = %rows[0].1,
            "the sink refused rows; they went to the dead-letter destination"
        );
        refused += rows.len();
        batch = rejected::without(&batch, &rows).map_err(arrow)?;
    }
    Ok(Written {
        records: batch.num_rows(),
        bytes_out: batch.get_array_memory_size(),
        refused,
    })
}

/// The positions under which round `round` of a batch's refused rows is stored in the
/// dead-letter destination: `<key>#refused`, `<key>#refused.1`, ...
fn refused_keys(positions: &[Position], round: usize) -> Vec<Position> {
    let suffix = if round == 0 {
        "#refused".to_string()
    } else {
        format!("#refused.{round}")
    };
    positions
        .iter()
        .map(|p| Position::new(format!("{}{suffix}", p.key), p.next))
        .collect()
}

/// Whether a transactional sink already holds every position of a batch (each stored `next`
/// at or past the batch's): its data landed before.
fn holds(sink: &mut dyn Sink, positions: &[Position]) -> Result<bool, ConnectorError> {
    if positions.is_empty() {
        return Ok(false);
    }
    let keys: Vec<PositionKey> = positions.iter().map(|p| p.key.clone()).collect();
    let stored = sink.stored_positions(&keys)?;
    Ok(positions
        .iter()
        .all(|p| stored.iter().any(|s| s.key == p.key && s.next >= p.next)))
}

/// Without a dead-letter destination, each undecodable row is logged with its position and
/// reason: never dropped silently.
fn log_dead_letters(dead: &RecordBatch) {
    let col = |name: &str| {
        dead.column_by_name(name).and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .cloned()
        })
    };
    if let (Some(pos), Some(err)) = (col(dead_letter::POSITION), col(dead_letter::ERROR)) {
        for i in 0..dead.num_rows() {
            tracing::warn!(
                position = pos.value(i),
                reason = err.value(i),
                "dead letter (set source.options.dead_letter to keep them)"
            );
        }
    }
}
