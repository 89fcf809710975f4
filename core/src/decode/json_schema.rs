//! `format: json_schema`: JSON values in the Confluent wire format (magic byte 0, a 4-byte
//! big-endian schema id, the JSON text) whose JSON Schemas are in a schema registry. The
//! types of the schema's top-level properties are the columns' types (`integer` bigint,
//! `number` double, `boolean` bool, `string` text, or timestamp, date and time for the
//! `date-time`, `date` and `time` formats; `["null", T]` is a nullable T), so a value that
//! does not fit its declared type is a dead letter instead of widening the column. Object
//! and array properties are structs and lists of what they declare, at any depth (integer,
//! number, boolean, string inside them; formats stay text there); what they leave
//! undeclared is inferred as `format: json` infers it, and kept. Each schema id has its own
//! JSON decoder, a run of one id is a sub-batch, and the runs merge by [`super::unify`].
//! `type_hints` still apply, over the schema's types.

use super::bounds::Bounds;
use super::json::JsonDecoder;
use super::registry::{confluent_id, Registry, RegistryError, SchemaType};
use super::{payload, unify, SchemaDecoded, TypeHint};
use arrow::array::{Array, BinaryArray};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A run of one schema id: the id, the input rows, their JSON bodies.
type Run<'v> = (u32, Vec<u32>, Vec<&'v [u8]>);

/// The decoding state of one pipeline.
pub struct JsonSchemaDecoder {
    registry: Registry,
    /// One JSON decoder per schema id.
    decoders: HashMap<u32, JsonDecoder>,
    hints: BTreeMap<String, TypeHint>,
    nested_as_text: bool,
    bounds: Bounds,
}

/// The column types a JSON Schema declares for its top-level properties.
pub(crate) fn schema_hints(schema: &str) -> Result<BTreeMap<String, TypeHint>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| format!("not JSON: {e}"))?;
    let Some(props) = doc["properties"].as_object() else {
        return Err("not an object schema (no `properties`)".into());
    };
    let mut hints = BTreeMap::new();
    for (name, p) in props {
        let types = declared_types(p);
        let hint = match (types.as_slice(), p["format"].as_str()) {
            (["integer"], _) => TypeHint::Bigint,
            (["number"], _) | (["integer", "number"], _) | (["number", "integer"], _) => {
                TypeHint::Double
            }
            (["boolean"], _) => TypeHint::Bool,
            (["string"], Some("date-time")) => TypeHint::Timestamp,
            (["string"], Some("date")) => TypeHint::Date,
            (["string"], Some("time")) => TypeHint::Time,
            (["string"], _) => TypeHint::Text,
            // Objects and arrays keep their structure; anything looser is left to inference.
            _ => continue,
        };
        hints.insert(name.clone(), hint);
    }
    Ok(hints)
}

/// The types a property declares, `null` left out (it only makes the column nullable).
fn declared_types(p: &serde_json::Value) -> Vec<&str> {
    match &p["type"] {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str())
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

/// The Arrow types a JSON Schema declares for its top-level object and array properties: a
/// struct of an object's declared properties (in name order), a list of an array's declared items, at any
/// depth; inside them integer is bigint, number double, boolean bool and string text
/// (formats inside nested values stay text). What a schema leaves undeclared (a property
/// of no single type, `additionalProperties`) is left to inference
/// ([`JsonDecoder::with_declared`] keeps it).
pub(crate) fn schema_structures(schema: &str) -> Result<BTreeMap<String, DataType>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| format!("not JSON: {e}"))?;
    let Some(props) = doc["properties"].as_object() else {
        return Err("not an object schema (no `properties`)".into());
    };
    Ok(props
        .iter()
        .filter(|(_, p)| matches!(declared_types(p).as_slice(), ["object"] | ["array"]))
        .filter_map(|(name, p)| nested_type(p).map(|t| (name.clone(), t)))
        .collect())
}

