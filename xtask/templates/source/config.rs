//! The {{name}} source's options (`spec.source.options`), their defaults and their validation.
//! Checking happens in the constructor, so `weir validate` reports every problem at once;
//! nothing here connects anywhere.

use weir_sdk::options::{self, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SourceConfig};

/// The options of a `{{name}}://` source.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub struct {{Name}}Config {
    /// Records in all, ids `0..count`. Required unless `run_in_loop: true` (then absent means
    /// endless). Example: `1000`.
    #[serde(default)]
    pub count: Option<i64>,
    /// Records per poll at most, whatever the host asks for. Default 1000.
    #[serde(default = "default_max_per_poll")]
    pub max_per_poll: usize,
}

fn default_max_per_poll() -> usize {
    1000
}

/// The options' JSON schema, derived from the struct (its `///` docs become the
/// descriptions); shown by `weir plugins --json` and used by `weir validate`.
pub fn schema() -> weir_sdk::serde_json::Value {
    options::schema::<{{Name}}Config>()
}

impl {{Name}}Config {
    /// Reads and checks the options; the error lists every problem.
    pub fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        // Unknown keys get "did you mean"; text is read as each field's type.
        let config: Self = options::read(Side::Source, None, &cfg.options)?;
        let mut problems = Vec::new();
        match config.count {
            Some(n) if n < 0 => {
                problems.push(format!("spec.source.options.count: {n} must be 0 or more"))
            }
            None if !cfg.run_in_loop => problems
                .push("spec.source.options.count: required unless run_in_loop is true".to_string()),
            _ => {}
        }
        if config.max_per_poll == 0 {
            problems.push("spec.source.options.max_per_poll: must be at least 1".to_string());
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

    fn cfg(options: weir_sdk::serde_json::Value, run_in_loop: bool) -> SourceConfig {
        SourceConfig {
            address: "{{name}}://".into(),
            options: options.as_object().cloned().unwrap_or_default(),
            run_in_loop,
            ..SourceConfig::default()
        }
    }

    #[test]
    fn reads_options_with_defaults() {
        let c = {{Name}}Config::from_source(&cfg(json!({"count": 5}), false)).unwrap();
        assert_eq!(c.count, Some(5));
        assert_eq!(c.max_per_poll, 1000);
    }

    #[test]
    fn reports_every_problem() {
        let e = {{Name}}Config::from_source(&cfg(json!({"count": -1, "max_per_poll": 0}), false))
            .unwrap_err();
        assert!(e.message.contains("count: -1"), "{e}");
        assert!(e.message.contains("max_per_poll"), "{e}");
    }

    #[test]
    fn count_is_required_unless_run_in_loop() {
        assert!({{Name}}Config::from_source(&cfg(json!({}), false)).is_err());
        assert!({{Name}}Config::from_source(&cfg(json!({}), true)).is_ok());
    }

    #[test]
    fn unknown_options_are_refused() {
        let e = {{Name}}Config::from_source(&cfg(json!({"count": 1, "colour": 2}), false))
            .unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        // WEIR_UPDATE_README=1 cargo test rewrites the table after an option changed.
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        options::check_readme(readme, &options::table::<{{Name}}Config>()).unwrap();
    }
}
