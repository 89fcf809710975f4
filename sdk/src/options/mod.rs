//! Connector options as typed structs: one `#[serde(deny_unknown_fields)]` struct per
//! connector whose `///` docs are its documentation, the JSON schema derived from it, and one
//! reader that gathers the knobs from the address query and from `options`.
//!
//! ```
//! use weir_sdk::options::{self, Secret};
//! use weir_sdk::schemars::JsonSchema;
//! use weir_sdk::serde::Deserialize;
//!
//! /// Options of `demo://`.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
//! #[schemars(crate = "weir_sdk::schemars")]
//! struct DemoOptions {
//!     /// Records per request. Default 100. Example: `500`.
//!     #[serde(default = "hundred")]
//!     page: u32,
//!     /// The API token.
//!     token: Option<Secret>,
//! }
//! fn hundred() -> u32 { 100 }
//!
//! let url = url::Url::parse("demo://?page=7&token=s3cr3t").unwrap();
//! let o: DemoOptions = options::read(options::Side::Source, Some(&url), &Default::default()).unwrap();
//! assert_eq!(o.page, 7);
//! assert_eq!(o.token.as_ref().map(Secret::expose), Some("s3cr3t"));
//! assert!(!format!("{o:?}").contains("s3cr3t"));
//!
//! let bad = url::Url::parse("demo://?pgae=7").unwrap();
//! let e = options::read::<DemoOptions>(options::Side::Source, Some(&bad), &Default::default()).unwrap_err();
//! assert!(e.message.contains("did you mean `page`"), "{e}");
//! ```

mod common;
mod read;
mod secret;
mod suggest;
mod table;

pub use common::{KeyColumns, Strategy};
pub use read::{read, Side};
pub use secret::Secret;
pub use suggest::suggest;
pub use table::{check_readme, table, BEGIN, END};

use schemars::JsonSchema;
use serde_json::Value;

/// Query keys the engine reads from any source address (batching, looping); a connector's
/// reader accepts and ignores them.
pub const ENGINE_QUERY_KEYS: &[&str] = &[
    "batch_size",
    "batch_timeout",
    "timeout",
    "max_batch_bytes",
    "run_in_loop",
];

/// The options' JSON schema, derived from the struct (subschemas inlined, so every property
/// carries its own type, description and default). This is what `weir plugins --json` shows.
pub fn schema<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
    });
    let mut v = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
    }
    v
}

/// One property of a schema, read the way the reader and the table need it.
#[derive(Debug, Default)]
struct Property<'a> {
    /// JSON types it accepts (`string`, `integer`, `number`, `boolean`, `array`, `null`, ...).
    types: Vec<&'a str>,
    /// The allowed values of an enumeration.
    values: Vec<&'a Value>,
    secret: bool,
}

impl<'a> Property<'a> {
    fn of(schema: &'a Value) -> Self {
        let mut p = Self::default();
        p.visit(schema);
        p
    }

    fn visit(&mut self, s: &'a Value) {
        match s.get("type") {
            Some(Value::String(t)) => self.types.push(t),
            Some(Value::Array(ts)) => self.types.extend(ts.iter().filter_map(Value::as_str)),
            _ => {}
        }
        if let Some(Value::Array(vs)) = s.get("enum") {
            self.values.extend(vs.iter());
        }
        if let Some(c) = s.get("const") {
            self.values.push(c);
        }
        if s.get("writeOnly") == Some(&Value::Bool(true)) {
            self.secret = true;
        }
        for k in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(alts)) = s.get(k) {
                for a in alts {
                    self.visit(a);
                }
            }
        }
    }
}

/// The properties of an object schema, by name.
fn properties(schema: &Value) -> Vec<(&str, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
