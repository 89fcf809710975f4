//! Several pipelines in one process, and reloads.
//!
//! Each manifest runs on a thread of its own (with core's threads under it) and has its own
//! metrics labels; one failing pipeline does not stop the others unless `--fail-fast`. The
//! first SIGTERM/SIGINT drains every pipeline; a second exits at once. SIGHUP re-reads every
//! manifest: a valid one is applied by draining and restarting its pipeline (exactly-once
//! sinks resume at their stored positions); an invalid one is refused with all its errors and
//! the running pipeline goes on.

use crate::failure::Failure;
use crate::loader::Registry;
use crate::pipeline::{self, Instances};
use crate::run_cmd;
use crate::service::Service;
use crate::status::Status;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weir_core::manifest::Pipeline;
use weir_core::runner::StopSignal;

/// Process-wide signal state.
pub struct Signals {
    /// SIGTERM/SIGINT seen: drain everything.
    pub term: Arc<AtomicBool>,
    /// Bumped on every SIGHUP.
    pub reloads: Arc<AtomicU64>,
    /// `--fail-fast`: a failed pipeline stops the others.
    pub fail_fast: bool,
    /// `--restart-failed`.
    pub restart: Restart,
}

/// Which failed pipelines are restarted (`--restart-failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Those with `run_in_loop: true` (the default).
    InLoop,
    /// Every pipeline.
    Always,
    /// None.
    Never,
}

