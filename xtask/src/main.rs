//! `cargo xtask`: the project's tasks.
//!
//! - `build [--debug]`: the host and every plugin (release by default), plugins staged into
//!   `<target>/<profile>/plugins/` beside the `weir` binary, where the host looks first.
//! - `demo`: builds what the demo runs (debug: the host, the generator, the Delta plugin
//!   without DataFusion), runs `examples/demo.yaml` (100 000 generator events into a Delta
//!   table under `target/demo/`), prints the table's path, rows and records/s.
//! - `test`: everything CI checks: fmt, one debug build with clippy `-D warnings` as the
//!   workspace's compiler, the Python readers,
//!   the demo, unit, doc and end-to-end tests. Installs what it needs (the venv, and tansu, the
//!   Kafka-protocol broker, and rustberg, an Iceberg REST catalog, built once into
//!   `$HOME/.cache/weir/tools`).
//! - `tidy`: size limits and no sleep as synchronisation in tests (`tidy.rs`).
//! - `bench`: release build, then the measurements of `bench.rs`.
//! - `new-plugin NAME --kind source|sink [--path DIR]`: a plugin crate from the templates
//!   (`new_plugin.rs`, `xtask/templates/`).

mod bench;
mod env;
mod new_plugin;
mod python;
mod tidy;
mod tools;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  build [--debug]   build weir and its plugins (release unless --debug) and stage the plugins
                    into <target>/<profile>/plugins/ beside the binary
  demo              build what the demo runs (debug; no DataFusion) and run examples/demo.yaml:
                    100 000 generated events into a
                    Delta table under target/demo/; prints its path, rows and records/s
  test              everything CI runs: fmt check, clippy -D warnings, build, Python readers
                    (a venv under <target>/venv), the demo, unit, doc and end-to-end tests
  tidy              files <= 600 lines, functions <= 80, no unexplained sleep in tests/
                    (what was over a limit when the check came is listed in xtask/src/tidy.rs
                    and may only shrink)
  bench [boundary|nats|kafka|mask|delta|postgres|avro|all]
                    release build, then throughput ratios against raw-client floors and the
                    plugin-boundary cost; reports under bench/results/
  new-plugin NAME --kind source|sink [--path DIR] [--description TEXT]
                    a plugin crate from the templates: options with validation, the
                    connector, the export line, a README and a test that loads the built
                    library. With --path: a standalone crate there (weir-sdk by path to this
                    checkout, its own [workspace], a copy of Cargo.lock); without: plugins/NAME
                    in this workspace. Guide: docs/plugins.md

The target directory is $CARGO_TARGET_DIR when set (CI keeps it under $HOME/.cache).";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("--help");
    let rest = &args[args.len().min(1)..];
    match task {
        "build" => {
            let profile = if rest.iter().any(|a| a == "--debug") {
                Profile::Debug
            } else {
                Profile::Release
            };
            let bin = build(profile)?;
            println!("built {}", bin.display());
            Ok(())
        }
        "demo" => demo(&build_demo()?).map(|_| ()),
        "test" => test(),
        "tidy" => tidy::run(),
        "bench" => bench::run_bench(rest),
        "new-plugin" => new_plugin::run(rest).map(|_| ()),
        "-h" | "--help" | "help" => {
            println!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

/// A cargo profile and its directory under the target dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root; fails with its exit status.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

/// A cargo command with the environment a plain `cargo` in a shell has: `cargo run` (how
/// `cargo xtask` starts) sets `CARGO_MANIFEST_DIR` and `CARGO_PKG_*` for xtask, and build
/// scripts that watch them (ring's does) would rebuild a third of the graph each time plain
/// `cargo` and `cargo xtask` alternate on one target dir (9 minutes here).
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k == "CARGO_MANIFEST_DIR"
            || k == "CARGO_MANIFEST_PATH"
            || k == "CARGO_PRIMARY_PACKAGE"
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
            || k == "CARGO_CRATE_NAME"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd
}

/// Builds; returns the `weir` binary. Debug builds the whole workspace (plugins, fixtures and
/// test helpers, with one feature resolution shared with the tests); release only the host
/// and the plugins.
pub(crate) fn build(profile: Profile) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.arg("build");
    match profile {
        Profile::Debug => {
            cmd.arg("--workspace");
        }
        Profile::Release => {
            cmd.args(["--release", "-p", "weir"]);
            for p in plugin_packages()? {
                cmd.args(["-p", &p]);
            }
        }
    }
    run(&mut cmd)?;
    let dir = env::target_dir()?.join(profile.dir());
    stage(&dir)?;
    Ok(dir.join("weir"))
}

