//! JSON values to typed columns with arrow-json: validate each value, infer this batch's
//! schema, widen the running schema with it, apply `type_hints`, and decode the valid values
//! in one pass. Values that are not JSON objects, or that do not fit a hinted type, are set
//! aside with the reason; nothing else is dropped.

use super::bounds::Bounds;
use super::infer::{is_nested, merge_fields};
use super::TypeHint;
use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema, TimeUnit, TimestampMicrosecondType,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow_json::reader::infer_json_schema_from_iterator;
use arrow_json::ReaderBuilder;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::Arc;

/// What one batch decoded to.
pub(crate) struct JsonDecoded {
    /// The decoded rows (in input order, valid rows only), with the running schema.
    pub(crate) batch: RecordBatch,
    /// Input row index of each output row.
    pub(crate) rows: Vec<u32>,
    /// `(input row, reason)` of each value set aside.
    pub(crate) failed: Vec<(u32, String)>,
}

/// Decoding state of one pipeline: the running schema only grows and widens.
pub(crate) struct JsonDecoder {
    fields: Fields,
    hints: BTreeMap<String, TypeHint>,
    /// Nested values as JSON text (`max_table_nesting: "0"`).
    nested_as_text: bool,
    /// Top-level fields read as text from the raw JSON: `json` hints, nested values with
    /// `max_table_nesting: "0"`, and fields that held both nested and scalar values.
    text: HashSet<String>,
    /// Depth and size limits, applied to each value before it is parsed.
    bounds: Bounds,
    /// Nested types a schema declares for top-level columns ([`Self::with_declared`]).
    declared: BTreeMap<String, DataType>,
}

/// `declared` with the fields only `inferred` has added (in their inferred types), at any
/// depth: what a schema declares decides the type, and what it leaves out is still kept.
fn overlay(declared: &DataType, inferred: &DataType) -> DataType {
    match (declared, inferred) {
        (DataType::Struct(d), DataType::Struct(i)) => {
            let mut fields: Vec<FieldRef> = d
                .iter()
                .map(|f| match i.find(f.name()) {
                    Some((_, g)) => Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(overlay(f.data_type(), g.data_type())),
                    ),
                    None => f.clone(),
                })
                .collect();
            fields.extend(i.iter().filter(|g| d.find(g.name()).is_none()).cloned());
            DataType::Struct(fields.into())
        }
        (DataType::List(d), DataType::List(i)) => DataType::List(Arc::new(
            d.as_ref()
                .clone()
                .with_data_type(overlay(d.data_type(), i.data_type())),
        )),
        _ => declared.clone(),
    }
}

/// The top-level keys of a JSON object, in document order, without building its values.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

fn is_object(v: &[u8]) -> Result<(), String> {
    let first = v.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(v);
    match (first, parsed) {
        (None, _) => Err("empty value".to_string()),
        (Some(b'{'), Ok(_)) => Ok(()),
        (_, Err(e)) if std::str::from_utf8(v).is_err() => {
            Err(format!("not valid JSON: the value is not UTF-8 text ({e})"))
        }
        (_, Err(e)) => Err(format!("not valid JSON: {e}")),
        (Some(b), Ok(_)) => Err(format!(
            "the value is a JSON {}, not an object; each message must be one JSON object",
            match b {
                b'[' => "array",
                b'"' => "string",
                b't' | b'f' => "boolean",
                b'n' => "null",
                _ => "number",
            }
        )),
    }
}

/// Whether two inferred types disagree on a nested shape anywhere inside: a struct or a list
/// against a scalar, at any depth (two scalars just widen, to float or text).
fn shapes_conflict(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (x, y) if x == y => false,
        (DataType::Null, _) | (_, DataType::Null) => false,
        (DataType::Struct(x), DataType::Struct(y)) => x.iter().any(|xf| {
            y.find(xf.name())
                .is_some_and(|(_, yf)| shapes_conflict(xf.data_type(), yf.data_type()))
        }),
        (DataType::List(x), DataType::List(y)) => shapes_conflict(x.data_type(), y.data_type()),
        (x, y) => is_nested(x) || is_nested(y),
    }
}

