//! The end-to-end test harness: where the built `weir` binary, plugins and fixtures are, temp
//! workspaces with their own plugin directories and manifests, running the binary, and the
//! independent Python reader of Delta tables.
//!
//! `cargo xtask test` builds everything first and sets `WEIR_TEST_BIN_DIR` (the profile
//! directory holding `weir` and the libraries) and `WEIR_TEST_PYTHON` (the venv's python).

pub mod bench;
pub mod certs;
pub mod iceberg;
pub mod kafka;
pub mod kills;
pub mod manifest;
pub mod nats;
pub mod nats_jwt;
pub mod postgres;
pub mod registry;
pub mod running;
pub mod rustberg;
pub mod s3;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory of the built binary and libraries (`<target>/debug`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WEIR_TEST_BIN_DIR") {
        return PathBuf::from(d);
    }
    // <target>/debug/deps/it-<hash>
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test executable under <target>/<profile>/deps")
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is not built: run `cargo xtask test` (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

/// The `weir` binary.
pub fn weir_bin() -> PathBuf {
    built(bin_dir().join("weir"))
}

/// A library of the workspace by crate name (`weir_plugin_delta`, `weir_fixture_probe`).
pub fn library(crate_name: &str) -> PathBuf {
    built(bin_dir().join(format!("lib{crate_name}{}", std::env::consts::DLL_SUFFIX)))
}

/// The shipped plugins: generator, delta, console, nats, kafka, file.
pub fn shipped_plugins() -> Vec<PathBuf> {
    [
        "weir_plugin_generator",
        "weir_plugin_delta",
        "weir_plugin_console",
        "weir_plugin_nats",
        "weir_plugin_kafka",
        "weir_plugin_file",
        "weir_plugin_postgres",
        "weir_plugin_iceberg",
    ]
    .into_iter()
    .map(library)
    .collect()
}

/// The target directory of crates built outside the workspace (generated plugin templates,
/// the previous-sdk fixture): `<target>/template-target`, kept between runs so their builds
/// are incremental. They share it, so third-party crates compile once for all of them.
pub fn out_of_tree_target() -> PathBuf {
    bin_dir()
        .parent()
        .map(|t| t.join("template-target"))
        .unwrap_or_else(|| bin_dir().join("template-target"))
}

/// Runs `cargo ARGS` in `dir` with the out-of-tree target directory, failing the test with
/// cargo's output when it fails. Returns cargo's stderr.
pub fn cargo_out_of_tree(dir: &Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", out_of_tree_target())
        // The generated crate's build must not see the workspace's cargo settings.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cargo {args:?} in {} failed:\n{stderr}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// A library built into the out-of-tree target directory.
pub fn out_of_tree_library(crate_name: &str) -> PathBuf {
    built(
        out_of_tree_target()
            .join("debug")
            .join(format!("lib{crate_name}{}", std::env::consts::DLL_SUFFIX)),
    )
}

/// The venv python with `deltalake` and `pyarrow`.
pub fn python() -> PathBuf {
    let p = std::env::var_os("WEIR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_dir().join("../venv/bin/python"));
    assert!(
        p.exists(),
        "no Python reader at {}: run `cargo xtask test`",
        p.display()
    );
    p
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// A temporary directory for one test: its plugin directory, manifests and tables.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// A fresh directory.
    pub fn new() -> Self {
        Self {
            // `WEIR_TEST_KEEP=1` leaves every scratch directory behind for a post-mortem.
            dir: tempfile::Builder::new()
                .prefix("weir-it-")
                .disable_cleanup(std::env::var_os("WEIR_TEST_KEEP").is_some())
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside it.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A plugin directory holding (links to) these libraries.
    pub fn plugin_dir(&self, name: &str, libs: &[PathBuf]) -> PathBuf {
        let dir = self.join(name);
        std::fs::create_dir_all(&dir).expect("plugin dir");
        for lib in libs {
            let file = lib.file_name().expect("library file name");
            std::os::unix::fs::symlink(lib, dir.join(file)).expect("link library");
        }
        dir
    }

    /// Writes a built manifest as `<name>.yaml` here.
    pub fn write(&self, m: &manifest::Manifest) -> PathBuf {
        m.write_in(self.path())
    }

    /// Writes a manifest file from its text (for manifests that are wrong on purpose;
    /// [`Scratch::write`] for the others).
    pub fn manifest(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, yaml).expect("write manifest");
        p
    }
}

/// A finished `weir` run.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the log, in text form).
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Lines of stderr that are errors printed by the host (`weir: error: ...`).
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("weir: error:"))
            .collect()
    }
}

/// A `weir` command with text logs and the given plugin directory.
pub fn weir(plugin_dir: &Path) -> Command {
    let mut c = Command::new(weir_bin());
    c.arg("--log-format")
        .arg("text")
        .arg("--plugin-dir")
        .arg(plugin_dir)
        .env("NO_COLOR", "1")
        .env("WEIR_LISTEN", "off")
        .env_remove("RUST_LOG")
        .env_remove("WEIR_LOG")
        .env_remove("RUN_IN_LOOP")
        .env_remove("WEIR_DEPOTS");
    c
}

/// `weir run MANIFEST` in the background with its log going to the file `log` (a pipe
/// nobody reads would fill up and stall it).
pub fn spawn_run(plugin_dir: &Path, manifest: &Path, log: &Path) -> std::process::Child {
    let f = std::fs::File::create(log).expect("log file");
    weir(plugin_dir)
        .arg("run")
        .arg(manifest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(f))
        .spawn()
        .expect("start weir")
}

/// Runs a command to completion.
pub fn output(cmd: &mut Command) -> Outcome {
    cmd.output().expect("run weir").into()
}

/// Starts a command with stdout and stderr captured.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir")
}

