//! Rows a sink refuses, as they travel from a plugin to the host.
//!
//! A sink that finds rows of a batch its destination will not take (a NOT NULL or CHECK
//! constraint, a value out of range) fails the commit with a *data* error whose message is
//! [`encode`]d: the [`MARKER`], then one line per row with its index in the batch and the
//! destination's reason. The host [`decode`]s it, sets those rows aside as dead letters and
//! writes the rest again. The form is plain text, so it needs nothing of the plugin ABI
//! beyond the error message every call already returns, and a host that does not know it
//! still shows a readable error (and stops before committing, as for any data error).
//!
//! ```
//! use weir_envelope::rejected;
//! let msg = rejected::encode(&[(3, "null value in column \"name\"".into())]);
//! assert!(msg.starts_with(rejected::MARKER));
//! assert_eq!(rejected::decode(&msg), Some(vec![(3, "null value in column \"name\"".into())]));
//! assert_eq!(rejected::decode("something else"), None);
//! ```

/// How the message of a rejected-rows error begins.
pub const MARKER: &str = "rows rejected by the destination";

/// The message for `rows` (`(row index in the batch, reason)`); tabs and line breaks inside a
/// reason become spaces.
pub fn encode(rows: &[(usize, String)]) -> String {
    let mut out = format!("{MARKER} ({}):", rows.len());
    for (row, reason) in rows {
        let reason: String = reason
            .chars()
            .map(|c| {
                if c == '\n' || c == '\t' || c == '\r' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        out.push_str(&format!("\n{row}\t{reason}"));
    }
    out
}

/// The rows of a message [`encode`] made; `None` for any other message (or a malformed one).
pub fn decode(message: &str) -> Option<Vec<(usize, String)>> {
    let rest = message.strip_prefix(MARKER)?;
    let mut lines = rest.split('\n');
    let head = lines.next()?;
    let count: usize = head
        .trim()
        .strip_prefix('(')?
        .strip_suffix("):")?
        .parse()
        .ok()?;
    let rows: Vec<(usize, String)> = lines
        .map(|l| {
            let (row, reason) = l.split_once('\t')?;
            Some((row.parse().ok()?, reason.to_string()))
        })
        .collect::<Option<_>>()?;
    (rows.len() == count && count > 0).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_with_line_breaks_round_trip_flattened() {
        let rows = vec![(0, "a\tb\nc".to_string()), (17, String::new())];
        assert_eq!(
            decode(&encode(&rows)),
            Some(vec![(0, "a b c".to_string()), (17, String::new())])
        );
    }

    #[test]
    fn a_truncated_or_foreign_message_is_not_rows() {
        let msg = encode(&[(1, "x".into()), (2, "y".into())]);
        let cut = &msg[..msg.rfind('\n').unwrap_or(0)];
        assert_eq!(decode(cut), None);
        assert_eq!(decode(&encode(&[])), None);
        assert_eq!(decode("rows rejected by the destination, it said"), None);
    }
}