/// The fields kept as text, each row parsed once for all of them: JSON text for nested
/// values, the plain string for strings.
fn text_columns(values: &[&[u8]], names: &[&str]) -> HashMap<String, ArrayRef> {
    let mut builders: Vec<StringBuilder> = names
        .iter()
        .map(|_| StringBuilder::with_capacity(values.len(), values.len() * 16))
        .collect();
    for v in values {
        let mut raw =
            serde_json::from_slice::<HashMap<String, Box<RawValue>>>(v).unwrap_or_default();
        for (name, b) in names.iter().zip(builders.iter_mut()) {
            match raw.remove(*name) {
                None => b.append_null(),
                Some(r) if r.get() == "null" => b.append_null(),
                Some(r) => match serde_json::from_str::<String>(r.get()) {
                    Ok(s) => b.append_value(s),
                    Err(_) => b.append_value(r.get()),
                },
            }
        }
    }
    names
        .iter()
        .zip(builders)
        .map(|(n, mut b)| (n.to_string(), Arc::new(b.finish()) as ArrayRef))
        .collect()
}

impl JsonDecoder {
    pub(crate) fn new(
        hints: BTreeMap<String, TypeHint>,
        nested_as_text: bool,
        bounds: Bounds,
    ) -> Self {
        let text = hints
            .iter()
            .filter(|(_, h)| **h == TypeHint::Json)
            .map(|(k, _)| k.clone())
            .collect();
        Self {
            fields: Fields::empty(),
            hints,
            nested_as_text,
            text,
            bounds,
            declared: BTreeMap::new(),
        }
    }

    /// The decoder with nested types declared for top-level columns (structs and lists, as a
    /// JSON Schema gives them): those columns are decoded as declared (a value that does not
    /// fit is set aside), with the fields the values add beyond the declaration inferred.
    pub(crate) fn with_declared(mut self, declared: BTreeMap<String, DataType>) -> Self {
        self.declared = declared;
        self
    }

    /// The declared type of a field, over what was inferred for it.
    fn declared_type(&self, f: &Field) -> Option<DataType> {
        self.declared
            .get(f.name())
            .map(|d| overlay(d, f.data_type()))
    }

    /// Whether a field is decoded from its raw JSON text rather than by arrow-json.
    fn is_text(&self, f: &Field) -> bool {
        self.text.contains(f.name())
    }

    /// The type a field is decoded as by arrow-json.
    fn decode_type(&self, f: &Field) -> DataType {
        if let Some(t) = self.declared_type(f) {
            return t;
        }
        match self.hints.get(f.name()) {
            Some(TypeHint::Binary) => DataType::Utf8,
            // arrow-json knows offsets, not zone names; relabelled UTC after decoding.
            Some(TypeHint::Timestamp) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            Some(h) => h.data_type(),
            None => f.data_type().clone(),
        }
    }

    /// Widens the running schema with what these values hold.
    fn learn(&mut self, values: &[&[u8]]) {
        let parsed = values
            .iter()
            .filter_map(|v| serde_json::from_slice::<serde_json::Value>(v).ok());
        // Fields whose records disagree on a nested shape (an object here, a number there, at
        // any depth): kept whole as JSON text.
        let mut mixed: HashSet<String> = HashSet::new();
        let batch_fields = match infer_json_schema_from_iterator(parsed.map(Ok)) {
            Ok(s) => s.fields().clone(),
            Err(_) => {
                // Conflicting shapes inside the batch: infer value by value and widen.
                let mut acc = Fields::empty();
                for v in values {
                    if let Ok(val) = serde_json::from_slice::<serde_json::Value>(v) {
                        if let Ok(s) = infer_json_schema_from_iterator(std::iter::once(Ok(val))) {
                            for f in s.fields().iter() {
                                if acc.find(f.name()).is_some_and(|(_, a)| {
                                    shapes_conflict(a.data_type(), f.data_type())
                                }) {
                                    mixed.insert(f.name().clone());
                                }
                            }
                            acc = merge_fields(&acc, s.fields());
                        }
                    }
                }
                acc
            }
        };
        for f in batch_fields.iter() {
            let hinted = self.hints.contains_key(f.name()) || self.declared.contains_key(f.name());
            let old = self
                .fields
                .find(f.name())
                .map(|(_, o)| o.data_type().clone());
            let conflict = old
                .as_ref()
                .is_some_and(|o| shapes_conflict(o, f.data_type()));
            let mixed = mixed.contains(f.name());
            if !hinted && (conflict || mixed || (self.nested_as_text && is_nested(f.data_type()))) {
                self.text.insert(f.name().clone());
            }
        }
        let new: Vec<&FieldRef> = batch_fields
            .iter()
            .filter(|f| self.fields.find(f.name()).is_none())
            .collect();
        let mut merged = merge_fields(&self.fields, &batch_fields);
        if !new.is_empty() {
            merged = self.first_seen_order(merged, &new, values);
        }
        self.fields = merged;
    }