/// The workspace's plugin packages: the directories under `plugins/`.
fn plugin_packages() -> Result<Vec<String>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(root().join("plugins"))? {
        let e = e?;
        if e.path().join("Cargo.toml").is_file() {
            v.push(format!("weir-plugin-{}", e.file_name().to_string_lossy()));
        }
    }
    v.sort();
    Ok(v)
}

/// Copies `libweir_plugin_*` libraries of a profile dir into its `plugins/`.
pub(crate) fn stage(profile_dir: &Path) -> Result<()> {
    let plugins = profile_dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut n = 0;
    for p in plugin_packages()? {
        let file = format!("lib{}{suffix}", p.replace('-', "_"));
        let from = profile_dir.join(&file);
        if from.is_file() {
            // Copy to a temporary name and rename, so a running host never maps a half file.
            let tmp = plugins.join(format!(".{file}.tmp"));
            std::fs::copy(&from, &tmp).with_context(|| format!("copy {}", from.display()))?;
            std::fs::rename(&tmp, plugins.join(&file))?;
            n += 1;
        }
    }
    if n == 0 {
        bail!("no plugin libraries found in {}", profile_dir.display());
    }
    Ok(())
}

/// What the demo did.
pub(crate) struct DemoRun {
    pub(crate) table: PathBuf,
    pub(crate) rows: u64,
}

/// Builds what the demo runs and nothing else: the host, the generator and the Delta plugin
/// without its default features (no DataFusion: the demo appends; no S3: it writes locally).
fn build_demo() -> Result<PathBuf> {
    println!(
        "demo: building weir, the generator and the Delta plugin (debug, no DataFusion). The first build \
         takes about 6 minutes on a fresh 2-core machine; later runs start at once."
    );
    run(cargo().args([
        "build",
        "-p",
        "weir",
        "-p",
        "weir-plugin-generator",
        "-p",
        "weir-plugin-delta",
        "--no-default-features",
    ]))?;
    let dir = env::target_dir()?.join(Profile::Debug.dir());
    stage(&dir)?;
    Ok(dir.join("weir"))
}

fn demo(weir: &Path) -> Result<DemoRun> {
    let table = root().join("target/demo/events");
    if table.exists() {
        std::fs::remove_dir_all(&table).with_context(|| format!("remove {}", table.display()))?;
    }
    println!("demo: weir run examples/demo.yaml");
    let started = Instant::now();
    run(Command::new(weir)
        .args(["run", "examples/demo.yaml", "--log-format", "text"])
        .env(
            "WEIR_LISTEN",
            std::env::var("WEIR_LISTEN").unwrap_or_else(|_| "off".into()),
        ))?;
    let secs = started.elapsed().as_secs_f64();
    let rows = env::delta_rows(&table)?;
    println!(
        "demo: table {}\ndemo: {rows} rows, {:.2} s including start-up ({:.0} records/s, debug build)",
        table.display(),
        secs,
        rows as f64 / secs.max(1e-9)
    );
    Ok(DemoRun { table, rows })
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n== xtask test: {name}");
    let t = Instant::now();
    let r = f();
    println!(
        "== {name}: {} in {:.1} s",
        if r.is_ok() { "ok" } else { "FAILED" },
        t.elapsed().as_secs_f64()
    );
    r
}

fn step_value<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut out = None;
    step(name, || {
        out = Some(f()?);
        Ok(())
    })?;
    out.context("step produced nothing")
}

/// The unit and end-to-end tests, with the tools the harness finds through `servers`.
fn nextest(lint: &[(String, String)], servers: &[(&str, PathBuf)]) -> Result<()> {
    let target = env::target_dir()?.join("debug");
    let mut cmd = cargo();
    if env::has_nextest() {
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
    }
    with_env(&mut cmd, lint);
    cmd.env("WEIR_TEST_BIN_DIR", &target);
    for (var, path) in servers {
        cmd.env(var, path);
    }
    run(&mut cmd)
}

