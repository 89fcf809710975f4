//! Kafka -> Delta against a real Kafka-protocol broker (tansu): exactly the produced messages
//! with the group's offsets at the high watermarks, resume, SIGKILL under flow, two processes
//! in one group with one killed, three in one group with two killed (one restarted), an absent
//! broker, and bad input. Produced and checked by an
//! independent client (Python confluent-kafka); tables read back by Python deltalake.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_tests::kafka::KafkaBroker;
use weir_tests::kills::KillClock;
use weir_tests::manifest::Manifest;
use weir_tests::nats::{json_ids, try_json_ids};
use weir_tests::running::Running;
use weir_tests::*;

const TOPIC: &str = "orders";

/// A broker with the `orders` topic on 4 partitions, a scratch directory with the shipped
/// plugins, and a lake for the Delta table.
struct Fixture {
    broker: KafkaBroker,
    scratch: Scratch,
    plugins: PathBuf,
    lake: PathBuf,
}

impl Fixture {
    fn new(produced: u64) -> Self {
        let broker = KafkaBroker::start();
        broker.create_topic(TOPIC, 4);
        if produced > 0 {
            broker.produce(TOPIC, 0, produced);
        }
        let scratch = Scratch::new();
        let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
        let lake = scratch.join("lake");
        Self {
            broker,
            scratch,
            plugins,
            lake,
        }
    }

    /// A Kafka -> Delta manifest for group `group`, with `options` in `source.options`.
    fn manifest(&self, name: &str, group: &str, options: &[(&str, Value)]) -> PathBuf {
        let address = format!(
            "kafka://?bootstrap_servers={}&group_id={group}",
            self.broker.bootstrap()
        );
        let mut m = Manifest::new(name)
            .source(address)
            .source_option("source_table", TOPIC)
            .sink(&self.lake)
            .sink_option("dest_table", "orders");
        for (k, v) in options {
            m = m.source_option(k, v.clone());
        }
        self.scratch.write(&m)
    }

    fn table(&self) -> PathBuf {
        self.lake.join("orders")
    }

    /// A group member running `manifest`, its log in `member-<name>.log`.
    fn member(&self, manifest: &Path, name: &str) -> Running {
        Running::start(
            weir(&self.plugins).arg("run").arg(manifest),
            &self.scratch.join(&format!("member-{name}.log")),
        )
    }
}

