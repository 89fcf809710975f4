//! Schema evolution as Nilus does it, decided as a pure function of the batch's columns and
//! the table's (`format_type` spellings):
//!
//! - a column the table lacks is added (`ADD COLUMN`);
//! - a value that fits the table's column is written there, cast by the server (an existing
//!   table's types win: a `numeric(10,2)` column takes doubles, `varchar(20)` takes text);
//! - a lossless widening changes the column's type: `smallint`/`integer` -> `bigint` for
//!   wider integers, `real` -> `double precision` for doubles or integers;
//! - anything else goes to the variant column `<col>__v_<kind>` (`price__v_text`), added
//!   when missing;
//! - a table column the batch lacks is written as NULL.

use crate::types::Wire;

/// One batch column: its name, wire type and the type a new column gets.
#[derive(Clone, Debug)]
pub(crate) struct BatchColumn {
    pub(crate) name: String,
    pub(crate) wire: Wire,
    pub(crate) create_as: String,
}

/// A change to the table's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ddl {
    Add { column: String, pg_type: String },
    Widen { column: String, pg_type: String },
}

/// Where batch column `source` lands: table column `column`, of type `pg_type` (after the
/// changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) source: usize,
    pub(crate) column: String,
    pub(crate) pg_type: String,
}

/// The changes to make and where each column lands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) ddl: Vec<Ddl>,
    pub(crate) targets: Vec<Target>,
}

/// How a wire type meets a table type.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    Fits,
    Widen(&'static str),
    Variant,
}

/// The kind of a table type, from `format_type`'s spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int(u8),
    Numeric,
    Float(u8),
    Bool,
    Text,
    Uuid,
    Bytea,
    Date,
    Time,
    Timestamp,
    Json,
    /// A type weir does not create (an enum, an array, a domain): the server's cast decides.
    Other,
}

fn kind(pg_type: &str) -> Kind {
    let base = pg_type.split('(').next().unwrap_or(pg_type).trim();
    if pg_type.ends_with("[]") {
        return Kind::Other;
    }
    match base {
        "smallint" => Kind::Int(2),
        "integer" => Kind::Int(4),
        "bigint" => Kind::Int(8),
        "numeric" => Kind::Numeric,
        "real" => Kind::Float(4),
        "double precision" => Kind::Float(8),
        "boolean" => Kind::Bool,
        "text" | "character varying" | "character" | "citext" | "name" => Kind::Text,
        "uuid" => Kind::Uuid,
        "bytea" => Kind::Bytea,
        "date" => Kind::Date,
        "time without time zone" | "time with time zone" => Kind::Time,
        "timestamp without time zone" | "timestamp with time zone" => Kind::Timestamp,
        "jsonb" | "json" => Kind::Json,
        _ => Kind::Other,
    }
}

fn fit(wire: Wire, table: &str) -> Fit {
    let t = kind(table);
    if t == Kind::Other {
        return Fit::Fits;
    }
    let int = |w: u8| match t {
        Kind::Int(n) if n >= w => Fit::Fits,
        Kind::Int(_) => Fit::Widen(match w {
            4 => "integer",
            _ => "bigint",
        }),
        Kind::Numeric | Kind::Float(8) => Fit::Fits,
        Kind::Float(_) => Fit::Widen("double precision"),
        _ => Fit::Variant,
    };
    match wire {
        Wire::Int2 => int(2),
        Wire::Int4 => int(4),
        Wire::Int8 => int(8),
        Wire::Numeric => match t {
            Kind::Numeric | Kind::Float(8) => Fit::Fits,
            _ => Fit::Variant,
        },
        Wire::Float4 => match t {
            Kind::Float(_) | Kind::Numeric => Fit::Fits,
            _ => Fit::Variant,
        },
        Wire::Float8 => match t {
            Kind::Float(8) | Kind::Numeric => Fit::Fits,
            Kind::Float(_) => Fit::Widen("double precision"),
            _ => Fit::Variant,
        },
        Wire::Bool => same(t, Kind::Bool),
        Wire::Text => match t {
            Kind::Text | Kind::Uuid => Fit::Fits,
            _ => Fit::Variant,
        },
        Wire::Bytea => same(t, Kind::Bytea),
        Wire::Date => match t {
            Kind::Date | Kind::Timestamp => Fit::Fits,
            _ => Fit::Variant,
        },
        Wire::Time => same(t, Kind::Time),
        Wire::Timestamp | Wire::Timestamptz => same(t, Kind::Timestamp),
        Wire::Jsonb => match t {
            Kind::Json | Kind::Text => Fit::Fits,
            _ => Fit::Variant,
        },
    }
}

fn same(t: Kind, want: Kind) -> Fit {
    if t == want {
        Fit::Fits
    } else {
        Fit::Variant
    }
}

