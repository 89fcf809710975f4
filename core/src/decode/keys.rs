//! `key_format`: how a Kafka message's key becomes `_kafka_key`. `string` (the default) is the
//! key as text; `raw` keeps its bytes; `json`, `avro` and `protobuf` decode it as values of
//! that format are decoded (Avro and Protobuf in the Confluent wire format with the
//! pipeline's schema registry, the key subject's schemas), so `_kafka_key` is a struct of
//! the key's fields. A message without a key has a null `_kafka_key`; a key that does not
//! decode makes its message a dead letter, with the reason.

use super::registry::RegistryConfig;
use super::{AvroSpec, DecodeConfig, Decoder, Format, ProtoSpec};
use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StructArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// `source.options.key_format`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeyFormat {
    /// The key as text (lossy UTF-8).
    #[default]
    String,
    /// The key's bytes.
    Raw,
    /// A JSON object: a struct of its fields.
    Json,
    /// Avro in the Confluent wire format.
    Avro(RegistryConfig),
    /// Protobuf in the Confluent wire format.
    Protobuf(RegistryConfig),
}

/// The decoder of a `key_format` that decodes (`json`, `avro`, `protobuf`).
pub(crate) fn decoder(cfg: &DecodeConfig) -> Option<Box<Decoder>> {
    let base = DecodeConfig {
        format: Format::Json,
        avro: None,
        protobuf: None,
        json_schema: None,
        key: KeyFormat::String,
        type_hints: Default::default(),
        ..cfg.clone()
    };
    let key_cfg = match &cfg.key {
        KeyFormat::String | KeyFormat::Raw => return None,
        KeyFormat::Json => base,
        KeyFormat::Avro(r) => DecodeConfig {
            format: Format::Avro,
            avro: Some(AvroSpec::Registry(r.clone())),
            ..base
        },
        KeyFormat::Protobuf(r) => DecodeConfig {
            format: Format::Protobuf,
            protobuf: Some(ProtoSpec::Registry(r.clone())),
            ..base
        },
    };
    Some(Box::new(Decoder::new(key_cfg)))
}

/// The decoded keys of an envelope batch.
pub(crate) struct Keys {
    /// One row per input row (null where the message has no key); `None` when no key of
    /// the batch decoded (a struct needs fields: the column is left out, so it reads null).
    pub(crate) column: Option<ArrayRef>,
    /// `(input row, reason)` of each key that did not decode.
    pub(crate) failed: Vec<(u32, String)>,
}

/// Decodes the `key` column of `batch` with `d`; `None` when the batch has no keys.
pub(crate) fn decode(d: &mut Decoder, batch: &RecordBatch) -> Result<Option<Keys>, ArrowError> {
    let Some(key) = batch.column_by_name("key") else {
        return Ok(None);
    };
    let key = cast(key, &DataType::Binary)?;
    let key: &BinaryArray = key.as_binary::<i32>();
    let decoded = d.decode_values(key)?;
    // Keys that are absent are null, not failures.
    let failed: Vec<(u32, String)> = decoded
        .failed
        .into_iter()
        .filter(|(r, _)| key.is_valid(*r as usize))
        .map(|(r, why)| (r, format!("key: {why}")))
        .collect();
    let b = decoded.batch;
    if b.num_columns() == 0 {
        return Ok(Some(Keys {
            column: None,
            failed,
        }));
    }
    let structs: ArrayRef = Arc::new(StructArray::try_new(
        b.schema().fields().clone(),
        b.columns().to_vec(),
        None,
    )?);
    // Row i of the input takes decoded row at[i], or null.
    let mut at: Vec<Option<u32>> = vec![None; key.len()];
    for (out, input) in decoded.rows.iter().enumerate() {
        at[*input as usize] = Some(out as u32);
    }
    let column = take(structs.as_ref(), &UInt32Array::from(at), None)?;
    Ok(Some(Keys {
        column: Some(column),
        failed,
    }))
}

/// `keys`' rows `rows` as the `_kafka_key` column (`None`: leave it out).
pub(crate) fn column_for(keys: &Keys, rows: &UInt32Array) -> Result<Option<ArrayRef>, ArrowError> {
    keys.column
        .as_ref()
        .map(|c| take(c.as_ref(), rows, None))
        .transpose()
}

