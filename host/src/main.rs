//! `weir`: runs Nilus stream pipelines (`type: nilus`, `spec.type: stream`) through source and
//! sink plugins loaded from a plugin directory.

mod adapt;
mod exit;
mod loader;
mod logging;
mod pipeline;
mod plugins_cmd;
mod progress;
mod run_cmd;
mod service;
mod supervise;
mod validate_cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use exit::Exit;
use loader::Registry;
use std::path::{Path, PathBuf};
use weir_core::manifest;

const ABOUT: &str = "weir: stream ingestion. Reads Kafka topics, NATS JetStream streams or a \
generator in micro-batches, writes them to Delta Lake (or another sink plugin), and commits the \
source position only after the destination holds the batch.";

const AFTER: &str = "\
Exit codes: 0 done (or drained after SIGTERM/SIGINT), 1 runtime failure after retries,
2 bad manifest or usage, 3 a plugin that cannot be loaded.

Logs go to stderr; the level comes from WEIR_LOG (or RUST_LOG), e.g. WEIR_LOG=debug.

Examples:
  weir run examples/demo.yaml
  weir validate pipeline.yaml
  weir plugins --plugin-dir ./plugins";

#[derive(Parser, Debug)]
#[command(name = "weir", about = ABOUT, after_help = AFTER)]
struct Cli {
    /// Where plugins live. Default: `plugins/` beside the weir binary, then $WEIR_PLUGIN_DIR.
    #[arg(long, global = true, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,

