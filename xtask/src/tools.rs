//! Tools the tests need that no registry ships as a binary: `tansu`, a Kafka-compatible broker
//! written in Rust (crates.io), installed once with `cargo install` into a cached root
//! (`$WEIR_TOOLS_DIR`, default `$HOME/.cache/weir/tools`) and reused by later runs. Apache
//! Kafka itself cannot be installed from the registries these machines reach.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const TANSU_VERSION: &str = "0.6.0";

fn tools_root() -> PathBuf {
    if let Some(d) = std::env::var_os("WEIR_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/weir/tools")
}

/// Where the tansu binary is (or will be once installed).
pub(crate) fn tansu_path() -> PathBuf {
    tools_root()
        .join(format!("tansu-{TANSU_VERSION}"))
        .join("bin/tansu")
}

/// The tansu binary, installed first if missing (15 to 25 minutes on a 2-core machine, once).
/// `--features libsql` gives the `sqlite://` storage engine the tests use; the build's
/// target directory is kept under the tools root so an interrupted install resumes.
pub(crate) fn ensure_tansu() -> Result<PathBuf> {
    let bin = tansu_path();
    if bin.is_file() {
        return Ok(bin);
    }
    let root = bin
        .parent()
        .and_then(|p| p.parent())
        .context("tansu install root")?
        .to_path_buf();
    let build = tools_root().join("tansu-build");
    let log = tools_root().join("tansu-install.log");
    std::fs::create_dir_all(tools_root())?;
    println!(
        "installing tansu {TANSU_VERSION} (a Kafka-compatible broker) into {} once; log: {}",
        root.display(),
        log.display()
    );
    let out = std::fs::File::create(&log)?;
    let status = crate::cargo()
        .args([
            "install",
            "tansu",
            "--version",
            TANSU_VERSION,
            "--locked",
            "--features",
            "libsql",
            "--root",
        ])
        .arg(&root)
        .arg("--target-dir")
        .arg(&build)
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .status()
        .context("cannot start cargo install tansu")?;
    if !status.success() || !bin.is_file() {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(30).collect();
        bail!(
            "cargo install tansu failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&build);
    let works = Command::new(&bin).arg("--help").output();
    if !works.is_ok_and(|o| o.status.success()) {
        bail!("{} was installed but does not run", bin.display());
    }
    Ok(bin)
}

/// The PostgreSQL server binaries of the tests (`/usr/lib/postgresql/<N>/bin`): Debian's
/// `postgresql` package, installed with apt-get when missing and we are root.
pub(crate) fn ensure_postgres() -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((v, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, b)| b)
    };
    if let Some(bin) = find() {
        return Ok(bin);
    }
    println!("PostgreSQL's server binaries are missing: installing Debian's postgresql package");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = Command::new("apt-get").arg("update").status();
        let status = Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("run apt-get")?;
        if !status.success() {
            bail!("apt-get install postgresql failed; install Debian's postgresql package (as root) and run again");
        }
    }
    find().context("postgresql is installed but /usr/lib/postgresql/<N>/bin/initdb is not there")
}
