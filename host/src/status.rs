//! What `/pipelines` reports of each pipeline, kept across its restarts: its state, source and
//! sink (addresses with credentials redacted), records, rate over the last minute, last
//! commit, committed positions and lag per key, the last error, restarts; and the operator's
//! controls (pause, restart) that the supervisor and the run loop obey.

use crate::service::now_ms;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How long a retry with no commit after it counts as "retrying".
const RETRY_SETTLE_MS: u64 = 15_000;
/// The rate's window.
const WINDOW_MS: u64 = 60_000;

/// Where a pipeline's run is, as the supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Constructed, opening source and sink.
    Starting,
    /// Open and polling (or paused, or retrying: see [`Status::state`]).
    Running,
    /// A stop was asked for: the batch in flight is being committed.
    Draining,
    /// Ended without failing.
    Stopped,
    /// Failed; restarted or not as `--restart-failed` says.
    Failed,
}

/// A source or sink as `/pipelines` shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Side {
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version.
    pub version: String,
    /// The URI scheme.
    pub scheme: String,
    /// The address, credentials redacted.
    pub address: String,
}

/// The last error a pipeline met.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastError {
    /// What failed.
    pub message: String,
    /// Unix ms.
    pub at_ms: u64,
    /// The position concerned, `key@next`, when known.
    pub position: Option<String>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    source: Side,
    sink: Side,
    records_in: u64,
    records_out: u64,
    /// (unix ms, records) of the commits of the last minute.
    window: VecDeque<(u64, u64)>,
    last_commit_ms: Option<u64>,
    last_retry_ms: Option<u64>,
    positions: BTreeMap<String, i64>,
    lag: BTreeMap<String, i64>,
    last_error: Option<LastError>,
    restarts: u64,
}

/// One pipeline's status and controls.
#[derive(Debug)]
pub struct Status {
    name: String,
    inner: Mutex<Inner>,
    /// Polling paused (shared with the run's `StopSignal`, kept across restarts).
    pub pause: Arc<AtomicBool>,
    /// A restart asked for: the supervisor drains and starts the pipeline again.
    pub restart: AtomicBool,
}

/// `/pipelines`' view of one pipeline (the fields are the API's, `host/src/openapi.json`).
#[derive(Debug, Serialize)]
pub struct View {
    /// The pipeline's name.
    pub name: String,
    /// `starting`, `running`, `retrying`, `paused`, `draining`, `stopped` or `failed`.
    pub state: &'static str,
    /// The source.
    pub source: Side,
    /// The sink.
    pub sink: Side,
    /// Rows read in committed batches (written plus dead letters).
    pub records_in: u64,
    /// Rows written.
    pub records_out: u64,
    /// Rows written per second over the last minute.
    pub records_per_s: f64,
    /// Unix ms of the last commit.
    pub last_commit_ms: Option<u64>,
    /// The committed next offset per key.
    pub positions: BTreeMap<String, i64>,
    /// Records behind the broker's end per key, as last reported.
    pub lag: BTreeMap<String, i64>,
    /// The last error met.
    pub last_error: Option<LastError>,
    /// Starts after the first.
    pub restarts: u64,
}

impl Status {
    /// A pipeline not started yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            inner: Mutex::new(Inner {
                phase: Phase::Starting,
                source: Side::default(),
                sink: Side::default(),
                records_in: 0,
                records_out: 0,
                window: VecDeque::new(),
                last_commit_ms: None,
                last_retry_ms: None,
                positions: BTreeMap::new(),
                lag: BTreeMap::new(),
                last_error: None,
                restarts: 0,
            }),
            pause: Arc::default(),
            restart: AtomicBool::new(false),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A run begins with these plugins.
    pub fn starting(&self, source: Side, sink: Side) {
        self.with(|i| {
            i.phase = Phase::Starting;
            i.source = source;
            i.sink = sink;
        });
    }

    /// The run's phase changed.
    pub fn phase(&self, phase: Phase) {
        self.with(|i| i.phase = phase);
    }

    /// A stop was asked for while running: draining.
    pub fn draining(&self) {
        self.with(|i| {
            if matches!(i.phase, Phase::Running | Phase::Starting) {
                i.phase = Phase::Draining;
            }
        });
    }

    /// A batch was committed.
    pub fn committed(&self, records_in: u64, records_out: u64, positions: &[weir_core::Position]) {
        let now = now_ms();
        self.with(|i| {
            i.records_in += records_in;
            i.records_out += records_out;
            i.window.push_back((now, records_out));
            while i
                .window
                .front()
                .is_some_and(|(t, _)| now.saturating_sub(*t) > WINDOW_MS)
            {
                i.window.pop_front();
            }
            i.last_commit_ms = Some(now);
            for p in positions {
                i.positions.insert(p.key.clone(), p.next);
            }
        });
    }

    /// The source reported its lag.
    pub fn lag(&self, backlog: &[weir_core::Position]) {
        self.with(|i| {
            for p in backlog {
                i.lag.insert(p.key.clone(), p.next);
            }
        });
    }

    /// A call failed and is retried, or the pipeline failed: the last error.
    pub fn error(&self, message: String, position: Option<String>, retried: bool) {
        let now = now_ms();
        self.with(|i| {
            if retried {
                i.last_retry_ms = Some(now);
            }
            i.last_error = Some(LastError {
                message,
                at_ms: now,
                position,
            });
        });
    }

    /// The supervisor restarted the pipeline.
    pub fn restarted(&self) {
        self.with(|i| i.restarts += 1);
    }

    /// Whether the operator paused it.
    pub fn paused(&self) -> bool {
        self.pause.load(Ordering::SeqCst)
    }

    /// The `/pipelines` view.
    pub fn view(&self) -> View {
        let paused = self.paused();
        let now = now_ms();
        self.with(|i| {
            let since = i.window.front().map_or(now, |(t, _)| *t);
            let span = now.saturating_sub(since).clamp(1_000, WINDOW_MS) as f64 / 1000.0;
            let recent: u64 = i
                .window
                .iter()
                .filter(|(t, _)| now.saturating_sub(*t) <= WINDOW_MS)
                .map(|(_, n)| n)
                .sum();
            View {
                name: self.name.clone(),
                state: state_of(i, paused, now),
                source: i.source.clone(),
                sink: i.sink.clone(),
                records_in: i.records_in,
                records_out: i.records_out,
                records_per_s: (recent as f64 / span * 10.0).round() / 10.0,
                last_commit_ms: i.last_commit_ms,
                positions: i.positions.clone(),
                lag: i.lag.clone(),
                last_error: i.last_error.clone(),
                restarts: i.restarts,
            }
        })
    }
}

