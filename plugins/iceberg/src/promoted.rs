//! The base table a type promotion is committed from: the loaded table with its current
//! schema's columns already widened (same schema id, same field ids), made by editing the
//! metadata's JSON form, the one way to change a schema in place that iceberg-rust exposes.

use crate::types::promoted_name;
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use serde_json::Value;
use weir_sdk::arrow::datatypes::Field;

/// `table` with each of `fields` (top-level columns) given its wider type in the current schema.
pub(crate) fn base(table: &Table, fields: &[Field]) -> Result<Table, String> {
    let md = table.metadata();
    let mut doc = serde_json::to_value(md).map_err(|e| format!("table metadata: {e}"))?;
    let current = i64::from(md.current_schema_id());
    let schema = doc
        .get_mut("schemas")
        .and_then(Value::as_array_mut)
        .and_then(|all| {
            all.iter_mut()
                .find(|s| s.get("schema-id").and_then(Value::as_i64) == Some(current))
        })
        .ok_or("table metadata: no current schema")?;
    let columns = schema
        .get_mut("fields")
        .and_then(Value::as_array_mut)
        .ok_or("table metadata: a schema without fields")?;
    for f in fields {
        let name = promoted_name(f.data_type())
            .ok_or_else(|| format!("column `{}`: no promotion to {}", f.name(), f.data_type()))?;
        let column = columns
            .iter_mut()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(f.name().as_str()))
            .ok_or_else(|| format!("column `{}` is not in the table", f.name()))?;
        column["type"] = Value::String(name);
    }
    let md: TableMetadata =
        serde_json::from_value(doc).map_err(|e| format!("table metadata: {e}"))?;
    let mut builder = Table::builder()
        .metadata(md)
        .identifier(table.identifier().clone())
        .file_io(table.file_io().clone())
        .runtime(iceberg::Runtime::try_current().map_err(|e| e.to_string())?);
    if let Some(location) = table.metadata_location() {
        builder = builder.metadata_location(location);
    }
    builder.build().map_err(|e| e.to_string())
}
