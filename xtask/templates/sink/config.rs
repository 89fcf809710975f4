//! The {{name}} sink's options (`spec.sink.options`), their defaults and their validation.
//! Checking happens in the constructor, so `weir validate` reports every problem at once;
//! nothing here opens a file or connects anywhere.

use std::path::PathBuf;
use weir_sdk::options::{self, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SinkConfig};

/// The options of a `{{name}}://` sink.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
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

/// The options' JSON schema, derived from the struct (its `///` docs become the
/// descriptions); shown by `weir plugins --json` and used by `weir validate`.
pub fn schema() -> weir_sdk::serde_json::Value {
    options::schema::<{{Name}}Config>()
}

impl {{Name}}Config {
    /// Reads and checks the options; the error lists every problem.
    pub fn from_sink(cfg: &SinkConfig) -> Result<Self, Error> {
        // Unknown keys get "did you mean"; text is read as each field's type.
        let config: Self = options::read(Side::Sink, None, &cfg.options)?;
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

    #[test]
    fn the_readme_lists_every_option() {
        // WEIR_UPDATE_README=1 cargo test rewrites the table after an option changed.
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        options::check_readme(readme, &options::table::<{{Name}}Config>()).unwrap();
    }
}
