//! "Did you mean": the closest known option to a misspelt one, close enough to be a typo. (The
//! manifest's keys use the same rule in core, which does not depend on the sdk.)

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

/// The closest of `known` to `key` (compared lower-case, `-` read as `_`), if it is within
/// a quarter of its length (at least 2 edits) and not a rewrite of the whole word.
///
/// ```
/// use weir_sdk::options::suggest;
/// assert_eq!(suggest("adress", &["address", "options"]), Some("address"));
/// assert_eq!(suggest("zzz", &["address", "options"]), None);
/// ```
pub fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let k = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|c| (distance(&k, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest("optoins", &["address", "options"]), Some("options"));
        assert_eq!(
            suggest("group-idd", &["group_id", "client_id"]),
            Some("group_id")
        );
        assert_eq!(suggest("ab", &["cd"]), None);
    }
}