    /// Serve /health/live, /health/ready and /metrics here (`weir run`); `off` to serve nothing.
    #[arg(
        long,
        global = true,
        env = "WEIR_LISTEN",
        default_value = "127.0.0.1:9464",
        value_name = "ADDR|off"
    )]
    listen: String,

    /// Log lines as human-readable text or JSON; `auto` is text on a terminal, JSON otherwise.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// `--restart-failed`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RestartFailed {
    /// Pipelines with `run_in_loop: true`.
    Auto,
    /// Every pipeline.
    Always,
    /// None: a failed pipeline stays failed (the process exits 1 when the others end).
    Never,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline until its source is drained (`run_in_loop: false`) or until SIGTERM/SIGINT
    /// (`run_in_loop: true`), which finishes and commits the batch in flight; a second signal
    /// exits at once without committing.
    Run {
        /// Nilus stream manifests (YAML), or directories of them; each runs as its own
        /// pipeline in this process.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// Stop every pipeline when one fails (default: the others go on).
        #[arg(long)]
        fail_fast: bool,
        /// Restart a pipeline that failed, after 1 s, 2 s, 4 s, ... up to 60 s; its positions
        /// resume from the last commit. `auto`: pipelines with `run_in_loop: true`.
        #[arg(long, value_enum, default_value = "auto")]
        restart_failed: RestartFailed,
        /// /health/ready turns false when records wait at the source and nothing was committed
        /// for this many seconds.
        #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
        ready_max_commit_age: f64,
        /// Seconds a SIGTERM/SIGINT drain may take before weir exits without committing the
        /// batch in flight (positions stay at the last commit).
        #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
        grace_period: f64,
    },
    /// Check manifests without running them: every problem at once, each with its file and key
    /// path, and whether installed plugins serve their addresses and accept their options.
    Validate {
        /// Nilus stream manifests (YAML), or directories of them, checked as `run` would.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// List installed plugins: name, version, sdk and ABI versions, and the URI schemes served.
    Plugins {
        /// Print JSON (with each connector's options schema) instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn registry(flag: Option<&Path>) -> Result<Registry, Exit> {
    let dir = loader::plugin_dir(flag).map_err(|e| Exit::load(e.to_string()))?;
    let registry = Registry::load(&dir).map_err(|e| Exit::load(e.to_string()))?;
    tracing::debug!(pipeline = %current_pipeline(), dir = %registry.dir.display(), plugins = registry.plugins.len(), "plugins loaded");
    Ok(registry)
}

/// The manifests of the arguments: files as they are, directories as their `*.yaml`/`*.yml`.
fn manifest_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, Exit> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(a)
                .map_err(|e| Exit::manifest(format!("{}: {e}", a.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(Exit::manifest(format!(
                    "{}: no *.yaml manifests in this directory",
                    a.display()
                )));
            }
            out.extend(v);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

static CURRENT_PIPELINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// Whether log lines are JSON (no terminal progress then).
static LOG_JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The pipeline this process runs, once its manifest is read ("" before).
fn current_pipeline() -> String {
    CURRENT_PIPELINE.get().cloned().unwrap_or_default()
}

pub(crate) fn load_manifest(path: &Path) -> Result<manifest::Pipeline, Exit> {
    let p = manifest::load(path).map_err(|e| Exit {
        code: 2,
        lines: e.to_string().lines().map(str::to_string).collect(),
    })?;
    let _ = CURRENT_PIPELINE.set(p.name.clone());
    Ok(p)
}

fn go(cli: Cli) -> Result<(), Exit> {
    match cli.command {
        Command::Plugins { json } => {
            let registry = registry(cli.plugin_dir.as_deref())?;
            print!("{}", plugins_cmd::render(&registry, json));
            Ok(())
        }
        Command::Validate { manifests } => {
            let paths = manifest_paths(&manifests)?;
            let registry = registry(cli.plugin_dir.as_deref())?;
            validate_cmd::run(&paths, &registry)
        }
        Command::Run {
            manifests,
            fail_fast,
            restart_failed,
            grace_period,
            ready_max_commit_age,
        } => {
            if !(grace_period.is_finite() && grace_period > 0.0) {
                return Err(Exit::manifest(format!(
                    "--grace-period {grace_period}: give a positive number of seconds"
                )));
            }
            let paths = manifest_paths(&manifests)?;
            let mut pipelines = Vec::new();
            let mut problems = Vec::new();
            for path in &paths {
                match load_manifest(path) {
                    Ok(p) => pipelines.push((path.clone(), p)),
                    Err(e) => problems.extend(e.lines),
                }
            }
            if !problems.is_empty() {
                return Err(Exit {
                    code: 2,
                    lines: problems,
                });
            }
            let mut names = std::collections::HashSet::new();
            for (path, p) in &pipelines {
                if !names.insert(p.name.clone()) {
                    return Err(Exit::manifest(format!(
                        "{}: name: `{}` is used by another manifest; pipeline names must differ",
                        path.display(),
                        p.name
                    )));
                }
            }
            if pipelines.len() == 1 {
                weir_sdk::abi::host::set_default_pipeline(&pipelines[0].1.name);
            }
            let registry = std::sync::Arc::new(registry(cli.plugin_dir.as_deref())?);
            let mut jobs = Vec::new();
            for (path, pipeline) in pipelines {
                let instances = pipeline::instantiate(&pipeline, &registry)?;
                jobs.push(supervise::Job {
                    path,
                    pipeline,
                    instances,
                });
            }
            let service = service::Service::new(std::time::Duration::from_secs_f64(
                ready_max_commit_age.max(0.0),
            ));
            service::count_skipped_records(&service);
            if cli.listen != "off" {
                let addr: std::net::SocketAddr = cli.listen.parse().map_err(|e| {
                    Exit::manifest(format!(
                        "--listen `{}`: {e}; give HOST:PORT or off",
                        cli.listen
                    ))
                })?;
                let bound = service::serve(addr, service.clone()).map_err(|e| {
                    Exit::manifest(format!(
                        "--listen {addr}: {e}; pick another address (--listen HOST:PORT, or WEIR_LISTEN) or --listen off"
                    ))
                })?;
                tracing::info!(pipeline = %current_pipeline(), address = %bound, "serving /health/live, /health/ready and /metrics on http://{bound}");
            }
            if !LOG_JSON.get().copied().unwrap_or(true)
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
            {
                progress::start(
                    service.clone(),
                    jobs.iter().map(|j| j.pipeline.name.clone()).collect(),
                );
            }
            let signals =
                supervise::Signals::install(std::time::Duration::from_secs_f64(grace_period))?;
            signals
                .fail_fast
                .store(fail_fast, std::sync::atomic::Ordering::SeqCst);
            let restart = match restart_failed {
                RestartFailed::Auto => 0,
                RestartFailed::Always => 1,
                RestartFailed::Never => 2,
            };
            signals
                .restart_failed
                .store(restart, std::sync::atomic::Ordering::SeqCst);
            supervise::run_all(jobs, registry, service, signals)
        }
    }
}

fn version() -> String {
    format!(
        "{} (weir-sdk {}, plugin ABI {})",
        env!("CARGO_PKG_VERSION"),
        weir_sdk::SDK_VERSION,
        weir_sdk::ABI_VERSION
    )
}

fn main() {
    let version: &'static str = Box::leak(version().into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = logging::init(cli.log_format);
    let _ = LOG_JSON.set(json);
    let result = go(cli);
    if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        // Clear a live progress line before the last words.
        eprint!("\r\x1b[2K");
    }
    if let Err(exit) = result {
        for line in &exit.lines {
            if json {
                // Every stderr line stays a JSON object for log collectors.
                let pipeline = current_pipeline();
                tracing::error!(pipeline = %pipeline, exit_code = exit.code, "weir: error: {line}");
            } else {
                eprintln!("weir: error: {line}");
            }
        }
        std::process::exit(exit.code);
    }
}
