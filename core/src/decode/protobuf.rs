//! `format: protobuf`: values in the Confluent wire format (magic byte 0, a 4-byte big-endian
//! schema id, the message indexes as zigzag varints, the message) with descriptors from a
//! schema registry, or, with `proto_descriptor` and `proto_message`, bare messages of one
//! type from a compiled `FileDescriptorSet`. Each message is decoded by `prost-reflect` with
//! its writer's descriptor, and a run of messages of one type becomes a sub-batch
//! ([`super::proto_arrow`]); the sub-batches of a micro-batch are unified
//! ([`super::unify`]), so a schema that evolves widens the table as Avro's does.
//!
//! A message that does not decode (wrong framing, an id the registry does not know, message
//! indexes that name no message, bytes that are not that message) is set aside with its
//! reason; the others land.

use super::proto_arrow;
use super::registry::{confluent_id, Fetched, Registry, RegistryError, SchemaType};
use super::unify;
use super::{payload, SchemaDecoded};
use arrow::array::{Array, BinaryArray};
use arrow::datatypes::Schema;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use prost_reflect::prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How many levels of references a schema may have.
const MAX_REFERENCE_DEPTH: usize = 32;

/// Where the descriptors come from.
pub enum Descriptors {
    /// A schema registry: messages carry schema ids and message indexes.
    Registry(Registry),
    /// `proto_descriptor` + `proto_message`: bare messages of one type.
    File(MessageDescriptor),
}

impl std::fmt::Debug for Descriptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry(_) => f.write_str("Descriptors::Registry"),
            Self::File(m) => write!(f, "Descriptors::File({})", m.full_name()),
        }
    }
}

