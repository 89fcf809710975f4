//! Several pipelines in one process, and reloads.
//!
//! Each manifest runs on a thread of its own (with core's threads under it) and has its own
//! metrics labels; one failing pipeline does not stop the others unless `--fail-fast`. The
//! first SIGTERM/SIGINT drains every pipeline; a second exits at once. SIGHUP re-reads every
//! manifest: a valid one is applied by draining and restarting its pipeline (exactly-once
//! sinks resume at their stored positions); an invalid one is refused with all its errors and
//! the running pipeline goes on.

use crate::exit::Exit;
use crate::loader::Registry;
use crate::pipeline::{self, Instances};
use crate::run_cmd;
use crate::service::Service;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weir_core::manifest::{self, Pipeline};
use weir_core::runner::StopSignal;

/// Process-wide signal state.
pub struct Signals {
    /// SIGTERM/SIGINT seen: drain everything.
    pub term: Arc<AtomicBool>,
    /// Bumped on every SIGHUP.
    pub reloads: Arc<AtomicU64>,
    /// `--fail-fast`: a failed pipeline stops the others.
    pub fail_fast: AtomicBool,
    /// `--restart-failed`: 0 restarts `run_in_loop` pipelines only (the default), 1 every
    /// pipeline, 2 none.
    pub restart_failed: std::sync::atomic::AtomicU8,
}

