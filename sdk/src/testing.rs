//! The plugin author's test harness (feature `testing`): load the plugin library your crate
//! builds, and drive its connectors the way the host does, without the `weir` binary.
//!
//! It owns finding the built library from an integration test, running a source to its end
//! while collecting batches and positions, feeding batches to a sink, and making small
//! batches to feed. It does not own the run loop's batching, decoding or retries: those are
//! the host's, and an end-to-end test with `weir run` covers them.
//!
//! Add the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! weir-sdk = { path = "...", features = ["testing"] }
//! ```
//!
//! Then, in `tests/loads.rs` of a plugin crate named `my-plugin` (`crate-type = ["cdylib",
//! "rlib"]`, so `cargo test` builds the library before the test):
//!
//! ```no_run
//! use weir_sdk::testing::{self, PluginUnderTest};
//!
//! let plugin = PluginUnderTest::built("my_plugin").unwrap();
//! // A source: run it to its end, then look at what it returned.
//! let run = plugin.source("mine://?count=3").unwrap().run_to_end().unwrap();
//! assert_eq!(run.rows(), 3);
//! assert_eq!(run.position("mine"), Some(3));
//! // A sink: feed it batches with the positions they advance.
//! let mut sink = plugin.sink("mine://").unwrap();
//! sink.write_and_commit(testing::ids(0..10), &[weir_sdk::Position::new("test", 10)]).unwrap();
//! sink.close().unwrap();
//! ```
//!
//! The host side it uses is [`abi::host::LoadedPlugin`](crate::abi::host::LoadedPlugin): the
//! same loading, version and layout checks as the `weir` binary.