fn nested_type(p: &serde_json::Value) -> Option<DataType> {
    match declared_types(p).as_slice() {
        ["object"] => {
            let fields: Vec<Field> = p["properties"]
                .as_object()?
                .iter()
                .filter_map(|(n, q)| nested_type(q).map(|t| Field::new(n, t, true)))
                .collect();
            (!fields.is_empty()).then(|| DataType::Struct(fields.into()))
        }
        ["array"] => nested_type(&p["items"])
            .map(|t| DataType::List(std::sync::Arc::new(Field::new("item", t, true)))),
        ["integer"] => Some(DataType::Int64),
        ["number"] | ["integer", "number"] | ["number", "integer"] => Some(DataType::Float64),
        ["boolean"] => Some(DataType::Boolean),
        ["string"] => Some(DataType::Utf8),
        _ => None,
    }
}

impl JsonSchemaDecoder {
    /// A decoder; `hints` (the pipeline's `type_hints`) win over the schemas' types.
    pub fn new(
        registry: Registry,
        hints: BTreeMap<String, TypeHint>,
        nested_as_text: bool,
        bounds: Bounds,
    ) -> Self {
        Self {
            registry,
            decoders: HashMap::new(),
            hints,
            nested_as_text,
            bounds,
        }
    }

    /// The decoder of schema `id`; `Ok(None)` when the registry does not know it.
    fn decoder(&mut self, id: u32) -> Result<Option<&mut JsonDecoder>, RegistryError> {
        if !self.decoders.contains_key(&id) {
            let Some(f) = self.registry.by_id(id, SchemaType::Json)? else {
                return Ok(None);
            };
            let bad = |e| RegistryError::Config(format!("schema id {id}: {e}"));
            let mut hints = schema_hints(&f.schema).map_err(bad)?;
            let mut declared = schema_structures(&f.schema).map_err(bad)?;
            // The pipeline's type_hints win over the schema.
            declared.retain(|name, _| !self.hints.contains_key(name));
            hints.extend(self.hints.clone());
            let d = JsonDecoder::new(hints, self.nested_as_text, self.bounds);
            self.decoders.insert(id, d.with_declared(declared));
        }
        Ok(self.decoders.get_mut(&id))
    }

