//! `format: avro`: values in the Confluent wire format (magic byte 0, a 4-byte big-endian
//! schema id, the Avro body) with writer schemas from a schema registry, or, with
//! `avro_schema`, plain binary Avro and Avro single-object encoding (`C3 01` + the schema's
//! 8-byte Rabin fingerprint). Decoded straight into Arrow by `arrow-avro`, a batch at a time.
//!
//! One `arrow-avro` decoder per writer schema; a run of messages with the same schema is one
//! sub-batch, and the sub-batches of a micro-batch are unified ([`super::unify`]). A message
//! that does not decode (wrong framing, an id the registry does not know, a truncated or
//! corrupt body) is set aside with its reason: the decoder it corrupted is rebuilt and the
//! messages before it in its run are decoded again, so no other message is lost.

use super::registry::{Registry, RegistryError};
use super::unify;
use super::{payload, SchemaDecoded};
use arrow::array::{Array, BinaryArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow_avro::codec::Tz;
use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use std::collections::HashSet;

/// Rows a decoder holds before it is flushed (its builders grow as needed; a micro-batch's
/// run of one schema is normally one sub-batch, so nothing is copied to merge it).
const BATCH: usize = 1 << 20;

/// Messages fed to a decoder in one call at most: 512 of ~300 B are still in a core's L2
/// cache when their headers are checked after decoding ([`AvroDecoder::span`]); the bench
/// gave 0.84 of the floor at 128, 0.91 at 512 and 2048.
const PENDING: usize = 512;

/// Where writer schemas come from.
pub enum Schemas {
    /// A schema registry: messages carry schema ids (Confluent wire format).
    Registry(Registry),
    /// One schema from `avro_schema`: plain binary or single-object encoded messages.
    Inline {
        /// The schema.
        schema: AvroSchema,
        /// Its Rabin fingerprint.
        fingerprint: u64,
    },
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry(_) => f.write_str("Schemas::Registry"),
            Self::Inline { fingerprint, .. } => write!(f, "Schemas::Inline({fingerprint:016x})"),
        }
    }
}

impl Schemas {
    /// One inline schema (JSON text).
    pub fn inline(json: &str) -> Result<Self, ArrowError> {
        let schema = AvroSchema::new(json.to_string());
        match schema.fingerprint(FingerprintAlgorithm::Rabin)? {
            Fingerprint::Rabin(fingerprint) => {
                // Build once now, so a schema arrow-avro cannot read fails at start.
                decoder_for(&schema, Fingerprint::Rabin(fingerprint))?;
                Ok(Self::Inline {
                    schema,
                    fingerprint,
                })
            }
            other => Err(ArrowError::SchemaError(format!(
                "unexpected fingerprint {other:?}"
            ))),
        }
    }
}

/// The decoding state of one pipeline.
pub struct AvroDecoder {
    schemas: Schemas,
    /// A decoder per writer schema (registry id, or 0 for the inline schema); few, so a
    /// list, searched from the one used last.
    decoders: Vec<(u32, Decoder)>,
    /// The index in `decoders` used last.
    last: usize,
    max_bytes: usize,
}

fn decoder_for(schema: &AvroSchema, fp: Fingerprint) -> Result<Decoder, ArrowError> {
    let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::from(&fp));
    store.set(fp, schema.clone())?;
    ReaderBuilder::new()
        .with_batch_size(BATCH)
        .with_tz(Tz::Utc)
        .with_writer_schema_store(store)
        .build_decoder()
}

/// Whether any of `fields`, nested ones included, is a union.
fn has_union(fields: &arrow::datatypes::Fields) -> bool {
    use arrow::datatypes::DataType;
    fn walk(t: &DataType) -> bool {
        match t {
            DataType::Union(_, _) => true,
            DataType::Struct(fs) => fs.iter().any(|f| walk(f.data_type())),
            DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => walk(f.data_type()),
            _ => false,
        }
    }
    fields.iter().any(|f| walk(f.data_type()))
}

/// The state of one batch's decoding.
struct Pass {
    /// `(input row, reason)` of each value set aside.
    failed: Vec<(u32, String)>,
    /// Ids the registry did not know (asked for once per batch).
    unknown: HashSet<u32>,
    /// The sub-batches decoded, with the input row of each of their rows.
    parts: Vec<(RecordBatch, Vec<u32>)>,
    /// The run being decoded.
    run: Option<Run>,
    /// Whether the run is still fed a span at a time ([`AvroDecoder::span`]).
    spans: bool,
}

/// A run of messages of one writer schema: the decoder's key, the input rows decoded, and the
/// rows after them not fed yet (consecutive, framed in place: one slice of the value column).
struct Run {
    key: u32,
    rows: Vec<u32>,
    pending: Vec<u32>,
}

