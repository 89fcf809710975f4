//! Bounds on what one JSON value may bring into a table, applied before anything parses it.
//!
//! - **Depth.** Nested objects and arrays deeper than `max_nesting_depth` levels below a
//!   top-level column become JSON text in place (the object `{"a":{"b":1}}` at the limit is the
//!   string `"{\"a\":{\"b\":1}}"`), as `max_table_nesting` does for every level. A table schema
//!   therefore never holds more levels than its readers can parse: the Delta log's
//!   `schemaString` costs three JSON levels per struct level and Delta readers (delta-rs, the
//!   Python `deltalake`, Spark's Jackson defaults are far higher) parse it with serde_json's
//!   recursion limit of 128, so they fail past about 41 struct levels; Iceberg's metadata JSON
//!   has the same shape and limit in iceberg-rust; PostgreSQL's `jsonb` has none below its
//!   stack limit. The default, 16, is well below all of them.
//! - **Hard limits.** A value larger than `max_message_bytes`, or nested deeper than
//!   [`HARD_DEPTH`] even as text, is refused with the reason (it becomes a dead letter).
//!
//! The rewrite is one iterative pass over the bytes (no recursion, so no input can overflow a
//! stack) and returns the value untouched, without a copy, when it is within bounds.

use std::borrow::Cow;

/// The default `max_nesting_depth`: nested levels kept as columns below a top-level column.
pub const DEFAULT_MAX_NESTING_DEPTH: usize = 16;
/// The largest `max_nesting_depth` accepted: readers of Delta and Iceberg schemas fail past
/// about 41 struct levels (see the module documentation).
pub const MAX_NESTING_DEPTH_LIMIT: usize = 32;
/// The default `max_message_bytes`: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Values nested deeper than this are refused even as text: they are not data.
pub const HARD_DEPTH: usize = 1024;

/// The limits of one pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Nested levels kept as struct or list columns below a top-level column; deeper parts
    /// become JSON text. `0` turns every nested value into text.
    pub max_nesting_depth: usize,
    /// Values larger than this many bytes are refused.
    pub max_message_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_nesting_depth: DEFAULT_MAX_NESTING_DEPTH,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl Bounds {
    /// The value within bounds: as it is, or with its too-deep parts turned into JSON text.
    /// `Err` carries the reason a value is refused. The value is expected to be JSON; what is
    /// not is left for the parser to report.
    pub fn apply<'a>(&self, value: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
        if value.len() > self.max_message_bytes {
            return Err(format!(
                "the value is {} bytes, more than max_message_bytes ({})",
                value.len(),
                self.max_message_bytes
            ));
        }
        // The top-level object is level 1; its fields' containers level 2, and so on.
        let keep = self.max_nesting_depth + 1;
        let deepest = deepest(value);
        if deepest > HARD_DEPTH {
            return Err(format!(
                "the value is nested {} levels deep, more than the hard limit of {HARD_DEPTH}",
                deepest - 1
            ));
        }
        if deepest <= keep {
            return Ok(Cow::Borrowed(value));
        }
        Ok(Cow::Owned(flatten_below(value, keep)))
    }
}

/// Scans JSON bytes outside strings, calling `f(index, byte, depth_after)` for every bracket.
fn scan(value: &[u8], mut f: impl FnMut(usize, u8, usize)) {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in value.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                f(i, b, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                f(i, b, depth);
            }
            _ => {}
        }
    }
}

/// The deepest container level of a JSON text (0 for a scalar).
fn deepest(value: &[u8]) -> usize {
    let mut max = 0;
    scan(value, |_, _, d| max = max.max(d));
    max
}

/// Rewrites every container that opens at level `keep + 1` as a JSON string of its text.
fn flatten_below(value: &[u8], keep: usize) -> Vec<u8> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut open = None;
    scan(value, |i, b, d| match (b, open) {
        (b'{' | b'[', None) if d == keep + 1 => open = Some(i),
        (b'}' | b']', Some(start)) if d == keep => {
            spans.push((start, i + 1));
            open = None;
        }
        _ => {}
    });
    if let Some(start) = open {
        // Unterminated: let the parser report the broken value as it is.
        spans.push((start, value.len()));
    }
    let mut out = Vec::with_capacity(value.len() + value.len() / 8 + 2);
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&value[at..start]);
        quote(&value[start..end], &mut out);
        at = end;
    }
    out.extend_from_slice(&value[at..]);
    out
}

/// Appends `text` as a JSON string literal.
fn quote(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in text {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"l<n-1>": ... {"l0": 1}}`, `levels` objects deep.
    fn nested(levels: usize) -> String {
        let open: String = (0..levels).rev().map(|i| format!("{{\"l{i}\":")).collect();
        format!("{open}1{}", "}".repeat(levels))
    }

    fn bounds(depth: usize) -> Bounds {
        Bounds {
            max_nesting_depth: depth,
            ..Bounds::default()
        }
    }

    #[test]
    fn shallow_values_pass_without_a_copy() {
        let v = br#"{"id":1,"a":{"b":[1,2,{"c":"}]{["}]}}"#;
        assert!(matches!(bounds(3).apply(v), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn deeper_parts_become_json_text_that_parses_back() {
        let deep = nested(50);
        let v = format!(r#"{{"id":2,"deep":{deep},"after":"z"}}"#);
        let out = bounds(2).apply(v.as_bytes()).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["id"], 2);
        assert_eq!(parsed["after"], "z");
        // deep (level 1) and its child (level 2) stay objects; level 3 is text.
        let text = parsed["deep"]["l49"]["l48"].as_str().unwrap();
        let inner: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(inner["l47"].is_object());
        assert_eq!(deepest(&out), 3);
    }

    #[test]
    fn zero_turns_every_nested_value_into_text() {
        let out = bounds(0)
            .apply(br#"{"a":[1,{"x":"q\"\\"}],"b":{}}"#)
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["a"], r#"[1,{"x":"q\"\\"}]"#);
        assert_eq!(parsed["b"], "{}");
    }

    #[test]
    fn no_depth_overflows_and_hard_limits_refuse() {
        let v = format!(r#"{{"id":1,"deep":{}}}"#, nested(100_000));
        let err = bounds(16).apply(v.as_bytes()).unwrap_err();
        assert!(err.contains("hard limit"), "{err}");
        let v = format!(r#"{{"id":1,"deep":{}}}"#, nested(300));
        let out = bounds(16).apply(v.as_bytes()).unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
        let big = Bounds {
            max_message_bytes: 10,
            ..Bounds::default()
        };
        assert!(big
            .apply(br#"{"a":"0123456789"}"#)
            .unwrap_err()
            .contains("max_message_bytes"));
    }

    #[test]
    fn whitespace_and_unterminated_values() {
        let out = bounds(0).apply(b"{\"a\" : {\n\t\"b\": 1 } }").unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["a"], "{\n\t\"b\": 1 }");
        // Broken JSON stays broken for the parser to name.
        let out = bounds(0).apply(br#"{"a":{"b":1"#).unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_err());
    }
}
