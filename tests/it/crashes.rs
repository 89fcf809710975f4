//! A plugin crash that no panic handler catches (`abort()`, a segfault, a stack overflow) in
//! `poll` or in `write`: without isolation the process dies, and the last line it writes names
//! the plugin, the pipeline, the call and the signal, and says how to contain it
//! (`isolation: process`, tested in `isolation.rs`).

use std::os::unix::process::ExitStatusExt;
use weir_tests::manifest::Manifest;
use weir_tests::*;

/// Runs one crashing pipeline: the signal that ended weir, and its stderr.
fn crashed(name: &str, source: &str, sink: &str) -> (Option<i32>, String) {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &[library("weir_fixture_probe")]);
    let out_file = s.join("committed.jsonl");
    let sink = format!("probe://?out={}&{sink}", out_file.display());
    let manifest = s.write(
        &Manifest::new(name)
            .source(format!("probe://?rows=100&batches=10&{source}"))
            .source_option("batch_size", 100)
            .sink(sink),
    );
    let out = weir(&plugins)
        .arg("run")
        .arg(&manifest)
        .output()
        .expect("run weir");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        None,
        "{name}: weir was not killed: {stderr}"
    );
    (out.status.signal(), stderr)
}

#[test]
fn a_crash_in_poll_or_write_is_named_before_the_process_dies() {
    let cases = [
        ("abort", "SIGABRT", &[libc::SIGABRT][..]),
        ("segfault", "SIGSEGV", &[libc::SIGSEGV][..]),
        // std reports the overflow on the guard page, then aborts; the abort's handling on
        // the small signal stack may fault again.
        ("overflow", "SIGSEGV", &[libc::SIGABRT, libc::SIGSEGV][..]),
    ];
    for (how, named, signals) in cases {
        for (call, source, sink) in [
            (
                "poll",
                format!("crash_in_poll=2&crash={how}"),
                String::new(),
            ),
            (
                "write",
                String::new(),
                format!("crash_in_write=2&crash={how}"),
            ),
        ] {
            let name = format!("{how}-in-{call}");
            let (got, stderr) = crashed(&name, &source, &sink);
            assert!(
                got.is_some_and(|g| signals.contains(&g)),
                "{name}: died of {got:?}: {stderr}"
            );
            let side = if call == "poll" { "source" } else { "sink" };
            let line = stderr
                .lines()
                .find(|l| l.starts_with("weir: fatal:"))
                .unwrap_or_else(|| panic!("{name}: no line names the crash: {stderr}"));
            let want = format!(
                "weir: fatal: plugin `probe` 0.1.0 ({side} of pipeline `{name}`) crashed with {named}"
            );
            assert!(line.starts_with(&want), "{name}: {line}");
            assert!(line.contains(&format!("in `{call}`")), "{name}: {line}");
            assert!(line.contains("set `isolation: process`"), "{name}: {line}");
            if how == "overflow" {
                assert!(
                    stderr.contains("has overflowed its stack"),
                    "{name}: {stderr}"
                );
            }
            // Exactly one such line: the abort after an overflow is not reported again.
            assert_eq!(
                stderr.matches("weir: fatal:").count(),
                1,
                "{name}: {stderr}"
            );
        }
    }
}
