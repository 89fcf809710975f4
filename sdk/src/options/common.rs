//! Option types several sinks share: the Nilus `incremental_strategy` and a merge key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How batches land in the destination (`incremental_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every row is added.
    #[default]
    Append,
    /// Rows upsert on the primary key.
    Merge,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Append => "append",
            Self::Merge => "merge",
        })
    }
}

/// A merge key as Nilus writes it: one column, `a,b`, or a list of columns.
///
/// ```
/// use weir_sdk::options::KeyColumns;
/// assert_eq!(KeyColumns::Text("a, b".into()).columns(), Some(vec!["a".into(), "b".into()]));
/// assert_eq!(KeyColumns::List(vec![]).columns(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum KeyColumns {
    /// `id` or `a,b`.
    Text(String),
    /// `[a, b]`.
    List(Vec<String>),
}

impl KeyColumns {
    /// The column names, or `None` when there is none or one is empty.
    pub fn columns(&self) -> Option<Vec<String>> {
        let cols: Vec<String> = match self {
            Self::Text(s) => s.split(',').map(|c| c.trim().to_string()).collect(),
            Self::List(a) => a.iter().map(|c| c.trim().to_string()).collect(),
        };
        (!cols.is_empty() && cols.iter().all(|c| !c.is_empty())).then_some(cols)
    }
}
