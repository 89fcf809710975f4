//! `weir`: runs Nilus stream pipelines (`type: nilus`, `spec.type: stream`) through source and
//! sink plugins loaded from a plugin directory.

mod adapt;
mod api;
mod crash;
mod failure;
mod isolate;
mod loader;
mod logging;
mod manifests;
mod page;
mod pipeline;
mod plugins_cmd;
mod progress;
mod run_cmd;
mod service;
mod status;
mod supervise;
mod top;
mod validate_cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use failure::Failure;
use loader::Registry;
use manifests::current_pipeline;
use std::path::{Path, PathBuf};

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
  weir plugins --plugin-dir ./plugins
  weir top --url http://127.0.0.1:9464";

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

    /// A Nilus depots file: `dataos://NAME?purpose=rw` addresses resolve through it (YAML
    /// `depots: {NAME: {type: postgresql|kafka|nats|lakehouse, ...}}`; see the README).
    #[arg(long, global = true, env = "WEIR_DEPOTS", value_name = "FILE")]
    depots: Option<PathBuf>,

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

/// `--isolation`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum IsolationFlag {
    /// Plugins run inside this process (the cheapest; a crash ends every pipeline).
    None,
    /// Each plugin instance runs in a child weir process, so a crash fails its pipeline alone.
    Process,
}

/// `weir run`'s arguments.
#[derive(clap::Args, Debug)]
struct RunArgs {
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
    /// Where the plugins of pipelines whose manifest does not say (`source.options.isolation`)
    /// run: `process` puts each plugin instance in a child weir process, so an abort, a
    /// segfault or an out-of-memory kill fails that pipeline alone (it restarts as
    /// --restart-failed says); each batch then crosses a socket as Arrow IPC.
    #[arg(long, value_enum, env = "WEIR_ISOLATION", default_value = "none")]
    isolation: IsolationFlag,
    /// The bearer token the pipelines API's mutating calls (pause, resume, restart, reload)
    /// require. Without one they are allowed on a loopback --listen only.
    #[arg(
        long,
        env = "WEIR_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    api_token: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline until its source is drained (`run_in_loop: false`) or until SIGTERM/SIGINT
    /// (`run_in_loop: true`), which finishes and commits the batch in flight; a second signal
    /// exits at once without committing.
    Run(RunArgs),
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
    /// Watch a running weir's pipelines in the terminal: state, rate, lag, last commit,
    /// restarts and last error, redrawn each second; `q` quits.
    Top {
        /// The address `weir run` serves (its --listen).
        #[arg(long, default_value = "http://127.0.0.1:9464", value_name = "URL")]
        url: String,
    },
    /// Serve one plugin instance for `weir run` over the socket given as stdin
    /// (`isolation: process`); never started by hand.
    #[command(hide = true)]
    Isolate,
}

fn registry(flag: Option<&Path>) -> Result<Registry, Failure> {
    let dir = loader::plugin_dir(flag).map_err(|e| Failure::load(e.to_string()))?;
    let registry = Registry::load(&dir).map_err(|e| Failure::load(e.to_string()))?;
    tracing::debug!(pipeline = %current_pipeline(), dir = %registry.dir.display(), plugins = registry.plugins.len(), "plugins loaded");
    Ok(registry)
}

/// Whether log lines are JSON (no terminal progress then).
pub(crate) static LOG_JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn go(cli: Cli) -> Result<(), Failure> {
    if let Some(depots) = &cli.depots {
        manifests::use_depots(depots);
    }
    match cli.command {
        Command::Plugins { json } => {
            let registry = registry(cli.plugin_dir.as_deref())?;
            print!("{}", plugins_cmd::render(&registry, json));
            Ok(())
        }
        Command::Validate { manifests } => {
            let paths = manifests::paths(&manifests)?;
            let registry = registry(cli.plugin_dir.as_deref())?;
            validate_cmd::run(&paths, &registry)
        }
        Command::Run(args) => run(cli.plugin_dir.as_deref(), &cli.listen, args),
        Command::Isolate => isolate::child::serve(),
        Command::Top { url } => top::run(&url),
    }
}

/// `weir run`: load the manifests, construct their plugins, serve health and metrics, then
/// supervise every pipeline to its end.
fn run(plugin_dir: Option<&Path>, listen: &str, args: RunArgs) -> Result<(), Failure> {
    if !(args.grace_period.is_finite() && args.grace_period > 0.0) {
        return Err(Failure::manifest(format!(
            "--grace-period {}: give a positive number of seconds",
            args.grace_period
        )));
    }
    let pipelines = manifests::load_all(&manifests::paths(&args.manifests)?)?;
    if let [(_, only)] = pipelines.as_slice() {
        weir_sdk::abi::host::set_default_pipeline(&only.name);
    }
    pipeline::default_isolation(match args.isolation {
        IsolationFlag::None => weir_core::manifest::Isolation::InProcess,
        IsolationFlag::Process => weir_core::manifest::Isolation::Process,
    });
    let registry = std::sync::Arc::new(registry(plugin_dir)?);
    let jobs = supervise::prepare(pipelines, &registry)?;
    let service = service::Service::new(std::time::Duration::from_secs_f64(
        args.ready_max_commit_age.max(0.0),
    ));
    service::count_skipped_records(&service);
    if listen != "off" {
        let addr: std::net::SocketAddr = listen.parse().map_err(|e| {
            Failure::manifest(format!("--listen `{listen}`: {e}; give HOST:PORT or off"))
        })?;
        let _ = service.access.set(api::Access {
            token: args.api_token.clone().filter(|t| !t.is_empty()),
            loopback: addr.ip().is_loopback(),
        });
        let bound = service::serve(addr, service.clone()).map_err(|e| {
            Failure::manifest(format!(
                "--listen {addr}: {e}; pick another address (--listen HOST:PORT, or WEIR_LISTEN) or --listen off"
            ))
        })?;
        tracing::info!(pipeline = %current_pipeline(), address = %bound, "serving /health/live, /health/ready, /metrics and /pipelines on http://{bound}");
    }
    if !LOG_JSON.get().copied().unwrap_or(true)
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        progress::start(
            service.clone(),
            jobs.iter().map(|j| j.pipeline.name.clone()).collect(),
        );
    }
    let restart = match args.restart_failed {
        RestartFailed::Auto => supervise::Restart::InLoop,
        RestartFailed::Always => supervise::Restart::Always,
        RestartFailed::Never => supervise::Restart::Never,
    };
    let grace = std::time::Duration::from_secs_f64(args.grace_period);
    let signals =
        supervise::Signals::install(grace, args.fail_fast, restart, service.reloads.clone())?;
    supervise::run_all(jobs, registry, service, signals)
}

/// The one place a failure becomes an exit code (the `--help` text lists them).
pub(crate) fn exit_code(failure: &Failure) -> i32 {
    match failure {
        Failure::Runtime(_) | Failure::PositionsMoved(_) => 1,
        Failure::Manifest(_) => 2,
        Failure::Load(_) => 3,
    }
}

/// Prints the failure's lines and exits with its code.
pub(crate) fn exit_with(failure: Failure) -> ! {
    let json = LOG_JSON.get().copied().unwrap_or(false);
    let code = exit_code(&failure);
    for line in failure.lines() {
        if json {
            // Every stderr line stays a JSON object for log collectors.
            let pipeline = current_pipeline();
            tracing::error!(pipeline = %pipeline, exit_code = code, "weir: error: {line}");
        } else {
            eprintln!("weir: error: {line}");
        }
    }
    std::process::exit(code);
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
    crash::install();
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
    if let Err(failure) = result {
        exit_with(failure);
    }
}
