//! `cargo xtask tidy` (also the first step of `cargo xtask test`): size limits and test
//! hygiene checked over the tracked sources, in the manner of rust-analyzer's tidy test.
//!
//! - No source file over [`MAX_FILE_LINES`] lines and no function over [`MAX_FN_LINES`]
//!   (code before a file's `#[cfg(test)]`; tests, fixtures and templates are not counted).
//! - No `sleep` in `tests/` unless the line or the one above says why it is not
//!   synchronisation (a comment containing `pacing` or `not synchronisation`).
//!
//! What is over a limit today is listed in [`KNOWN`] and [`KNOWN_SLEEPS`]: a ratchet. A new
//! offender fails, an entry that grew fails, and an entry that no longer offends fails too
//! (remove it), so the lists only shrink.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::process::Command;

/// The longest source file, in lines.
pub(crate) const MAX_FILE_LINES: usize = 600;
/// The longest function, in lines.
pub(crate) const MAX_FN_LINES: usize = 80;

/// Files and functions over a limit when the check was introduced, with their size then:
/// `(path, function or "" for the file, lines)`.
const KNOWN: &[(&str, &str, usize)] = &[];

/// Unexplained sleeps per test file when the check was introduced.
const KNOWN_SLEEPS: &[(&str, usize)] = &[];

/// Runs every check; the error lists every problem.
pub(crate) fn run() -> Result<()> {
    let out = Command::new("git")
        .args(["ls-files", "*.rs"])
        .current_dir(crate::root())
        .output()?;
    if !out.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut sizes = Vec::new();
    let mut sleeps = BTreeMap::new();
    for path in String::from_utf8_lossy(&out.stdout).lines() {
        let text = std::fs::read_to_string(crate::root().join(path))?;
        if path.starts_with("tests/") && !path.starts_with("tests/fixtures/") {
            let n = unexplained_sleeps(&text);
            if n > 0 {
                sleeps.insert(path.to_string(), n);
            }
        } else if !is_test_source(path) {
            sizes.extend(
                oversized(&text)
                    .into_iter()
                    .map(|(f, n)| (path.to_string(), f, n)),
            );
        }
    }
    let problems = compare(&sizes, &sleeps, KNOWN, KNOWN_SLEEPS);
    if problems.is_empty() {
        println!(
            "tidy: files <= {MAX_FILE_LINES} lines and functions <= {MAX_FN_LINES} (but {} known), no unexplained sleep in tests (but {} known)",
            KNOWN.len(),
            KNOWN_SLEEPS.iter().map(|(_, n)| n).sum::<usize>()
        );
        return Ok(());
    }
    bail!("tidy:\n  {}", problems.join("\n  "))
}

fn is_test_source(path: &str) -> bool {
    path.contains("/tests/")
        || path.starts_with("xtask/templates/")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("tests"))
}

/// Problems: offenders not known, known ones that grew, known ones that are gone.
/// A ratchet of known offenders: `(path, function or "", lines)`.
type Known<'a> = &'a [(&'a str, &'a str, usize)];

fn compare(
    sizes: &[(String, String, usize)],
    sleeps: &BTreeMap<String, usize>,
    known: Known<'_>,
    known_sleeps: &[(&str, usize)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, f, n) in sizes {
        let what = if f.is_empty() {
            format!("{path}: {n} lines (at most {MAX_FILE_LINES}); split it by idea")
        } else {
            format!("{path}: fn {f} has {n} lines (at most {MAX_FN_LINES}); split it")
        };
        match known.iter().find(|(p, kf, _)| p == path && kf == f) {
            None => problems.push(what),
            Some((_, _, was)) if n > was => problems.push(format!("{what} (it had {was})")),
            Some(_) => {}
        }
    }
    for (p, f, _) in known {
        if !sizes.iter().any(|(sp, sf, _)| sp == p && sf == f) {
            problems.push(format!(
                "{p} {f}: now within the limit; remove it from KNOWN in xtask/src/tidy.rs"
            ));
        }
    }
    for (path, n) in sleeps {
        let known = known_sleeps
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0, |(_, k)| *k);
        if *n > known {
            problems.push(format!("{path}: {n} sleeps with no comment saying why they are not synchronisation (known: {known}); wait for a log line, a metric or a table state instead"));
        }
    }
    for (p, k) in known_sleeps {
        if sleeps.get(*p).copied().unwrap_or(0) < *k {
            problems.push(format!(
                "{p}: fewer sleeps than KNOWN_SLEEPS says; lower it in xtask/src/tidy.rs"
            ));
        }
    }
    problems
}

