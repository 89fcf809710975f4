//! `partition_by` in the Nilus list form, as the Iceberg partition spec a new table gets.
//!
//! Each item is `{column, type, name, index}`, with `bucket_count` for `bucket` and `width`
//! for `truncate`; items are ordered by `index`. Types: `identity`, `year`, `month`, `day`,
//! `hour`, `bucket` (`bucket[N]`, N = `bucket_count`), `truncate` (`truncate[W]`). Iceberg
//! computes partition values from the source column, so no column is added to the data.
//! The spec is set when the table is created; an existing table keeps its own.

use iceberg::spec::{Schema, Transform, UnboundPartitionSpec};
use serde_json::Value;
use weir_sdk::envelope::naming::Naming;

/// One `partition_by` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionField {
    pub(crate) column: String,
    pub(crate) transform: Transform,
    pub(crate) name: String,
    pub(crate) index: i64,
}

/// Parses the list, sorted by `index`; column names normalised as the table's are.
pub(crate) fn parse(v: &Value, naming: Naming) -> Result<Vec<PartitionField>, String> {
    let items = v
        .as_array()
        .ok_or("must be a list of {column, type, name, index}")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.push(parse_item(item, &format!("item {}", i + 1), naming)?);
    }
    out.sort_by_key(|p| p.index);
    for (i, p) in out.iter().enumerate() {
        if out[..i].iter().any(|q| q.name == p.name) {
            return Err(format!("partition name `{}` appears twice", p.name));
        }
    }
    Ok(out)
}

fn parse_item(item: &Value, at: &str, naming: Naming) -> Result<PartitionField, String> {
    let obj = item.as_object().ok_or(format!(
        "{at} must be an object with column, type, name, index"
    ))?;
    for k in obj.keys() {
        if !["column", "type", "name", "index", "bucket_count", "width"].contains(&k.as_str()) {
            return Err(format!(
                "{at}: unknown key `{k}` (known: column, type, name, index, bucket_count, width)"
            ));
        }
    }
    let text = |k: &str| -> Result<String, String> {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .ok_or(format!("{at}: `{k}` is required (a string)"))
    };
    let count = |k: &str, what: &str| -> Result<u32, String> {
        obj.get(k)
            .and_then(Value::as_u64)
            .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
            .map(|n| n as u32)
            .ok_or(format!(
                "{at}: type `{what}` needs `{k}`, a whole number of at least 1"
            ))
    };
    let column = naming.apply(&text("column")?);
    let name = text("name")?;
    let transform = match text("type")?.to_ascii_lowercase().as_str() {
        "identity" => Transform::Identity,
        "year" => Transform::Year,
        "month" => Transform::Month,
        "day" => Transform::Day,
        "hour" => Transform::Hour,
        "bucket" => Transform::Bucket(count("bucket_count", "bucket")?),
        "truncate" => Transform::Truncate(count("width", "truncate")?),
        other => {
            return Err(format!(
            "{at}: type `{other}` is not one of identity, year, month, day, hour, bucket, truncate"
        ))
        }
    };
    let index = obj
        .get("index")
        .and_then(Value::as_i64)
        .ok_or(format!("{at}: `index` is required (a whole number)"))?;
    Ok(PartitionField {
        column,
        transform,
        name,
        index,
    })
}

/// The partition spec for a table of `schema`, or why it cannot be made (a column the first
/// batch lacks, a transform its type does not take).
pub(crate) fn spec(
    fields: &[PartitionField],
    schema: &Schema,
) -> Result<UnboundPartitionSpec, String> {
    let mut builder = UnboundPartitionSpec::builder();
    for p in fields {
        let field = schema.field_by_name(&p.column).ok_or(format!(
            "partition `{}`: the first batch has no column `{}` to compute it from",
            p.name, p.column
        ))?;
        p.transform
            .result_type(&field.field_type)
            .map_err(|e| format!("partition `{}` on column `{}`: {e}", p.name, p.column))?;
        builder = builder
            .add_partition_field(field.id, &p.name, p.transform)
            .map_err(|e| format!("partition `{}`: {e}", p.name))?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_nilus_list_with_buckets_and_truncation() {
        let v = json!([
            {"column": "id", "type": "bucket", "name": "id_bucket", "index": 2, "bucket_count": 8},
            {"column": "createdAt", "type": "day", "name": "day", "index": 1},
            {"column": "sku", "type": "truncate", "name": "sku3", "index": 3, "width": 3}
        ]);
        let p = parse(&v, Naming::Snake).unwrap();
        let got: Vec<(&str, Transform)> =
            p.iter().map(|p| (p.column.as_str(), p.transform)).collect();
        assert_eq!(
            got,
            vec![
                ("created_at", Transform::Day),
                ("id", Transform::Bucket(8)),
                ("sku", Transform::Truncate(3))
            ]
        );
        let e = parse(
            &json!([{"column": "id", "type": "bucket", "name": "b", "index": 1}]),
            Naming::Snake,
        )
        .unwrap_err();
        assert!(e.contains("bucket_count"), "{e}");
        let e = parse(
            &json!([{"column": "id", "type": "week", "name": "b", "index": 1}]),
            Naming::Snake,
        )
        .unwrap_err();
        assert!(e.contains("`week`"), "{e}");
    }
}