/// A port nothing listens on now, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs `weir run MANIFEST` with the plugins staged beside the binary (warnings only, no
/// HTTP), failing if it fails; returns how long it took. For benches.
pub fn timed_run(manifest: &Path) -> Duration {
    let started = Instant::now();
    let out = output(
        weir(&bin_dir().join("plugins"))
            .env("WEIR_LOG", "warn")
            .arg("run")
            .arg(manifest),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    started.elapsed()
}

/// Sends a signal to a child.
pub fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // SAFETY: kill(2) with a pid we own; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Runs `tests/harness/SCRIPT CMD TARGET ARGS...` with the venv's python (the independent
/// producers and checkers), failing the test if it fails; returns its JSON output.
pub fn python_tool(script: &str, cmd: &str, target: &str, args: &[&str]) -> serde_json::Value {
    python_tool_with(script, cmd, target, args, &[])
}

/// As [`python_tool`], with variables added to the script's environment.
pub fn python_tool_with(
    script: &str,
    cmd: &str,
    target: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> serde_json::Value {
    let out = Command::new(python())
        .arg(root().join("tests/harness").join(script))
        .args([cmd, target])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} JSON: {e}"))
}

/// Waits up to a minute for a child to exit (killing it after that) and collects its output.
pub fn wait_exit(mut child: Child) -> Outcome {
    eventually(Duration::from_secs(60), || {
        child.try_wait().expect("wait").is_some()
    });
    let _ = child.kill();
    child.wait_with_output().expect("output").into()
}

/// Runs `weir run MANIFEST` in a loop until the Delta table holds `n` distinct ids (read by the
/// Python reader, within `limit`), then drains it with SIGTERM; fails unless both happen.
pub fn run_until(
    plugins: &Path,
    manifest: &Path,
    table: &Path,
    n: u64,
    limit: Duration,
) -> Outcome {
    let child = spawn(weir(plugins).arg("run").arg(manifest));
    let done = eventually(limit, || {
        nats::try_json_ids(table).is_some_and(|ids| ids["distinct"].as_u64() >= Some(n))
    });
    signal(&child, libc::SIGTERM);
    let out = wait_exit(child);
    assert!(
        done,
        "the table never reached {n} distinct ids: {}\n{}",
        nats::json_ids(table),
        out.stderr
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

/// Waits until `f` holds, polling, for at most `limit`; panics naming `what` otherwise.
pub fn wait_for(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    assert!(
        eventually(limit, f),
        "timed out after {limit:?} waiting for {what}"
    );
}

/// Whether `f` comes to hold within `limit` (polled every 50 ms; `f` may take longer).
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !f() {
        if start.elapsed() >= limit {
            return false;
        }
        // Not synchronisation: the poll interval of the wait for a condition.
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Commits in a Delta table's log.
pub fn delta_commits(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

/// Runs `delta_read.py ARGS`, failing the test if it fails twice (a first failure is printed
/// and retried: the reader has been seen failing once under heavy load).
pub(crate) fn reader(args: &[&std::ffi::OsStr]) -> Output {
    let run = || {
        Command::new(python())
            .arg(root().join("tests/harness/delta_read.py"))
            .args(args)
            .output()
            .expect("run the Python reader")
    };
    let out = run();
    if out.status.success() {
        return out;
    }
    let first = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("delta_read.py {args:?} failed once, retrying: {first}");
    // Not synchronisation: a pause before the one retry of a reader that met a commit mid-read.
    std::thread::sleep(Duration::from_millis(500));
    let out = run();
    assert!(
        out.status.success(),
        "delta_read.py failed twice: {first}\n---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The Python reader's summary of a table: rows, distinct_ids, id_min, id_max, columns, txn.
pub fn delta_summary(table: &Path) -> serde_json::Value {
    let out = reader(&["summary".as_ref(), table.as_os_str()]);
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

/// Every row, sorted by id, as the Python reader sees it (timestamps as int µs).
pub fn delta_rows(table: &Path, scratch: &Scratch) -> Vec<serde_json::Value> {
    let out = scratch.join("rows.jsonl");
    reader(&["rows".as_ref(), table.as_os_str(), out.as_os_str()]);
    std::fs::read_to_string(&out)
        .expect("rows file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row JSON"))
        .collect()
}

/// Each column's type as pyarrow names it (`map<string, binary>`), read by the Python reader.
pub fn delta_types(table: &Path) -> serde_json::Value {
    let out = reader(&["types".as_ref(), table.as_os_str()]);
    serde_json::from_slice(&out.stdout).expect("types JSON")
}

/// `weir run MANIFEST` with `plugins`, which must exit 0 (its stderr is shown if not).
pub fn run_ok(plugins: &Path, manifest: &Path) -> Outcome {
    let out = output(weir(plugins).arg("run").arg(manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out
}

/// Checks a dead-letter table: exactly one row per reason in `reasons` (each a part of its
/// `_error`, in any order), every `_position` starting with `position_prefix`.
pub fn assert_dead_letters(
    table: &Path,
    scratch: &Scratch,
    reasons: &[&str],
    position_prefix: &str,
) {
    let rows = delta_rows(table, scratch);
    let errors: Vec<&str> = rows.iter().filter_map(|r| r["_error"].as_str()).collect();
    assert_eq!(errors.len(), reasons.len(), "{errors:?}");
    for want in reasons {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{want}: {errors:?}"
        );
    }
    for r in &rows {
        assert!(
            r["_position"]
                .as_str()
                .is_some_and(|p| p.starts_with(position_prefix)),
            "{r}"
        );
    }
}

/// Our own reader of stored positions: the Delta plugin, loaded in this process, asked for
/// the positions it stored for `pipeline`.
pub fn stored_positions(table: &Path, pipeline: &str, keys: &[&str]) -> Vec<weir_sdk::Position> {
    use weir_sdk::abi::host::LoadedPlugin;
    let plugin = LoadedPlugin::load(&library("weir_plugin_delta")).expect("load the delta plugin");
    let cfg = weir_sdk::SinkConfig {
        address: table.display().to_string(),
        options: Default::default(),
    };
    let mut sink = plugin.new_sink("file", pipeline, &cfg).expect("delta sink");
    sink.open().expect("open the table");
    let keys: Vec<weir_sdk::PositionKey> = keys
        .iter()
        .map(|k| weir_sdk::PositionKey::new(*k))
        .collect();
    let positions = sink.stored_positions(&keys).expect("stored positions");
    sink.close().expect("close");
    positions
}

/// The Python reader's `inspect` of a table (a local path or an `s3://` URL with `storage`
/// options): rows, version, columns, partition_columns, files, txn (the versions stored for
/// `app_ids`, read through deltalake so checkpoints count), and id statistics.
pub fn delta_inspect(
    table: &str,
    storage: &serde_json::Value,
    app_ids: &[&str],
) -> serde_json::Value {
    let opts = storage.to_string();
    let ids = serde_json::to_string(app_ids).expect("app ids JSON");
    let out = reader(&[
        "inspect".as_ref(),
        table.as_ref(),
        opts.as_ref(),
        ids.as_ref(),
    ]);
    serde_json::from_slice(&out.stdout).expect("inspect JSON")
}

/// Appends `text` to a file, creating it if needed.
pub fn append_text(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// `GET path` on 127.0.0.1:port over HTTP/1.0: the status and the body, or `None` while
/// nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

/// Sends one HTTP/1.0 request to 127.0.0.1:port: the answer's status and body.
fn http(port: u16, request: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// `POST path` (empty body) on 127.0.0.1:port over HTTP/1.0, with `Authorization: Bearer
/// <token>` when given: the status and the body, or `None` while nothing answers.
pub fn http_post(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!("POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\n\r\n"),
    )
}
