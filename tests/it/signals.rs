//! `run_in_loop: true` on an endless generator, stopped by SIGTERM: the run drains, exits 0
//! promptly, and the table holds exactly ids 0..M-1 where M is the committed position.

use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::*;

#[test]
fn sigterm_drains_and_leaves_exactly_the_committed_ids() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let table = s.join("lake/events");
    let batch_timeout = Duration::from_secs(3);
    let manifest = s.write(
        &Manifest::new("endless")
            .source("generator://?rate=20000&seed=7")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 2500)
            .source_option("batch_timeout", batch_timeout.as_secs())
            .sink(s.join("lake"))
            .sink_option("dest_table", "events"),
    );
    let mut child = spawn(weir(&plugins).arg("run").arg(&manifest));
    wait_for("three commits", Duration::from_secs(60), || {
        delta_commits(&table) >= 3
    });
    signal(&child, libc::SIGTERM);
    let mut status = None;
    eventually(2 * batch_timeout, || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        panic!("weir did not exit within 2 x batch_timeout after SIGTERM");
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(0), "{stderr}");

    let summary = delta_summary(&table);
    let m = summary["rows"].as_i64().expect("rows");
    assert!(m > 0, "{summary}");
    assert_eq!(
        summary["distinct_ids"].as_i64(),
        Some(m),
        "duplicates: {summary}"
    );
    assert_eq!(summary["id_min"], 0, "{summary}");
    assert_eq!(summary["id_max"].as_i64(), Some(m - 1), "gaps: {summary}");
    assert_eq!(
        summary["txn"]["weir/endless/generator"].as_i64(),
        Some(m),
        "{summary}"
    );
    assert!(
        stderr.contains(&format!("committed=generator@{m}")),
        "{stderr}"
    );
    assert_eq!(
        stored_positions(&table, "endless", &["generator"]),
        vec![weir_sdk::Position::new("generator", m)]
    );
}
