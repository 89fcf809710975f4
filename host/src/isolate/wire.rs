//! The protocol between the host and an isolated plugin process: frames of one JSON header
//! and an optional body, the calls and replies they carry, and record batches as Arrow IPC
//! streams.
//!
//! A frame is a little-endian `u32` header length, the header (JSON), a little-endian `u64`
//! body length and the body (an Arrow IPC stream of one batch, or nothing). The body is read
//! into a buffer of its own, and the batch's arrays are decoded over that buffer without
//! copying it again.

use arrow::buffer::Buffer;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The largest header accepted (a header holds positions and messages, never records).
const MAX_HEADER: u32 = 64 << 20;
/// The largest body accepted: one batch (the host's `max_batch_bytes` is far below it).
const MAX_BODY: u64 = 16 << 30;

/// What the host asks of the plugin instance the child serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// The first frame: which plugin, which connector, with what configuration.
    Hello(Box<Hello>),
    /// `Source::open` or `Sink::open`.
    Open,
    /// `Source::poll`.
    Poll {
        /// At most this many records.
        max_records: u64,
        /// Waiting at most this long for the first one.
        timeout_ms: u64,
    },
    /// `Source::seek`.
    Seek {
        /// Where to continue.
        positions: Vec<WirePosition>,
    },
    /// `Source::commit` or `Sink::commit`.
    Commit {
        /// The positions the batch advances.
        positions: Vec<WirePosition>,
    },
    /// `Sink::stored_positions`.
    StoredPositions {
        /// The keys asked about.
        keys: Vec<String>,
    },
    /// `Sink::write`; the batch is the frame's body.
    Write,
    /// `Source::close` or `Sink::close`; the child exits after its reply.
    Close,
}

impl Call {
    /// The trait method this call is, for messages and the crash note.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "new",
            Self::Open => "open",
            Self::Poll { .. } => "poll",
            Self::Seek { .. } => "seek",
            Self::Commit { .. } => "commit",
            Self::StoredPositions { .. } => "stored_positions",
            Self::Write => "write",
            Self::Close => "close",
        }
    }
}

/// Source or sink, and the configuration to construct it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The plugin library.
    pub library: std::path::PathBuf,
    /// The URI scheme served.
    pub scheme: String,
    /// `source`, `sink` or `dead-letter sink` (as the crash label says it).
    pub role: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The address, placeholders filled in.
    pub address: String,
    /// The options.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Source only: `run_in_loop`.
    pub run_in_loop: bool,
    /// Source only: the batch size hint.
    pub batch_size: u64,
    /// Source only: the batch timeout hint.
    pub batch_timeout_ms: u64,
}

/// What the child answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The call succeeded with nothing to return.
    Done,
    /// `open`'s keys (a source's claimed keys).
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
    /// `poll`'s result; the batch, if any, is the frame's body.
    Polled(Box<Polled>),
    /// `stored_positions`' result.
    Positions {
        /// The positions.
        positions: Vec<WirePosition>,
    },
    /// The call failed.
    Failed(WireError),
    /// Not an answer: the plugin reported skipped records (`weir_sdk::records_skipped`) since
    /// the last reply; the answer follows.
    Skipped {
        /// The substream.
        key: String,
        /// How many.
        count: u64,
    },
}

/// A poll's result but the batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Polled {
    /// The positions the batch advances.
    pub positions: Vec<WirePosition>,
    /// The source is drained.
    pub end: bool,
    /// Keys newly claimed.
    pub assigned: Vec<String>,
    /// Keys taken away.
    pub revoked: Vec<String>,
    /// Consumer lag per key.
    pub backlog: Vec<WirePosition>,
}

/// A position on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePosition {
    /// The substream.
    pub key: String,
    /// The next offset.
    pub next: i64,
}

impl From<&weir_sdk::Position> for WirePosition {
    fn from(p: &weir_sdk::Position) -> Self {
        Self {
            key: p.key.as_str().to_string(),
            next: p.next,
        }
    }
}

impl From<&WirePosition> for weir_sdk::Position {
    fn from(p: &WirePosition) -> Self {
        weir_sdk::Position::new(p.key.as_str(), p.next)
    }
}

/// An sdk error on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// `weir_sdk::ErrorKind::as_str`.
    pub kind: String,
    /// The message.
    pub message: String,
    /// The position concerned.
    pub position: Option<WirePosition>,
}

impl From<&weir_sdk::Error> for WireError {
    fn from(e: &weir_sdk::Error) -> Self {
        Self {
            kind: e.kind.as_str().to_string(),
            message: e.message.clone(),
            position: e.position.as_ref().map(WirePosition::from),
        }
    }
}