/// Sets aside the rows of `decoded` whose key failed: they join `decoded.failed`.
pub(crate) fn drop_failed(
    decoded: &mut super::json::JsonDecoded,
    failed: &[(u32, String)],
) -> Result<(), ArrowError> {
    if failed.is_empty() {
        return Ok(());
    }
    let bad: std::collections::HashMap<u32, &String> =
        failed.iter().map(|(r, why)| (*r, why)).collect();
    let keep: arrow::array::BooleanArray = decoded
        .rows
        .iter()
        .map(|r| Some(!bad.contains_key(r)))
        .collect();
    for r in &decoded.rows {
        if let Some(why) = bad.get(r) {
            decoded.failed.push((*r, (*why).clone()));
        }
    }
    decoded.failed.sort_by_key(|(r, _)| *r);
    decoded.rows.retain(|r| !bad.contains_key(r));
    decoded.batch = arrow::compute::filter_record_batch(&decoded.batch, &keep)?;
    Ok(())
}

/// The key column kept as bytes (`key_format: raw`), for the rows `rows`.
pub(crate) fn raw(batch: &RecordBatch, rows: &UInt32Array) -> Result<Option<ArrayRef>, ArrowError> {
    let Some(key) = batch.column_by_name("key") else {
        return Ok(None);
    };
    Ok(Some(take(
        cast(key, &DataType::Binary)?.as_ref(),
        rows,
        None,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::envelope::Broker;
    use arrow::array::{new_null_array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;

    /// A Kafka envelope of `(key, value)` messages.
    fn kafka(messages: &[(Option<&[u8]>, &str)]) -> RecordBatch {
        let schema = Arc::new(Broker::Kafka.schema());
        let n = messages.len();
        let keys = BinaryArray::from(messages.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        let values: BinaryArray = messages.iter().map(|(_, v)| Some(v.as_bytes())).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(keys),
            Arc::new(values),
            new_null_array(schema.field(2).data_type(), n),
            Arc::new(StringArray::from(vec!["t"; n])),
            Arc::new(Int32Array::from(vec![0; n])),
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            new_null_array(schema.field(6).data_type(), n),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn decoder(key: KeyFormat) -> Decoder {
        Decoder::new(DecodeConfig {
            key,
            ..DecodeConfig::default()
        })
    }

    const VALUE: &str = r#"{"n": 1}"#;

    #[test]
    fn json_keys_become_a_struct_and_a_key_that_is_not_json_sets_its_message_aside() {
        let batch = kafka(&[
            (Some(br#"{"id": 7, "region": "eu"}"#), VALUE),
            (None, VALUE),
            (Some(b"not json"), VALUE),
            (Some(br#"{"id": 9, "region": "us"}"#), VALUE),
        ]);
        let out = decoder(KeyFormat::Json).decode(batch).unwrap();
        let b = out.batch.unwrap();
        assert_eq!(out.rows, Some(vec![0, 1, 3]));
        let key = b.column_by_name("_kafka_key").unwrap().as_struct();
        let id = key
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!((id.value(0), id.value(2)), (7, 9));
        assert!(key.is_null(1), "a message without a key has a null key");
        let region = key.column_by_name("region").unwrap().as_string::<i32>();
        assert_eq!(region.value(2), "us");
        let dead = out.dead.unwrap();
        assert_eq!(dead.num_rows(), 1);
        let error = dead.column_by_name("_error").unwrap().as_string::<i32>();
        assert!(
            error.value(0).contains("key: not valid JSON"),
            "{}",
            error.value(0)
        );
        assert!(dead.column_by_name("_position").unwrap().is_valid(0));
    }

    #[test]
    fn string_keys_are_text_and_raw_keys_keep_their_bytes() {
        let bytes: &[u8] = &[0xff, 0x00, 0x41];
        let batch = kafka(&[
            (Some(b"order-1"), VALUE),
            (Some(bytes), VALUE),
            (None, VALUE),
        ]);
        let out = decoder(KeyFormat::String).decode(batch.clone()).unwrap();
        let b = out.batch.unwrap();
        let key = b.column_by_name("_kafka_key").unwrap().as_string::<i32>();
        assert_eq!(key.value(0), "order-1");
        assert_eq!(key.value(1), "\u{fffd}\u{0}A", "lossy UTF-8");
        assert!(key.is_null(2));
        let out = decoder(KeyFormat::Raw).decode(batch).unwrap();
        let b = out.batch.unwrap();
        let key = b.column_by_name("_kafka_key").unwrap().as_binary::<i32>();
        assert_eq!(key.value(1), bytes);
        assert!(key.is_null(2));
    }
}
