//! The {{name}} sink's options (`spec.sink.options`), their defaults and their validation.
//! Checking happens in the constructor, so `weir validate` reports every problem at once;
//! nothing here opens a file or connects anywhere.

use std::path::PathBuf;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SinkConfig};

/// The options of a `{{name}}://` sink.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
pub struct {{Name}}Config {
    /// The JSON-lines file rows are appended to (created if missing). Required. Example:
    /// `/var/lib/weir/events.jsonl`.
    pub path: PathBuf,
    /// `fsync` the file at every commit, so a committed batch survives a power cut.
    /// Default `true`.
    #[serde(default = "default_sync")]
    pub sync: bool,
}

fn default_sync() -> bool {
    true
}

/// The options' JSON schema, shown by `weir plugins --json`.
pub fn schema() -> weir_sdk::serde_json::Value {
    weir_sdk::serde_json::json!({
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "description": "JSON-lines file rows are appended to"},
            "sync": {"type": "boolean", "default": true, "description": "fsync at every commit"}
        },
        "additionalProperties": false
    })
}

impl {{Name}}Config {
    /// Reads and checks the options; the error lists every problem.
    pub fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        let config: Self = cfg.options_as()?;
        let mut problems = Vec::new();
        if config.path.as_os_str().is_empty() {
            problems.push("spec.sink.options.path: must not be empty".to_string());
        }
        if config.path.is_dir() {
            problems.push(format!(
                "spec.sink.options.path: {} is a directory; name a file",
                config.path.display()
            ));
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::config(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::serde_json::json;

    fn cfg(options: weir_sdk::serde_json::Value) -> SinkConfig {
        SinkConfig {
            address: "{{name}}://".into(),
            options: options.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn reads_options_with_defaults() {
        let c = {{Name}}Config::from_sink(&cfg(json!({"path": "out.jsonl"}))).unwrap();
        assert_eq!(c.path, PathBuf::from("out.jsonl"));
        assert!(c.sync);
    }

    #[test]
    fn a_missing_path_or_a_directory_is_refused() {
        let e = {{Name}}Config::from_sink(&cfg(json!({}))).unwrap_err();
        assert!(e.message.contains("path"), "{e}");
        let dir = std::env::temp_dir();
        let e = {{Name}}Config::from_sink(&cfg(json!({"path": dir}))).unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
    }
}
