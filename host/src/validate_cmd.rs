//! `weir validate MANIFEST|DIR...`: every manifest checked as `run` checks it (the manifest
//! itself, then whether installed plugins serve its addresses and accept its options), every
//! problem of every file reported at once, each line naming its file; pipeline names must
//! differ as they must in one `run`.

use crate::failure::Failure;
use crate::loader::Registry;
use crate::pipeline;
use std::collections::HashMap;
use std::path::PathBuf;
use weir_core::manifest::Isolation;

/// Validates `paths`; prints one `valid:` line per good manifest.
pub(crate) fn run(paths: &[PathBuf], registry: &Registry) -> Result<(), Failure> {
    let mut lines = Vec::new();
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    for path in paths {
        let pipeline = match crate::manifests::load(path) {
            Ok(p) => p,
            Err(e) => {
                lines.extend(e.into_lines());
                continue;
            }
        };
        if let Some(first) = names.insert(pipeline.name.clone(), path.clone()) {
            lines.push(format!(
                "{}: name: `{}` is also the name of {}; pipeline names must differ",
                path.display(),
                pipeline.name,
                first.display()
            ));
            continue;
        }
        match pipeline::instantiate_with(&pipeline, registry, Isolation::InProcess) {
            Ok(instances) => {
                drop(instances);
                println!(
                    "{}: valid: pipeline `{}`, {}:// -> {}://, batch_size {}, batch_timeout {:?}, run_in_loop {}",
                    path.display(),
                    pipeline.name,
                    pipeline.source.scheme,
                    pipeline.sink.scheme,
                    pipeline.limits.max_records,
                    pipeline.limits.timeout,
                    pipeline.run_in_loop
                );
            }
            Err(e) => lines.extend(
                e.into_lines()
                    .into_iter()
                    .map(|l| format!("{}: {l}", path.display())),
            ),
        }
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Failure::Manifest(lines))
    }
}
