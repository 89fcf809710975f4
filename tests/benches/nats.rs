//! NATS JetStream -> `null://` through `weir run` against the raw floor: async-nats pulling
//! and acking the same way (batches of `BATCH`, an explicit ack per message, a flush per
//! batch), discarding. Both read the same 1 000 000 messages of about 300 bytes from one
//! nats-server, on durables of their own, alternating, in one run. JSON on stdout.
//!
//! Needs the release `weir` with its plugins staged (`cargo xtask bench nats` does it) and the
//! test venv's nats-server (`WEIR_TEST_PYTHON` names the venv's python).

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};
use weir_tests::nats::NatsServer;

const MESSAGES: u64 = 1_000_000;
const BATCH: usize = 5_000;

async fn publish(url: &str) -> Duration {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        ..Default::default()
    })
    .await
    .expect("stream");
    let t = Instant::now();
    let mut acks = Vec::with_capacity(2_000);
    for i in 0..MESSAGES {
        let body = format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"amount\":{}.5,\"note\":\"{}\"}}",
            i % 977,
            i % 1000,
            "x".repeat(240)
        );
        acks.push(
            js.publish(format!("bench.{}", i % 4), body.into())
                .await
                .expect("publish"),
        );
        if acks.len() == 2_000 {
            for a in acks.drain(..) {
                a.await.expect("publish ack");
            }
        }
    }
    for a in acks.drain(..) {
        a.await.expect("publish ack");
    }
    t.elapsed()
}

async fn floor(url: &str, durable: &str) -> Duration {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = js.get_stream("BENCH").await.expect("stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            durable,
            pull::Config {
                durable_name: Some(durable.into()),
                filter_subject: "bench.>".into(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: (BATCH * 4).max(10_000) as i64,
                ..Default::default()
            },
        )
        .await
        .expect("consumer");
    let t = Instant::now();
    let mut seen = 0u64;
    while seen < MESSAGES {
        let mut batch = consumer
            .batch()
            .max_messages(BATCH)
            .expires(Duration::from_millis(100))
            .messages()
            .await
            .expect("pull");
        let mut replies = Vec::with_capacity(BATCH);
        while let Some(m) = batch.next().await {
            let m = m.expect("message");
            std::hint::black_box(&m.payload);
            replies.extend(m.reply.clone());
            seen += 1;
        }
        for r in replies {
            client.publish(r, "+ACK".into()).await.expect("ack");
        }
        client.flush().await.expect("flush");
    }
    t.elapsed()
}

fn through_weir(server: &NatsServer, durable: &str, scratch: &Path) -> Duration {
    let manifest = scratch.join(format!("{durable}.yaml"));
    std::fs::write(
        &manifest,
        format!("name: {durable}\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: nats+jetstream://{}?subject=bench.>&durable={durable}\n    options: {{source_table: BENCH, batch_size: {BATCH}, batch_timeout: 1}}\n  sink:\n    address: null://\n", server.host_port()),
    )
    .expect("manifest");
    weir_tests::timed_run(&manifest)
}

fn main() {
    let server = NatsServer::start();
    let url = server.url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let published = rt.block_on(publish(&url));
    let scratch = tempfile::tempdir().expect("scratch");
    let mut floors = Vec::new();
    let mut weirs = Vec::new();
    for round in 0..2 {
        floors.push(rt.block_on(floor(&url, &format!("floor{round}"))));
        weirs.push(through_weir(
            &server,
            &format!("weir{round}"),
            scratch.path(),
        ));
    }
    let rate = |d: &Duration| MESSAGES as f64 / d.as_secs_f64();
    let mean = |v: &[Duration]| v.iter().map(rate).sum::<f64>() / v.len() as f64;
    let (f, w) = (mean(&floors), mean(&weirs));
    let report = serde_json::json!({
        "messages": MESSAGES,
        "message_bytes": 300,
        "batch_size": BATCH,
        "publish_records_per_s": rate(&published),
        "raw_floor_records_per_s": floors.iter().map(rate).collect::<Vec<_>>(),
        "weir_nats_to_null_records_per_s": weirs.iter().map(rate).collect::<Vec<_>>(),
        "ratio_weir_to_floor": w / f,
        "note": "weir's time includes process start, plugin loading and the end-of-stream check; the floor pulls and acks in-process",
    });
    println!("{report:#}");
}
