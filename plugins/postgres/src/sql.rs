//! The SQL the sink sends, built in one place: every identifier quoted, every value a
//! parameter or a COPY field (never spliced into the text).

use crate::config::TableName;
use crate::evolve::{Ddl, Target};

/// `"name"`, doubling inner quotes.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub(crate) fn table(t: &TableName) -> String {
    format!("{}.{}", ident(&t.schema), ident(&t.table))
}

pub(crate) fn create_schema(t: &TableName) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", ident(&t.schema))
}

pub(crate) fn create_positions(t: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (pipeline text NOT NULL, key text NOT NULL, next bigint NOT NULL, \
         updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, key))",
        table(t)
    )
}

/// The positions of `$1` (pipeline) for the keys `$2` (text[]), their rows locked.
pub(crate) fn lock_positions(t: &TableName) -> String {
    format!(
        "SELECT key, next FROM {} WHERE pipeline = $1 AND key = ANY($2) FOR UPDATE",
        table(t)
    )
}

/// The positions of `$1` for the keys `$2`, unlocked.
pub(crate) fn read_positions(t: &TableName) -> String {
    format!(
        "SELECT key, next FROM {} WHERE pipeline = $1 AND key = ANY($2)",
        table(t)
    )
}

/// Upserts `$1` (pipeline) with keys `$2` (text[]) and nexts `$3` (bigint[]).
pub(crate) fn upsert_positions(t: &TableName) -> String {
    format!(
        "INSERT INTO {} (pipeline, key, next) SELECT $1, k, n FROM unnest($2::text[], $3::bigint[]) AS u(k, n) \
         ON CONFLICT (pipeline, key) DO UPDATE SET next = EXCLUDED.next, updated_at = now()",
        table(t)
    )
}

/// The table's columns with their types as `format_type` spells them (none: no table).
pub(crate) const COLUMNS: &str = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

/// Whether the table exists (`$1`: its quoted name).
pub(crate) const EXISTS: &str = "SELECT to_regclass($1) IS NOT NULL";

/// Serialises the writers of one pipeline's positions for the transaction (`$1`: a text key).
pub(crate) const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext($1))";

/// `CREATE TABLE` with the columns of the first `ADD`s.
pub(crate) fn create_table(t: &TableName, columns: &[(String, String)]) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|(n, ty)| format!("{} {ty}", ident(n)))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        table(t),
        cols.join(", ")
    )
}

/// The unique index a merge needs on `key`.
pub(crate) fn key_index(t: &TableName, key: &[String]) -> String {
    let cols: Vec<String> = key.iter().map(|k| ident(k)).collect();
    format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
        ident(&format!("{}_weir_key", t.table)),
        table(t),
        cols.join(", ")
    )
}

pub(crate) fn ddl(t: &TableName, d: &Ddl) -> String {
    match d {
        Ddl::Add { column, pg_type } => format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {pg_type}",
            table(t),
            ident(column)
        ),
        Ddl::Widen { column, pg_type } => format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {pg_type}",
            table(t),
            ident(column)
        ),
    }
}

/// The staging table (columns `c0`, `c1`, ... of the wire types, plus `_weir_ord` when merging).
pub(crate) fn create_staging(types: &[&str], ordinal: bool) -> String {
    let mut cols: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("c{i} {t}"))
        .collect();
    if ordinal {
        cols.push("_weir_ord bigint".into());
    }
    format!(
        "DROP TABLE IF EXISTS pg_temp.weir_stage; CREATE TEMP TABLE weir_stage ({}) ON COMMIT DROP",
        cols.join(", ")
    )
}

pub(crate) const COPY_STAGING: &str = "COPY weir_stage FROM STDIN (FORMAT binary)";

/// `COPY` straight into the table's columns (when no value needs a cast).
pub(crate) fn copy_into(t: &TableName, targets: &[Target]) -> String {
    let cols: Vec<String> = targets.iter().map(|c| ident(&c.column)).collect();
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        table(t),
        cols.join(", ")
    )
}

fn select_list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|c| format!("s.c{}::{}", c.source, c.pg_type))
        .collect::<Vec<_>>()
        .join(", ")
}

fn column_list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|c| ident(&c.column))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends the staged rows, cast to the table's types.
pub(crate) fn insert(t: &TableName, targets: &[Target]) -> String {
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM weir_stage s",
        table(t),
        column_list(targets),
        select_list(targets)
    )
}

/// Upserts the staged rows on `key` (table column names), the last staged row per key
/// winning.
pub(crate) fn merge(t: &TableName, targets: &[Target], key: &[String]) -> Result<String, String> {
    let mut key_sources = Vec::new();
    for k in key {
        let c = targets.iter().find(|c| c.column == *k).ok_or_else(|| {
            format!("the merge key column `{k}` is not in the batch (or its values went to a variant column)")
        })?;
        key_sources.push(format!("c{}", c.source));
    }
    let keys = key_sources.join(", ");
    let updates: Vec<String> = targets
        .iter()
        .filter(|c| !key.contains(&c.column))
        .map(|c| format!("{0} = EXCLUDED.{0}", ident(&c.column)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    let key_cols: Vec<String> = key.iter().map(|k| ident(k)).collect();
    Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM (SELECT DISTINCT ON ({keys}) * FROM weir_stage ORDER BY {keys}, _weir_ord DESC) s \
         ON CONFLICT ({}) {action}",
        table(t),
        column_list(targets),
        select_list(targets),
        key_cols.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TableName {
        TableName {
            schema: "retail".into(),
            table: "or\"ders".into(),
        }
    }

    fn targets() -> Vec<Target> {
        vec![
            Target {
                source: 0,
                column: "id".into(),
                pg_type: "bigint".into(),
            },
            Target {
                source: 1,
                column: "name".into(),
                pg_type: "text".into(),
            },
        ]
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(table(&t()), "\"retail\".\"or\"\"ders\"");
    }

    #[test]
    fn merge_keeps_the_last_row_per_key() {
        let sql = merge(&t(), &targets(), &["id".into()]).unwrap();
        assert!(
            sql.contains("DISTINCT ON (c0) * FROM weir_stage ORDER BY c0, _weir_ord DESC"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\""),
            "{sql}"
        );
        assert!(merge(&t(), &targets(), &["sku".into()]).is_err());
        let only_key = &targets()[..1];
        assert!(merge(&t(), only_key, &["id".into()])
            .unwrap()
            .ends_with("DO NOTHING"));
    }
}
