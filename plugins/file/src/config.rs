//! The file source's options: which files (the address), and how often to look for more
//! (`spec.source.options`). Checked in the constructor, every problem at once; nothing here
//! touches the file system beyond telling a directory from a pattern.

use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_sdk::options::{self, Side};
use weir_sdk::schemars::JsonSchema;
use weir_sdk::serde::Deserialize;
use weir_sdk::{Error, SourceConfig};

/// `spec.source.options` of a `file://` source.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(crate = "weir_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "weir_sdk::schemars")]
pub struct FileOptions {
    /// With `run_in_loop: true`, how long an idle poll waits before looking at the files
    /// again, in milliseconds. Default 200. Example: `1000`.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The longest line read, in bytes; a longer one is a data error naming its position.
    /// Default 16 MiB.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
}

fn default_poll_interval_ms() -> u64 {
    200
}

fn default_max_line_bytes() -> u64 {
    16 * 1024 * 1024
}

/// Which files the source reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Files {
    /// One file.
    One(PathBuf),
    /// The regular files of a directory whose names match a pattern (`*` any run of
    /// characters, `?` one character); `*` when the address names the directory itself.
    Matching {
        /// The directory (not searched recursively).
        dir: PathBuf,
        /// The file-name pattern.
        pattern: String,
    },
}

/// The checked configuration of a file source.
#[derive(Clone, Debug, PartialEq)]
pub struct FileConfig {
    /// Which files.
    pub files: Files,
    /// Read to the sizes seen at open (`false`) or keep tailing (`true`).
    pub run_in_loop: bool,
    /// How long an idle poll waits.
    pub poll_interval: Duration,
    /// The longest line.
    pub max_line_bytes: u64,
}

/// The options' JSON schema, derived from [`FileOptions`]; shown by `weir plugins --json`.
pub fn schema() -> weir_sdk::serde_json::Value {
    options::schema::<FileOptions>()
}

impl FileConfig {
    /// Reads and checks the address and options; the error lists every problem.
    pub fn from_source(cfg: &SourceConfig) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let options: Option<FileOptions> = match options::read(Side::Source, None, &cfg.options) {
            Ok(o) => Some(o),
            Err(e) => {
                problems.push(e.message);
                None
            }
        };
        let files = match files_of(&cfg.address) {
            Ok(f) => Some(f),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        if let Some(o) = &options {
            if o.poll_interval_ms == 0 {
                problems.push("spec.source.options.poll_interval_ms: must be at least 1".into());
            }
            if o.max_line_bytes == 0 {
                problems.push("spec.source.options.max_line_bytes: must be at least 1".into());
            }
        }
        match (files, options) {
            (Some(files), Some(o)) if problems.is_empty() => Ok(Self {
                files,
                run_in_loop: cfg.run_in_loop,
                poll_interval: Duration::from_millis(o.poll_interval_ms),
                max_line_bytes: o.max_line_bytes,
            }),
            _ => Err(Error::config(problems.join("; "))),
        }
    }
}

/// `file:///a/b/*.jsonl` -> a directory and a pattern; `file:///a/b` -> one file or every
/// file of a directory (decided by what is there).
fn files_of(address: &str) -> Result<Files, String> {
    let path = address.strip_prefix("file://").ok_or_else(|| {
        format!("spec.source.address `{address}`: expected file:///absolute/path")
    })?;
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if !path.starts_with('/') {
        return Err(format!(
            "spec.source.address `{address}`: the path must be absolute (file:///data/in/*.jsonl)"
        ));
    }
    let path = Path::new(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent_has_pattern = path
        .parent()
        .is_some_and(|p| p.to_string_lossy().contains(['*', '?']));
    if parent_has_pattern {
        return Err(format!(
            "spec.source.address `{address}`: `*` and `?` may appear only in the file name"
        ));
    }
    if name.contains(['*', '?']) {
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        return Ok(Files::Matching { dir, pattern: name });
    }
    if path.is_dir() {
        return Ok(Files::Matching {
            dir: path.to_path_buf(),
            pattern: "*".into(),
        });
    }
    Ok(Files::One(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::serde_json::json;

    fn cfg(address: &str, options: weir_sdk::serde_json::Value) -> SourceConfig {
        SourceConfig {
            address: address.into(),
            options: options.as_object().cloned().unwrap_or_default(),
            ..SourceConfig::default()
        }
    }

    #[test]
    fn a_pattern_in_the_file_name() {
        let c = FileConfig::from_source(&cfg("file:///data/in/*.jsonl", json!({}))).unwrap();
        assert_eq!(
            c.files,
            Files::Matching {
                dir: "/data/in".into(),
                pattern: "*.jsonl".into()
            }
        );
        assert_eq!(c.poll_interval, Duration::from_millis(200));
    }

    #[test]
    fn a_directory_means_every_file_in_it() {
        let dir = std::env::temp_dir();
        let c =
            FileConfig::from_source(&cfg(&format!("file://{}", dir.display()), json!({}))).unwrap();
        assert_eq!(
            c.files,
            Files::Matching {
                dir,
                pattern: "*".into()
            }
        );
    }

    #[test]
    fn every_problem_at_once() {
        let e = FileConfig::from_source(&cfg(
            "file://relative/*.jsonl",
            json!({"poll_interval_ms": 0, "colour": 1}),
        ))
        .unwrap_err();
        assert!(e.message.contains("must be absolute"), "{e}");
        assert!(e.message.contains("colour"), "{e}");
        let e =
            FileConfig::from_source(&cfg("file:///a/*/x.jsonl", json!({"poll_interval_ms": 0})))
                .unwrap_err();
        assert!(e.message.contains("only in the file name"), "{e}");
        assert!(e.message.contains("poll_interval_ms"), "{e}");
    }

    #[test]
    fn the_readme_lists_every_option() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        options::check_readme(readme, &options::table::<FileOptions>()).unwrap();
    }
}
