//! [`read`]: a connector's options from its address query and its `options` mapping, checked
//! against the struct's schema with every problem reported at once.

use super::suggest;
use super::{properties, required, schema, Property, ENGINE_QUERY_KEYS};
use crate::Error;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// Which side of the pipeline the options belong to (it names the manifest keys in errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `spec.source`.
    Source,
    /// `spec.sink`.
    Sink,
}

impl Side {
    fn address(self) -> &'static str {
        match self {
            Self::Source => "spec.source.address",
            Self::Sink => "spec.sink.address",
        }
    }

    fn options(self) -> &'static str {
        match self {
            Self::Source => "spec.source.options",
            Self::Sink => "spec.sink.options",
        }
    }
}

/// Reads `T` from the query of `address` (when given) and from `options`.
///
/// - A knob may sit in the address query or under options; given in both with different
///   values it is an error naming both places (secret values are not shown).
/// - Query keys may be spelt in kebab case (`group-id`); the engine's own query keys
///   ([`ENGINE_QUERY_KEYS`]) are ignored on a source address.
/// - Query values are text: they are read as the field's type (integer, number, boolean, a
///   comma list for a list); option values given as text where a number is expected are read
///   the same way, and numbers where text is expected become text.
/// - An enumeration accepts its values in any letter case.
/// - Unknown keys get "did you mean"; a missing required option names itself.
pub fn read<T: DeserializeOwned + JsonSchema>(
    side: Side,
    address: Option<&url::Url>,
    options: &Map<String, Value>,
) -> Result<T, Error> {
    let schema = schema::<T>();
    let props = properties(&schema);
    let names: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
    let prop = |name: &str| props.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
    let mut problems = Vec::new();
    let mut merged = Map::new();
    let mut from_address = Map::new();

    for (k, v) in address.into_iter().flat_map(url::Url::query_pairs) {
        let key = k.replace('-', "_");
        let Some(s) = prop(&key) else {
            if side == Side::Source && ENGINE_QUERY_KEYS.contains(&key.as_str()) {
                continue;
            }
            problems.push(unknown(side.address(), "parameter", &key, &names));
            continue;
        };
        let at = format!("{}: parameter `{key}`", side.address());
        if let Some(value) = coerce(&at, Value::String(v.into_owned()), s, &mut problems) {
            from_address.insert(key.clone(), value.clone());
            merged.insert(key, value);
        }
    }
    for (key, v) in options {
        let Some(s) = prop(key) else {
            problems.push(unknown(side.options(), "option", key, &names));
            continue;
        };
        let at = format!("{}.{key}", side.options());
        let Some(value) = coerce(&at, v.clone(), s, &mut problems) else {
            continue;
        };
        if let Some(other) = from_address.get(key).filter(|o| **o != value) {
            let shown = if Property::of(s).secret {
                "(values redacted)".to_string()
            } else {
                format!("`{}` and `{}`", text(other), text(&value))
            };
            problems.push(format!(
                "{at} and the `{key}` parameter of {} differ: {shown}; give it once",
                side.address()
            ));
        }
        merged.insert(key.clone(), value);
    }
    for r in required(&schema) {
        if !merged.contains_key(r) {
            let what = prop(r)
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(": {}", first_sentence(d)))
                .unwrap_or_default();
            problems.push(format!("{}.{r}: required{what}", side.options()));
        }
    }
    if !problems.is_empty() {
        return Err(Error::config(problems.join("; ")));
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| Error::config(format!("{}: {e}", side.options())))
}

