//! [`Secret`]: an option value that never prints.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;

/// A secret option (a password, a token, a key). `Debug` and `Display` print `(redacted)`;
/// only [`Secret::expose`] gives the value, at the one place that hands it to a client. Its
/// schema is a `writeOnly` string, which is how `weir validate`, `weir plugins` and the
/// option reader know to keep it out of what they print.
///
/// ```
/// let s = weir_sdk::options::Secret::new("hunter2");
/// assert_eq!(format!("{s} {s:?}"), "(redacted) (redacted)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the client library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces the value, if it is long enough to be recognisable, in `text` (a client
    /// library's error, say) with `(redacted)`.
    ///
    /// ```
    /// let s = weir_sdk::options::Secret::new("hunter2");
    /// assert_eq!(s.redact("auth hunter2 refused"), "auth (redacted) refused");
    /// ```
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 3 {
            return text.to_string();
        }
        text.replace(&self.0, "(redacted)")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "writeOnly": true})
    }
}