impl AvroDecoder {
    /// A decoder; values over `max_bytes` are set aside.
    pub fn new(schemas: Schemas, max_bytes: usize) -> Self {
        Self {
            schemas,
            decoders: Vec::new(),
            last: 0,
            max_bytes,
        }
    }

    /// The writer schema key of a value and the bytes to feed the decoder (framed as it
    /// expects), or why it cannot be decoded.
    fn frame<'v>(&self, v: &'v [u8]) -> Result<(u32, std::borrow::Cow<'v, [u8]>), String> {
        match &self.schemas {
            Schemas::Registry(_) => {
                let id = super::registry::confluent_id(v)?;
                Ok((id, v.into()))
            }
            Schemas::Inline { fingerprint, .. } => {
                if v.len() >= 10 && v[..2] == [0xC3, 0x01] {
                    let fp = u64::from_le_bytes(v[2..10].try_into().unwrap_or_default());
                    if fp != *fingerprint {
                        return Err(format!(
                            "single-object encoding with fingerprint {fp:016x}, not avro_schema's {fingerprint:016x}"
                        ));
                    }
                    return Ok((0, v.into()));
                }
                let mut framed = Vec::with_capacity(v.len() + 10);
                framed.extend_from_slice(&[0xC3, 0x01]);
                framed.extend_from_slice(&fingerprint.to_le_bytes());
                framed.extend_from_slice(v);
                Ok((0, framed.into()))
            }
        }
    }

    /// The header that messages of `key`'s schema framed in place start with, and its length:
    /// `00` and the id (Confluent), or `C3 01` and the fingerprint (single-object).
    fn header(&self, key: u32) -> ([u8; 10], usize) {
        let mut h = [0u8; 10];
        match &self.schemas {
            Schemas::Registry(_) => {
                h[1..5].copy_from_slice(&key.to_be_bytes());
                (h, 5)
            }
            Schemas::Inline { fingerprint, .. } => {
                h[..2].copy_from_slice(&[0xC3, 0x01]);
                h[2..].copy_from_slice(&fingerprint.to_le_bytes());
                (h, 10)
            }
        }
    }

    /// The decoder of `key`, if there is one.
    fn decoder(&mut self, key: u32) -> Option<&mut Decoder> {
        if self.decoders.get(self.last).is_none_or(|(k, _)| *k != key) {
            self.last = self.decoders.iter().position(|(k, _)| *k == key)?;
        }
        self.decoders.get_mut(self.last).map(|(_, d)| d)
    }

    /// Puts `d` in place as `key`'s decoder.
    fn install(&mut self, key: u32, d: Decoder) {
        match self.decoders.iter().position(|(k, _)| *k == key) {
            Some(i) => self.decoders[i].1 = d,
            None => self.decoders.push((key, d)),
        }
    }

    /// A fresh decoder for `key`; `Ok(None)` when the registry does not know it.
    fn fresh(&mut self, key: u32) -> Result<Option<Decoder>, RegistryError> {
        let (schema, fp) = match &mut self.schemas {
            Schemas::Registry(r) => match r.schema(key)? {
                Some(text) => (AvroSchema::new(text), Fingerprint::Id(key)),
                None => return Ok(None),
            },
            Schemas::Inline {
                schema,
                fingerprint,
            } => (schema.clone(), Fingerprint::Rabin(*fingerprint)),
        };
        match decoder_for(&schema, fp) {
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(RegistryError::Config(format!(
                "schema id {key} cannot be read: {e}"
            ))),
        }
    }

    /// Makes sure `key` has a decoder: `false` when the registry does not know it (an id it
    /// did not know is asked for once per batch: `unknown` remembers it).
    fn ensure(&mut self, key: u32, unknown: &mut HashSet<u32>) -> Result<bool, RegistryError> {
        if self.decoder(key).is_some() {
            return Ok(true);
        }
        if unknown.contains(&key) {
            return Ok(false);
        }
        match self.fresh(key)? {
            Some(d) => {
                self.install(key, d);
                Ok(true)
            }
            None => {
                unknown.insert(key);
                Ok(false)
            }
        }
    }

    /// Decodes the `value` column.
    pub(crate) fn decode(&mut self, values: &BinaryArray) -> Result<SchemaDecoded, ArrowError> {
        let mut pass = Pass {
            failed: Vec::new(),
            unknown: HashSet::new(),
            parts: Vec::new(),
            run: None,
            spans: true,
        };
        let mut i = 0u32;
        while (i as usize) < values.len() {
            if pass.spans {
                if let Some(to) = self.span(values, i, &mut pass)? {
                    i = to;
                    continue;
                }
            }
            if let Some(e) = self.message(values, i, &mut pass)? {
                return Ok(SchemaDecoded::unavailable(e));
            }
            i += 1;
        }
        let Pass {
            mut failed,
            mut parts,
            run,
            ..
        } = pass;
        if let Some(mut r) = run {
            self.feed_pending(&mut r, values, &mut failed)?;
            self.flush(r, &mut parts)?;
        }
        let rows: Vec<u32> = parts.iter().flat_map(|(_, r)| r.iter().copied()).collect();
        let batch = unify::concat(parts.into_iter().map(|(b, _)| b).collect())?;
        failed.sort_by_key(|(r, _)| *r);
        Ok(SchemaDecoded {
            batch,
            rows,
            failed,
            unavailable: None,
        })
    }

    /// Feeds the messages from `i` on to the current run's decoder as one span of the value
    /// column, without reading their headers first: the decoder checks each header as it
    /// reaches it, while the bytes after it stream in (reading every header in a pass of
    /// its own first cost a cache miss per message, a third of the decoding time). A span
    /// stops at the first value that is null, over `max_message_bytes` or shorter than a
    /// header, and at [`PENDING`] messages. `Some(end)` when the span `i..end` decoded to one
    /// row per message of the run's schema; `None` when there was no span to feed, or it
    /// failed: then the decoder is rebuilt and the rest of the batch goes message by message.
    fn span(
        &mut self,
        values: &BinaryArray,
        i: u32,
        pass: &mut Pass,
    ) -> Result<Option<u32>, ArrowError> {
        let Some(r) = pass.run.as_mut() else {
            return Ok(None);
        };
        let (header, header_len) = self.header(r.key);
        let header = &header[..header_len];
        let room = BATCH
            .saturating_sub(r.rows.len() + r.pending.len())
            .min(PENDING);
        let offsets = values.value_offsets();
        let mut to = i;
        while (to as usize) < values.len() && ((to - i) as usize) < room {
            let len = (offsets[to as usize + 1] - offsets[to as usize]) as usize;
            if values.is_null(to as usize) || len > self.max_bytes || len < header.len() {
                break;
            }
            to += 1;
        }
        if to <= i + 1 {
            return Ok(None);
        }
        self.feed_pending(r, values, &mut pass.failed)?;
        let whole = self.feed_slice(r.key, values, i, to)?;
        // The decoder read a header of the run's schema at each row; each message starting
        // with one (read from the cache now) shows the rows are the messages.
        let key = r.key;
        let data = values.value_data();
        if whole && (i..to).all(|m| data[offsets[m as usize] as usize..].starts_with(header)) {
            r.rows.extend(i..to);
            return Ok(Some(to));
        }
        self.rebuild(key, &r.rows, values)?;
        pass.spans = false;
        Ok(None)
    }

    /// Message `i`, read on its own: framed, given its schema's decoder, and added to the run
    /// of its schema (a run of another schema is flushed first). `Some` when the registry
    /// cannot be reached.
    fn message(
        &mut self,
        values: &BinaryArray,
        i: u32,
        pass: &mut Pass,
    ) -> Result<Option<RegistryError>, ArrowError> {
        let v = match payload(values, i, self.max_bytes) {
            Ok(v) => v,
            Err(why) => {
                pass.failed.push((i, why));
                return Ok(None);
            }
        };
        let (key, bytes) = match self.frame(v) {
            Ok(f) => f,
            Err(why) => {
                pass.failed.push((i, why));
                return Ok(None);
            }
        };
        match self.ensure(key, &mut pass.unknown) {
            Ok(true) => {}
            Ok(false) => {
                let why = format!("schema id {key} is not in the schema registry");
                pass.failed.push((i, why));
                return Ok(None);
            }
            Err(e @ RegistryError::Unavailable { .. }) => return Ok(Some(e)),
            Err(e) => return Err(ArrowError::ExternalError(Box::new(e))),
        }
        if pass
            .run
            .as_ref()
            .is_some_and(|r| r.key != key || r.rows.len() + r.pending.len() >= BATCH)
        {
            if let Some(mut r) = pass.run.take() {
                self.feed_pending(&mut r, values, &mut pass.failed)?;
                self.flush(r, &mut pass.parts)?;
            }
        }
        let r = pass.run.get_or_insert_with(|| Run {
            key,
            rows: Vec::new(),
            pending: Vec::new(),
        });
        // Messages framed in place that follow each other are fed together; a copy (plain
        // binary Avro given its header) ends the spans.
        let in_place = matches!(bytes, std::borrow::Cow::Borrowed(_));
        if in_place && r.pending.len() < PENDING && r.pending.last().is_none_or(|p| p + 1 == i) {
            r.pending.push(i);
            return Ok(None);
        }
        self.feed_pending(r, values, &mut pass.failed)?;
        if in_place {
            r.pending.push(i);
            return Ok(None);
        }
        pass.spans = false;
        match self.feed(key, &bytes) {
            Ok(()) => r.rows.push(i),
            Err(why) => {
                pass.failed.push((i, why));
                self.rebuild(key, &r.rows, values)?;
            }
        }
        Ok(None)
    }

    /// Feeds the run's pending messages in one call, the slice of the value column they fill.
    /// It must give exactly one row per message from exactly all the bytes; otherwise (a bad
    /// message among them) the decoder is rebuilt and they are fed one by one, so each bad
    /// one is found and set aside.
    fn feed_pending(
        &mut self,
        r: &mut Run,
        values: &BinaryArray,
        failed: &mut Vec<(u32, String)>,
    ) -> Result<(), ArrowError> {
        let pending = std::mem::take(&mut r.pending);
        let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
            return Ok(());
        };
        if pending.len() > 1 {
            if self.feed_slice(r.key, values, *first, *last + 1)? {
                r.rows.extend(pending);
                return Ok(());
            }
            self.rebuild(r.key, &r.rows, values)?;
        }
        for i in pending {
            let bytes = values.value(i as usize);
            match self.feed(r.key, bytes) {
                Ok(()) => r.rows.push(i),
                Err(why) => {
                    failed.push((i, why));
                    self.rebuild(r.key, &r.rows, values)?;
                }
            }
        }
        Ok(())
    }

    /// Feeds messages `from..to`, consecutive and framed in place, to `key`'s decoder in one
    /// call, as the slice of the value column they fill: `true` when they gave exactly one
    /// row each from exactly all the bytes (otherwise the decoder needs rebuilding).
    fn feed_slice(
        &mut self,
        key: u32,
        values: &BinaryArray,
        from: u32,
        to: u32,
    ) -> Result<bool, ArrowError> {
        let offsets = values.value_offsets();
        let bytes =
            &values.value_data()[offsets[from as usize] as usize..offsets[to as usize] as usize];
        let d = self
            .decoder(key)
            .ok_or_else(|| ArrowError::SchemaError("internal: no decoder".into()))?;
        let before = d.capacity();
        Ok(d.decode(bytes).is_ok_and(|used| used == bytes.len())
            && before.checked_sub(d.capacity()) == Some((to - from) as usize))
    }

    /// Feeds one framed message: exactly one row must come of exactly all its bytes.
    fn feed(&mut self, key: u32, bytes: &[u8]) -> Result<(), String> {
        let d = self
            .decoder(key)
            .ok_or_else(|| "internal: no decoder".to_string())?;
        let before = d.capacity();
        let used = d
            .decode(bytes)
            .map_err(|e| format!("not valid Avro: {e}"))?;
        if used == bytes.len() && d.capacity() + 1 == before {
            Ok(())
        } else {
            Err(format!(
                "not valid Avro: {} of its {} bytes make no whole record",
                bytes.len() - used.min(bytes.len()),
                bytes.len()
            ))
        }
    }

    /// Replaces `key`'s decoder (a failed message left it mid-record) and decodes again the
    /// messages of the run before that one.
    fn rebuild(&mut self, key: u32, rows: &[u32], values: &BinaryArray) -> Result<(), ArrowError> {
        let d = self
            .fresh(key)
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?
            .ok_or_else(|| ArrowError::SchemaError(format!("schema id {key} vanished")))?;
        self.install(key, d);
        for &i in rows {
            let (_, bytes) = self
                .frame(values.value(i as usize))
                .map_err(ArrowError::ParseError)?;
            self.feed(key, &bytes).map_err(ArrowError::ParseError)?;
        }
        Ok(())
    }

    /// The run's rows as a sub-batch.
    fn flush(
        &mut self,
        run: Run,
        parts: &mut Vec<(RecordBatch, Vec<u32>)>,
    ) -> Result<(), ArrowError> {
        if run.rows.is_empty() {
            return Ok(());
        }
        let d = self
            .decoder(run.key)
            .ok_or_else(|| ArrowError::SchemaError("internal: no decoder".into()))?;
        if let Some(b) = d.flush()? {
            // arrow-avro 59's union decoder keeps its offsets across a flush (the next batch
            // fails "Offsets must be non-negative"): a schema with a general union gets a
            // fresh decoder after each flush.
            if has_union(b.schema().fields()) {
                let fresh = self
                    .fresh(run.key)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?
                    .ok_or_else(|| {
                        ArrowError::SchemaError(format!("schema id {} vanished", run.key))
                    })?;
                self.install(run.key, fresh);
            }
            if b.num_rows() != run.rows.len() {
                return Err(ArrowError::ComputeError(format!(
                    "internal: {} rows decoded for {} messages",
                    b.num_rows(),
                    run.rows.len()
                )));
            }
            parts.push((b, run.rows));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "avro_tests.rs"]
mod tests;
