//! Decoding (docs/architecture.md section 2, steps 3 and 4): broker envelopes become typed rows.
//!
//! - `format: json` (the default): each `value` is parsed into typed columns ([`json`]): the
//!   schema comes from `type_hints` plus inference that only widens as new fields appear; nested
//!   objects stay structs, or JSON text with `max_table_nesting: "0"`;
//! - `format: avro`: Avro in the Confluent wire format with a schema registry, or plain and
//!   single-object encoded Avro with `avro_schema` ([`avro`]), straight into Arrow columns;
//! - `format: protobuf`: Protobuf in the Confluent wire format with a schema registry, or bare
//!   messages of `proto_message` from `proto_descriptor` ([`protobuf`], [`proto_arrow`]);
//! - `format: json_schema`: JSON in the Confluent wire format, typed by the registry's JSON
//!   Schemas ([`json_schema`]);
//! - `format: raw`: Nilus's upstream shape, one `_kafka` / `_nats` struct with the value as text.
//!
//! Decoded rows get the metadata columns `_kafka_topic`, `_kafka_partition`, `_kafka_offset`,
//! `_kafka_timestamp`, `_kafka_key` or `_nats_subject`, `_nats_sequence`, `_nats_timestamp`,
//! and snake_case names unless `SCHEMA_NAMING=direct`. A value that does not decode becomes a
//! dead letter (the envelope row, its position and the reason); nothing is dropped silently.
//! Typed batches (sources that say so, such as the generator) pass through untouched.

pub mod avro;
pub mod bounds;
pub(crate) mod envelope;
mod infer;
mod json;
pub mod json_schema;
pub mod keys;
pub mod naming;
mod proto_arrow;
pub mod protobuf;
pub mod registry;
mod unify;

pub use bounds::Bounds;
pub use envelope::{layout_of, Broker};
pub use naming::Naming;

