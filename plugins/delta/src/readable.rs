//! The check before a schema change is committed: a table never gets a schema its readers
//! cannot read back.
//!
//! Delta readers (delta-rs, which the Python `deltalake` wraps, and this sink when it reopens
//! the table) parse the log's `metaData.schemaString` with serde_json, whose recursion limit is
//! 128 levels; each struct level of a column costs three JSON levels (the type object, its
//! `fields` array, the field object) and each list or map level one. A schema past that limit
//! would make the table unreadable for good, so it is refused before the commit: first by
//! counting levels (iteratively, so no schema can overflow a stack), then by writing the
//! schema string and parsing it back exactly as a reader does.

use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::kernel::StructType;
use weir_sdk::Error;

/// serde_json's recursion limit, which Delta readers parse the schema string under.
const READER_LIMIT: usize = 128;

/// The JSON nesting a reader meets in the schema string of a table with these columns.
pub(crate) fn schema_string_depth(schema: &Schema) -> usize {
    // Schema object, its `fields` array, the field object, the field's type: 3 + ...
    let mut deepest = 0;
    let mut stack: Vec<(&DataType, usize)> =
        schema.fields().iter().map(|f| (f.data_type(), 3)).collect();
    while let Some((t, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match t {
            DataType::Struct(fs) => stack.extend(fs.iter().map(|f| (f.data_type(), depth + 3))),
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _) => stack.push((f.data_type(), depth + 1)),
            DataType::Map(f, _) => stack.push((f.data_type(), depth + 1)),
            _ => {}
        }
    }
    deepest + 1
}

/// Refuses `columns` (new columns, or a new table's) when they are nested past what a reader
/// parses; before any conversion, which recurses.
pub(crate) fn check_depth(columns: &Schema) -> Result<(), Error> {
    let depth = schema_string_depth(columns);
    if depth > READER_LIMIT {
        return Err(Error::data(format!(
            "the schema is nested too deeply for Delta readers ({depth} JSON levels in the \
             schema string, readers stop at {READER_LIMIT}); not committed, the table stays \
             readable. Lower source.options.max_nesting_depth or send fewer nested levels"
        )));
    }
    Ok(())
}

/// Refuses a schema whose schema string a reader could not parse back.
pub(crate) fn check(kernel: &StructType) -> Result<(), Error> {
    let text = serde_json::to_string(kernel)
        .map_err(|e| Error::data(format!("the schema does not serialise: {e}")))?;
    serde_json::from_str::<StructType>(&text).map_err(|e| {
        Error::data(format!(
            "the schema would not read back ({e}); not committed, the table stays readable"
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::{Field, Fields};
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    use std::sync::Arc;

    fn nested(levels: usize) -> Schema {
        let mut t = DataType::Int64;
        for i in 0..levels {
            t = DataType::Struct(Fields::from(vec![Field::new(format!("l{i}"), t, true)]));
        }
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("deep", t, true),
        ])
    }

    #[test]
    fn the_depth_count_matches_what_serde_json_reads() {
        for levels in [0, 1, 5, 30, 40, 41, 42, 50] {
            let schema = nested(levels);
            let kernel: StructType = (&schema).try_into_kernel().unwrap();
            let text = serde_json::to_string(&kernel).unwrap();
            let reads = serde_json::from_str::<StructType>(&text).is_ok();
            let counted = schema_string_depth(&schema) <= READER_LIMIT;
            assert_eq!(reads, counted, "{levels} levels");
            assert_eq!(check_depth(&schema).is_ok(), reads, "{levels} levels");
            assert_eq!(check(&kernel).is_ok(), reads, "{levels} levels");
        }
        // 16 levels (the decoder's default bound) is far inside.
        assert!(schema_string_depth(&nested(16)) < READER_LIMIT / 2);
    }

    #[test]
    fn lists_count_one_level() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        let schema = Schema::new(vec![Field::new("a", list, true)]);
        assert_eq!(schema_string_depth(&schema), 5);
    }
}