/// The plan for `batch` against a table with `table` columns (`name`, `format_type`); an
/// absent table is an empty `table`.
pub(crate) fn plan(batch: &[BatchColumn], table: &[(String, String)]) -> Result<Plan, String> {
    let mut columns: Vec<(String, String)> = table.to_vec();
    let mut out = Plan::default();
    for (i, c) in batch.iter().enumerate() {
        let mut name = c.name.clone();
        let mut create_as = c.create_as.clone();
        loop {
            let Some(at) = columns.iter().position(|(n, _)| *n == name) else {
                out.ddl.push(Ddl::Add {
                    column: name.clone(),
                    pg_type: create_as.clone(),
                });
                columns.push((name.clone(), create_as.clone()));
                out.targets.push(target(i, &name, &create_as));
                break;
            };
            let existing = columns[at].1.clone();
            match fit(c.wire, &existing) {
                Fit::Fits => out.targets.push(target(i, &name, &existing)),
                Fit::Widen(to) => {
                    out.ddl.push(Ddl::Widen {
                        column: name.clone(),
                        pg_type: to.to_string(),
                    });
                    columns[at].1 = to.to_string();
                    out.targets.push(target(i, &name, to));
                }
                Fit::Variant if name == c.name => {
                    name = format!("{}__v_{}", c.name, c.wire.variant_suffix());
                    create_as = match c.wire {
                        Wire::Int2 | Wire::Int4 | Wire::Int8 => "bigint".into(),
                        Wire::Float4 | Wire::Float8 => "double precision".into(),
                        _ => create_as,
                    };
                    continue;
                }
                Fit::Variant => {
                    return Err(format!(
                        "column `{}`: values of type {} fit neither the column (`{}`) nor its variant `{name}` ({existing})",
                        c.name,
                        c.create_as,
                        table
                            .iter()
                            .find(|(n, _)| *n == c.name)
                            .map_or("?", |(_, t)| t.as_str())
                    ))
                }
            }
            break;
        }
    }
    Ok(out)
}

fn target(source: usize, column: &str, pg_type: &str) -> Target {
    Target {
        source,
        column: column.to_string(),
        pg_type: pg_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, wire: Wire) -> BatchColumn {
        BatchColumn {
            name: name.into(),
            wire,
            create_as: wire.staging_type().into(),
        }
    }

    fn table(cols: &[(&str, &str)]) -> Vec<(String, String)> {
        cols.iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn adds_widens_and_sends_other_types_to_a_variant() {
        let t = table(&[
            ("id", "integer"),
            ("price", "numeric(10,2)"),
            ("score", "real"),
            ("note", "character varying(20)"),
            ("qty", "bigint"),
        ]);
        let b = [
            col("id", Wire::Int8),
            col("price", Wire::Float8),
            col("score", Wire::Float8),
            col("note", Wire::Text),
            col("qty", Wire::Text),
            col("colour", Wire::Text),
        ];
        let p = plan(&b, &t).unwrap();
        assert_eq!(
            p.ddl,
            vec![
                Ddl::Widen {
                    column: "id".into(),
                    pg_type: "bigint".into()
                },
                Ddl::Widen {
                    column: "score".into(),
                    pg_type: "double precision".into()
                },
                Ddl::Add {
                    column: "qty__v_text".into(),
                    pg_type: "text".into()
                },
                Ddl::Add {
                    column: "colour".into(),
                    pg_type: "text".into()
                },
            ]
        );
        let landed: Vec<(&str, &str)> = p
            .targets
            .iter()
            .map(|t| (t.column.as_str(), t.pg_type.as_str()))
            .collect();
        assert_eq!(
            landed,
            vec![
                ("id", "bigint"),
                ("price", "numeric(10,2)"),
                ("score", "double precision"),
                ("note", "character varying(20)"),
                ("qty__v_text", "text"),
                ("colour", "text"),
            ]
        );
    }

    #[test]
    fn narrower_values_fit_and_a_variant_that_exists_is_reused() {
        let t = table(&[
            ("n", "bigint"),
            ("n__v_double", "double precision"),
            ("x", "my_enum"),
        ]);
        let b = [
            col("n", Wire::Int2),
            col("n", Wire::Float4),
            col("x", Wire::Text),
        ];
        let p = plan(&b, &t).unwrap();
        assert!(p.ddl.is_empty(), "{:?}", p.ddl);
        assert_eq!(p.targets[1].column, "n__v_double");
        // Neither the column nor its variant takes booleans stored as text... nor a variant of
        // another type.
        let t = table(&[("f", "boolean"), ("f__v_bigint", "text")]);
        assert!(plan(&[col("f", Wire::Int8)], &t).is_err());
    }

    #[test]
    fn a_new_table_takes_every_column() {
        let p = plan(&[col("a", Wire::Bool), col("b", Wire::Jsonb)], &[]).unwrap();
        assert_eq!(p.ddl.len(), 2);
    }
}