use arrow::array::{Array, ArrayRef, BinaryArray, StructArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `source.options.format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Parse `value` as a JSON object into typed columns.
    #[default]
    Json,
    /// Keep the envelope as a `_kafka` / `_nats` struct with the value as text.
    Raw,
    /// Decode `value` as Avro (see [`AvroSpec`]).
    Avro,
    /// Decode `value` as Protobuf (see [`ProtoSpec`]).
    Protobuf,
    /// Decode `value` as JSON typed by its JSON Schema in a registry.
    JsonSchema,
}

/// Where `format: avro` finds its writer schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvroSpec {
    /// A schema registry (`schema_registry_url`): messages in the Confluent wire format.
    Registry(registry::RegistryConfig),
    /// `avro_schema` (the schema's JSON text): plain binary or single-object encoding.
    Inline(String),
}

/// Where `format: protobuf` finds its descriptors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoSpec {
    /// A schema registry (`schema_registry_url`): messages in the Confluent wire format.
    Registry(registry::RegistryConfig),
    /// `proto_descriptor` (a compiled `FileDescriptorSet`, as bytes) and `proto_message`
    /// (the message's full name): bare messages.
    File {
        /// The `FileDescriptorSet`.
        set: Vec<u8>,
        /// The message type of every value.
        message: String,
    },
}

/// What a decoder with writer schemas (Avro, Protobuf) made of one batch.
pub(crate) struct SchemaDecoded {
    /// The decoded rows (input order, valid rows only), unified; `None` when none decoded.
    pub(crate) batch: Option<RecordBatch>,
    /// Input row of each output row.
    pub(crate) rows: Vec<u32>,
    /// `(input row, reason)` of each value set aside.
    pub(crate) failed: Vec<(u32, String)>,
    /// The registry could not be reached (the batch must be retried, nothing set aside).
    pub(crate) unavailable: Option<registry::RegistryError>,
}

impl SchemaDecoded {
    /// The registry could not be reached: nothing decoded, nothing set aside.
    pub(crate) fn unavailable(e: registry::RegistryError) -> Self {
        Self {
            batch: None,
            rows: Vec::new(),
            failed: Vec::new(),
            unavailable: Some(e),
        }
    }
}

/// Value `i` of `values`, or why it is set aside before decoding: none, or over `max_bytes`.
pub(crate) fn payload(values: &BinaryArray, i: u32, max_bytes: usize) -> Result<&[u8], String> {
    if values.is_null(i as usize) {
        return Err("no value (a null payload)".to_string());
    }
    let v = values.value(i as usize);
    if v.len() > max_bytes {
        return Err(format!("{} bytes, over max_message_bytes", v.len()));
    }
    Ok(v)
}

/// A Nilus `type_hints` type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeHint {
    /// Text (utf8).
    Text,
    /// 64-bit integer.
    Bigint,
    /// Boolean.
    Bool,
    /// Timestamp, microseconds, UTC.
    Timestamp,
    /// Date.
    Date,
    /// Decimal(38, 9), dlt's default precision.
    Decimal,
    /// 64-bit float.
    Double,
    /// Bytes.
    Binary,
    /// JSON text of the value as it came.
    Json,
    /// Time of day, microseconds.
    Time,
}

impl TypeHint {
    /// The Nilus names, in the order of its docs.
    pub const NAMES: [&'static str; 10] = [
        "text",
        "bigint",
        "bool",
        "timestamp",
        "date",
        "decimal",
        "double",
        "binary",
        "json",
        "time",
    ];

    /// Parses a Nilus type name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "text" => Self::Text,
            "bigint" => Self::Bigint,
            "bool" => Self::Bool,
            "timestamp" => Self::Timestamp,
            "date" => Self::Date,
            "decimal" => Self::Decimal,
            "double" => Self::Double,
            "binary" => Self::Binary,
            "json" => Self::Json,
            "time" => Self::Time,
            _ => return None,
        })
    }

    /// The Arrow type of a column with this hint.
    pub fn data_type(self) -> DataType {
        match self {
            Self::Text | Self::Json => DataType::Utf8,
            Self::Bigint => DataType::Int64,
            Self::Bool => DataType::Boolean,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Date => DataType::Date32,
            Self::Decimal => DataType::Decimal128(38, 9),
            Self::Double => DataType::Float64,
            Self::Binary => DataType::Binary,
            Self::Time => DataType::Time64(TimeUnit::Microsecond),
        }
    }
}

/// How values are decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeConfig {
    /// `format`.
    pub format: Format,
    /// Writer schemas of `format: avro`.
    pub avro: Option<AvroSpec>,
    /// Descriptors of `format: protobuf`.
    pub protobuf: Option<ProtoSpec>,
    /// The registry of `format: json_schema`.
    pub json_schema: Option<registry::RegistryConfig>,
    /// `key_format`: how Kafka keys become `_kafka_key`.
    pub key: keys::KeyFormat,
    /// `type_hints`, by column name as it comes in the JSON.
    pub type_hints: BTreeMap<String, TypeHint>,
    /// `max_table_nesting: "0"`: nested values as JSON text.
    pub nested_as_text: bool,
    /// `SCHEMA_NAMING`.
    pub naming: Naming,
    /// `max_nesting_depth` and `max_message_bytes`.
    pub bounds: Bounds,
    /// Dead letters keep the raw `key` and `value` (`dead_letter_raw: true`, or no `mask`);
    /// otherwise they hold their SHA-256 and size instead.
    pub dead_letter_raw: bool,
    /// The source declared typed batches (`typed_output`): nothing is decoded, whatever the
    /// columns look like. Otherwise a batch is decoded when it is an envelope (`layout_of`).
    pub typed_input: bool,
    /// `headers_as_text: true`: `_kafka_headers` / `_nats_headers` values as UTF-8 text
    /// (lossy) rather than bytes.
    pub headers_as_text: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            format: Format::default(),
            avro: None,
            protobuf: None,
            json_schema: None,
            key: keys::KeyFormat::String,
            type_hints: BTreeMap::new(),
            nested_as_text: false,
            naming: Naming::default(),
            bounds: Bounds::default(),
            dead_letter_raw: true,
            typed_input: false,
            headers_as_text: false,
        }
    }
}

/// One micro-batch, decoded.
#[derive(Debug)]
pub struct Decoded {
    /// The rows that decoded (`None` when none did).
    pub batch: Option<RecordBatch>,
    /// The envelope rows that did not, with `_position` and `_error` (`None` when all did).
    pub dead: Option<RecordBatch>,
    /// For each row of `batch`, its row in the input (`None` for a batch that passed through).
    pub rows: Option<Vec<u32>>,
}

/// Decodes a pipeline's micro-batches; keeps the running schema.
pub struct Decoder {
    cfg: DecodeConfig,
    json: json::JsonDecoder,
    /// The Avro decoder of `format: avro`, or why it cannot be made.
    avro: Option<Result<avro::AvroDecoder, String>>,
    /// The Protobuf decoder of `format: protobuf`, or why it cannot be made.
    protobuf: Option<Result<protobuf::ProtoDecoder, String>>,
    /// The decoder of `format: json_schema`, or why it cannot be made.
    json_schema: Option<Result<json_schema::JsonSchemaDecoder, String>>,
    /// The key decoder of `key_format: json | avro | protobuf`.
    key: Option<Box<Decoder>>,
}

impl Decoder {
    /// A decoder.
    pub fn new(cfg: DecodeConfig) -> Self {
        let avro = (cfg.format == Format::Avro).then(|| {
            let schemas = match &cfg.avro {
                Some(AvroSpec::Registry(r)) => registry::Registry::new(r.clone())
                    .map(avro::Schemas::Registry)
                    .map_err(|e| e.to_string()),
                Some(AvroSpec::Inline(text)) => {
                    avro::Schemas::inline(text).map_err(|e| format!("avro_schema: {e}"))
                }
                None => Err("format: avro needs schema_registry_url or avro_schema".into()),
            };
            schemas.map(|s| avro::AvroDecoder::new(s, cfg.bounds.max_message_bytes))
        });
        let protobuf = (cfg.format == Format::Protobuf).then(|| {
            let descriptors = match &cfg.protobuf {
                Some(ProtoSpec::Registry(r)) => registry::Registry::new(r.clone())
                    .map(protobuf::Descriptors::Registry)
                    .map_err(|e| e.to_string()),
                Some(ProtoSpec::File { set, message }) => protobuf::Descriptors::file(set, message)
                    .map_err(|e| format!("proto_descriptor: {e}")),
                None => Err(
                    "format: protobuf needs schema_registry_url or proto_descriptor and proto_message"
                        .into(),
                ),
            };
            descriptors.map(|d| protobuf::ProtoDecoder::new(d, cfg.bounds.max_message_bytes))
        });
        let json_schema = (cfg.format == Format::JsonSchema).then(|| {
            let r = cfg
                .json_schema
                .clone()
                .ok_or_else(|| "format: json_schema needs schema_registry_url".to_string())?;
            registry::Registry::new(r)
                .map(|r| {
                    json_schema::JsonSchemaDecoder::new(
                        r,
                        cfg.type_hints.clone(),
                        cfg.nested_as_text,
                        cfg.bounds,
                    )
                })
                .map_err(|e| e.to_string())
        });
        Self {
            json: json::JsonDecoder::new(cfg.type_hints.clone(), cfg.nested_as_text, cfg.bounds),
            avro,
            protobuf,
            json_schema,
            key: keys::decoder(&cfg),
            cfg,
        }
    }

    /// The values decoded by the pipeline's format.
    fn decode_values(&mut self, values: &BinaryArray) -> Result<json::JsonDecoded, ArrowError> {
        let typed = if let Some(avro) = self.avro.as_mut() {
            let avro = avro
                .as_mut()
                .map_err(|e| ArrowError::InvalidArgumentError(e.clone()))?;
            avro.decode(values)?
        } else if let Some(proto) = self.protobuf.as_mut() {
            let proto = proto
                .as_mut()
                .map_err(|e| ArrowError::InvalidArgumentError(e.clone()))?;
            proto.decode(values)?
        } else if let Some(js) = self.json_schema.as_mut() {
            let js = js
                .as_mut()
                .map_err(|e| ArrowError::InvalidArgumentError(e.clone()))?;
            js.decode(values)?
        } else {
            return self.json.decode(values);
        };
        if let Some(e) = typed.unavailable {
            return Err(ArrowError::ExternalError(Box::new(e)));
        }
        Ok(json::JsonDecoded {
            batch: typed
                .batch
                .unwrap_or_else(|| RecordBatch::new_empty(Arc::new(Schema::empty()))),
            rows: typed.rows,
            failed: typed.failed,
        })
    }

    /// Decodes one micro-batch. A batch that is not a broker envelope passes through.
    pub fn decode(&mut self, batch: RecordBatch) -> Result<Decoded, ArrowError> {
        let broker = if self.cfg.typed_input {
            None
        } else {
            layout_of(&batch)
        };
        let Some(broker) = broker else {
            return Ok(Decoded {
                batch: Some(batch),
                dead: None,
                rows: None,
            });
        };
        if self.cfg.format == Format::Raw {
            return Ok(Decoded {
                batch: Some(envelope::raw(broker, &batch)?),
                dead: None,
                rows: None,
            });
        }
        let keys = match self.key.as_mut() {
            Some(d) => keys::decode(d, &batch)?,
            None => None,
        };
        let values = envelope::values(&batch)?;
        let mut decoded = self.decode_values(&values)?;
        if let Some(k) = &keys {
            keys::drop_failed(&mut decoded, &k.failed)?;
        }
        let dead = self.dead_letters(&batch, &decoded.failed)?;
        if decoded.rows.is_empty() {
            return Ok(Decoded {
                batch: None,
                dead,
                rows: Some(decoded.rows),
            });
        }
        let rows = UInt32Array::from(decoded.rows.clone());
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (f, c) in decoded
            .batch
            .schema()
            .fields()
            .iter()
            .zip(decoded.batch.columns())
        {
            let (f, c) = rename(f, c, self.cfg.naming)?;
            fields.push(f);
            columns.push(c);
        }
        let meta = envelope::metadata_columns(broker, &batch, &rows, self.cfg.headers_as_text)?;
        for (f, c) in meta {
            let c = match (f.name().as_str(), &self.cfg.key, &keys) {
                ("_kafka_key", _, Some(k)) => match keys::column_for(k, &rows)? {
                    Some(c) => c,
                    None => continue,
                },
                ("_kafka_key", keys::KeyFormat::Raw, _) => keys::raw(&batch, &rows)?.unwrap_or(c),
                _ => c,
            };
            fields.push(Field::new(f.name(), c.data_type().clone(), true));
            columns.push(c);
        }
        dedupe_names(&mut fields);
        let out = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        Ok(Decoded {
            batch: Some(out),
            dead,
            rows: Some(decoded.rows),
        })
    }

    /// Dead letters for rows of an envelope batch, `(input row, reason)`: the envelope rows
    /// with `_position` and `_error`, the payload as the pipeline's `dead_letter_raw` says.
    /// `None` for no rows, or for a batch that is no envelope.
    pub fn dead_letters(
        &self,
        envelope: &RecordBatch,
        failed: &[(u32, String)],
    ) -> Result<Option<RecordBatch>, ArrowError> {
        let Some(broker) = layout_of(envelope).filter(|_| !self.cfg.typed_input) else {
            return Ok(None);
        };
        if failed.is_empty() {
            return Ok(None);
        }
        let positions = envelope::positions(broker, envelope)?;
        let rows: Vec<u32> = failed.iter().map(|(r, _)| *r).collect();
        let reasons: Vec<String> = failed
            .iter()
            .map(|(r, why)| format!("value at {}: {why}", positions[*r as usize]))
            .collect();
        let dead = envelope::dead_letters(envelope, &rows, &positions, &reasons)?;
        if self.cfg.dead_letter_raw {
            Ok(Some(dead))
        } else {
            envelope::without_payload(&dead).map(Some)
        }
    }
}

/// A column renamed by `naming`, the fields of nested structs included.
fn rename(f: &Field, c: &ArrayRef, naming: Naming) -> Result<(Field, ArrayRef), ArrowError> {
    let array = match c.as_any().downcast_ref::<StructArray>() {
        Some(st) => {
            let mut fields = Vec::new();
            let mut columns = Vec::new();
            for (cf, cc) in st.fields().iter().zip(st.columns()) {
                let (cf, cc) = rename(cf, cc, naming)?;
                fields.push(cf);
                columns.push(cc);
            }
            dedupe_names(&mut fields);
            Arc::new(StructArray::try_new(
                Fields::from(fields),
                columns,
                st.nulls().cloned(),
            )?) as ArrayRef
        }
        None => c.clone(),
    };
    Ok((
        Field::new(
            naming.apply(f.name()),
            array.data_type().clone(),
            f.is_nullable(),
        ),
        array,
    ))
}

/// Names that normalise to the same column get `_2`, `_3`, ... in order of appearance.
fn dedupe_names(fields: &mut [Field]) {
    let mut seen = std::collections::HashSet::new();
    for f in fields.iter_mut() {
        if !seen.insert(f.name().clone()) {
            let mut n = 2;
            while seen.contains(&format!("{}_{n}", f.name())) {
                n += 1;
            }
            let name = format!("{}_{n}", f.name());
            seen.insert(name.clone());
            *f = f.clone().with_name(name);
        }
    }
}

#[cfg(test)]
mod tests;