use crate::abi::host::{LoadedPlugin, PluginInfo};
use crate::arrow::array::Int64Array;
use crate::arrow::datatypes::{DataType, Field, Schema};
use crate::arrow::record_batch::RecordBatch;
use crate::{ConnectorKind, Error, Position, PositionKey, Sink, SinkConfig, Source, SourceConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a plugin under test could not be found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// The test executable's path does not look like `<target>/<profile>/deps/<test>`.
    #[error("cannot locate the target directory from the test executable {exe}: {why}")]
    NoTargetDir {
        /// The test executable.
        exe: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The library is not where cargo puts it.
    #[error("{0} does not exist: is the crate a `cdylib` (with `rlib`, so `cargo test` builds it first), and is the name its crate name with underscores?")]
    NotBuilt(PathBuf),
    /// The library was refused.
    #[error(transparent)]
    Load(#[from] crate::abi::host::LoadError),
    /// The plugin has no connector for this scheme and kind.
    #[error("plugin `{plugin}` has no {kind} for scheme `{scheme}`")]
    NoConnector {
        /// The plugin's name.
        plugin: String,
        /// Source or sink.
        kind: &'static str,
        /// The scheme asked for.
        scheme: String,
    },
}

/// The path of the cdylib `lib<crate_name>.so` that cargo built for this test.
///
/// The test executable is `<target>/<profile>/deps/<test>`. `cargo test` builds the
/// library into `deps/` (it copies it up to `<profile>/` only for `cargo build`), so the newer
/// of `deps/lib<crate_name>.so` and `<profile>/lib<crate_name>.so` is the one returned.
///
/// ```no_run
/// let lib = weir_sdk::testing::built_library("my_plugin").unwrap();
/// assert!(lib.ends_with("libmy_plugin.so"));
/// ```
pub fn built_library(crate_name: &str) -> Result<PathBuf, TestingError> {
    let exe = std::env::current_exe().map_err(|e| TestingError::NoTargetDir {
        exe: PathBuf::new(),
        why: e.to_string(),
    })?;
    let deps = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .ok_or_else(|| TestingError::NoTargetDir {
            exe: exe.clone(),
            why: "not inside a `deps` directory".into(),
        })?;
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let candidates = [Some(deps.join(&file)), deps.parent().map(|p| p.join(&file))];
    let newest = candidates
        .iter()
        .flatten()
        .filter_map(|p| {
            let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok()?;
            Some((modified, p.clone()))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p);
    newest.ok_or_else(|| TestingError::NotBuilt(deps.join(file)))
}

/// A plugin library loaded in the test process, as the host loads it.
#[derive(Clone, Debug)]
pub struct PluginUnderTest {
    plugin: LoadedPlugin,
    pipeline: String,
}

impl PluginUnderTest {
    /// Loads the library this crate built (see [`built_library`]).
    pub fn built(crate_name: &str) -> Result<Self, TestingError> {
        Self::load(&built_library(crate_name)?)
    }

    /// Loads a library by path.
    pub fn load(path: &Path) -> Result<Self, TestingError> {
        Ok(Self {
            plugin: LoadedPlugin::load(path)?,
            pipeline: "test".into(),
        })
    }

    /// The same plugin, naming another pipeline in its instances' context (default `test`).
    pub fn with_pipeline(mut self, pipeline: &str) -> Self {
        self.pipeline = pipeline.to_string();
        self
    }

    /// What the plugin says about itself (name, versions, connectors).
    pub fn info(&self) -> &PluginInfo {
        &self.plugin.info
    }

    fn scheme(&self, kind: ConnectorKind, address: &str) -> Result<String, TestingError> {
        let scheme = address
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match self.plugin.connector(kind, &scheme) {
            Some(_) => Ok(scheme),
            None => Err(TestingError::NoConnector {
                plugin: self.plugin.info.name.clone(),
                kind: kind.as_str(),
                scheme,
            }),
        }
    }

    /// A source instance for `address` with default options (`run_in_loop: false`, batch
    /// size 1000), not yet opened.
    pub fn source(&self, address: &str) -> Result<SourceUnderTest, Error> {
        self.source_with(SourceConfig {
            address: address.into(),
            batch_size: 1000,
            batch_timeout: Duration::from_secs(1),
            ..SourceConfig::default()
        })
    }

    /// A source instance for a full configuration, not yet opened.
    pub fn source_with(&self, config: SourceConfig) -> Result<SourceUnderTest, Error> {
        let scheme = self
            .scheme(ConnectorKind::Source, &config.address)
            .map_err(|e| Error::config(e.to_string()))?;
        let batch_size = config.batch_size.max(1);
        let inner = self.plugin.new_source(&scheme, &self.pipeline, &config)?;
        Ok(SourceUnderTest {
            inner,
            batch_size,
            max_polls: 100_000,
            deadline: Duration::from_secs(60),
        })
    }

    /// A sink instance for `address` with no options, opened.
    pub fn sink(&self, address: &str) -> Result<SinkUnderTest, Error> {
        self.sink_with(SinkConfig {
            address: address.into(),
            ..SinkConfig::default()
        })
    }

    /// A sink instance for a full configuration, opened.
    pub fn sink_with(&self, config: SinkConfig) -> Result<SinkUnderTest, Error> {
        let scheme = self
            .scheme(ConnectorKind::Sink, &config.address)
            .map_err(|e| Error::config(e.to_string()))?;
        let mut inner = self.plugin.new_sink(&scheme, &self.pipeline, &config)?;
        inner.open()?;
        Ok(SinkUnderTest { inner })
    }
}

/// What a source returned over a run.
#[derive(Debug, Default)]
pub struct Collected {
    /// Every non-empty batch, in order.
    pub batches: Vec<RecordBatch>,
    /// The last position reported for each key.
    pub positions: BTreeMap<String, i64>,
    /// The position keys `open` returned.
    pub keys: Vec<PositionKey>,
    /// Polls made, including idle ones and the last.
    pub polls: usize,
}

impl Collected {
    /// Rows over all batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The last position of `key`, if the source reported one.
    pub fn position(&self, key: &str) -> Option<i64> {
        self.positions.get(key).copied()
    }

    /// The positions as [`Position`]s, for [`SourceUnderTest::seek`] of a later run.
    pub fn to_positions(&self) -> Vec<Position> {
        self.positions
            .iter()
            .map(|(k, n)| Position::new(k.as_str(), *n))
            .collect()
    }
}

/// A loaded source instance.
pub struct SourceUnderTest {
    inner: Box<dyn Source>,
    batch_size: usize,
    max_polls: usize,
    deadline: Duration,
}

impl std::fmt::Debug for SourceUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceUnderTest")
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SourceUnderTest {
    /// Gives up a run after this many polls without the end (default 100 000).
    pub fn max_polls(mut self, n: usize) -> Self {
        self.max_polls = n;
        self
    }

    /// Gives up a run after this long without the end (default 60 s).
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.deadline = limit;
        self
    }

    /// Opens, then seeks to `positions` (as the host does with a sink's stored positions),
    /// runs to the end, closes.
    pub fn resume_to_end(mut self, positions: &[Position]) -> Result<Collected, Error> {
        let keys = self.inner.open()?;
        if !positions.is_empty() {
            self.inner.seek(positions)?;
        }
        let mut run = Collected {
            keys,
            ..Collected::default()
        };
        self.drain(&mut run, |_| false)?;
        self.inner.close()?;
        Ok(run)
    }

    /// Opens, polls until the source reports its end (committing each poll's positions back
    /// to it, as the host does after a sink commit), closes.
    pub fn run_to_end(self) -> Result<Collected, Error> {
        self.resume_to_end(&[])
    }

    /// Opens and polls until `done` holds for what was collected (for sources that run in a
    /// loop and never end); closes. Fails after the poll limit.
    pub fn run_until(mut self, done: impl Fn(&Collected) -> bool) -> Result<Collected, Error> {
        let keys = self.inner.open()?;
        let mut run = Collected {
            keys,
            ..Collected::default()
        };
        self.drain(&mut run, done)?;
        self.inner.close()?;
        Ok(run)
    }

    fn drain(
        &mut self,
        run: &mut Collected,
        done: impl Fn(&Collected) -> bool,
    ) -> Result<(), Error> {
        loop {
            if run.polls >= self.max_polls {
                return Err(Error::fatal(format!(
                    "the source neither ended nor met the condition in {} polls",
                    run.polls
                )));
            }
            let poll = self
                .inner
                .poll(self.batch_size, Duration::from_millis(100))?;
            run.polls += 1;
            if let Some(batch) = poll.batch.filter(|b| b.num_rows() > 0) {
                run.batches.push(batch);
            }
            if !poll.positions.is_empty() {
                self.inner.commit(&poll.positions)?;
            }
            for p in poll.positions {
                run.positions.insert(p.key.as_str().to_string(), p.next);
            }
            if poll.end || done(run) {
                return Ok(());
            }
        }
    }
}

/// A loaded, opened sink instance.
pub struct SinkUnderTest {
    inner: Box<dyn Sink>,
}

impl std::fmt::Debug for SinkUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkUnderTest").finish_non_exhaustive()
    }
}

