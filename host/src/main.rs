//! `weir`: runs Nilus stream pipelines (`type: nilus`, `spec.type: stream`) through source and
//! sink plugins loaded from a plugin directory.

mod adapt;
mod exit;
mod loader;
mod logging;
mod pipeline;
mod plugins_cmd;
mod run_cmd;
mod service;

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

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline until its source is drained (`run_in_loop: false`) or until SIGTERM/SIGINT
    /// (`run_in_loop: true`), which finishes and commits the batch in flight; a second signal
    /// exits at once without committing.
    Run {
        /// The Nilus stream manifest (YAML).
        manifest: PathBuf,
    },
    /// Check a manifest without running it: every problem at once, each with its key path, and
    /// whether installed plugins serve its addresses and accept its options.
    Validate {
        /// The Nilus stream manifest (YAML).
        manifest: PathBuf,
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

static CURRENT_PIPELINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The pipeline this process runs, once its manifest is read ("" before).
fn current_pipeline() -> String {
    CURRENT_PIPELINE.get().cloned().unwrap_or_default()
}

fn load_manifest(path: &Path) -> Result<manifest::Pipeline, Exit> {
    let p = manifest::load(path).map_err(|e| Exit {
        code: 2,
        lines: e.to_string().lines().map(str::to_string).collect(),
    })?;
    let _ = CURRENT_PIPELINE.set(p.name.clone());
    weir_sdk::abi::host::set_default_pipeline(&p.name);
    Ok(p)
}

fn go(cli: Cli) -> Result<(), Exit> {
    match cli.command {
        Command::Plugins { json } => {
            let registry = registry(cli.plugin_dir.as_deref())?;
            print!("{}", plugins_cmd::render(&registry, json));
            Ok(())
        }
        Command::Validate { manifest } => {
            let pipeline = load_manifest(&manifest)?;
            let registry = registry(cli.plugin_dir.as_deref())?;
            let instances = pipeline::instantiate(&pipeline, &registry).map_err(|mut e| {
                for l in &mut e.lines {
                    *l = format!("{}: {l}", manifest.display());
                }
                e
            })?;
            drop(instances);
            println!(
                "{}: valid: pipeline `{}`, {}:// -> {}://, batch_size {}, batch_timeout {:?}, run_in_loop {}",
                manifest.display(),
                pipeline.name,
                pipeline.source.scheme,
                pipeline.sink.scheme,
                pipeline.limits.max_records,
                pipeline.limits.timeout,
                pipeline.run_in_loop
            );
            Ok(())
        }
        Command::Run { manifest } => {
            let pipeline = load_manifest(&manifest)?;
            let registry = registry(cli.plugin_dir.as_deref())?;
            let instances = pipeline::instantiate(&pipeline, &registry)?;
            let service = service::Service::new();
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
                tracing::info!(pipeline = %pipeline.name, address = %bound, "serving /health/live, /health/ready and /metrics on http://{bound}");
            }
            run_cmd::run(&pipeline, instances, &service).map(|_| ())
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
    if let Err(exit) = go(cli) {
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
