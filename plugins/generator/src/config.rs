//! The generator's options: `count`, `rate`, `seed`, from the address query.

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

pub(crate) fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "description": "Options come from the address: generator://?count=N&rate=R&seed=S",
        "properties": {
            "count": {"type": "integer", "minimum": 0, "description": "events in all; absent = endless"},
            "rate": {"type": "number", "exclusiveMinimum": 0, "description": "events per second; absent = as fast as polled"},
            "seed": {"type": "integer", "minimum": 0, "default": 0, "description": "seed of the deterministic values"}
        }
    })
}

impl GeneratorConfig {
    pub(crate) fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let url = cfg.url()?;
        let mut out = Self {
            count: None,
            rate: None,
            seed: 0,
        };
        let mut problems = Vec::new();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "count" => match v.parse::<i64>() {
                    Ok(n) if n >= 0 => out.count = Some(n),
                    _ => problems.push(format!("count=`{v}` must be a whole number >= 0")),
                },
                "rate" => match v.parse::<f64>() {
                    Ok(r) if r > 0.0 && r.is_finite() => out.rate = Some(r),
                    _ => problems.push(format!(
                        "rate=`{v}` must be a positive number of events per second"
                    )),
                },
                "seed" => match v.parse::<u64>() {
                    Ok(s) => out.seed = s,
                    _ => problems.push(format!("seed=`{v}` must be a whole number >= 0")),
                },
                other => problems.push(format!(
                    "unknown parameter `{other}` (known: count, rate, seed)"
                )),
            }
        }
        if out.count.is_none() && !cfg.run_in_loop {
            problems.push(
                "without count= the generator never ends: set count=N, or run_in_loop: true to run until stopped"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(out)
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
        assert!(e.message.contains("count=`-1`"), "{e}");
        assert!(e.message.contains("rate=`0`"), "{e}");
        assert!(e.message.contains("unknown parameter `colour`"), "{e}");
        assert!(e.message.contains("never ends"), "{e}");
    }
}