    /// Decodes the `value` column.
    pub(crate) fn decode(&mut self, values: &BinaryArray) -> Result<SchemaDecoded, ArrowError> {
        let mut failed = Vec::new();
        let mut unknown: HashSet<u32> = HashSet::new();
        let mut runs: Vec<Run<'_>> = Vec::new();
        for i in 0..values.len() as u32 {
            let framed = payload(values, i, self.bounds.max_message_bytes)
                .and_then(|v| confluent_id(v).map(|id| (id, v)));
            let (id, v) = match framed {
                Ok(f) => f,
                Err(why) => {
                    failed.push((i, why));
                    continue;
                }
            };
            let known = !unknown.contains(&id)
                && match self.decoder(id) {
                    Ok(d) => d.is_some(),
                    Err(e @ RegistryError::Unavailable { .. }) => {
                        return Ok(SchemaDecoded::unavailable(e))
                    }
                    Err(e) => return Err(ArrowError::ExternalError(Box::new(e))),
                };
            if !known {
                unknown.insert(id);
                failed.push((i, format!("schema id {id} is not in the schema registry")));
                continue;
            }
            match runs.last_mut() {
                Some((last, rows, bodies)) if *last == id => {
                    rows.push(i);
                    bodies.push(&v[5..]);
                }
                _ => runs.push((id, vec![i], vec![&v[5..]])),
            }
        }
        let mut parts: Vec<RecordBatch> = Vec::new();
        let mut rows: Vec<u32> = Vec::new();
        for (id, run_rows, bodies) in runs {
            let d = self
                .decoders
                .get_mut(&id)
                .ok_or_else(|| ArrowError::SchemaError("internal: no decoder".into()))?;
            let decoded = d.decode(&BinaryArray::from(bodies))?;
            failed.extend(
                decoded
                    .failed
                    .into_iter()
                    .map(|(r, why)| (run_rows[r as usize], why)),
            );
            if !decoded.rows.is_empty() {
                rows.extend(decoded.rows.iter().map(|r| run_rows[*r as usize]));
                parts.push(decoded.batch);
            }
        }
        failed.sort_by_key(|(r, _)| *r);
        Ok(SchemaDecoded {
            batch: unify::concat(parts)?,
            rows,
            failed,
            unavailable: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_properties_give_their_types() {
        let hints = schema_hints(
            r#"{"type": "object", "properties": {
                "id": {"type": "integer"}, "price": {"type": ["null", "number"]},
                "ok": {"type": "boolean"}, "at": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"}, "name": {"type": "string"},
                "address": {"type": "object", "properties": {"city": {"type": "string"}}}}}"#,
        )
        .unwrap();
        assert_eq!(hints["id"], TypeHint::Bigint);
        assert_eq!(hints["price"], TypeHint::Double);
        assert_eq!(hints["ok"], TypeHint::Bool);
        assert_eq!(hints["at"], TypeHint::Timestamp);
        assert_eq!(hints["day"], TypeHint::Date);
        assert_eq!(hints["name"], TypeHint::Text);
        assert!(!hints.contains_key("address"));
        assert!(schema_hints(r#"{"type": "string"}"#).is_err());
    }

    const NESTED: &str = r#"{"type": "object", "properties": {
        "id": {"type": "integer"},
        "address": {"type": ["null", "object"], "properties": {
            "zip": {"type": "integer"}, "lat": {"type": "number"},
            "lines": {"type": "array", "items": {"type": "string"}}}},
        "scores": {"type": "array", "items": {"type": "number"}}}}"#;

    #[test]
    fn nested_properties_give_structs_and_lists_of_their_types() {
        let declared = schema_structures(NESTED).unwrap();
        let lines = DataType::List(std::sync::Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        )));
        assert_eq!(
            declared["address"],
            DataType::Struct(
                vec![
                    // In name order (the schema's JSON is read into a sorted map).
                    Field::new("lat", DataType::Float64, true),
                    Field::new("lines", lines, true),
                    Field::new("zip", DataType::Int64, true),
                ]
                .into()
            )
        );
        assert_eq!(
            declared["scores"],
            DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::Float64,
                true
            )))
        );
        assert!(!declared.contains_key("id"), "scalars are hints");
    }

    #[test]
    fn nested_values_take_the_declared_types_and_keep_what_is_undeclared() {
        use arrow::array::AsArray;
        let mut d = JsonDecoder::new(schema_hints(NESTED).unwrap(), false, Bounds::default())
            .with_declared(schema_structures(NESTED).unwrap());
        let values = BinaryArray::from(vec![
            br#"{"id": 1, "address": {"zip": 10001, "lat": 40, "extra": true}, "scores": [1, 2]}"#
                .as_slice(),
            br#"{"id": 2, "address": {"zip": "not a number"}, "scores": []}"#,
            br#"{"id": 3, "address": null, "scores": [3]}"#,
        ]);
        let out = d.decode(&values).unwrap();
        assert_eq!(out.rows, vec![0, 2]);
        assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
        assert_eq!(out.failed[0].0, 1);
        let address = out.batch.column_by_name("address").unwrap().as_struct();
        // Inference would make `lat` (40) and the scores (1, 2) integers: declared numbers.
        let lat = address.column_by_name("lat").unwrap();
        assert_eq!(lat.data_type(), &DataType::Float64);
        assert_eq!(
            address.column_by_name("zip").unwrap().data_type(),
            &DataType::Int64
        );
        let extra = address.column_by_name("extra").unwrap().as_boolean();
        assert!(extra.value(0), "an undeclared field is kept, inferred");
        assert!(address.is_null(1));
        let scores = out.batch.column_by_name("scores").unwrap().as_list::<i32>();
        assert_eq!(scores.values().data_type(), &DataType::Float64);
    }
}
