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

/// A run of messages of one writer schema: the decoder's key and the input rows in it.
struct Run {
    key: u32,
    rows: Vec<u32>,
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
            if self.decoder(key).is_none() {
                // An id the registry did not know is asked for once per batch.
                let fetched = if unknown.contains(&key) {
                    Ok(None)
                } else {
                    self.fresh(key)
                };
                match fetched {
                    Ok(Some(d)) => self.install(key, d),
                    Ok(None) => {
                        unknown.insert(key);
                        failed.push((i, format!("schema id {key} is not in the schema registry")));
                        continue;
                    }
                    Err(e @ RegistryError::Unavailable { .. }) => {
                        return Ok(SchemaDecoded::unavailable(e))
                    }
                    Err(e) => return Err(ArrowError::ExternalError(Box::new(e))),
                }
            }
            if run
                .as_ref()
                .is_some_and(|r| r.key != key || r.rows.len() >= BATCH)
            {
                if let Some(r) = run.take() {
                    self.flush(r, &mut parts)?;
                }
            }
            let r = run.get_or_insert_with(|| Run {
                key,
                rows: Vec::new(),
            });
            match self.feed(key, &bytes) {
                Ok(()) => r.rows.push(i),
                Err(why) => {
                    failed.push((i, why));
                    self.rebuild(key, &r.rows, values)?;
                }
            }
        }
        if let Some(r) = run.take() {
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
    const RECORD_2: &str = "040e6f726465722d32e307000000000000e03f0000803e000402000402046e32040474320474320004026104026203000a6369747932a49c010202d0bf02a49f82e288d2a3069ca0d5edee66";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
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
