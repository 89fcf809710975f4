//! Kafka -> `null://` through `weir run` against the raw floor: an rdkafka `BaseConsumer` with
//! the plugin's settings (the same librdkafka, auto-commit off, the same prefetch bounds),
//! consuming to the high watermarks with a synchronous offset commit every `BATCH` messages,
//! discarding. Both read the same 1 000 000 messages of about 300 bytes, preloaded into one
//! tansu broker over 4 partitions, in groups of their own, alternating, in one run. JSON on
//! stdout.
//!
//! tansu bounds both rates on this machine, so the report also gives the CPU seconds each used
//! (the floor's from this process, weir's from its child process): weir's own cost per message.
//!
//! Needs the release `weir` with its plugins staged and `WEIR_TEST_TANSU` (`cargo xtask bench
//! kafka` does both).

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::path::Path;
use std::time::{Duration, Instant};
use weir_tests::kafka::KafkaBroker;

const MESSAGES: u64 = 1_000_000;

/// CPU seconds (user + system) used so far by this process, or by its waited-for children.
fn cpu_seconds(who: i32) -> f64 {
    // SAFETY: getrusage(2) fills the struct we own; no other memory is involved.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
const BATCH: usize = 10_000;
const TOPIC: &str = "bench";

/// Preloads the topic; returns the payload bytes written.
fn preload(bootstrap: &str) -> u64 {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .expect("producer");
    let mut bytes = 0u64;
    for i in 0..MESSAGES {
        let body = format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"amount\":{}.5,\"note\":\"{}\"}}",
            i % 977,
            i % 1000,
            "x".repeat(240)
        );
        bytes += body.len() as u64;
        let key = i.to_string();
        let mut record = BaseRecord::to(TOPIC)
            .payload(&body)
            .key(&key)
            .partition((i % 4) as i32);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    bytes
}

/// The raw floor; returns its time and the payload bytes seen.
fn floor(bootstrap: &str, group: &str) -> (Duration, u64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "queued.min.messages",
            (BATCH * 2).clamp(1_000, 100_000).to_string(),
        )
        .set(
            "queued.max.messages.kbytes",
            (BATCH * 2).clamp(4_096, 65_536).to_string(),
        )
        .set("fetch.wait.max.ms", "500")
        .create()
        .expect("consumer");
    let t = Instant::now();
    let ends: Vec<i64> = (0..4)
        .map(|p| {
            c.fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect();
    c.subscribe(&[TOPIC]).expect("subscribe");
    let (mut seen, mut bytes, mut in_batch) = (0u64, 0u64, 0usize);
    let mut next = [0i64; 4];
    while next.iter().zip(&ends).any(|(n, e)| n < e) {
        let Some(m) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("message");
        bytes += m.payload().map_or(0, |p| p.len()) as u64;
        std::hint::black_box(m.payload());
        next[m.partition() as usize] = m.offset() + 1;
        seen += 1;
        in_batch += 1;
        if in_batch == BATCH {
            in_batch = 0;
            let mut tpl = TopicPartitionList::new();
            for (p, n) in next.iter().enumerate() {
                if *n > 0 {
                    tpl.add_partition_offset(TOPIC, p as i32, Offset::Offset(*n))
                        .expect("tpl");
                }
            }
            c.commit(&tpl, CommitMode::Sync).expect("commit");
        }
    }
    assert_eq!(seen, MESSAGES, "the floor consumer saw {seen} messages");
    (t.elapsed(), bytes)
}

fn through_weir(broker: &KafkaBroker, group: &str, scratch: &Path) -> Duration {
    let manifest = scratch.join(format!("{group}.yaml"));
    std::fs::write(
        &manifest,
        format!("name: {group}\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: kafka://?bootstrap_servers={}&group_id={group}\n    options: {{source_table: {TOPIC}, batch_size: {BATCH}, batch_timeout: 1}}\n  sink:\n    address: null://\n", broker.bootstrap()),
    )
    .expect("manifest");
    weir_tests::timed_run(&manifest)
}

fn main() {
    let broker = KafkaBroker::start();
    broker.create_topic(TOPIC, 4);
    let t = Instant::now();
    let bytes = preload(&broker.bootstrap());
    let preloaded = t.elapsed();
    let scratch = tempfile::tempdir().expect("scratch");
    let mut floors = Vec::new();
    let mut weirs = Vec::new();
    let (mut floor_cpu, mut weir_cpu) = (Vec::new(), Vec::new());
    for round in 0..2 {
        let c0 = cpu_seconds(libc::RUSAGE_SELF);
        let (d, seen) = floor(&broker.bootstrap(), &format!("floor{round}"));
        floor_cpu.push(cpu_seconds(libc::RUSAGE_SELF) - c0);
        assert_eq!(seen, bytes);
        floors.push(d);
        let c0 = cpu_seconds(libc::RUSAGE_CHILDREN);
        let name = format!("weir{round}");
        weirs.push(through_weir(&broker, &name, scratch.path()));
        weir_cpu.push(cpu_seconds(libc::RUSAGE_CHILDREN) - c0);
    }
    let rate = |d: &Duration| MESSAGES as f64 / d.as_secs_f64();
    let mbs = |d: &Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let mean = |v: &[Duration]| v.iter().map(rate).sum::<f64>() / v.len() as f64;
    let (f, w) = (mean(&floors), mean(&weirs));
    let report = serde_json::json!({
        "broker": "tansu 0.6.0 (sqlite storage), 4 partitions, on this machine",
        "messages": MESSAGES,
        "payload_bytes": bytes,
        "batch_size": BATCH,
        "preload_records_per_s": rate(&preloaded),
        "raw_floor_records_per_s": floors.iter().map(rate).collect::<Vec<_>>(),
        "raw_floor_mb_per_s": floors.iter().map(mbs).collect::<Vec<_>>(),
        "weir_kafka_to_null_records_per_s": weirs.iter().map(rate).collect::<Vec<_>>(),
        "weir_kafka_to_null_mb_per_s": weirs.iter().map(mbs).collect::<Vec<_>>(),
        "ratio_weir_to_floor": w / f,
        // The broker bounds both rates; CPU per message shows weir's own cost beside the floor's.
        "raw_floor_cpu_seconds": floor_cpu,
        "weir_cpu_seconds": weir_cpu,
        "note": "weir's time includes process start, plugin loading, the watermark reads and the group join; the floor does its own watermark reads and group join in-process",
    });
    println!("{report:#}");
}
