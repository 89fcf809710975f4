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

/// Messages fed to a decoder in one call at most: their bytes, read once to frame them, are
/// still in the CPU's cache when the decoder reads them.
const PENDING: usize = 128;

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
        let mut failed = Vec::new();
        let mut unknown: HashSet<u32> = HashSet::new();
        let mut parts: Vec<(RecordBatch, Vec<u32>)> = Vec::new();
        let mut run: Option<Run> = None;
        for i in 0..values.len() as u32 {
            let v = match payload(values, i, self.max_bytes) {
                Ok(v) => v,
                Err(why) => {
                    failed.push((i, why));
                    continue;
                }
            };
            let (key, bytes) = match self.frame(v) {
                Ok(f) => f,
                Err(why) => {
                    failed.push((i, why));
                    continue;
                }
            };
            match self.ensure(key, &mut unknown) {
                Ok(true) => {}
                Ok(false) => {
                    failed.push((i, format!("schema id {key} is not in the schema registry")));
                    continue;
                }
                Err(e @ RegistryError::Unavailable { .. }) => {
                    return Ok(SchemaDecoded::unavailable(e))
                }
                Err(e) => return Err(ArrowError::ExternalError(Box::new(e))),
            }
            if run
                .as_ref()
                .is_some_and(|r| r.key != key || r.rows.len() + r.pending.len() >= BATCH)
            {
                if let Some(mut r) = run.take() {
                    self.feed_pending(&mut r, values, &mut failed)?;
                    self.flush(r, &mut parts)?;
                }
            }
            let r = run.get_or_insert_with(|| Run {
                key,
                rows: Vec::new(),
                pending: Vec::new(),
            });
            // Messages framed in place that follow each other are fed together.
            let in_place = matches!(bytes, std::borrow::Cow::Borrowed(_));
            if in_place && r.pending.len() < PENDING && r.pending.last().is_none_or(|p| p + 1 == i)
            {
                r.pending.push(i);
                continue;
            }
            self.feed_pending(r, values, &mut failed)?;
            if in_place {
                r.pending.push(i);
                continue;
            }
            match self.feed(key, &bytes) {
                Ok(()) => r.rows.push(i),
                Err(why) => {
                    failed.push((i, why));
                    self.rebuild(key, &r.rows, values)?;
                }
            }
        }
        if let Some(mut r) = run.take() {
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
            let offsets = values.value_offsets();
            let bytes = &values.value_data()
                [offsets[*first as usize] as usize..offsets[*last as usize + 1] as usize];
            let d = self
                .decoder(r.key)
                .ok_or_else(|| ArrowError::SchemaError("internal: no decoder".into()))?;
            let before = d.capacity();
            let whole = d.decode(bytes).is_ok_and(|used| used == bytes.len())
                && before.checked_sub(d.capacity()) == Some(pending.len());
            if whole {
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
mod tests {
    use super::*;
    use arrow::array::AsArray;

    /// The `Order` schema of `tests/harness/avro_tool.py`, and its record 2 as fastavro wrote
    /// it (plain binary).
    const ORDER: &str = include_str!("../../../tests/harness/order.avsc");
    const RECORD_2: &str = "040e6f726465722d32e307000000000000e03f0000803e000402000402046e32040474320474320004026104026203000a6369747932a49c010202d0bf02a49f82e288d2a3069ca0d5edee66000000028c92f401e4adadf30eb4b0d787d067d49fcf82bcc9a906";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn single_object_runs_are_fed_together_and_poison_among_them_is_found() {
        let schemas = Schemas::inline(ORDER).unwrap();
        let Schemas::Inline { fingerprint, .. } = &schemas else {
            unreachable!()
        };
        let mut good = vec![0xC3, 0x01];
        good.extend_from_slice(&fingerprint.to_le_bytes());
        good.extend_from_slice(&hex(RECORD_2));
        let truncated = &good[..good.len() - 4];
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0x02, 0x04]);
        let mut d = AvroDecoder::new(schemas, 1 << 20);
        let values = BinaryArray::from(vec![
            good.as_slice(),
            good.as_slice(),
            truncated,
            good.as_slice(),
            trailing.as_slice(),
            good.as_slice(),
            good.as_slice(),
        ]);
        for round in 0..2 {
            let out = d.decode(&values).unwrap();
            assert_eq!(out.rows, vec![0, 1, 3, 5, 6], "round {round}");
            let bad: Vec<u32> = out.failed.iter().map(|(r, _)| *r).collect();
            assert_eq!(bad, vec![2, 4], "round {round}: {:?}", out.failed);
            assert_eq!(out.batch.unwrap().num_rows(), 5);
        }
        // A clean run is one call, and gives every row.
        let clean = BinaryArray::from(vec![good.as_slice(); 100]);
        let out = d.decode(&clean).unwrap();
        assert_eq!(out.rows.len(), 100);
        assert!(out.failed.is_empty());
    }

    #[test]
    fn plain_binary_decodes_every_type_and_poison_is_set_aside() {
        let mut d = AvroDecoder::new(Schemas::inline(ORDER).unwrap(), 1 << 20);
        let good = hex(RECORD_2);
        let values = BinaryArray::from(vec![
            good.as_slice(),
            &good[..good.len() / 2],
            good.as_slice(),
        ]);
        let out = d.decode(&values).unwrap();
        assert_eq!(out.rows, vec![0, 2]);
        assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
        let b = out.batch.unwrap();
        let attrs = b.column_by_name("attrs").unwrap().as_map();
        assert_eq!(attrs.value(0).len(), 2, "{:?}", b.schema());
        let colour = b.column_by_name("colour").unwrap();
        assert_eq!(colour.as_string::<i32>().value(0), "BLUE");
    }
}

