//! What operators see over HTTP (`--listen`, default 127.0.0.1:9464): `/health/live` (the
//! process is up), `/health/ready` (every pipeline has opened its source and sink and is not
//! stuck retrying), and `/metrics` in the OpenMetrics text format, encoded by
//! `prometheus-client`; the pipelines API (`api`) on the same server.

use crate::status::{Phase, Status};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `pipeline` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabel {
    /// The pipeline's name.
    pub pipeline: String,
}

/// The labels of retries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabel {
    /// The pipeline's name.
    pub pipeline: String,
    /// The call retried (`poll`, `sink write`, ...).
    pub call: String,
}

/// The labels of `weir_plugin_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    /// The pipeline's name.
    pub pipeline: String,
    /// `source`, `sink` or `dead_letter`.
    pub role: String,
    /// The plugin's name and version, `name/version`.
    pub plugin: String,
}

/// Every metric of the process, labelled by pipeline.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Rows read in committed batches (written plus dead letters).
    pub records_in: Family<PipelineLabel, Counter>,
    /// Rows written to the sink.
    pub records_out: Family<PipelineLabel, Counter>,
    /// Arrow bytes of the batches read (before decoding).
    pub bytes_in: Family<PipelineLabel, Counter>,
    /// Arrow bytes of the batches written.
    pub bytes_out: Family<PipelineLabel, Counter>,
    /// Values that did not decode.
    pub decode_errors: Family<PipelineLabel, Counter>,
    /// Batches committed.
    pub batches: Family<PipelineLabel, Counter>,
    /// Rows that did not decode.
    pub dead_letters: Family<PipelineLabel, Counter>,
    /// Retried calls.
    pub retries: Family<RetryLabel, Counter>,
    /// Time from a batch's write to its commit.
    pub commit_seconds: Family<PipelineLabel, Histogram>,
    /// Rows per batch.
    pub batch_records: Family<PipelineLabel, Histogram>,
    /// Unix time of the last commit.
    pub last_commit: Family<PipelineLabel, Gauge<f64, AtomicU64>>,
    /// 1 per plugin in use.
    pub plugin_info: Family<PluginLabel, Gauge>,
    /// Records behind the broker's end, per position key.
    pub consumer_lag: Family<LagLabel, Gauge>,
    /// 1 while a pipeline runs (source and sink open), 0 once it failed or ended.
    pub pipeline_up: Family<PipelineLabel, Gauge>,
    /// Fatal failures of a pipeline (each followed by a restart when restarts are on).
    pub pipeline_failures: Family<PipelineLabel, Counter>,
    /// Records the broker removed before they were read (retention), per position key.
    pub records_skipped: Family<LagLabel, Counter>,
}

/// The labels of `weir_consumer_lag`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabel {
    /// The pipeline's name.
    pub pipeline: String,
    /// The position key (`<topic>/<partition>`, `<stream>`).
    pub key: String,
}