impl Signals {
    /// Installs the handlers: the first SIGTERM/SIGINT sets `term`, a second exits at once
    /// (code 1, nothing committed); SIGHUP bumps `reloads`.
    pub fn install(grace: Duration) -> Result<Arc<Self>, Exit> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let term = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        let fail =
            |e: std::io::Error| Exit::runtime(format!("cannot install the signal handlers: {e}"));
        for sig in [SIGTERM, SIGINT] {
            // Order matters: the conditional exit sees the flag set by an earlier signal.
            flag::register_conditional_shutdown(sig, 1, term.clone()).map_err(fail)?;
            flag::register(sig, term.clone()).map_err(fail)?;
        }
        flag::register(SIGHUP, hup.clone()).map_err(fail)?;
        let signals = Arc::new(Self {
            term,
            reloads: Arc::new(AtomicU64::new(0)),
            fail_fast: AtomicBool::new(false),
            restart_failed: std::sync::atomic::AtomicU8::new(0),
        });
        let s = signals.clone();
        std::thread::Builder::new()
            .name("weir-signals".into())
            .spawn(move || {
                let mut drain_deadline = None;
                loop {
                    if hup.swap(false, Ordering::SeqCst) {
                        s.reloads.fetch_add(1, Ordering::SeqCst);
                    }
                    if s.term.load(Ordering::SeqCst) {
                        let deadline = *drain_deadline.get_or_insert_with(|| std::time::Instant::now() + grace);
                        if std::time::Instant::now() >= deadline {
                            tracing::error!(grace_s = grace.as_secs_f64(), "the drain did not finish within the grace period; exiting without committing the batch in flight");
                            std::process::exit(1);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .map_err(fail)?;
        Ok(signals)
    }
}

/// One pipeline to run: where its manifest is, and the pipeline it describes.
pub struct Job {
    /// The manifest file (re-read on SIGHUP).
    pub path: PathBuf,
    /// The checked pipeline.
    pub pipeline: Pipeline,
    /// Its constructed plugins.
    pub instances: Instances,
}

/// Reads and instantiates a manifest again; every problem as a line.
fn reload(
    path: &std::path::Path,
    registry: &Registry,
) -> Result<(Pipeline, Instances), Vec<String>> {
    let p = manifest::load(path).map_err(|e| {
        e.to_string()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    })?;
    let i = pipeline::instantiate(&p, registry).map_err(|e| e.lines)?;
    Ok((p, i))
}

/// Runs one pipeline until it ends, applying reloads; returns its result.
fn supervise(
    mut job: Job,
    registry: Arc<Registry>,
    service: Arc<Service>,
    signals: Arc<Signals>,
) -> Result<(), Exit> {
    let mut seen = signals.reloads.load(Ordering::SeqCst);
    let mut failures = 0u32;
    loop {
        let ran = std::time::Instant::now();
        let stop = StopSignal::new();
        let pending: Arc<std::sync::Mutex<Option<(Pipeline, Instances)>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (stop, pending, done, signals, registry) = (
                stop.clone(),
                pending.clone(),
                done.clone(),
                signals.clone(),
                registry.clone(),
            );
            let path = job.path.clone();
            let name = job.pipeline.name.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if signals.term.load(Ordering::SeqCst) {
                        stop.stop();
                    }
                    let now = signals.reloads.load(Ordering::SeqCst);
                    if now != seen {
                        seen = now;
                        match reload(&path, &registry) {
                            Ok(next) => {
                                tracing::info!(pipeline = %name, manifest = %path.display(), "SIGHUP: manifest re-read; draining to apply it");
                                if let Ok(mut p) = pending.lock() {
                                    *p = Some(next);
                                }
                                stop.stop();
                            }
                            Err(lines) => {
                                for l in &lines {
                                    tracing::error!(pipeline = %name, "SIGHUP: new manifest refused, the running pipeline goes on: {l}");
                                }
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                seen
            })
        };
        let result = run_cmd::run(&job.pipeline, job.instances, &service, &stop);
        done.store(true, Ordering::SeqCst);
        seen = watcher.join().unwrap_or(seen);
        let next = pending.lock().ok().and_then(|mut p| p.take());
        match (result, next) {
            (Ok(_), Some((pipeline, instances))) if !signals.term.load(Ordering::SeqCst) => {
                tracing::info!(pipeline = %pipeline.name, batch_size = pipeline.limits.max_records, "restarting with the new manifest");
                job = Job {
                    path: job.path,
                    pipeline,
                    instances,
                };
            }
            (Err(e), _)
                if e.code == crate::exit::RESEEK && !signals.term.load(Ordering::SeqCst) =>
            {
                for l in &e.lines {
                    tracing::warn!(pipeline = %job.pipeline.name, "{l}");
                }
                tracing::warn!(pipeline = %job.pipeline.name, "restarting the pipeline to resume from the sink's stored positions");
                std::thread::sleep(Duration::from_secs(1));
                let instances = pipeline::instantiate(&job.pipeline, &registry)?;
                job = Job {
                    path: job.path,
                    pipeline: job.pipeline,
                    instances,
                };
            }
            (Err(e), _) => {
                let why = e.lines.first().cloned().unwrap_or_default();
                service.failed(&job.pipeline.name, &why);
                for l in &e.lines {
                    tracing::error!(pipeline = %job.pipeline.name, "{l}");
                }
                let restart = match signals.restart_failed.load(Ordering::SeqCst) {
                    0 => job.pipeline.run_in_loop,
                    1 => true,
                    _ => false,
                };
                // Bad manifests (code 2) do not get better by restarting.
                if !restart || e.code != 1 || signals.term.load(Ordering::SeqCst) {
                    return Err(e);
                }
                failures = if ran.elapsed() > MAX_BACKOFF {
                    1
                } else {
                    failures + 1
                };
                let wait = backoff(failures);
                tracing::warn!(pipeline = %job.pipeline.name, restart_in_s = wait.as_secs_f64(), failures, "restarting the failed pipeline (--restart-failed); positions resume from the last commit");
                if !wait_unless_term(&signals, wait) {
                    return Err(e);
                }
                job = reinstantiate(job.path, job.pipeline, &registry, &service, &signals)?;
            }
            (r, _) => return r.map(|_| ()),
        }
    }
}

/// The longest wait between restarts of a failed pipeline.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`] after the n-th failure in a row.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

/// Waits `d`; false when a SIGTERM/SIGINT came meanwhile.
fn wait_unless_term(signals: &Signals, d: Duration) -> bool {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        if signals.term.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !signals.term.load(Ordering::SeqCst)
}

/// New instances for a restart; a failure to make them is retried with backoff too.
fn reinstantiate(
    path: PathBuf,
    pipeline: Pipeline,
    registry: &Registry,
    service: &Service,
    signals: &Signals,
) -> Result<Job, Exit> {
    let mut attempt = 0;
    loop {
        match pipeline::instantiate(&pipeline, registry) {
            Ok(instances) => {
                return Ok(Job {
                    path,
                    pipeline,
                    instances,
                })
            }
            Err(e) => {
                attempt += 1;
                let why = e.lines.first().cloned().unwrap_or_default();
                service.failed(&pipeline.name, &why);
                tracing::error!(pipeline = %pipeline.name, attempt, "cannot restart: {why}");
                if !wait_unless_term(signals, backoff(attempt)) {
                    return Err(e);
                }
            }
        }
    }
}

/// Runs every job to its end; the exit of the first failure, if any.
pub fn run_all(
    jobs: Vec<Job>,
    registry: Arc<Registry>,
    service: Arc<Service>,
    signals: Arc<Signals>,
) -> Result<(), Exit> {
    let mut handles = Vec::new();
    for job in jobs {
        let (registry, service, signals) = (registry.clone(), service.clone(), signals.clone());
        let name = job.pipeline.name.clone();
        let thread_name = format!("{name}-run");
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let r = supervise(job, registry, service, signals.clone());
                if r.is_err() && signals.fail_fast.load(Ordering::SeqCst) {
                    tracing::error!(pipeline = %name, "--fail-fast: stopping the other pipelines");
                    signals.term.store(true, Ordering::SeqCst);
                }
                r
            })
            .map_err(|e| Exit::runtime(format!("cannot start a pipeline thread: {e}")))?;
        handles.push(handle);
    }
    let mut first: Option<Exit> = None;
    let mut lines = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                lines.extend(e.lines.iter().cloned());
                first.get_or_insert(e);
            }
            Err(_) => {
                first.get_or_insert(Exit::runtime("a pipeline thread panicked".into()));
            }
        }
    }
    match first {
        None => Ok(()),
        Some(mut e) => {
            e.lines = lines;
            Err(e)
        }
    }
}
