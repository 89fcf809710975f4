//! Tools the tests need that no registry ships as a binary: `tansu`, a Kafka-compatible broker,
//! and `rustberg`, an Iceberg REST catalog, both written in Rust (crates.io), installed once
//! with `cargo install` into a cached root (`$WEIR_TOOLS_DIR`, default
//! `$HOME/.cache/weir/tools`) and reused by later runs; and Debian's PostgreSQL. Apache Kafka
//! and the JVM catalogs cannot be installed from the registries these machines reach.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A server the tests run that crates.io ships as source only: installed with `cargo install
/// --locked` into its own root under the tools directory, once.
struct Installed {
    /// The crate (and binary) name.
    name: &'static str,
    version: &'static str,
    /// Cargo features (default features are off when this is not empty).
    features: &'static str,
    /// A package in this repository to install instead of the crates.io release, and the
    /// suffix its install root gets (so a cached release is not taken for it).
    local: Option<(&'static str, &'static str)>,
    /// What it is, for the progress line.
    what: &'static str,
}

/// tansu, the Kafka-protocol broker, as `xtask/tansu` rebuilds its 0.6.0 release with rsasl's
/// PLAIN mechanism (the release offers SCRAM only); `libsql` gives the `sqlite://` storage
/// engine the tests use. 15 to 25 minutes on a 2-core machine, once.
const TANSU: Installed = Installed {
    name: "tansu",
    version: "0.6.0",
    features: "",
    local: Some(("xtask/tansu", "-plain")),
    what: "a Kafka-compatible broker",
};

/// rustberg, an Iceberg REST catalog (Cedar authorization, a redb catalog file, TLS through
/// rustls); `tls` and `storage-s3` serve HTTPS and an `s3://` warehouse. About 10 minutes on a
/// 2-core machine, once.
const RUSTBERG: Installed = Installed {
    name: "rustberg",
    version: "0.3.0",
    features: "cli,tls,storage-s3",
    local: None,
    what: "an Iceberg REST catalog",
};

fn tools_root() -> PathBuf {
    if let Some(d) = std::env::var_os("WEIR_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/weir/tools")
}

impl Installed {
    /// Where the binary is (or will be once installed).
    fn path(&self) -> PathBuf {
        let suffix = self.local.map_or("", |(_, suffix)| suffix);
        tools_root()
            .join(format!("{}-{}{suffix}", self.name, self.version))
            .join("bin")
            .join(self.name)
    }

    /// The binary, installed first if missing. The build's target directory is kept under
    /// the tools root, so an interrupted install resumes.
    fn ensure(&self) -> Result<PathBuf> {
        let (name, version) = (self.name, self.version);
        let bin = self.path();
        if bin.is_file() {
            return Ok(bin);
        }
        let root = bin
            .parent()
            .and_then(|p| p.parent())
            .context("install root")?
            .to_path_buf();
        let build = tools_root().join(format!("{name}-build"));
        let log = tools_root().join(format!("{name}-install.log"));
        std::fs::create_dir_all(tools_root())?;
        println!(
            "installing {name} {version} ({}) into {} once; log: {}",
            self.what,
            root.display(),
            log.display()
        );
        let out = std::fs::File::create(&log)?;
        let mut cmd = crate::cargo();
        cmd.arg("install");
        match self.local {
            Some((dir, _)) => cmd.arg("--path").arg(crate::root().join(dir)),
            None => cmd.args([name, "--version", version]),
        };
        cmd.arg("--locked");
        if !self.features.is_empty() {
            cmd.args(["--no-default-features", "--features", self.features]);
        }
        let status = cmd
            .arg("--root")
            .arg(&root)
            .arg("--target-dir")
            .arg(&build)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .status()
            .with_context(|| format!("cannot start cargo install {name}"))?;
        if !status.success() || !bin.is_file() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(30).collect();
            bail!(
                "cargo install {name} failed ({status}); last lines of {}:\n{}",
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
}

/// The tansu binary, installed first if missing.
pub(crate) fn ensure_tansu() -> Result<PathBuf> {
    TANSU.ensure()
}

/// The servers the tests install from crates.io, one after the other (each build has both
/// cores while the workspace build waits on its own locks): tansu, then rustberg.
pub(crate) fn ensure_servers() -> Result<(PathBuf, PathBuf)> {
    Ok((TANSU.ensure()?, RUSTBERG.ensure()?))
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
    apt_install("postgresql")?;
    find().context("postgresql is installed but /usr/lib/postgresql/<N>/bin/initdb is not there")
}

/// Installs a Debian package with apt-get (updating the lists once if the first try fails).
fn apt_install(package: &str) -> Result<()> {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if install().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let _ = Command::new("apt-get").arg("update").status();
    let status = install().context("run apt-get")?;
    if !status.success() {
        bail!("apt-get install {package} failed; install Debian's {package} package (as root) and run again");
    }
    Ok(())
}

/// The browser and terminal multiplexer of the status page's and `weir top`'s tests:
/// Debian's `chromium` and `tmux`, installed when missing. Their paths.
pub(crate) fn ensure_browser_and_tmux() -> Result<(PathBuf, PathBuf)> {
    let mut found = Vec::new();
    for (package, binary) in [("chromium", "/usr/bin/chromium"), ("tmux", "/usr/bin/tmux")] {
        let path = PathBuf::from(binary);
        if !path.is_file() {
            println!("{binary} is missing: installing Debian's {package} package");
            apt_install(package)?;
        }
        if !path.is_file() {
            bail!("{package} is installed but {binary} is not there");
        }
        found.push(path);
    }
    let tmux = found.pop().context("tmux")?;
    let chromium = found.pop().context("chromium")?;
    Ok((chromium, tmux))
}
