//! Several weir processes on one NATS durable writing one Delta table, the scale-out shape
//! the durable's shared key allows: no member's commit is a conflict for another (no
//! positions-moved restarts), SIGKILLed members lose nothing, and what a dead member held
//! comes back to the others within the durable's 10 s `ack_wait`.

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::nats::{json_ids, try_json_ids, NatsServer};
use weir_tests::running::Running;
use weir_tests::*;

const TOTAL: u64 = 30_000;
const BATCH: u64 = 500;
const MEMBERS: usize = 3;

fn distinct(table: &Path) -> u64 {
    try_json_ids(table)
        .and_then(|ids| ids["distinct"].as_u64())
        .unwrap_or(0)
}

#[test]
fn three_processes_on_one_durable_into_one_table_survive_sigkills() {
    let server = NatsServer::start();
    server.tool(&["stream", "EVENTS", "events.>"]);
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let lake = scratch.join("lake");
    let table = lake.join("events");
    let m = Manifest::new("shared")
        .source(format!(
            "nats+jetstream://{}?subject=events.>&durable=shared",
            server.host_port()
        ))
        .source_option("source_table", "EVENTS")
        .source_option("batch_size", json!(BATCH))
        .source_option("batch_timeout", json!(1))
        .source_option("run_in_loop", json!(true))
        .sink(&lake)
        .sink_option("dest_table", "events");
    let m = scratch.write(&m);
    let member = |name: String| {
        Running::start(
            weir(&plugins).arg("run").arg(&m),
            &scratch.join(&format!("member-{name}.log")),
        )
    };
    let mut publisher = server.publish_in_background("events", 0, TOTAL, 2_000);
    let mut members: Vec<Running> = (0..MEMBERS).map(|i| member(i.to_string())).collect();
    wait_for("the first commits", Duration::from_secs(60), || {
        delta_commits(&table) >= 3
    });
    let mut clock = KillClock::new();
    for victim in [0, 1] {
        let log = scratch.join(&format!("member-{victim}.log"));
        clock.kill(members[victim].child(), 3_000, &log, "a member");
        let before = delta_commits(&table);
        members[victim] = member(format!("{victim}-again"));
        wait_for(
            "the others and the restarted one to commit",
            Duration::from_secs(60),
            || delta_commits(&table) >= before + 3,
        );
    }
    assert!(publisher.wait().expect("publisher").success());
    let reached = eventually(Duration::from_secs(120), || distinct(&table) >= TOTAL);
    // What the killed members held and never acked comes back after `ack_wait` to a live
    // member, which writes and acks it: then nothing is left unacked.
    let settled = eventually(Duration::from_secs(60), || {
        let c = server.tool(&["consumer", "EVENTS", "shared"]);
        c["num_ack_pending"] == 0 && c["num_pending"] == 0
    });
    for m in &members {
        m.signal(libc::SIGTERM);
    }
    for (i, m) in members.into_iter().enumerate() {
        let out = m.wait_exit();
        assert_eq!(out.code, Some(0), "member {i}: {}", out.stderr);
        assert!(
            !out.stderr.contains("positions moved"),
            "member {i} saw another member's commit as a conflict: {}",
            out.stderr
        );
    }
    // The killed members' runs, up to their kill, saw no conflict either.
    for victim in [0, 1] {
        let log = std::fs::read_to_string(scratch.join(&format!("member-{victim}.log")))
            .unwrap_or_default();
        assert!(!log.contains("positions moved"), "member {victim}: {log}");
    }
    let ids = json_ids(&table);
    assert!(reached, "not every message arrived: {ids}");
    assert_eq!(ids["distinct"], TOTAL, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    // Each kill can leave the batches in flight (one being written, one queued, one being
    // built) committed but not acked: redelivered to a member and written again.
    let dups = ids["duplicates"].as_u64().expect("duplicates");
    assert!(dups <= 2 * 3 * BATCH, "{dups} duplicates: {ids}");
    eprintln!("duplicates after 2 kills of {MEMBERS} members: {dups}");
    let consumer = server.tool(&["consumer", "EVENTS", "shared"]);
    assert_eq!(consumer["ack_wait_s"], 10.0, "{consumer}");
    assert!(settled, "messages left unacked: {consumer}");
}