/// The options of a group's members: small batches, 1 s batches, looping, a 6 s session.
fn group_options() -> [(&'static str, Value); 4] {
    [
        ("batch_size", json!(2000)),
        ("batch_timeout", json!(1)),
        ("run_in_loop", json!(true)),
        ("session_timeout_ms", json!(6000)),
    ]
}

fn run_ok(plugins: &Path, manifest: &Path) -> Outcome {
    let out = output(weir(plugins).arg("run").arg(manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

/// The group's committed offsets equal the high watermarks on every partition, and sum to `n`.
fn assert_committed_at_end(broker: &KafkaBroker, group: &str, n: u64) {
    let o = broker.offsets(group, TOPIC);
    let mut sum = 0;
    for p in 0..4 {
        let (c, h) = (&o["committed"][p.to_string()], &o["high"][p.to_string()]);
        assert_eq!(
            c, h,
            "partition {p}: committed {c}, high watermark {h}: {o}"
        );
        sum += h.as_u64().unwrap_or(0);
    }
    assert_eq!(sum, n, "{o}");
}

#[test]
fn to_delta_exactly_the_produced_messages_then_resume() {
    const N: u64 = 200_000;
    let f = Fixture::new(N);
    let m = f.manifest(
        "kafka-drain",
        "drain",
        &[("batch_size", json!(20000)), ("batch_timeout", json!(2))],
    );
    run_ok(&f.plugins, &m);
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], N, "{ids}");
    assert_eq!(ids["distinct"], N, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    assert_committed_at_end(&f.broker, "drain", N);

    // Resume: exactly the 1 000 new messages are added.
    f.broker.produce(TOPIC, N, 1_000);
    run_ok(&f.plugins, &m);
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], N + 1_000, "{ids}");
    assert_eq!(ids["distinct"], N + 1_000, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    assert_committed_at_end(&f.broker, "drain", N + 1_000);
    // The table's positions are the offsets too (exactly-once markers).
    let summary = delta_summary(&f.table());
    let stored: u64 = (0..4)
        .map(|p| {
            summary["txn"][format!("weir/kafka-drain/{TOPIC}/{p}")]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(stored, N + 1_000, "{summary}");

    // Nothing new: the run ends at once and adds nothing.
    run_ok(&f.plugins, &m);
    assert_eq!(json_ids(&f.table())["rows"], N + 1_000);
}

#[test]
fn sigkill_under_flow_loses_nothing_and_duplicates_nothing() {
    const TOTAL: u64 = 100_000;
    const BATCH: u64 = 5_000;
    let f = Fixture::new(0);
    let table = f.table();
    // Each restart joins a group of its own: tansu's coordinator was seen (2 runs in about 10)
    // never completing a join after earlier members were SIGKILLed, which is not what this
    // test is about. Positions come from the table (the same pipeline, so the same `txn` ids),
    // so every restart resumes exactly where the last commit left off; the take-over of a dead
    // member's partitions inside one group is the two-process test below.
    let manifest = |group: &str| {
        f.manifest(
            "kafka-kill",
            group,
            &[
                ("batch_size", json!(BATCH)),
                ("batch_timeout", json!(1)),
                ("run_in_loop", json!(true)),
            ],
        )
    };
    let mut producer = f.broker.produce_in_background(TOPIC, 0, TOTAL, 2_500);
    // Pseudo-random moments from a seed printed for reproduction.
    let mut clock = KillClock::new();
    for round in 0..5 {
        let before = delta_commits(&table);
        let m = manifest(&format!("kill-{round}"));
        let child = spawn(weir(&f.plugins).arg("run").arg(&m));
        // The kill comes at a random moment once this process is writing.
        // Up to 30 s: once everything produced so far is written there may be nothing to
        // commit, and the kill comes anyway (the final run's deadline catches a member that
        // never joins).
        eventually(Duration::from_secs(30), || delta_commits(&table) > before);
        let wait_ms = 100 + clock.next_ms(3_000);
        // Not synchronisation: the random moment of the kill is what the test varies.
        std::thread::sleep(Duration::from_millis(wait_ms));
        signal(&child, libc::SIGKILL);
        let out = wait_exit(child);
        // Each round's log stays beside the table for a post-mortem (`WEIR_TEST_KEEP=1`).
        let _ = std::fs::write(
            f.scratch.path().join(format!("round-{round}.log")),
            &out.stderr,
        );
        assert_eq!(
            out.code, None,
            "round {round}: weir was not killed: {}",
            out.stderr
        );
    }
    let produced = producer.wait().expect("producer");
    assert!(produced.success(), "the producer failed");
    run_until(
        &f.plugins,
        &manifest("kill-final"),
        &table,
        TOTAL,
        Duration::from_secs(240),
    );

    let ids = json_ids(&table);
    assert_eq!(ids["distinct"], TOTAL, "{ids}");
    assert_eq!(ids["missing_count"], 0, "{ids}");
    // The Delta sink stores positions with the data and every partition starts exactly there,
    // so no kill duplicates anything: a batch in flight was never committed. (A seek racing
    // librdkafka's own offset lookup once restarted a partition at offset 0: 28 258 duplicates.)
    assert_eq!(ids["duplicates"], 0, "{ids}");
}

#[test]
fn two_processes_in_one_group_and_one_killed_the_survivor_takes_over() {
    const TOTAL: u64 = 60_000;
    let f = Fixture::new(0);
    let table = f.table();
    let m = f.manifest("kafka-group", "shared", &group_options());
    let member = |n: &str| f.member(&m, n);
    let (mut a, mut b) = (member("a"), member("b"));
    let mut producer = f.broker.produce_in_background(TOPIC, 0, TOTAL, 5_000);
    // Both members consume and commit, then one is killed mid-stream.
    let committed = |l: &str| l.contains("first batch committed");
    for m in [&mut a, &mut b] {
        m.wait_for_lines(
            "a member's first commit",
            1,
            Duration::from_secs(90),
            committed,
        );
    }
    b.signal(libc::SIGKILL);
    let killed = b.wait_exit();
    assert_eq!(killed.code, None, "{}", killed.stderr);
    assert!(producer.wait().expect("producer").success());
    let done = eventually(Duration::from_secs(180), || {
        try_json_ids(&table).is_some_and(|ids| ids["distinct"].as_u64() >= Some(TOTAL))
    });
    a.signal(libc::SIGTERM);
    let survivor = a.wait_exit();
    let ids = json_ids(&table);
    assert!(
        done,
        "not every message arrived: {ids}\nsurvivor:\n{}\nkilled:\n{}",
        survivor.stderr, killed.stderr
    );
    assert_eq!(survivor.code, Some(0), "{}", survivor.stderr);
    assert_eq!(ids["missing_count"], 0, "{ids}");
    // Exactly once (issue 5): the survivor seeks every partition it takes over to the table's
    // stored position, so nothing the killed member committed is written again.
    assert_eq!(ids["duplicates"], 0, "{ids}");
    assert!(
        survivor.stderr.contains("partition assigned"),
        "{}",
        survivor.stderr
    );
    eprintln!("two members, one killed: {ids}");
}

#[test]
fn three_members_of_one_group_under_kills_leave_each_id_exactly_once() {
    const TOTAL: u64 = 60_000;
    let f = Fixture::new(0);
    let table = f.table();
    let m = f.manifest("kafka-three", "three", &group_options());
    let member = |n: &str| f.member(&m, n);
    let committed = |l: &str| l.contains("first batch committed");
    let first_commit = |m: &mut Running| {
        m.wait_for_lines(
            "a member's first commit",
            1,
            Duration::from_secs(120),
            committed,
        );
    };
    // Half before the restart, half after: the restarted member has records to commit
    // however long the first half took to read (a slow machine may read it all first).
    let mut first_half = f.broker.produce_in_background(TOPIC, 0, TOTAL / 2, 4_000);
    let mut members = vec![member("a"), member("b"), member("c")];
    for m in members.iter_mut() {
        first_commit(m);
    }
    // One SIGKILLed and restarted (it rejoins the same group), then another SIGKILLed, all
    // while a producer runs: each rebalance moves partitions between live members.
    let mut clock = KillClock::new();
    let log = f.scratch.join("member-b.log");
    clock.kill(members[1].child(), 2_000, &log, "member b");
    members[1] = member("b-again");
    let mut second_half = f
        .broker
        .produce_in_background(TOPIC, TOTAL / 2, TOTAL / 2, 4_000);
    first_commit(&mut members[1]);
    let log = f.scratch.join("member-c.log");
    clock.kill(members[2].child(), 2_000, &log, "member c");
    members.truncate(2);
    assert!(first_half.wait().expect("producer").success());
    assert!(second_half.wait().expect("producer").success());
    let done = eventually(Duration::from_secs(180), || {
        try_json_ids(&table).is_some_and(|ids| ids["distinct"].as_u64() >= Some(TOTAL))
    });
    for m in &members {
        m.signal(libc::SIGTERM);
    }
    let outs: Vec<Outcome> = members.into_iter().map(Running::wait_exit).collect();
    let ids = json_ids(&table);
    assert!(done, "not every message arrived: {ids}\n{}", outs[0].stderr);
    for o in &outs {
        assert_eq!(o.code, Some(0), "{}", o.stderr);
    }
    assert_eq!(ids["missing_count"], 0, "{ids}");
    // Every partition a member takes over starts at the table's stored position.
    assert_eq!(ids["duplicates"], 0, "{ids}");
    assert_committed_at_end(&f.broker, "three", TOTAL);
}

#[test]
fn an_absent_broker_is_retried_with_backoff_until_it_appears() {
    let mut f = Fixture::new(500);
    f.broker.kill();
    let m = f.manifest("kafka-absent", "absent", &[("batch_size", json!(100))]);
    let unreachable =
        |l: &str| l.contains("retrying") && l.contains("cannot reach the Kafka brokers");
    let mut run = Running::start(
        weir(&f.plugins).arg("run").arg(&m),
        &f.scratch.join("absent.log"),
    );
    // Two failed attempts, then the broker (same port and store) comes back.
    run.wait_for_lines("two retries", 2, Duration::from_secs(90), unreachable);
    f.broker.spawn();
    let out = run.wait_exit();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let retries = out.stderr.lines().filter(|l| unreachable(l)).count();
    assert!(retries >= 1, "no retry lines: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let ids = json_ids(&f.table());
    assert_eq!(ids["distinct"], 500, "{ids}");
    assert_eq!(ids["rows"], 500, "{ids}");
}

#[test]
fn bad_input_gets_one_clear_error() {
    let f = Fixture::new(0);
    let lake = &f.lake;
    let write = |name: &str, address: &str, topic: &str| {
        f.scratch.write(
            &Manifest::new(name)
                .source(address)
                .source_option("source_table", topic)
                .sink(lake),
        )
    };
    let bs = f.broker.bootstrap();
    let cases = [
        (
            write(
                "missing-topic",
                &format!("kafka://?bootstrap_servers={bs}&group_id=g"),
                "nope",
            ),
            "spec.source.options.source_table: topic `nope` does not exist",
        ),
        (
            write(
                "missing-group",
                &format!("kafka://?bootstrap_servers={bs}&sasl_password=hunter22"),
                TOPIC,
            ),
            "group_id in the URI is required to connect to kafka",
        ),
        (
            write("missing-servers", "kafka://?group_id=g", TOPIC),
            "bootstrap_servers in the URI is required to connect to kafka",
        ),
    ];
    for (m, needle) in cases {
        let out = output(weir(&f.plugins).arg("run").arg(&m));
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{}: {}", m.display(), out.stderr);
        assert!(errors[0].contains(needle), "{}: {}", m.display(), errors[0]);
        assert!(
            !out.stderr.contains("hunter22"),
            "a password leaked: {}",
            out.stderr
        );
        assert_eq!(out.code, Some(2), "{}: {}", m.display(), out.stderr);
        assert_eq!(delta_commits(lake), 0);
    }
}

#[test]
fn start_from_a_time_skips_what_came_before_for_a_new_group() {
    let f = Fixture::new(0);
    // The cut is 1 ms after the newest timestamp of the first 400 messages; the next 300 are
    // produced once the clock has passed it, so their timestamps are at or after it.
    let newest = f.broker.produce(TOPIC, 0, 400);
    let cut_ms = newest + 1;
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    wait_for("the clock to pass the cut", Duration::from_secs(5), || {
        now_ms() > cut_ms
    });
    f.broker.produce(TOPIC, 400, 300);
    let cut = std::time::UNIX_EPOCH + Duration::from_millis(cut_ms as u64);
    let when = chrono::DateTime::<chrono::Utc>::from(cut)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let m = f.manifest(
        "kafka-from-time",
        "from-time",
        &[("start_from", json!(when)), ("batch_size", json!(1000))],
    );
    run_ok(&f.plugins, &m);
    let ids = json_ids(&f.table());
    assert_eq!(ids["rows"], 300, "{ids}");
    assert_eq!(ids["min"], 400, "{ids}");
    assert_eq!(ids["max"], 699, "{ids}");
    // The group now has committed offsets: start_from no longer applies.
    f.broker.produce(TOPIC, 700, 50);
    run_ok(&f.plugins, &m);
    assert_eq!(json_ids(&f.table())["rows"], 350);
}
