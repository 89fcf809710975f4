//! The generator's options: `count`, `rate`, `seed`, from the address query (or options).

use weir_sdk::options::{self, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SourceConfig};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GeneratorConfig {
    /// Events in all; `None` is endless.
    pub(crate) count: Option<i64>,
    /// Events per second; `None` is unpaced.
    pub(crate) rate: Option<f64>,
    /// Seed of the value hash (default 0).
    pub(crate) seed: u64,
}

/// The generator's options, from the address query (`generator://?count=N&rate=R&seed=S`)
/// or `spec.source.options`.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub(crate) struct GeneratorOptions {
    /// Events in all, then the source ends. Absent: endless (needs `run_in_loop: true`).
    /// Example: `100000`.
    #[schemars(range(min = 0))]
    pub(crate) count: Option<i64>,
    /// Events per second. Absent: as fast as the host polls. Example: `500`.
    pub(crate) rate: Option<f64>,
    /// Seed of the deterministic values: the same seed and id give the same event.
    #[serde(default)]
    pub(crate) seed: u64,
}

/// The options' schema, derived from [`GeneratorOptions`].
pub(crate) fn schema() -> serde_json::Value {
    options::schema::<GeneratorOptions>()
}

impl GeneratorConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let url = cfg.url()?;
        let o: GeneratorOptions = options::read(Side::Source, Some(&url), &cfg.options)?;
        let mut problems = Vec::new();
        if o.count.is_some_and(|n| n < 0) {
            problems.push("count: must be a whole number >= 0".to_string());
        }
        if o.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            problems.push("rate: must be a positive number of events per second".to_string());
        }
        if o.count.is_none() && !cfg.run_in_loop {
            problems.push(
                "without count= the generator never ends: set count=N, or run_in_loop: true to run until stopped"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(Self {
                count: o.count,
                rate: o.rate,
                seed: o.seed,
            })
        } else {
            Err(Error::config(format!(
                "spec.source.address `{}`: {}",
                cfg.address,
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str, run_in_loop: bool) -> SourceConfig {
        SourceConfig {
            address: address.into(),
            run_in_loop,
            ..SourceConfig::default()
        }
    }

    #[test]
    fn reads_the_query() {
        let c = GeneratorConfig::from_source(&cfg("generator://?count=5&rate=2.5&seed=9", false))
            .unwrap();
        assert_eq!(
            c,
            GeneratorConfig {
                count: Some(5),
                rate: Some(2.5),
                seed: 9
            }
        );
    }

    #[test]
    fn refuses_nonsense_all_at_once() {
        let e =
            GeneratorConfig::from_source(&cfg("generator://?count=-1&rate=0&colour=red", false))
                .unwrap_err();
        assert!(e.message.contains("unknown parameter `colour`"), "{e}");
        let e =
            GeneratorConfig::from_source(&cfg("generator://?count=-1&rate=0", false)).unwrap_err();
        assert!(e.message.contains("count: must be"), "{e}");
        assert!(e.message.contains("rate: must be"), "{e}");
        let e = GeneratorConfig::from_source(&cfg("generator://?rate=2", false)).unwrap_err();
        assert!(e.message.contains("never ends"), "{e}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        options::check_readme(readme, &options::table::<GeneratorOptions>()).unwrap();
    }
}