impl From<WireError> for weir_sdk::Error {
    fn from(e: WireError) -> Self {
        use weir_sdk::ErrorKind as K;
        let kind = match e.kind.as_str() {
            "config" => K::Config,
            "connection" => K::Connection,
            "retriable" => K::Retriable,
            "data" => K::Data,
            "positions-moved" => K::PositionsMoved,
            _ => K::Fatal,
        };
        let error = weir_sdk::Error::new(kind, e.message);
        match &e.position {
            Some(p) => error.at(p.into()),
            None => error,
        }
    }
}

/// Why a frame could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum WireFailure {
    /// The other side is gone (or the socket failed).
    #[error("the isolated plugin process's socket: {0}")]
    Io(#[from] std::io::Error),
    /// A header that is not this protocol's.
    #[error("a garbled frame from the isolated plugin process: {0}")]
    Garbled(String),
}

/// Sends one frame.
pub fn send<T: Serialize>(
    to: &mut impl Write,
    header: &T,
    body: Option<&[u8]>,
) -> Result<(), WireFailure> {
    let head = serde_json::to_vec(header).map_err(|e| WireFailure::Garbled(e.to_string()))?;
    let len =
        u32::try_from(head.len()).map_err(|_| WireFailure::Garbled("header too long".into()))?;
    let body = body.unwrap_or_default();
    to.write_all(&len.to_le_bytes())?;
    to.write_all(&head)?;
    to.write_all(&(body.len() as u64).to_le_bytes())?;
    to.write_all(body)?;
    to.flush()?;
    Ok(())
}

/// Reads one frame: the header and the body, if not empty.
pub fn receive<T: for<'de> Deserialize<'de>>(
    from: &mut impl Read,
) -> Result<(T, Option<Vec<u8>>), WireFailure> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(WireFailure::Garbled(format!("a header of {len} bytes")));
    }
    let mut head = vec![0u8; len as usize];
    from.read_exact(&mut head)?;
    let header = serde_json::from_slice(&head).map_err(|e| WireFailure::Garbled(e.to_string()))?;
    let mut body_len = [0u8; 8];
    from.read_exact(&mut body_len)?;
    let body_len = u64::from_le_bytes(body_len);
    if body_len == 0 {
        return Ok((header, None));
    }
    if body_len > MAX_BODY {
        return Err(WireFailure::Garbled(format!("a body of {body_len} bytes")));
    }
    let body_len = usize::try_from(body_len)
        .map_err(|_| WireFailure::Garbled(format!("a body of {body_len} bytes")))?;
    let mut body = vec![0u8; body_len];
    from.read_exact(&mut body)?;
    Ok((header, Some(body)))
}

/// One batch as an Arrow IPC stream.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The batch of an Arrow IPC stream, its arrays over `bytes` (not copied again).
pub fn decode(bytes: Vec<u8>) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut buffer = Buffer::from_vec(bytes);
    let mut decoder = StreamDecoder::new();
    let mut batch = None;
    while !buffer.is_empty() {
        if let Some(b) = decoder.decode(&mut buffer)? {
            batch.get_or_insert(b);
        }
    }
    decoder.finish()?;
    batch.ok_or_else(|| arrow::error::ArrowError::IpcError("no record batch in the stream".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn calls_and_replies_cross_with_their_bodies() {
        let mut pipe = Vec::new();
        let call = Call::Commit {
            positions: vec![WirePosition {
                key: "orders/0".into(),
                next: 42,
            }],
        };
        send(&mut pipe, &call, None).unwrap();
        send(&mut pipe, &Call::Write, Some(b"batch")).unwrap();
        let mut r = pipe.as_slice();
        assert_eq!(receive::<Call>(&mut r).unwrap(), (call, None));
        assert_eq!(
            receive::<Call>(&mut r).unwrap(),
            (Call::Write, Some(b"batch".to_vec()))
        );
        // A peer gone mid-frame is an I/O failure, not a garbled one.
        assert!(matches!(
            receive::<Call>(&mut &pipe[..3]),
            Err(WireFailure::Io(_))
        ));
    }

    #[test]
    fn errors_keep_their_kind_message_and_position() {
        let e = weir_sdk::Error::data("bad").at(weir_sdk::Position::new("t/0", 9));
        let back: weir_sdk::Error = WireError::from(&e).into();
        assert_eq!(back, e);
        let moved = weir_sdk::Error::positions_moved("someone else");
        assert_eq!(
            weir_sdk::Error::from(WireError::from(&moved)).kind,
            moved.kind
        );
    }

    #[test]
    fn a_batch_crosses_as_arrow_ipc_intact() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..1000)),
                Arc::new(StringArray::from_iter(
                    (0..1000).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
                )),
            ],
        )
        .unwrap();
        let back = decode(encode(&batch).unwrap()).unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.column(1).null_count(), 334);
    }
}