impl Metrics {
    /// An empty set of metrics, registered.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("weir");
        let commit_buckets: fn() -> Histogram =
            || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let batch_buckets: fn() -> Histogram = || Histogram::new(exponential_buckets(1.0, 4.0, 12));
        Self {
            records_skipped: metric(
                &mut r,
                "records_skipped",
                "Records the broker's retention removed before they were read, per position key",
            ),
            pipeline_up: metric(
                &mut r,
                "pipeline_up",
                "1 while the pipeline runs, 0 once it failed or ended",
            ),
            pipeline_failures: metric(&mut r, "pipeline_failures", "Fatal failures of the pipeline"),
            records_in: metric(&mut r, "records_in", "Rows read in committed batches"),
            records_out: metric(&mut r, "records_out", "Rows written to the sink"),
            bytes_in: metric(
                &mut r,
                "bytes_in",
                "Arrow bytes of the batches read, before decoding",
            ),
            decode_errors: metric(&mut r, "decode_errors", "Values that did not decode"),
            bytes_out: metric(&mut r, "bytes_out", "Arrow bytes of the batches written"),
            batches: metric(&mut r, "batches", "Batches committed"),
            dead_letters: metric(
                &mut r,
                "dead_letters",
                "Rows that did not decode (dead letters)",
            ),
            retries: metric(&mut r, "retries", "Calls retried after a retriable error"),
            commit_seconds: register(
                &mut r,
                "commit_seconds",
                "Time from a batch's write to its commit",
                Family::new_with_constructor(commit_buckets),
            ),
            batch_records: register(
                &mut r,
                "batch_records",
                "Rows per committed batch",
                Family::new_with_constructor(batch_buckets),
            ),
            last_commit: metric(
                &mut r,
                "last_commit_timestamp_seconds",
                "Unix time of the last commit",
            ),
            plugin_info: metric(&mut r, "plugin_info", "Plugins in use (value 1)"),
            consumer_lag: metric(
                &mut r,
                "consumer_lag",
                "Records behind the broker's end per position key (NATS: pending plus delivered but unacked)",
            ),
            registry: Mutex::new(r),
        }
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

static SKIPPED_TO: std::sync::OnceLock<Arc<Service>> = std::sync::OnceLock::new();

/// Counts sources' records-skipped reports (`weir_sdk::records_skipped`) into `service`'s
/// `weir_records_skipped_total` (the first service of the process).
pub fn count_skipped_records(service: &Arc<Service>) {
    let _ = SKIPPED_TO.set(service.clone());
    weir_sdk::abi::host::on_records_skipped(record_skipped);
}

/// Counts records a source skipped (`weir_records_skipped_total`): reported by an in-process
/// plugin through the sdk, or by an isolated one in its replies.
pub fn record_skipped(pipeline: &str, key: &str, count: u64) {
    if let Some(s) = SKIPPED_TO.get() {
        s.metrics
            .records_skipped
            .get_or_create(&LagLabel {
                pipeline: pipeline.to_string(),
                key: key.to_string(),
            })
            .inc_by(count);
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One pipeline's readiness.
#[derive(Debug, Default)]
pub struct Health {
    /// Source and sink are open.
    pub started: AtomicBool,
    /// The pipeline ended (done or failed).
    pub ended: AtomicBool,
    /// The pipeline failed fatally; why, in one line.
    pub failed: Mutex<Option<String>>,
    /// Unix ms of the last retried call (0: none).
    pub last_retry_ms: AtomicU64,
    /// Unix ms of the last commit (0: none).
    pub last_commit_ms: AtomicU64,
    /// Unix ms when the pipeline started.
    pub started_ms: AtomicU64,
    /// Records the source last said are waiting, over all its keys.
    pub lag: AtomicU64,
    /// Whether the source reports lag at all.
    pub lag_known: AtomicBool,
}

impl Health {
    /// Ready: started, not ended, not retrying since the last commit (a retry older than
    /// `settle` with no new one counts as recovered, for idle sources), and not stuck: with
    /// records waiting at the source, the last commit (or the start) is at most `stale` old.
    pub fn ready(&self, settle: Duration, stale: Duration) -> bool {
        let now = now_ms();
        let retry = self.last_retry_ms.load(Ordering::SeqCst);
        let commit = self.last_commit_ms.load(Ordering::SeqCst);
        let retrying = retry > commit && now.saturating_sub(retry) < settle.as_millis() as u64;
        let since = commit.max(self.started_ms.load(Ordering::SeqCst));
        let stuck = self.lag.load(Ordering::SeqCst) > 0
            && now.saturating_sub(since) > stale.as_millis() as u64;
        self.started.load(Ordering::SeqCst)
            && !self.ended.load(Ordering::SeqCst)
            && !retrying
            && !stuck
    }
}

/// What the HTTP endpoints read.
pub struct Service {
    /// The metrics.
    pub metrics: Metrics,
    /// Each pipeline's health.
    pub health: Mutex<Vec<(String, Arc<Health>)>>,
    /// How old the last commit may be while records wait, for readiness.
    pub stale: Duration,
    /// Per pipeline, how often it failed and the last failure (kept across restarts).
    pub failures: Mutex<std::collections::HashMap<String, (u64, String)>>,
    /// Per pipeline, what `/pipelines` shows and the operator's controls, in start order.
    pub statuses: Mutex<Vec<Arc<Status>>>,
    /// Bumped by `POST /reload` (the supervisor treats it as a SIGHUP).
    pub reloads: Arc<AtomicU64>,
    /// Who may call the mutating endpoints (set before serving).
    pub access: std::sync::OnceLock<crate::api::Access>,
}

impl Service {
    /// No pipelines yet; readiness allows `stale` without a commit while records wait.
    pub fn new(stale: Duration) -> Arc<Self> {
        Arc::new(Self {
            metrics: Metrics::new(),
            health: Mutex::new(Vec::new()),
            stale,
            failures: Mutex::default(),
            statuses: Mutex::default(),
            reloads: Arc::default(),
            access: std::sync::OnceLock::new(),
        })
    }

    /// A pipeline's status, made on first use (kept across its restarts).
    pub fn status(&self, pipeline: &str) -> Arc<Status> {
        let mut v = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = v.iter().find(|s| s.name() == pipeline) {
            return s.clone();
        }
        let s = Arc::new(Status::new(pipeline));
        v.push(s.clone());
        s
    }

    /// A pipeline's status, if there is such a pipeline.
    pub fn status_of(&self, pipeline: &str) -> Option<Arc<Status>> {
        let v = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        v.iter().find(|s| s.name() == pipeline).cloned()
    }

    /// Every pipeline's status, in start order.
    pub fn all_statuses(&self) -> Vec<Arc<Status>> {
        self.statuses.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Records a fatal failure of a pipeline: `failed` on `/health/ready`, `weir_pipeline_up`
    /// 0, `weir_pipeline_failures_total` counted.
    pub fn failed(&self, pipeline: &str, why: &str) {
        let label = PipelineLabel {
            pipeline: pipeline.to_string(),
        };
        self.metrics.pipeline_up.get_or_create(&label).set(0);
        self.metrics.pipeline_failures.get_or_create(&label).inc();
        if let Some(h) = self.health_of(pipeline) {
            h.ended.store(true, Ordering::SeqCst);
            if let Ok(mut f) = h.failed.lock() {
                *f = Some(why.to_string());
            }
        }
        let status = self.status(pipeline);
        status.phase(Phase::Failed);
        status.error(why.to_string(), None, false);
        if let Ok(mut f) = self.failures.lock() {
            let e = f.entry(pipeline.to_string()).or_default();
            e.0 += 1;
            e.1 = why.to_string();
        }
    }

    /// Records that a pipeline ended without failing.
    pub fn ended(&self, pipeline: &str) {
        let label = PipelineLabel {
            pipeline: pipeline.to_string(),
        };
        self.metrics.pipeline_up.get_or_create(&label).set(0);
        self.status(pipeline).phase(Phase::Stopped);
        if let Some(h) = self.health_of(pipeline) {
            h.ended.store(true, Ordering::SeqCst);
        }
    }

    /// A pipeline's current health, if it runs.
    pub fn health_of(&self, pipeline: &str) -> Option<Arc<Health>> {
        self.health
            .lock()
            .ok()?
            .iter()
            .find(|(n, _)| n == pipeline)
            .map(|(_, h)| h.clone())
    }

    /// A pipeline's health, fresh for a new run (a restart after a reload replaces it).
    pub fn track(&self, pipeline: &str) -> Arc<Health> {
        let h = Arc::new(Health::default());
        if let Ok(mut v) = self.health.lock() {
            v.retain(|(n, _)| n != pipeline);
            v.push((pipeline.to_string(), h.clone()));
        }
        h
    }
}

async fn live() -> &'static str {
    "live\n"
}

async fn ready(State(s): State<Arc<Service>>) -> impl IntoResponse {
    let v = s.health.lock().map(|v| v.clone()).unwrap_or_default();
    let mut body = String::new();
    let mut all = !v.is_empty();
    let failures = s.failures.lock().map(|f| f.clone()).unwrap_or_default();
    for (name, h) in &v {
        if s.status_of(name).is_some_and(|st| st.paused()) {
            // Paused on purpose: not a failure, and not counted against readiness.
            body.push_str(&format!("{name}: paused (POST /pipelines/{name}/resume)\n"));
            continue;
        }
        let r = h.ready(Duration::from_secs(15), s.stale);
        all &= r;
        let failed = h.failed.lock().ok().and_then(|f| f.clone());
        let line = match (failed, failures.get(name)) {
            (Some(why), _) => format!("failed: {why}"),
            (None, Some((n, why))) => format!(
                "{} (restarted after {n} failure{}; last: {why})",
                if r { "ready" } else { "not ready" },
                if *n == 1 { "" } else { "s" }
            ),
            (None, None) => (if r { "ready" } else { "not ready" }).to_string(),
        };
        body.push_str(&format!("{name}: {line}\n"));
    }
    let code = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

async fn metrics(State(s): State<Arc<Service>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

/// Binds `addr` and serves from a thread of its own; returns the bound address.
pub fn serve(addr: SocketAddr, service: Arc<Service>) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("weir-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the HTTP runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let app = Router::new()
                    .route("/health/live", get(live))
                    .route("/health/ready", get(ready))
                    .route("/metrics", get(metrics))
                    .merge(crate::api::routes())
                    .with_state(service);
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::error!(error = %e, "HTTP server stopped");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot serve HTTP"),
                }
            });
        })?;
    Ok(bound)
}

