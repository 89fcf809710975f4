//! `weir run`: runs one pipeline until its end (`run_in_loop: false`) or a signal, with
//! progress in the log and a summary at exit.
//!
//! A stop request (SIGTERM/SIGINT or a reload, see `supervise`) asks core to drain: finish and
//! commit the batch in flight, then return.

use crate::failure::Failure;
use crate::pipeline::Instances;
use crate::service::{now_ms, Health, LagLabel, PipelineLabel, PluginLabel, RetryLabel, Service};
use crate::status::{redact, Phase, Side, Status};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_core::manifest::Pipeline;
use weir_core::runner::{self, BatchReport, Observer, RunConfig, RunSummary, Stages, StopSignal};
use weir_core::transform::Transform;

/// Feeds metrics and health, and logs progress at most every `every`.
struct ProgressLog {
    pipeline: String,
    every: Duration,
    state: Mutex<Progress>,
    service: Arc<Service>,
    health: Arc<Health>,
    status: Arc<Status>,
}

struct Progress {
    started: Instant,
    last: Instant,
    records: u64,
    batches: u64,
}

impl ProgressLog {
    fn label(&self) -> PipelineLabel {
        PipelineLabel {
            pipeline: self.pipeline.clone(),
        }
    }
}

impl Observer for ProgressLog {
    fn started(&self) {
        self.health.started_ms.store(now_ms(), Ordering::SeqCst);
        self.health.started.store(true, Ordering::SeqCst);
        self.status.phase(Phase::Running);
        self.service
            .metrics
            .pipeline_up
            .get_or_create(&self.label())
            .set(1);
    }

    fn backlog(&self, backlog: &[weir_core::Position]) {
        let total: i64 = backlog.iter().map(|p| p.next.max(0)).sum();
        self.health.lag.store(total as u64, Ordering::SeqCst);
        self.health.lag_known.store(true, Ordering::SeqCst);
        self.status.lag(backlog);
        for p in backlog {
            self.service
                .metrics
                .consumer_lag
                .get_or_create(&LagLabel {
                    pipeline: self.pipeline.clone(),
                    key: p.key.clone(),
                })
                .set(p.next);
        }
    }

    fn retrying(&self, call: &str, _attempt: u32, error: &weir_core::ConnectorError) {
        self.health.last_retry_ms.store(now_ms(), Ordering::SeqCst);
        let position = error.position.as_ref().map(ToString::to_string);
        self.status
            .error(format!("{call}: {error}"), position, true);
        self.service
            .metrics
            .retries
            .get_or_create(&RetryLabel {
                pipeline: self.pipeline.clone(),
                call: call.to_string(),
            })
            .inc();
    }

    fn committed(&self, report: &BatchReport) {
        let now = now_ms();
        self.health.last_commit_ms.store(now, Ordering::SeqCst);
        let m = &self.service.metrics;
        let l = self.label();
        m.records_out
            .get_or_create(&l)
            .inc_by(report.records as u64);
        m.records_in
            .get_or_create(&l)
            .inc_by((report.records + report.dead_letters) as u64);
        m.bytes_in.get_or_create(&l).inc_by(report.bytes as u64);
        m.bytes_out
            .get_or_create(&l)
            .inc_by(report.bytes_out as u64);
        m.decode_errors
            .get_or_create(&l)
            .inc_by(report.dead_letters as u64);
        m.batches.get_or_create(&l).inc();
        m.dead_letters
            .get_or_create(&l)
            .inc_by(report.dead_letters as u64);
        m.commit_seconds
            .get_or_create(&l)
            .observe(report.commit_time.as_secs_f64());
        m.batch_records
            .get_or_create(&l)
            .observe(report.records as f64);
        m.last_commit.get_or_create(&l).set(now as f64 / 1000.0);
        self.status.committed(
            (report.records + report.dead_letters) as u64,
            report.records as u64,
            &report.positions.to_vec(),
        );
        let Ok(mut s) = self.state.lock() else { return };
        s.records += report.records as u64;
        s.batches += 1;
        let now = Instant::now();
        if now.duration_since(s.last) >= self.every {
            s.last = now;
            let secs = now.duration_since(s.started).as_secs_f64().max(1e-9);
            tracing::info!(
                records = s.records,
                batches = s.batches,
                records_per_s = (s.records as f64 / secs).round() as u64,
                commit_ms = report.commit_time.as_millis() as u64,
                positions = %report.positions,
                "progress"
            );
        }
    }
}