/// The file (as `""`) and the functions of `text` over the limits, counting code before
/// `#[cfg(test)]`. Functions are found the way rustfmt lays them out: a `fn` line and the
/// first later line that is its indentation followed by `}`.
fn oversized(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim() == "#[cfg(test)]")
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    if end > MAX_FILE_LINES {
        out.push((String::new(), end));
    }
    for (i, l) in lines[..end].iter().enumerate() {
        let Some((indent, name)) = fn_start(l) else {
            continue;
        };
        let close = format!("{indent}}}");
        if let Some(j) = (i + 1..end).find(|j| lines[*j] == close) {
            let n = j - i + 1;
            if n > MAX_FN_LINES {
                out.push((name.to_string(), n));
            }
        }
    }
    out
}

/// `(indentation, name)` when `line` starts a function with a body.
fn fn_start(line: &str) -> Option<(&str, &str)> {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    if body.ends_with(';') || body.starts_with("//") {
        return None;
    }
    let mut rest = body;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    rest = rest.strip_prefix("extern \"C\" ").unwrap_or(rest);
    let name = rest.strip_prefix("fn ")?;
    let name = name
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then_some((indent, name))
}

fn unexplained_sleeps(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let explained = |l: &str| {
        let l = l.to_ascii_lowercase();
        l.contains("pacing") || l.contains("not synchronisation")
    };
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("sleep(") && !l.trim_start().starts_with("//"))
        .filter(|(i, l)| !(explained(l) || (*i > 0 && explained(lines[i - 1]))))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_long_functions_and_files() {
        let mut text = String::from("pub(crate) fn long() {\n");
        text.push_str(&"    x();\n".repeat(MAX_FN_LINES));
        text.push_str("}\nfn short() {\n}\n");
        assert_eq!(
            oversized(&text),
            vec![("long".to_string(), MAX_FN_LINES + 2)]
        );
        let big = "// x\n".repeat(MAX_FILE_LINES + 1);
        assert_eq!(oversized(&big), vec![(String::new(), MAX_FILE_LINES + 1)]);
        let tested = format!("#[cfg(test)]\n{big}");
        assert!(oversized(&tested).is_empty());
    }

    #[test]
    fn a_sleep_needs_a_reason() {
        let text = "std::thread::sleep(d);\n// pacing the producer\nstd::thread::sleep(d);\nsleep(d); // not synchronisation: rate limit\n";
        assert_eq!(unexplained_sleeps(text), 1);
    }

    #[test]
    fn new_offenders_growth_and_stale_entries_fail() {
        let known: Known<'_> = &[("core/src/a.rs", "", 700), ("core/src/b.rs", "f", 90)];
        let known_sleeps = &[("tests/it/a.rs", 2)];
        let mut sizes: Vec<(String, String, usize)> = known
            .iter()
            .map(|(p, f, n)| (p.to_string(), f.to_string(), *n))
            .collect();
        let sleeps: BTreeMap<String, usize> = [("tests/it/a.rs".to_string(), 2)].into();
        assert!(compare(&sizes, &sleeps, known, known_sleeps).is_empty());
        let mut grown = sizes.clone();
        grown.push(("core/src/new.rs".into(), "f".into(), 90));
        grown[0].2 += 1;
        let p = compare(&grown, &sleeps, known, known_sleeps);
        assert_eq!(p.len(), 2, "a new offender and a grown one: {p:?}");
        sizes.remove(0);
        let p = compare(&sizes, &sleeps, known, known_sleeps);
        assert_eq!(p.len(), 1, "a stale entry: {p:?}");
        let mut slept = sleeps.clone();
        slept.insert("tests/it/new.rs".into(), 1);
        slept.insert("tests/it/a.rs".into(), 1);
        let p = compare(&[], &slept, &[], known_sleeps);
        assert_eq!(p.len(), 2, "a new sleep and a shrunk count: {p:?}");
    }
}
