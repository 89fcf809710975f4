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
const KNOWN: &[(&str, &str, usize)] = &[
    ("core/src/decode/json.rs", "decode", 91),
    ("core/src/manifest.rs", "", 605),
    ("core/src/manifest.rs", "parse_current", 189),
    ("core/src/manifest/shaping.rs", "parse", 129),
    ("core/src/mask/json_text.rs", "mask", 111),
    ("core/src/runner.rs", "", 693),
    ("core/src/runner.rs", "go", 87),
    ("host/src/main.rs", "go", 105),
    ("host/src/pipeline.rs", "instantiate", 87),
    ("host/src/run_cmd.rs", "run", 113),
    ("host/src/service.rs", "new", 118),
    ("host/src/supervise.rs", "supervise", 110),
    ("plugins/delta/src/config.rs", "from_sink_with_env", 133),
    ("plugins/kafka/src/source.rs", "poll", 123),
    ("plugins/nats/src/source.rs", "poll", 135),
    ("xtask/src/new_plugin.rs", "run", 86),
];

/// Unexplained sleeps per test file when the check was introduced.
const KNOWN_SLEEPS: &[(&str, usize)] = &[
    ("tests/harness/kafka.rs", 2),
    ("tests/harness/lib.rs", 4),
    ("tests/harness/nats.rs", 2),
    ("tests/harness/s3.rs", 1),
    ("tests/it/delta.rs", 1),
    ("tests/it/kafka.rs", 7),
    ("tests/it/nats.rs", 3),
    ("tests/it/service.rs", 3),
    ("tests/it/signals.rs", 1),
];

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
    let problems = compare(&sizes, &sleeps);
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
fn compare(sizes: &[(String, String, usize)], sleeps: &BTreeMap<String, usize>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, f, n) in sizes {
        let what = if f.is_empty() {
            format!("{path}: {n} lines (at most {MAX_FILE_LINES}); split it by idea")
        } else {
            format!("{path}: fn {f} has {n} lines (at most {MAX_FN_LINES}); split it")
        };
        match KNOWN.iter().find(|(p, kf, _)| p == path && kf == f) {
            None => problems.push(what),
            Some((_, _, was)) if n > was => problems.push(format!("{what} (it had {was})")),
            Some(_) => {}
        }
    }
    for (p, f, _) in KNOWN {
        if !sizes.iter().any(|(sp, sf, _)| sp == p && sf == f) {
            problems.push(format!(
                "{p} {f}: now within the limit; remove it from KNOWN in xtask/src/tidy.rs"
            ));
        }
    }
    for (path, n) in sleeps {
        let known = KNOWN_SLEEPS
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0, |(_, k)| *k);
        if *n > known {
            problems.push(format!("{path}: {n} sleeps with no comment saying why they are not synchronisation (known: {known}); wait for a log line, a metric or a table state instead"));
        }
    }
    for (p, k) in KNOWN_SLEEPS {
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
    let explained = |l: &str| l.contains("pacing") || l.contains("not synchronisation");
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
        let mut sizes: Vec<(String, String, usize)> = KNOWN
            .iter()
            .map(|(p, f, n)| (p.to_string(), f.to_string(), *n))
            .collect();
        let sleeps: BTreeMap<String, usize> = KNOWN_SLEEPS
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect();
        assert!(compare(&sizes, &sleeps).is_empty());
        sizes.push(("core/src/new.rs".into(), "f".into(), 90));
        sizes[0].2 += 1;
        sizes.remove(1);
        let p = compare(&sizes, &sleeps);
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
