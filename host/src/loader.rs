//! Plugin discovery and loading: finds the plugin directory, checks each library's weir
//! declaration (is it a weir plugin? for which ABI?) before abi_stable's layout checks, and
//! keeps every loaded library for the life of the process.
//!
//! Every failure is one line naming the file and what to do; any failure stops the host with
//! exit code 3, so nothing runs half-loaded.

use std::path::{Path, PathBuf};
use weir_sdk::abi::host::{ConnectorInfo, LoadedPlugin};
use weir_sdk::abi::{Declaration, DECLARATION_SYMBOL};
use weir_sdk::ConnectorKind;

/// Why plugins could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// No directory to look in.
    #[error("no plugin directory: none given with --plugin-dir, {beside} does not exist and WEIR_PLUGIN_DIR is not set; pass --plugin-dir DIR (`cargo xtask build` stages the plugins beside the binary)")]
    NoDirectory {
        /// Where the default was looked for.
        beside: String,
    },
    /// The directory could not be read.
    #[error("plugin directory {dir}: {error}")]
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// One library is not a loadable weir plugin.
    #[error("{path}: {reason}")]
    Library {
        /// The library.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Two plugins serve the same scheme.
    #[error("scheme `{scheme}` ({kind}) is served by both {first} and {second}; remove one of them from the plugin directory")]
    Duplicate {
        /// The scheme.
        scheme: String,
        /// Source or sink.
        kind: &'static str,
        /// One library.
        first: String,
        /// The other.
        second: String,
    },
}

/// Every plugin of one directory.
#[derive(Debug)]
pub struct Registry {
    /// Where they came from.
    pub dir: PathBuf,
    /// The plugins, ordered by file name.
    pub plugins: Vec<LoadedPlugin>,
}

/// The plugin directory: `--plugin-dir`, else `plugins/` beside the binary, else
/// `$WEIR_PLUGIN_DIR`.
pub fn plugin_dir(flag: Option<&Path>) -> Result<PathBuf, LoadFailure> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("plugins")));
    if let Some(dir) = &beside {
        if dir.is_dir() {
            return Ok(dir.clone());
        }
    }
    match std::env::var_os("WEIR_PLUGIN_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(LoadFailure::NoDirectory {
            beside: beside
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "plugins/ beside the binary".into()),
        }),
    }
}

impl Registry {
    /// Loads every library (`*.so` on Linux) of `dir`.
    pub fn load(dir: &Path) -> Result<Self, LoadFailure> {
        let entries = std::fs::read_dir(dir).map_err(|error| LoadFailure::Unreadable {
            dir: dir.to_path_buf(),
            error,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(std::env::consts::DLL_SUFFIX))
            })
            .collect();
        paths.sort();
        let mut plugins = Vec::new();
        for path in paths {
            plugins.push(load_one(&path)?);
        }
        let registry = Self {
            dir: dir.to_path_buf(),
            plugins,
        };
        registry.check_duplicates()?;
        Ok(registry)
    }

    fn check_duplicates(&self) -> Result<(), LoadFailure> {
        let mut seen: Vec<(ConnectorKind, &str, &LoadedPlugin)> = Vec::new();
        for p in &self.plugins {
            for c in &p.info.connectors {
                if let Some((_, _, first)) =
                    seen.iter().find(|(k, s, _)| *k == c.kind && *s == c.scheme)
                {
                    return Err(LoadFailure::Duplicate {
                        scheme: c.scheme.clone(),
                        kind: c.kind.as_str(),
                        first: first.path.display().to_string(),
                        second: p.path.display().to_string(),
                    });
                }
                seen.push((c.kind, &c.scheme, p));
            }
        }
        Ok(())
    }

    /// The plugin and connector serving `scheme` as `kind`.
    pub fn find(
        &self,
        kind: ConnectorKind,
        scheme: &str,
    ) -> Option<(&LoadedPlugin, &ConnectorInfo)> {
        self.plugins
            .iter()
            .find_map(|p| p.connector(kind, scheme).map(|c| (p, c)))
    }

    /// The schemes served as `kind`, sorted.
    pub fn schemes(&self, kind: ConnectorKind) -> Vec<String> {
        let mut v: Vec<String> = self
            .plugins
            .iter()
            .flat_map(|p| p.info.connectors.iter())
            .filter(|c| c.kind == kind)
            .map(|c| c.scheme.clone())
            .collect();
        v.sort();
        v
    }
}

/// Loads one library, checking its declaration first (an isolated process loads only its own).
pub fn load_one(path: &Path) -> Result<LoadedPlugin, LoadFailure> {
    let fail = |reason: String| LoadFailure::Library {
        path: path.to_path_buf(),
        reason,
    };
    // SAFETY: loading a library runs its initialisers; the plugin directory is trusted like
    // the binary itself (see the README). The library is never unloaded.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| fail(format!("cannot be loaded as a shared library: {e}")))?;
    let declaration = {
        let symbol = DECLARATION_SYMBOL.as_bytes();
        // SAFETY: the symbol, when present, is the `Declaration` static `export_plugin!`
        // emits; we only read it after checking its magic tag.
        let found = unsafe { lib.get::<*const Declaration>(symbol) };
        match found {
            Err(_) => None,
            Ok(sym) => {
                let ptr: *const Declaration = *sym;
                // SAFETY: see above; a non-null symbol address of a `#[repr(C)]` static.
                (!ptr.is_null()).then(|| unsafe { *ptr })
            }
        }
    };
    // Keep the library mapped for the life of the process, whatever happens next.
    std::mem::forget(lib);
    let declaration = match declaration {
        Some(d) if d.magic == Declaration::MAGIC => d,
        _ => {
            return Err(fail(format!(
                "not a weir plugin (no `{DECLARATION_SYMBOL}` declaration from weir_sdk::export_plugin!); remove it from the plugin directory"
            )))
        }
    };
    if declaration.abi_version != weir_sdk::ABI_VERSION {
        return Err(fail(format!(
            "built for weir plugin ABI {} (weir-sdk {}), but this host serves ABI {} (weir-sdk {}); rebuild the plugin against weir-sdk {}",
            declaration.abi_version,
            declaration.sdk_version(),
            weir_sdk::ABI_VERSION,
            weir_sdk::SDK_VERSION,
            weir_sdk::SDK_VERSION,
        )));
    }
    LoadedPlugin::load(path).map_err(|e| fail(e.reason))
}
