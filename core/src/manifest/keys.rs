//! The keys a manifest may have at each level, and "did you mean" for the ones it may not.

use super::{problem, Problem};
use serde_json::{Map, Value};

/// Top-level keys of a resource manifest.
pub(super) const TOP: &[&str] = &[
    "name",
    "version",
    "type",
    "tags",
    "description",
    "spec",
    "workspace",
    "layer",
    "owner",
];
/// Keys of `spec` (accepted; only some are used).
pub(super) const SPEC: &[&str] = &[
    "type",
    "compute",
    "logLevel",
    "log_level",
    "runAsUser",
    "resources",
    "use",
    "source",
    "sink",
    "envs",
    "schedule",
];

/// Keys of a legacy workflow step's `spec` (its `stackSpec` holds `source` and `sink`).
pub(super) const LEGACY_SPEC: &[&str] = &[
    "type",
    "stack",
    "stackSpec",
    "compute",
    "resources",
    "logLevel",
    "runAsUser",
    "envs",
    "dataosSecrets",
    "source",
    "sink",
];

/// Checks the legacy `dataosSecrets: [{name, allKeys, consumptionType}]` list (the platform
/// projects the secrets into the environment, where `{NAME}` placeholders find them).
pub(super) fn check_secrets(value: &Value, path: &str, problems: &mut Vec<Problem>) {
    let Some(list) = value.as_array() else {
        problems.push(problem(
            path,
            "must be a list of {name, allKeys, consumptionType}, e.g. [{name: kafka-creds, allKeys: true, consumptionType: envVars}]",
        ));
        return;
    };
    for (i, s) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(m) = s.as_object() else {
            problems.push(problem(at, "must be a mapping with `name`"));
            continue;
        };
        check(
            m,
            &at,
            &["name", "allKeys", "consumptionType", "keys"],
            problems,
        );
        if !m.get("name").is_some_and(Value::is_string) {
            problems.push(problem(format!("{at}.name"), "required: the secret's name"));
        }
        if m.get("allKeys").is_some_and(|v| !v.is_boolean()) {
            problems.push(problem(format!("{at}.allKeys"), "must be true or false"));
        }
    }
}

/// Levenshtein distance (small strings only).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known key, if close enough to be a typo.
pub(super) fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let k = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|c| (distance(&k, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// One problem per unknown key of `map` at `path`.
pub(super) fn check(
    map: &Map<String, Value>,
    path: &str,
    known: &[&str],
    problems: &mut Vec<Problem>,
) {
    for k in map.keys() {
        if known.contains(&k.as_str()) {
            continue;
        }
        let at = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let hint = match suggest(k, known) {
            Some(s) => format!("unknown key; did you mean `{s}`?"),
            None => format!("unknown key (known here: {})", known.join(", ")),
        };
        problems.push(problem(at, hint));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest("adress", &["address", "options"]), Some("address"));
        assert_eq!(suggest("optoins", &["address", "options"]), Some("options"));
        assert_eq!(suggest("zzz", &["address", "options"]), None);
        assert_eq!(suggest("sourc", SPEC), Some("source"));
    }
}
