//! Step one of a run (and of `validate`): the manifests named on the command line, read and
//! checked by core, each problem a line naming its file.

use crate::failure::Failure;
use std::path::{Path, PathBuf};
use weir_core::depots::{depot_name, Depots};
use weir_core::manifest::{self, Endpoint, Pipeline};

static CURRENT_PIPELINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static DEPOTS: std::sync::OnceLock<(String, Result<Depots, String>)> = std::sync::OnceLock::new();

/// Reads the depots file of `--depots` / `WEIR_DEPOTS` (once per process). A file that cannot
/// be used is reported when a manifest names a depot, with the file's problem.
pub fn use_depots(path: &Path) {
    let loaded = Depots::load(path, &|name| std::env::var(name).ok()).map_err(|e| e.to_string());
    let _ = DEPOTS.set((path.display().to_string(), loaded));
}

/// A `dataos://NAME?...` address of `endpoint` replaced by the depot's own address.
fn resolve(endpoint: &mut Endpoint, at: &str) -> Result<(), String> {
    let Some(name) = depot_name(&endpoint.address) else {
        return Ok(());
    };
    let address = match DEPOTS.get() {
        None => Err(format!(
            "`{}` names the depot `{name}`: give the depots file that says where it is with --depots FILE (or WEIR_DEPOTS)",
            endpoint.address
        )),
        Some((_, Err(e))) => Err(e.clone()),
        Some((_, Ok(d))) => d.address(name),
    }
    .map_err(|e| format!("{at}: {e}"))?;
    endpoint.scheme = manifest::scheme_of(&address);
    endpoint.address = address;
    Ok(())
}

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

/// One manifest, read and checked, its depot addresses resolved.
pub fn load(path: &Path) -> Result<Pipeline, Failure> {
    let mut p = manifest::load(path)
        .map_err(|e| Failure::Manifest(e.to_string().lines().map(str::to_string).collect()))?;
    let problems: Vec<String> = [
        resolve(&mut p.source, "spec.source.address"),
        resolve(&mut p.sink, "spec.sink.address"),
    ]
    .into_iter()
    .filter_map(Result::err)
    .map(|e| format!("{}: {e}", path.display()))
    .collect();
    if !problems.is_empty() {
        return Err(Failure::Manifest(problems));
    }
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