impl SinkUnderTest {
    /// Writes one batch and commits it with the positions it advances.
    pub fn write_and_commit(
        &mut self,
        batch: RecordBatch,
        positions: &[Position],
    ) -> Result<(), Error> {
        self.inner.write(batch)?;
        self.inner.commit(positions)
    }

    /// The positions the sink stored for these keys (exactly-once sinks).
    pub fn stored_positions(&mut self, keys: &[&str]) -> Result<Vec<Position>, Error> {
        let keys: Vec<PositionKey> = keys.iter().map(|k| PositionKey::new(*k)).collect();
        self.inner.stored_positions(&keys)
    }

    /// Flushes and releases the sink.
    pub fn close(mut self) -> Result<(), Error> {
        self.inner.close()
    }
}

/// A batch of one non-null int64 column `id` holding `ids`: something to feed a sink.
///
/// ```
/// let batch = weir_sdk::testing::ids(5..8);
/// assert_eq!(batch.num_rows(), 3);
/// assert_eq!(batch.schema().field(0).name(), "id");
/// ```
pub fn ids(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let column = Arc::new(Int64Array::from_iter_values(ids));
    RecordBatch::try_new(schema, vec![column])
        .expect("one non-null int64 column matches its schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_the_path_it_looked_for() {
        let err = built_library("surely_not_built_here").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("libsurely_not_built_here.so"), "{text}");
        assert!(text.contains("cdylib"), "{text}");
    }

    #[test]
    fn ids_makes_the_range() {
        let b = ids(3..6);
        let col = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.values().to_vec());
        assert_eq!(col, Some(vec![3, 4, 5]));
    }
}
