//! Decoding (docs/architecture.md section 2, steps 3 and 4): broker envelopes become typed rows.
//!
//! - `format: json` (the default): each `value` is parsed into typed columns ([`json`]): the
//!   schema comes from `type_hints` plus inference that only widens as new fields appear; nested
//!   objects stay structs, or JSON text with `max_table_nesting: "0"`;
//! - `format: avro`: Avro in the Confluent wire format with a schema registry, or plain and
//!   single-object encoded Avro with `avro_schema` ([`avro`]), straight into Arrow columns;
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
pub mod naming;
pub mod registry;
mod unify;

pub use bounds::Bounds;
pub use envelope::{layout_of, Broker};
pub use naming::Naming;

use arrow::array::{Array, ArrayRef, StructArray, UInt32Array};
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
}

/// Where `format: avro` finds its writer schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvroSpec {
    /// A schema registry (`schema_registry_url`): messages in the Confluent wire format.
    Registry(registry::RegistryConfig),
    /// `avro_schema` (the schema's JSON text): plain binary or single-object encoding.
    Inline(String),
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
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            format: Format::default(),
            avro: None,
            type_hints: BTreeMap::new(),
            nested_as_text: false,
            naming: Naming::default(),
            bounds: Bounds::default(),
            dead_letter_raw: true,
            typed_input: false,
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
        Self {
            json: json::JsonDecoder::new(cfg.type_hints.clone(), cfg.nested_as_text, cfg.bounds),
            avro,
            cfg,
        }
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
        let values = envelope::values(&batch)?;
        let decoded = match self.avro.as_mut() {
            Some(avro) => {
                let avro = avro
                    .as_mut()
                    .map_err(|e| ArrowError::InvalidArgumentError(e.clone()))?;
                let d = avro.decode(&values)?;
                if let Some(e) = d.unavailable {
                    return Err(ArrowError::ExternalError(Box::new(e)));
                }
                json::JsonDecoded {
                    batch: d
                        .batch
                        .unwrap_or_else(|| RecordBatch::new_empty(Arc::new(Schema::empty()))),
                    rows: d.rows,
                    failed: d.failed,
                }
            }
            None => self.json.decode(&values)?,
        };
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
        for (f, c) in envelope::metadata_columns(broker, &batch, &rows)? {
            fields.push(f);
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