    /// Puts newly seen top-level fields in the order they first appear in the values.
    fn first_seen_order(&self, merged: Fields, new: &[&FieldRef], values: &[&[u8]]) -> Fields {
        let wanted: HashSet<&str> = new.iter().map(|f| f.name().as_str()).collect();
        let mut order: Vec<String> = Vec::new();
        for v in values {
            if order.len() == wanted.len() {
                break;
            }
            if let Ok(Keys(keys)) = serde_json::from_slice::<Keys>(v) {
                for k in keys {
                    if wanted.contains(k.as_str()) && !order.contains(&k) {
                        order.push(k);
                    }
                }
            }
        }
        let old = merged.len() - new.len();
        let mut out: Vec<FieldRef> = merged.iter().take(old).cloned().collect();
        let mut fresh: Vec<FieldRef> = merged.iter().skip(old).cloned().collect();
        fresh.sort_by_key(|f| {
            order
                .iter()
                .position(|o| o == f.name())
                .unwrap_or(usize::MAX)
        });
        out.extend(fresh);
        Fields::from(out)
    }

    /// The running schema as decoded columns will have it.
    pub(crate) fn output_fields(&self) -> Vec<Field> {
        self.fields
            .iter()
            .map(|f| {
                let t = match (self.declared_type(f), self.hints.get(f.name())) {
                    (Some(t), _) => t,
                    (None, Some(h)) => h.data_type(),
                    (None, None) if self.is_text(f) => DataType::Utf8,
                    (None, None) => f.data_type().clone(),
                };
                Field::new(f.name(), t, true)
            })
            .collect()
    }

    /// Empty columns of the running schema, for a batch whose every value was set aside.
    fn empty_columns(&self) -> Vec<ArrayRef> {
        self.output_fields()
            .iter()
            .map(|f| arrow::array::new_empty_array(f.data_type()))
            .collect()
    }

