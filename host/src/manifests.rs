//! Step one of a run (and of `validate`): the manifests named on the command line, read and
//! checked by core, each problem a line naming its file.

use crate::failure::Failure;
use std::path::{Path, PathBuf};
use weir_core::manifest::{self, Pipeline};

static CURRENT_PIPELINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The first pipeline this process read ("" before any), for log lines outside a pipeline.
pub fn current_pipeline() -> String {
    CURRENT_PIPELINE.get().cloned().unwrap_or_default()
}

/// The manifests of the arguments: files as they are, directories as their `*.yaml`/`*.yml`.
pub fn paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(a)
                .map_err(|e| Failure::manifest(format!("{}: {e}", a.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(Failure::manifest(format!(
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

/// One manifest, read and checked.
pub fn load(path: &Path) -> Result<Pipeline, Failure> {
    let p = manifest::load(path)
        .map_err(|e| Failure::Manifest(e.to_string().lines().map(str::to_string).collect()))?;
    let _ = CURRENT_PIPELINE.set(p.name.clone());
    Ok(p)
}

/// Every manifest of a `run`: all problems of all files at once, and names that differ.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Pipeline)>, Failure> {
    let mut pipelines = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match load(path) {
            Ok(p) => pipelines.push((path.clone(), p)),
            Err(e) => problems.extend(e.into_lines()),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Manifest(problems));
    }
    let mut names = std::collections::HashSet::new();
    for (path, p) in &pipelines {
        if !names.insert(p.name.clone()) {
            return Err(Failure::manifest(format!(
                "{}: name: `{}` is used by another manifest; pipeline names must differ",
                path.display(),
                p.name
            )));
        }
    }
    Ok(pipelines)
}