impl Signals {
    /// Installs the handlers: the first SIGTERM/SIGINT sets `term`, a second exits at once
    /// (a runtime failure's code, nothing committed); SIGHUP bumps `reloads`.
    pub fn install(
        grace: Duration,
        fail_fast: bool,
        restart: Restart,
        reloads: Arc<AtomicU64>,
    ) -> Result<Arc<Self>, Failure> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let term = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        let fail = |e: std::io::Error| {
            Failure::runtime(format!("cannot install the signal handlers: {e}"))
        };
        for sig in [SIGTERM, SIGINT] {
            // Order matters: the conditional exit sees the flag set by an earlier signal.
            let code = crate::exit_code(&Failure::Runtime(Vec::new()));
            flag::register_conditional_shutdown(sig, code, term.clone()).map_err(fail)?;
            flag::register(sig, term.clone()).map_err(fail)?;
        }
        flag::register(SIGHUP, hup.clone()).map_err(fail)?;
        let signals = Arc::new(Self {
            term,
            reloads,
            fail_fast,
            restart,
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
                        if drain_deadline.is_none() {
                            tracing::info!(grace_s = grace.as_secs_f64(), "SIGTERM/SIGINT: draining every pipeline (the batch in flight is committed first); a second signal exits at once without committing");
                        }
                        let deadline = *drain_deadline.get_or_insert_with(|| std::time::Instant::now() + grace);
                        if std::time::Instant::now() >= deadline {
                            crate::exit_with(Failure::runtime(format!("the drain did not finish within the grace period ({} s); exiting without committing the batch in flight", grace.as_secs_f64())));
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
    let p = crate::manifests::load(path).map_err(Failure::into_lines)?;
    let i = pipeline::instantiate(&p, registry).map_err(Failure::into_lines)?;
    Ok((p, i))
}

/// Runs one pipeline until it ends, applying reloads; returns its result.
fn supervise(
    mut job: Job,
    registry: Arc<Registry>,
    service: Arc<Service>,
    signals: Arc<Signals>,
) -> Result<(), Failure> {
    let mut seen = signals.reloads.load(Ordering::SeqCst);
    let mut failures = 0u32;
    let status = service.status(&job.pipeline.name);
    loop {
        let ran = std::time::Instant::now();
        let watched = Watched {
            path: job.path.clone(),
            pipeline: job.pipeline.clone(),
            status: status.clone(),
        };
        let (watch, watcher) = watch(watched, seen, signals.clone(), registry.clone());
        let result = run_cmd::run(&job.pipeline, job.instances, &service, &watch.stop);
        watch.done.store(true, Ordering::SeqCst);
        seen = watcher.join().unwrap_or(seen);
        let next = watch.pending.lock().ok().and_then(|mut p| p.take());
        let term = signals.term.load(Ordering::SeqCst);
        match (result, next) {
            (Ok(_), Some((pipeline, instances))) if !term => {
                tracing::info!(
                    batch_size = pipeline.limits.max_records,
                    "restarting with the new manifest"
                );
                status.restarted();
                job = Job {
                    path: job.path,
                    pipeline,
                    instances,
                };
            }
            (Err(e @ Failure::PositionsMoved(_)), _) if !term => {
                for l in e.lines() {
                    tracing::warn!("{l}");
                }
                tracing::warn!(
                    "restarting the pipeline to resume from the sink's stored positions"
                );
                if !wait_unless_term(&signals, Duration::from_secs(1)) {
                    return Err(e);
                }
                job = reinstantiate(job.path, job.pipeline, &registry, &service, &signals)?;
                status.restarted();
            }
            (Err(e), _) => {
                let why = e.lines().first().cloned().unwrap_or_default();
                service.failed(&job.pipeline.name, &why);
                for l in e.lines() {
                    tracing::error!("{l}");
                }
                if !restarts(&signals, &job.pipeline, &e) {
                    return Err(e);
                }
                failures = if ran.elapsed() > MAX_BACKOFF {
                    1
                } else {
                    failures + 1
                };
                let wait = backoff(failures);
                tracing::warn!(restart_in_s = wait.as_secs_f64(), failures, "restarting the failed pipeline (--restart-failed); positions resume from the last commit");
                if !wait_unless_term(&signals, wait) {
                    return Err(e);
                }
                job = reinstantiate(job.path, job.pipeline, &registry, &service, &signals)?;
                status.restarted();
            }
            (r, _) => return r.map(|_| ()),
        }
    }
}

/// Whether a failed pipeline is restarted: `--restart-failed` says so for it, the failure is a
/// runtime one (bad manifests do not get better by restarting), and no drain is under way.
fn restarts(signals: &Signals, pipeline: &Pipeline, failure: &Failure) -> bool {
    let wanted = match signals.restart {
        Restart::InLoop => pipeline.run_in_loop,
        Restart::Always => true,
        Restart::Never => false,
    };
    wanted && matches!(failure, Failure::Runtime(_)) && !signals.term.load(Ordering::SeqCst)
}

/// What a run shares with its watcher thread.
struct Watch {
    /// Stops the run (a drain): on SIGTERM/SIGINT, or to apply a re-read manifest.
    stop: StopSignal,
    /// A re-read, checked and instantiated manifest waiting to be applied.
    pending: Arc<std::sync::Mutex<Option<(Pipeline, Instances)>>>,
    /// Set when the run has ended: the watcher returns the reload count it has seen.
    done: Arc<AtomicBool>,
}

/// What the watcher of a run watches: the manifest, the pipeline as it runs, its status.
struct Watched {
    path: PathBuf,
    pipeline: Pipeline,
    status: Arc<Status>,
}

/// Starts the watcher of one run: it turns a drain request into the run's stop, a SIGHUP (or
/// `POST /reload`) into a re-read of the manifest (applied by draining) or a refusal that
/// lets the run go on, and `POST /pipelines/{name}/restart` into a drain and a new start.
fn watch(
    watched: Watched,
    mut seen: u64,
    signals: Arc<Signals>,
    registry: Arc<Registry>,
) -> (Watch, std::thread::JoinHandle<u64>) {
    let Watched {
        path,
        pipeline,
        status,
    } = watched;
    let w = Watch {
        stop: StopSignal::with_pause(status.pause.clone()),
        pending: Arc::default(),
        done: Arc::new(AtomicBool::new(false)),
    };
    // A restart asked for between runs is this new run already.
    status.restart.store(false, Ordering::SeqCst);
    let (stop, pending, done) = (w.stop.clone(), w.pending.clone(), w.done.clone());
    let span = tracing::Span::current();
    let handle = std::thread::spawn(move || {
        let _in = span.enter();
        while !done.load(Ordering::SeqCst) {
            if signals.term.load(Ordering::SeqCst) {
                status.draining();
                stop.stop();
            }
            let reloading = pending.lock().is_ok_and(|p| p.is_some());
            if status.restart.swap(false, Ordering::SeqCst) && !reloading {
                match pipeline::instantiate(&pipeline, &registry) {
                    Ok(instances) => {
                        tracing::info!("restart requested: draining, then starting again from the stored positions");
                        if let Ok(mut p) = pending.lock() {
                            *p = Some((pipeline.clone(), instances));
                        }
                        status.draining();
                        stop.stop();
                    }
                    Err(e) => {
                        for l in e.lines() {
                            tracing::error!("restart refused, the running pipeline goes on: {l}");
                        }
                    }
                }
            }
            let now = signals.reloads.load(Ordering::SeqCst);
            if now != seen {
                seen = now;
                match reload(&path, &registry) {
                    Ok(next) => {
                        tracing::info!(manifest = %path.display(), "SIGHUP: manifest re-read; draining to apply it");
                        if let Ok(mut p) = pending.lock() {
                            *p = Some(next);
                        }
                        status.draining();
                        stop.stop();
                    }
                    Err(lines) => {
                        for l in &lines {
                            tracing::error!(
                                "SIGHUP: new manifest refused, the running pipeline goes on: {l}"
                            );
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    });
    (w, handle)
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
) -> Result<Job, Failure> {
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
                let why = e.lines().first().cloned().unwrap_or_default();
                service.failed(&pipeline.name, &why);
                tracing::error!(attempt, "cannot restart: {why}");
                if !wait_unless_term(signals, backoff(attempt)) {
                    return Err(e);
                }
            }
        }
    }
}

/// Constructs every pipeline's plugins before anything runs (a pipeline that cannot be
/// constructed stops the run before any starts).
pub fn prepare(
    pipelines: Vec<(PathBuf, Pipeline)>,
    registry: &Registry,
) -> Result<Vec<Job>, Failure> {
    let mut jobs = Vec::new();
    for (path, pipeline) in pipelines {
        let instances = pipeline::instantiate(&pipeline, registry)?;
        jobs.push(Job {
            path,
            pipeline,
            instances,
        });
    }
    Ok(jobs)
}

/// Runs every job to its end; every failure's lines, if any.
pub fn run_all(
    jobs: Vec<Job>,
    registry: Arc<Registry>,
    service: Arc<Service>,
    signals: Arc<Signals>,
) -> Result<(), Failure> {
    let mut handles = Vec::new();
    for job in jobs {
        let (registry, service, signals) = (registry.clone(), service.clone(), signals.clone());
        let name = job.pipeline.name.clone();
        let thread_name = format!("{name}-run");
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                // Every event of this pipeline, and of core's threads under it, names it.
                let _in = tracing::info_span!("pipeline", pipeline = %name).entered();
                let r = supervise(job, registry, service, signals.clone());
                if r.is_err() && signals.fail_fast {
                    tracing::error!("--fail-fast: stopping the other pipelines");
                    signals.term.store(true, Ordering::SeqCst);
                }
                r
            })
            .map_err(|e| Failure::runtime(format!("cannot start a pipeline thread: {e}")))?;
        handles.push(handle);
    }
    let mut failed: Option<Failure> = None;
    for h in handles {
        let failure = match h.join() {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => Failure::runtime("a pipeline thread panicked".into()),
        };
        failed = Some(match failed {
            None => failure,
            Some(before) => before.and(failure),
        });
    }
    failed.map_or(Ok(()), Err)
}