    fn decode_all(&self, values: &[&[u8]], strict: bool) -> Result<Vec<ArrayRef>, ArrowError> {
        if values.is_empty() {
            return Ok(self.empty_columns());
        }
        let arrow_fields: Vec<Field> = self
            .fields
            .iter()
            .filter(|f| !self.is_text(f))
            .map(|f| Field::new(f.name(), self.decode_type(f), true))
            .collect();
        let decoded = if arrow_fields.is_empty() {
            None
        } else {
            let mut buf = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum());
            for v in values {
                buf.extend_from_slice(v);
                buf.push(b'\n');
            }
            let mut d = ReaderBuilder::new(Arc::new(Schema::new(arrow_fields)))
                .with_coerce_primitive(true)
                .with_strict_mode(strict)
                .with_batch_size(values.len().max(1))
                .build_decoder()?;
            let mut at = 0;
            while at < buf.len() {
                let n = d.decode(&buf[at..])?;
                if n == 0 {
                    break;
                }
                at += n;
            }
            d.flush()?
        };
        let text_names: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| self.is_text(f))
            .map(|f| f.name().as_str())
            .collect();
        let mut texts = if text_names.is_empty() {
            HashMap::new()
        } else {
            text_columns(values, &text_names)
        };
        let mut out = Vec::with_capacity(self.fields.len());
        for f in self.fields.iter() {
            let col = if let Some(c) = texts.remove(f.name()) {
                c
            } else {
                let c = decoded
                    .as_ref()
                    .and_then(|b| b.column_by_name(f.name()).cloned())
                    .ok_or_else(|| {
                        ArrowError::JsonError(format!("`{}` was not decoded", f.name()))
                    })?;
                match self.hints.get(f.name()) {
                    Some(TypeHint::Binary) => cast(&c, &DataType::Binary)?,
                    Some(TypeHint::Timestamp) => Arc::new(
                        c.as_primitive::<TimestampMicrosecondType>()
                            .clone()
                            .with_timezone("UTC"),
                    ),
                    _ => c,
                }
            };
            if col.len() != values.len() {
                return Err(ArrowError::JsonError(format!(
                    "`{}`: {} values for {} rows",
                    f.name(),
                    col.len(),
                    values.len()
                )));
            }
            out.push(col);
        }
        Ok(out)
    }

    /// Decodes the `value` column.
    pub(crate) fn decode(&mut self, values: &BinaryArray) -> Result<JsonDecoded, ArrowError> {
        let mut failed = Vec::new();
        let (bounded, rewritten) = self.bound(values, &mut failed);
        let value = |i: u32| -> &[u8] {
            rewritten
                .get(&i)
                .map_or_else(|| values.value(i as usize), Vec::as_slice)
        };
        let mut good: Vec<u32> = Vec::with_capacity(bounded.len());
        for i in bounded {
            match is_object(value(i)) {
                Ok(()) => good.push(i),
                Err(e) => failed.push((i, e)),
            }
        }
        if good.is_empty() {
            failed.sort_by_key(|(r, _)| *r);
            // Nothing valid in this batch: no rows, and nothing learnt.
            return Ok(JsonDecoded {
                batch: RecordBatch::new_empty(Arc::new(Schema::new(self.output_fields()))),
                rows: good,
                failed,
            });
        }
        let slices: Vec<&[u8]> = good.iter().map(|&i| value(i)).collect();
        // Fast path: the values fit the running schema exactly (strict mode refuses unknown
        // fields), so there is nothing to learn. Otherwise infer, widen, and decode.
        let fast = if self.text.is_empty() && !self.fields.is_empty() {
            self.decode_all(&slices, true).ok()
        } else {
            None
        };
        let attempt = match fast {
            Some(c) => Ok(c),
            None => {
                self.learn(&slices);
                self.decode_all(&slices, false)
            }
        };
        let columns = match attempt {
            Ok(c) => c,
            Err(_) => {
                // Some value does not fit (a hinted type, most often): set those aside.
                good = self.fitting(&good, &slices, &mut failed);
                let slices: Vec<&[u8]> = good.iter().map(|&i| value(i)).collect();
                self.decode_all(&slices, false)?
            }
        };
        failed.sort_by_key(|(r, _)| *r);
        let schema = Schema::new(self.output_fields());
        let batch = if schema.fields().is_empty() {
            RecordBatch::try_new_with_options(
                Arc::new(schema),
                vec![],
                &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(good.len())),
            )?
        } else {
            RecordBatch::try_new(Arc::new(schema), columns)?
        };
        Ok(JsonDecoded {
            batch,
            rows: good,
            failed,
        })
    }

    /// The rows within the bounds (nulls and values past a hard limit go to `failed`), and
    /// the values rewritten with their too-deep parts as JSON text, by row.
    fn bound(
        &self,
        values: &BinaryArray,
        failed: &mut Vec<(u32, String)>,
    ) -> (Vec<u32>, HashMap<u32, Vec<u8>>) {
        let mut rewritten: HashMap<u32, Vec<u8>> = HashMap::new();
        let mut bounded: Vec<u32> = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            if values.is_null(i) {
                failed.push((i as u32, "the value is null".to_string()));
                continue;
            }
            match self.bounds.apply(values.value(i)) {
                Ok(std::borrow::Cow::Borrowed(_)) => bounded.push(i as u32),
                Ok(std::borrow::Cow::Owned(v)) => {
                    rewritten.insert(i as u32, v);
                    bounded.push(i as u32);
                }
                Err(e) => failed.push((i as u32, e)),
            }
        }
        (bounded, rewritten)
    }

    /// The rows of `good` whose value decodes alone (`slices` in the same order); the others
    /// go to `failed` with the reason.
    fn fitting(&self, good: &[u32], slices: &[&[u8]], failed: &mut Vec<(u32, String)>) -> Vec<u32> {
        let mut keep = Vec::with_capacity(good.len());
        for (k, &row) in good.iter().enumerate() {
            match self.decode_all(&slices[k..=k], false) {
                Ok(_) => keep.push(row),
                Err(e) => failed.push((row, format!("does not fit the table's schema: {e}"))),
            }
        }
        keep
    }
}