/// Runs the pipeline; the summary on success, the failure line (exit 1) otherwise.
pub fn run(
    pipeline: &Pipeline,
    instances: Instances,
    service: &Arc<Service>,
    stop: &StopSignal,
) -> Result<RunSummary, Failure> {
    let cfg = RunConfig::from_pipeline(pipeline);
    tracing::info!(
        source = %instances.source_plugin,
        sink = %instances.sink_plugin,
        batch_size = cfg.limits.max_records,
        batch_timeout_ms = cfg.limits.timeout.as_millis() as u64,
        run_in_loop = cfg.run_in_loop,
        "starting"
    );
    let observer = observer(pipeline, &instances, service);
    let transform = Transform::for_source(&pipeline.transform, instances.typed_output)
        .map_err(|e| Failure::manifest(format!("spec.source.options: {e}")))?;
    let stages = Stages {
        transform,
        dead_letter: instances.dead_letter,
    };
    match runner::run_with(
        instances.source,
        instances.sink,
        stages,
        &cfg,
        stop,
        observer,
    ) {
        Ok(summary) => {
            service.ended(&pipeline.name);
            let secs = summary.elapsed.as_secs_f64();
            tracing::info!(
                records = summary.records,
                batches = summary.batches,
                dead_letters = summary.dead_letters,
                seconds = format!("{secs:.2}"),
                records_per_s = (summary.records as f64 / secs.max(1e-9)).round() as u64,
                committed = %summary.committed,
                "{}",
                if summary.stopped { "stopped on request; everything read is committed" } else { "done" }
            );
            Ok(summary)
        }
        Err(failure) => Err(failed(pipeline, &failure)),
    }
}

/// The pipeline's metrics and health, fed by core as batches commit.
fn observer(
    pipeline: &Pipeline,
    instances: &Instances,
    service: &Arc<Service>,
) -> Arc<ProgressLog> {
    for (role, plugin) in [
        ("source", &instances.source_plugin),
        ("sink", &instances.sink_plugin),
    ] {
        service
            .metrics
            .plugin_info
            .get_or_create(&PluginLabel {
                pipeline: pipeline.name.clone(),
                role: role.to_string(),
                plugin: plugin.clone(),
            })
            .set(1);
    }
    let status = service.status(&pipeline.name);
    status.starting(
        side(&instances.source_plugin, &pipeline.source),
        side(&instances.sink_plugin, &pipeline.sink),
    );
    let now = Instant::now();
    Arc::new(ProgressLog {
        status,
        service: service.clone(),
        health: service.track(&pipeline.name),
        pipeline: pipeline.name.clone(),
        every: Duration::from_secs(10),
        state: Mutex::new(Progress {
            started: now,
            last: now,
            records: 0,
            batches: 0,
        }),
    })
}

/// A source or sink for `/pipelines`: its `plugin/version` and endpoint, address redacted.
fn side(plugin: &str, endpoint: &weir_core::manifest::Endpoint) -> Side {
    let (name, version) = plugin.split_once('/').unwrap_or((plugin, ""));
    Side {
        plugin: name.to_string(),
        version: version.to_string(),
        scheme: endpoint.scheme.clone(),
        address: redact(&endpoint.address),
    }
}

/// A failed run as the host's failure: what failed and what the sink holds.
fn failed(pipeline: &Pipeline, failure: &runner::RunFailure) -> Failure {
    let line = format!(
        "pipeline `{}` failed: {}; the sink committed {} records in {} batches before the failure, up to positions {}",
        pipeline.name,
        failure.error,
        failure.summary.records,
        failure.summary.batches,
        failure.summary.committed
    );
    match failure.error.connector_error().map(|e| e.kind) {
        // A connector that finds its configuration wrong only when it connects (a wrong
        // password, an unknown stream) is a bad manifest, not a runtime failure.
        Some(weir_core::ErrorKind::Config) => Failure::manifest(line),
        Some(weir_core::ErrorKind::PositionsMoved) => Failure::PositionsMoved(vec![line]),
        _ => Failure::runtime(line),
    }
}