impl Descriptors {
    /// `message` of the `FileDescriptorSet` in `set` (the well-known types are known).
    pub fn file(set: &[u8], message: &str) -> Result<Self, String> {
        let mut pool = DescriptorPool::global();
        pool.decode_file_descriptor_set(set)
            .map_err(|e| format!("not a FileDescriptorSet weir can read: {e}"))?;
        let name = message.trim().trim_start_matches('.');
        match pool.get_message_by_name(name) {
            Some(m) => Ok(Self::File(m)),
            None => {
                let known: Vec<String> = pool
                    .all_messages()
                    .filter(|m| !m.full_name().starts_with("google.protobuf."))
                    .map(|m| m.full_name().to_string())
                    .take(20)
                    .collect();
                Err(format!(
                    "no message `{name}` in it; it has {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }
        }
    }
}

/// The decoding state of one pipeline.
pub struct ProtoDecoder {
    descriptors: Descriptors,
    /// The file of each registry id seen, as a pool holding it and its imports.
    pools: HashMap<u32, prost_reflect::FileDescriptor>,
    max_bytes: usize,
}

/// A run of messages of one type.
struct Run {
    desc: MessageDescriptor,
    rows: Vec<u32>,
    messages: Vec<DynamicMessage>,
}

/// Why a message is set aside, or that the registry cannot be reached.
enum Refusal {
    Bad(String),
    Unknown(u32),
    Registry(RegistryError),
}

impl ProtoDecoder {
    /// A decoder; values over `max_bytes` are set aside.
    pub fn new(descriptors: Descriptors, max_bytes: usize) -> Self {
        Self {
            descriptors,
            pools: HashMap::new(),
            max_bytes,
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
            let (desc, body) = match self.frame(v, &unknown) {
                Ok(f) => f,
                Err(Refusal::Bad(why)) => {
                    failed.push((i, why));
                    continue;
                }
                Err(Refusal::Unknown(id)) => {
                    unknown.insert(id);
                    failed.push((i, format!("schema id {id} is not in the schema registry")));
                    continue;
                }
                Err(Refusal::Registry(e @ RegistryError::Unavailable { .. })) => {
                    return Ok(SchemaDecoded::unavailable(e))
                }
                Err(Refusal::Registry(e)) => return Err(ArrowError::ExternalError(Box::new(e))),
            };
            let message = match DynamicMessage::decode(desc.clone(), body) {
                Ok(m) => m,
                Err(e) => {
                    failed.push((i, format!("not a valid {} message: {e}", desc.full_name())));
                    continue;
                }
            };
            if run.as_ref().is_some_and(|r| r.desc != desc) {
                if let Some(r) = run.take() {
                    parts.push(flush(r)?);
                }
            }
            let r = run.get_or_insert_with(|| Run {
                desc,
                rows: Vec::new(),
                messages: Vec::new(),
            });
            r.rows.push(i);
            r.messages.push(message);
        }
        if let Some(r) = run.take() {
            parts.push(flush(r)?);
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

    /// The message type of a value and its body.
    fn frame<'v>(
        &mut self,
        v: &'v [u8],
        unknown: &HashSet<u32>,
    ) -> Result<(MessageDescriptor, &'v [u8]), Refusal> {
        let registry = match &mut self.descriptors {
            Descriptors::File(m) => return Ok((m.clone(), v)),
            Descriptors::Registry(r) => r,
        };
        let id = confluent_id(v).map_err(Refusal::Bad)?;
        let (indexes, body) = message_indexes(&v[5..]).map_err(Refusal::Bad)?;
        if unknown.contains(&id) {
            return Err(Refusal::Unknown(id));
        }
        let file = match self.pools.get(&id) {
            Some(f) => f.clone(),
            None => {
                let f = match registry.by_id(id, SchemaType::Protobuf) {
                    Ok(Some(f)) => file_of(registry, id, &f).map_err(Refusal::Registry)?,
                    Ok(None) => return Err(Refusal::Unknown(id)),
                    Err(e) => return Err(Refusal::Registry(e)),
                };
                self.pools.insert(id, f.clone());
                f
            }
        };
        let desc = message_at(&file, &indexes).ok_or_else(|| {
            Refusal::Bad(format!(
                "message indexes {indexes:?} name no message of schema id {id} ({})",
                file.name()
            ))
        })?;
        Ok((desc, body))
    }
}

/// The run's messages as a sub-batch.
fn flush(run: Run) -> Result<(RecordBatch, Vec<u32>), ArrowError> {
    let schema = Arc::new(Schema::new(proto_arrow::fields(&run.desc)));
    let columns = proto_arrow::columns(&run.desc, &run.messages)?;
    let batch = RecordBatch::try_new(schema, columns)?;
    Ok((batch, run.rows))
}

/// The message indexes after the schema id (`[0]`, the file's first message, is one 0 byte)
/// and the rest of the value.
fn message_indexes(bytes: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let mut rest = bytes;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(1..=100).contains(&count) {
        return Err(format!(
            "{count} message indexes; not a Protobuf wire-format header"
        ));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let i = zigzag(&mut rest)?;
        out.push(usize::try_from(i).map_err(|_| format!("a negative message index {i}"))?);
    }
    Ok((out, rest))
}

fn zigzag(bytes: &mut &[u8]) -> Result<i64, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some((&b, rest)) = bytes.split_first() else {
            return Err("the message indexes end early".into());
        };
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err("a message index longer than 10 bytes".into())
}

/// The message the indexes name: the file's top-level message at the first, then nested.
fn message_at(
    file: &prost_reflect::FileDescriptor,
    indexes: &[usize],
) -> Option<MessageDescriptor> {
    let (first, rest) = indexes.split_first()?;
    let mut m = file.messages().nth(*first)?;
    for i in rest {
        let child = m.child_messages().nth(*i)?;
        m = child;
    }
    Some(m)
}

/// The file of schema `id`, in a pool with the well-known types and its references.
fn file_of(
    registry: &Registry,
    id: u32,
    fetched: &Fetched,
) -> Result<prost_reflect::FileDescriptor, RegistryError> {
    let mut pool = DescriptorPool::global();
    let mut seen = HashSet::new();
    add_references(registry, &mut pool, fetched, &mut seen, 0)?;
    let bytes = descriptor_bytes(&fetched.schema, &format!("schema id {id}"))?;
    let proto = FileDescriptorProto::decode(bytes.as_slice())
        .map_err(|e| RegistryError::Config(format!("schema id {id}: not a descriptor: {e}")))?;
    let name = proto.name().to_string();
    pool.add_file_descriptor_proto(proto)
        .map_err(|e| RegistryError::Config(format!("schema id {id}: {e}")))?;
    pool.get_file_by_name(&name)
        .ok_or_else(|| RegistryError::Config(format!("schema id {id}: no file {name} in it")))
}

/// Adds the references of `of` (depth first, imports before importers) to `pool`.
fn add_references(
    registry: &Registry,
    pool: &mut DescriptorPool,
    of: &Fetched,
    seen: &mut HashSet<String>,
    depth: usize,
) -> Result<(), RegistryError> {
    if depth > MAX_REFERENCE_DEPTH {
        return Err(RegistryError::Config(format!(
            "schema references nest deeper than {MAX_REFERENCE_DEPTH}"
        )));
    }
    for r in &of.references {
        if !seen.insert(r.name.clone()) || pool.get_file_by_name(&r.name).is_some() {
            continue;
        }
        let Some(dep) = registry.by_subject(r, SchemaType::Protobuf)? else {
            return Err(RegistryError::Config(format!(
                "the reference {} (subject {}, version {}) is not in the schema registry",
                r.name, r.subject, r.version
            )));
        };
        add_references(registry, pool, &dep, seen, depth + 1)?;
        let bytes = descriptor_bytes(&dep.schema, &r.name)?;
        pool.decode_file_descriptor_proto(bytes.as_slice())
            .map_err(|e| RegistryError::Config(format!("{}: {e}", r.name)))?;
    }
    Ok(())
}

/// A serialized `FileDescriptorProto` from the registry's base64 text.
fn descriptor_bytes(schema: &str, what: &str) -> Result<Vec<u8>, RegistryError> {
    base64::engine::general_purpose::STANDARD
        .decode(schema.trim())
        .map_err(|_| {
            RegistryError::Config(format!(
                "{what}: the registry gave .proto text, not the serialized descriptor weir asks for (?format=serialized, Confluent Schema Registry 5.5 and later)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_indexes_read_as_confluent_writes_them() {
        // [0] is one 0 byte.
        assert_eq!(message_indexes(&[0, 9]).unwrap(), (vec![0], &[9u8][..]));
        // [1] is count 1 (zigzag 2), index 1 (zigzag 2); [2, 0] count 2 then 4 and 0.
        assert_eq!(message_indexes(&[2, 2, 7]).unwrap(), (vec![1], &[7u8][..]));
        assert_eq!(message_indexes(&[4, 4, 0]).unwrap(), (vec![2, 0], &[][..]));
        assert!(message_indexes(&[2]).is_err());
        assert!(message_indexes(&[3, 2]).is_err(), "a negative count");
    }
}