fn unknown(path: &str, what: &str, key: &str, names: &[&str]) -> String {
    let at = if what == "option" {
        format!("{path}.{key}: unknown option")
    } else {
        format!("{path}: unknown {what} `{key}`")
    };
    match suggest(key, names) {
        Some(s) => format!("{at}; did you mean `{s}`?"),
        None => format!("{at} (known: {})", names.join(", ")),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn first_sentence(d: &str) -> &str {
    d.split(". ").next().unwrap_or(d).trim_end_matches('.')
}

/// `v` read as the property's type; a problem (the value shown unless secret) when it cannot be.
fn coerce(at: &str, v: Value, s: &Value, problems: &mut Vec<String>) -> Option<Value> {
    let p = Property::of(s);
    let has = |t: &str| p.types.contains(&t);
    let shown = |v: &Value| {
        if p.secret {
            "(redacted)".to_string()
        } else {
            format!("`{}`", text(v))
        }
    };
    let out = match v.clone() {
        Value::String(ref t) if !has("string") && !p.values.iter().any(|e| e.is_string()) => {
            let t = t.trim();
            if has("integer") {
                t.parse::<i64>().ok().map(Number::from).map(Value::Number)
            } else if has("number") {
                t.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            } else if has("boolean") {
                match t.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Some(Value::Bool(true)),
                    "false" | "no" | "0" => Some(Value::Bool(false)),
                    _ => None,
                }
            } else if has("array") {
                Some(Value::Array(
                    t.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(|x| Value::String(x.to_string()))
                        .collect(),
                ))
            } else {
                Some(v.clone())
            }
        }
        Value::Number(_) | Value::Bool(_) if has("string") && !has("integer") => {
            Some(Value::String(text(&v)))
        }
        other => Some(other),
    };
    let Some(out) = out else {
        let want = p
            .types
            .iter()
            .find(|t| **t != "null")
            .copied()
            .unwrap_or("value");
        problems.push(format!("{at}: {} is not a valid {want}", shown(&v)));
        return None;
    };
    if p.values.is_empty() || out.is_null() {
        return Some(out);
    }
    if let Some(e) = p.values.iter().find(|e| {
        **e == &out
            || matches!((e.as_str(), out.as_str()), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
    }) {
        return Some((*e).clone());
    }
    let allowed: Vec<String> = p
        .values
        .iter()
        .filter(|e| !e.is_null())
        .map(|e| text(e))
        .collect();
    problems.push(format!(
        "{at}: {} is not one of {}",
        shown(&out),
        allowed.join(", ")
    ));
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Secret;
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(deny_unknown_fields)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Safe,
    }

    /// Options of a test connector.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Opts {
        /// Where to go. Required.
        target: String,
        /// How many. Default 3.
        #[serde(default = "three")]
        count: u32,
        /// On or off.
        #[serde(default)]
        flag: bool,
        /// Names, a comma list in the address.
        #[serde(default)]
        names: Vec<String>,
        /// The mode.
        mode: Option<Mode>,
        /// The password.
        password: Option<Secret>,
    }

    fn three() -> u32 {
        3
    }

    fn url(q: &str) -> url::Url {
        url::Url::parse(&format!("x://host/?{q}")).unwrap()
    }

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reads_typed_values_from_the_query_and_options() {
        let o: Opts = read(
            Side::Source,
            Some(&url(
                "target=t&count=9&flag=yes&names=a,%20b&mode=FAST&batch_size=4",
            )),
            &opts(serde_json::json!({"password": "pw123"})),
        )
        .unwrap();
        assert_eq!((o.target.as_str(), o.count, o.flag), ("t", 9, true));
        assert_eq!(o.names, vec!["a", "b"]);
        assert_eq!(o.mode, Some(Mode::Fast));
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("pw123"));
        let d: Opts = read(Side::Sink, None, &opts(serde_json::json!({"target": 5}))).unwrap();
        assert_eq!((d.target.as_str(), d.count), ("5", 3));
    }

    #[test]
    fn every_problem_at_once_and_secrets_never_shown() {
        let e = read::<Opts>(
            Side::Source,
            Some(&url("count=many&pasword=x&password=pw-one&mode=slow")),
            &opts(serde_json::json!({"password": "pw-two", "colour": 1})),
        )
        .unwrap_err()
        .message;
        for want in [
            "spec.source.address: parameter `count`: `many` is not a valid integer",
            "unknown parameter `pasword`; did you mean `password`?",
            "`mode`: `slow` is not one of fast, safe",
            "spec.source.options.password and the `password` parameter of spec.source.address differ: (values redacted)",
            "spec.source.options.colour: unknown option (known: count, flag, mode, names, password, target)",
            "spec.source.options.target: required: Where to go",
        ] {
            assert!(e.contains(want), "missing {want:?} in {e}");
        }
        assert!(!e.contains("pw-one") && !e.contains("pw-two"), "{e}");
    }

    #[test]
    fn the_same_value_twice_is_fine() {
        let o: Opts = read(
            Side::Source,
            Some(&url("target=t&count=2")),
            &opts(serde_json::json!({"count": 2, "target": "t"})),
        )
        .unwrap();
        assert_eq!(o.count, 2);
    }
}