/// A metric of its type's default, registered under `name`.
fn metric<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    register(registry, name, help, M::default())
}

/// `m`, registered under `name`; the handle kept by [`Metrics`].
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, m: M) -> M {
    registry.register(name, help, m.clone());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_start_retries_and_stale_commits_with_records_waiting() {
        let h = Health::default();
        let (settle, stale) = (Duration::from_secs(15), Duration::from_secs(60));
        assert!(!h.ready(settle, stale), "not started");
        h.started.store(true, Ordering::SeqCst);
        h.started_ms.store(now_ms(), Ordering::SeqCst);
        assert!(h.ready(settle, stale));
        h.last_retry_ms.store(now_ms(), Ordering::SeqCst);
        assert!(!h.ready(settle, stale), "retrying");
        h.last_commit_ms.store(now_ms() + 1, Ordering::SeqCst);
        assert!(h.ready(settle, stale), "a commit after the retry");
        // Records waiting, nothing committed for longer than `stale`: stuck.
        h.last_commit_ms.store(now_ms() - 120_000, Ordering::SeqCst);
        h.started_ms.store(now_ms() - 130_000, Ordering::SeqCst);
        h.last_retry_ms.store(0, Ordering::SeqCst);
        assert!(h.ready(settle, stale), "idle, nothing waiting");
        h.lag.store(10, Ordering::SeqCst);
        assert!(!h.ready(settle, stale), "stuck with records waiting");
        h.ended.store(true, Ordering::SeqCst);
        h.lag.store(0, Ordering::SeqCst);
        assert!(!h.ready(settle, stale), "ended");
    }
}