fn state_of(i: &Inner, paused: bool, now: u64) -> &'static str {
    match i.phase {
        Phase::Starting => "starting",
        Phase::Draining => "draining",
        Phase::Stopped => "stopped",
        Phase::Failed => "failed",
        Phase::Running if paused => "paused",
        Phase::Running => {
            let retrying = i.last_retry_ms.is_some_and(|r| {
                r > i.last_commit_ms.unwrap_or(0) && now.saturating_sub(r) < RETRY_SETTLE_MS
            });
            if retrying {
                "retrying"
            } else {
                "running"
            }
        }
    }
}

/// An address with its credentials replaced by `***`: the URL's password, and the value of
/// every query parameter whose name says it is a secret.
pub fn redact(address: &str) -> String {
    let Ok(mut url) = url::Url::parse(address) else {
        return address.to_string();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    } else if !url.username().is_empty() {
        // A user without a password is a token to some (`nats://TOKEN@host`).
        let _ = url.set_username("***");
    }
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        [
            "password",
            "secret",
            "token",
            "credential",
            "nkey",
            "jwt",
            "private",
        ]
        .iter()
        .any(|s| k.contains(s))
            || k.ends_with("_key")
            || k.ends_with("_seed")
            || k == "key"
    };
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string().replace("%2A%2A%2A", "***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_the_rest_kept() {
        let a = redact(
            "kafka://?bootstrap_servers=b:9092&sasl_username=u&sasl_password=p4ss&group_id=g",
        );
        assert!(!a.contains("p4ss"), "{a}");
        assert!(
            a.contains("sasl_username=u") && a.contains("sasl_password=***"),
            "{a}"
        );
        let n =
            redact("nats+jetstream://me:s3cret@127.0.0.1:4222?subject=o&durable=d&nkey_seed=SUAX");
        assert!(!n.contains("s3cret") && !n.contains("SUAX"), "{n}");
        assert!(n.contains("me:***@127.0.0.1:4222"), "{n}");
        assert_eq!(redact("/data/lake"), "/data/lake");
        let t = redact("nats+jetstream://t0ken@127.0.0.1:4222?subject=o");
        assert!(!t.contains("t0ken") && t.contains("***@127.0.0.1"), "{t}");
        let s = redact("s3://bucket/t?aws_secret_access_key=abc&region=eu");
        assert!(!s.contains("abc") && s.contains("region=eu"), "{s}");
        // A generator's seed is not a secret; an NKey seed is.
        assert!(redact("generator://?seed=7").contains("seed=7"));
    }

    #[test]
    fn the_state_follows_phase_pause_and_retries() {
        let s = Status::new("p");
        assert_eq!(s.view().state, "starting");
        s.phase(Phase::Running);
        assert_eq!(s.view().state, "running");
        s.error("sink write: down".into(), None, true);
        assert_eq!(s.view().state, "retrying");
        s.committed(5, 5, &[weir_core::Position::new("k", 5)]);
        assert_eq!(s.view().state, "running");
        s.pause.store(true, Ordering::SeqCst);
        assert_eq!(s.view().state, "paused");
        s.draining();
        assert_eq!(s.view().state, "draining");
        let v = serde_json::to_value(s.view()).unwrap();
        assert_eq!(v["positions"]["k"], 5);
        assert_eq!(v["records_out"], 5);
        assert_eq!(v["last_error"]["message"], "sink write: down");
    }
}