#[cfg(test)]
mod union_tests {
    use super::*;
    use arrow::array::AsArray;

    const UNION: &str = r#"{"type": "record", "name": "U", "fields": [{"name": "alt", "type": ["long", "string"]}]}"#;

    fn value(i: i64) -> Vec<u8> {
        if i % 2 == 0 {
            vec![0x00, (i * 2) as u8]
        } else {
            vec![0x02, 0x04, b's', b'0' + i as u8]
        }
    }

    #[test]
    fn general_unions_decode_across_batches() {
        let mut d = AvroDecoder::new(Schemas::inline(UNION).unwrap(), 1 << 20);
        for round in 0..3 {
            let vals: Vec<Vec<u8>> = (0..5).map(value).collect();
            let refs: Vec<&[u8]> = vals.iter().map(|v| v.as_slice()).collect();
            let out = d
                .decode(&BinaryArray::from(refs))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(out.failed, vec![], "round {round}");
            let b = out.batch.unwrap();
            assert_eq!(b.num_rows(), 5, "round {round}");
            let st = b.column(0).as_struct();
            assert_eq!(st.num_columns(), 2, "{:?}", b.schema());
        }
    }
}

#[cfg(test)]
mod logical_type_tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType};

    const SCHEMA: &str = r#"{"type": "record", "name": "L", "fields": [
        {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 4}},
        {"name": "tod_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "tod_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}}]}"#;
    const UUID: &str = "123e4567-e89b-12d3-a456-426614174000";

    /// Avro's zigzag varint of `n`.
    fn long(n: i64, out: &mut Vec<u8>) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    #[test]
    fn fixed_times_local_timestamps_and_uuids_take_the_types_the_sinks_hold() {
        let mut v = vec![1, 2, 3, 4];
        long(3_600_000, &mut v);
        long(3_600_000_123, &mut v);
        long(1_767_225_600_000, &mut v);
        long(1_767_225_600_000_001, &mut v);
        long(UUID.len() as i64, &mut v);
        v.extend_from_slice(UUID.as_bytes());
        let mut d = AvroDecoder::new(Schemas::inline(SCHEMA).unwrap(), 1 << 20);
        let out = d.decode(&BinaryArray::from(vec![v.as_slice()])).unwrap();
        assert_eq!(out.failed, vec![]);
        let b = out.batch.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap();
        assert_eq!(col("code").as_binary::<i32>().value(0), &[1, 2, 3, 4]);
        let micros = DataType::Time64(TimeUnit::Microsecond);
        assert_eq!(col("tod_ms").data_type(), &micros);
        assert_eq!(
            col("tod_ms")
                .as_primitive::<Time64MicrosecondType>()
                .value(0),
            3_600_000_000
        );
        assert_eq!(
            col("tod_us")
                .as_primitive::<Time64MicrosecondType>()
                .value(0),
            3_600_000_123
        );
        for (name, want) in [
            ("lts_ms", 1_767_225_600_000_000),
            ("lts_us", 1_767_225_600_000_001),
        ] {
            assert_eq!(
                col(name).data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, None),
                "{name}"
            );
            assert_eq!(
                col(name)
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(0),
                want,
                "{name}"
            );
        }
        assert_eq!(col("uid").as_string::<i32>().value(0), UUID);
    }
}
