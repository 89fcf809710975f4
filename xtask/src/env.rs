//! Facts about the build environment: the target directory, installed tools, and a Delta
//! table's row count read from its log (what the demo prints).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// `$CARGO_TARGET_DIR`, else what `cargo metadata` says.
pub(crate) fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            crate::root().join(dir)
        });
    }
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(crate::root())
        .output()
        .context("cargo metadata")?;
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    match meta["target_directory"].as_str() {
        Some(d) => Ok(PathBuf::from(d)),
        None => bail!("cargo metadata gave no target_directory"),
    }
}

/// Whether `cargo nextest` is installed.
pub(crate) fn has_nextest() -> bool {
    crate::cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Rows of a Delta table according to its JSON log: `numRecords` of the files added and not
/// removed since. (The tests check the same table with an independent reader.)
pub(crate) fn delta_rows(table: &Path) -> Result<u64> {
    let log = table.join("_delta_log");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&log)
        .with_context(|| format!("read {}", log.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut live: std::collections::HashMap<String, u64> = Default::default();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{}: not JSON", f.display()))?;
            if let Some(add) = action.get("add") {
                let stats: serde_json::Value = add["stats"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                let path = add["path"].as_str().unwrap_or_default().to_string();
                live.insert(path, stats["numRecords"].as_u64().unwrap_or(0));
            } else if let Some(rm) = action.get("remove") {
                live.remove(rm["path"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(live.values().sum())
}
