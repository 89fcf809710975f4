//! The Delta sink's options and where its table lives.

use std::path::PathBuf;
use weir_sdk::{Error, SinkConfig};

/// Where and how to write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeltaConfig {
    /// The table's directory.
    pub(crate) table_dir: PathBuf,
    /// `append` (the only strategy of this version).
    pub(crate) strategy: String,
}

pub(crate) fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "dest_table": {"type": "string", "description": "table under the address; `schema.table` becomes schema/table"},
            "incremental_strategy": {"type": "string", "enum": ["append"], "default": "append"}
        },
        "additionalProperties": false
    })
}

impl DeltaConfig {
    pub(crate) fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let base = match cfg.address.split_once("://") {
            None => PathBuf::from(&cfg.address),
            Some(("file", _)) => match url::Url::parse(&cfg.address)
                .ok()
                .and_then(|u| u.to_file_path().ok())
            {
                Some(p) => p,
                None => {
                    problems.push(format!(
                        "spec.sink.address `{}` is not a local file URI",
                        cfg.address
                    ));
                    PathBuf::new()
                }
            },
            Some(("delta", rest)) => PathBuf::from(rest),
            Some((scheme, _)) => {
                problems.push(format!(
                    "spec.sink.address: scheme `{scheme}` is not served by the delta sink"
                ));
                PathBuf::new()
            }
        };
        let mut strategy = "append".to_string();
        let mut table_dir = base;
        for (k, v) in &cfg.options {
            match (k.as_str(), v.as_str()) {
                ("dest_table", Some(t)) => {
                    let parts: Vec<&str> = t.split('.').collect();
                    if parts.iter().any(|p| p.is_empty() || p.contains('/') || *p == "..") {
                        problems.push(format!("spec.sink.options.dest_table `{t}` must be `table` or `schema.table`"));
                    }
                    for p in parts {
                        table_dir.push(p);
                    }
                }
                ("incremental_strategy", Some("append")) => strategy = "append".into(),
                ("incremental_strategy", Some(other)) => problems.push(format!(
                    "spec.sink.options.incremental_strategy `{other}` is not supported by this version of the delta sink; use append"
                )),
                (key, _) => problems.push(format!(
                    "spec.sink.options.{key}: unknown or not a string (known: dest_table, incremental_strategy)"
                )),
            }
        }
        if problems.is_empty() {
            Ok(Self {
                table_dir,
                strategy,
            })
        } else {
            Err(Error::config(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str, options: serde_json::Value) -> SinkConfig {
        SinkConfig {
            address: address.into(),
            options: options.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn dest_table_goes_under_the_address() {
        let c = DeltaConfig::from_sink(&cfg(
            "/data/lake",
            serde_json::json!({"dest_table": "raw.events"}),
        ))
        .unwrap();
        assert_eq!(c.table_dir, PathBuf::from("/data/lake/raw/events"));
        let c = DeltaConfig::from_sink(&cfg("file:///data/lake", serde_json::json!({}))).unwrap();
        assert_eq!(c.table_dir, PathBuf::from("/data/lake"));
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let e = DeltaConfig::from_sink(&cfg(
            "/x",
            serde_json::json!({"dest_table": "../up", "incremental_strategy": "merge", "colour": "red"}),
        ))
        .unwrap_err();
        assert!(e.message.contains("dest_table"), "{e}");
        assert!(e.message.contains("merge"), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }
}