fn test() -> Result<()> {
    let t0 = Instant::now();
    // On a fresh machine the servers built from crates.io (tansu, rustberg) take the longest:
    // they install beside the checks and the workspace build (their output goes to logs
    // under the tools directory).
    let servers_install = std::thread::spawn(tools::ensure_servers);
    // Debian's chromium and tmux (the status page's and `weir top`'s tests) beside them too,
    // joined before PostgreSQL's check, which may run apt-get as well (one dpkg at a time).
    let browser_install = std::thread::spawn(tools::ensure_browser_and_tmux);
    step(
        "tidy: size limits, no sleep as synchronisation in tests",
        tidy::run,
    )?;
    step("rustfmt --check", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    // One build serves clippy, the tests and the doc tests: clippy runs as the rustc of the
    // workspace's own crates during the debug build (what `cargo clippy` does, without its
    // separate check-mode build of every dependency), and every later step keeps the same
    // wrapper and feature set, so nothing is compiled twice.
    let lint = clippy_env()?;
    let weir = step_value(
        "build (debug) with clippy -D warnings, stage plugins",
        || {
            let mut cmd = cargo();
            cmd.args(["build", "--workspace", "--all-targets"]);
            with_env(&mut cmd, &lint);
            run(&mut cmd)?;
            let dir = env::target_dir()?.join(Profile::Debug.dir());
            stage(&dir)?;
            Ok(dir.join("weir"))
        },
    )?;
    let python = python::ensure_venv()?;
    let (tansu, rustberg) = step_value(
        "tansu and rustberg, the Kafka broker and Iceberg REST catalog of the tests",
        || joined(servers_install),
    )?;
    let (chromium, tmux) = step_value(
        "chromium and tmux, the browser and terminal of the status page's and weir top's tests",
        || joined(browser_install),
    )?;
    let pg_bin = step_value(
        "PostgreSQL, the server of the Postgres sink's tests",
        tools::ensure_postgres,
    )?;
    step("demo, read back by Python deltalake", || {
        demo_read_back(&weir, &python)
    })?;
    let servers = [
        ("WEIR_TEST_PYTHON", python),
        ("WEIR_TEST_TANSU", tansu),
        ("WEIR_TEST_RUSTBERG", rustberg),
        ("WEIR_TEST_PG_BIN", pg_bin),
        ("WEIR_TEST_CHROMIUM", chromium),
        ("WEIR_TEST_TMUX", tmux),
    ];
    step("unit and end-to-end tests (nextest)", || {
        nextest(&lint, &servers)
    })?;
    step("doc tests", || {
        // The whole workspace with the tests' feature set (the `tests` crate turns on the
        // sdk's `testing`, which brings in the plugin guide's code blocks, docs/plugins.md):
        // the libraries built above are reused as they are.
        let mut cmd = cargo();
        cmd.args(["test", "--doc", "--workspace"]);
        with_env(&mut cmd, &lint);
        run(&mut cmd)
    })?;
    println!(
        "\nxtask test: all green in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What an install thread found, or why it failed.
fn joined<T>(install: std::thread::JoinHandle<Result<T>>) -> Result<T> {
    install
        .join()
        .map_err(|_| anyhow::anyhow!("an install thread panicked"))?
}

/// The demo, its table read back by Python deltalake.
fn demo_read_back(weir: &Path, python: &Path) -> Result<()> {
    let d = demo(weir)?;
    let summary = python::summary(python, &d.table)?;
    let rows = summary["rows"].as_u64().unwrap_or(0);
    let distinct = summary["distinct_ids"].as_u64().unwrap_or(0);
    if rows != 100_000 || distinct != 100_000 || d.rows != 100_000 {
        bail!("demo table: Python reads {rows} rows ({distinct} distinct ids), the Delta log says {}; expected 100000", d.rows);
    }
    println!("demo: Python deltalake reads {rows} rows, {distinct} distinct ids");
    Ok(())
}

/// The environment under which cargo runs clippy as the compiler of the workspace's crates
/// (dependencies are compiled by plain rustc): `RUSTC_WORKSPACE_WRAPPER` and `CLIPPY_ARGS`,
/// as `cargo clippy -- -D warnings` sets them.
fn clippy_env() -> Result<Vec<(String, String)>> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("rustc --print sysroot")?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let driver = Path::new(&sysroot).join("bin/clippy-driver");
    if !driver.is_file() {
        bail!(
            "clippy-driver not found at {}: install it with `rustup component add clippy`",
            driver.display()
        );
    }
    Ok(vec![
        (
            "RUSTC_WORKSPACE_WRAPPER".into(),
            driver.display().to_string(),
        ),
        (
            "CLIPPY_ARGS".into(),
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".into(),
        ),
    ])
}

fn with_env(cmd: &mut Command, vars: &[(String, String)]) {
    for (k, v) in vars {
        cmd.env(k, v);
    }
}
