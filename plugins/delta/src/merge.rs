//! `incremental_strategy: merge` and compaction, both on DataFusion.
//!
//! A batch upserts on the primary key: inside one batch the last row per key wins (rows come
//! in position order, so that is the one with the highest position), then a Delta MERGE
//! updates matching rows and inserts the rest, in one commit with the batch's `txn` actions.

use deltalake::arrow::array::UInt32Array;
use deltalake::arrow::compute::take_record_batch;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::row::{RowConverter, SortField};
use deltalake::datafusion::common::{Column, TableReference};
use deltalake::datafusion::logical_expr::{and, Expr};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::{DeltaTable, DeltaTableError};
use std::collections::HashMap;
use std::num::NonZeroU64;

/// The last row of every key, in the order of those rows.
pub(crate) fn last_per_key(batch: &RecordBatch, key: &[String]) -> Result<RecordBatch, String> {
    let mut cols = Vec::new();
    for k in key {
        cols.push(
            batch
                .column_by_name(k)
                .ok_or_else(|| format!("primary key column `{k}` is not in the batch"))?
                .clone(),
        );
    }
    let converter = RowConverter::new(
        cols.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
    .map_err(|e| e.to_string())?;
    let rows = converter
        .convert_columns(&cols)
        .map_err(|e| e.to_string())?;
    let mut last: HashMap<&[u8], u32> = HashMap::with_capacity(batch.num_rows());
    for (i, row) in rows.iter().enumerate() {
        last.insert(row.data(), i as u32);
    }
    if last.len() == batch.num_rows() {
        return Ok(batch.clone());
    }
    let mut keep: Vec<u32> = last.into_values().collect();
    keep.sort_unstable();
    take_record_batch(batch, &UInt32Array::from(keep)).map_err(|e| e.to_string())
}

fn column(alias: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(TableReference::bare(alias)), name))
}

/// MERGE `batch` into `table` on `key`: matching rows take every column of the batch, others
/// are inserted.
pub(crate) async fn upsert(
    table: DeltaTable,
    batch: RecordBatch,
    key: &[String],
    props: CommitProperties,
) -> Result<DeltaTable, DeltaTableError> {
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let ctx = SessionContext::new();
    let source = ctx.read_batch(batch)?;
    let predicate = key
        .iter()
        .map(|k| column("t", k).eq(column("s", k)))
        .reduce(and)
        .ok_or_else(|| DeltaTableError::Generic("merge needs a primary key".into()))?;
    let (table, _metrics) = table
        .merge(source, predicate)
        .with_source_alias("s")
        .with_target_alias("t")
        .with_commit_properties(props)
        .when_matched_update(|mut u| {
            for n in &names {
                u = u.update(n.as_str(), column("s", n));
            }
            u
        })?
        .when_not_matched_insert(|mut i| {
            for n in &names {
                i = i.set(n.as_str(), column("s", n));
            }
            i
        })?
        .await?;
    Ok(table)
}

/// Bin-packs small files; returns the table and the files removed and added.
pub(crate) async fn compact(
    table: DeltaTable,
    target_size: u64,
) -> Result<(DeltaTable, u64, u64), DeltaTableError> {
    let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
    let (table, metrics) = table.optimize().with_target_size(target).await?;
    Ok((table, metrics.num_files_removed, metrics.num_files_added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn the_last_row_of_each_key_wins() {
        let b = RecordBatch::try_from_iter(vec![
            (
                "k",
                Arc::new(Int64Array::from(vec![1, 2, 1, 3, 2])) as ArrayRef,
            ),
            (
                "v",
                Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"])),
            ),
        ])
        .unwrap();
        let out = last_per_key(&b, &["k".into()]).unwrap();
        let v = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let got: Vec<&str> = (0..v.len()).map(|i| v.value(i)).collect();
        assert_eq!(got, vec!["c", "d", "e"]);
        assert!(last_per_key(&b, &["nope".into()]).is_err());
    }
}
