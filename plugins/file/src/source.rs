//! The file source: complete lines of the matching files, in path order, each file its own
//! substream, as envelope rows that core decodes (`envelope.rs`).
//!
//! Position key = the file's path, next = the byte offset of its next line. With
//! `run_in_loop: false` each file is read up to the size it had at open (files that appear
//! later are left for the next run) and the source then reports its end; with `true` it keeps
//! looking for new lines and new files, waiting `poll_interval` when there are none. A line is
//! read only once its `\n` is written, so a writer appending concurrently is never read
//! half-way. A file that shrinks below its position (truncated or replaced) stops the source
//! with a fatal error rather than reading it again from the start.

use crate::config::FileConfig;
use crate::envelope::{envelope, Record};
use crate::files::{self, ReadError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use weir_sdk::{Context, Error, Poll, Position, PositionKey, Source, SourceConfig};

/// Lines read in one poll (each with its file's key) and the positions they advance.
type Read = (Vec<(String, files::Line)>, Vec<Position>);

/// How far one file has been read.
#[derive(Debug)]
struct Tracked {
    next: u64,
    /// Without `run_in_loop`: the size seen at open; nothing after it is read.
    limit: Option<u64>,
}

/// A `file://` source instance.
pub struct FileSource {
    config: FileConfig,
    files: BTreeMap<PathBuf, Tracked>,
}

impl FileSource {
    /// The constructor the plugin exports: checks the address and options, reads nothing.
    pub fn create(config: SourceConfig, ctx: Context) -> Result<Box<dyn Source>, Error> {
        let config = FileConfig::from_source(&config)?;
        weir_sdk::tracing::debug!(pipeline = ctx.pipeline(), ?config, "file source configured");
        Ok(Box::new(Self {
            config,
            files: BTreeMap::new(),
        }))
    }

    fn key(path: &std::path::Path) -> String {
        path.display().to_string()
    }

    /// Adds files that appeared since the last look (all of them at open).
    fn discover(&mut self) -> Result<Vec<PositionKey>, Error> {
        let found = files::list(&self.config.files)
            .map_err(|e| Error::connection(format!("cannot list {:?}: {e}", self.config.files)))?;
        let mut new = Vec::new();
        for path in found {
            if self.files.contains_key(&path) {
                continue;
            }
            let limit = if self.config.run_in_loop {
                None
            } else {
                let size = std::fs::metadata(&path)
                    .map_err(|e| Error::connection(format!("{}: {e}", path.display())))?
                    .len();
                Some(size)
            };
            new.push(PositionKey::new(Self::key(&path)));
            self.files.insert(path, Tracked { next: 0, limit });
        }
        Ok(new)
    }

    /// Reads up to `max` non-blank lines over the files, in path order.
    fn read(&mut self, max: usize) -> Result<Read, Error> {
        let mut lines = Vec::new();
        let mut positions = Vec::new();
        for (path, tracked) in self.files.iter_mut() {
            if lines.len() >= max {
                break;
            }
            if tracked.limit.is_some_and(|l| tracked.next >= l) {
                continue;
            }
            let key = Self::key(path);
            let size = std::fs::metadata(path)
                .map_err(|e| Error::connection(format!("{key}: {e}")))?
                .len();
            if size < tracked.next {
                return Err(Error::fatal(format!(
                    "{key} is {size} bytes, shorter than its position {}: it was truncated or replaced; move it away or reset the position",
                    tracked.next
                ))
                .at(Position::new(key.as_str(), i64::try_from(tracked.next).unwrap_or(i64::MAX))));
            }
            if size == tracked.next {
                continue;
            }
            let (read, next) = files::read_lines(
                path,
                tracked.next,
                tracked.limit,
                max - lines.len(),
                self.config.max_line_bytes,
            )
            .map_err(|e| match e {
                ReadError::Io(e) => Error::connection(format!("{key}: {e}")),
                ReadError::TooLong(at) => Error::data(format!(
                    "a line longer than max_line_bytes ({})",
                    self.config.max_line_bytes
                ))
                .at(Position::new(
                    key.as_str(),
                    i64::try_from(at).unwrap_or(i64::MAX),
                )),
                ReadError::NotUtf8(at) => Error::data("a line that is not UTF-8").at(
                    Position::new(key.as_str(), i64::try_from(at).unwrap_or(i64::MAX)),
                ),
            })?;
            let asked = max - lines.len();
            if !self.config.run_in_loop && read.len() < asked {
                // Every complete line before the size seen at open is read; what is left
                // there is a line still being written, for a later run.
                tracked.limit = Some(next);
            }
            if next == tracked.next {
                continue;
            }
            tracked.next = next;
            positions.push(Position::new(
                key.as_str(),
                i64::try_from(next).unwrap_or(i64::MAX),
            ));
            lines.extend(
                read.into_iter()
                    .filter(|l| !l.text.trim().is_empty())
                    .map(|l| (key.clone(), l)),
            );
        }
        Ok((lines, positions))
    }

    fn drained(&self) -> bool {
        self.files
            .values()
            .all(|t| t.limit.is_some_and(|l| t.next >= l))
    }
}

impl Source for FileSource {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        self.discover()?;
        Ok(self
            .files
            .keys()
            .map(|p| PositionKey::new(Self::key(p)))
            .collect())
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        for p in positions {
            let next = u64::try_from(p.next)
                .map_err(|_| Error::fatal(format!("cannot seek to {p}: a negative offset")))?;
            match self.files.get_mut(&PathBuf::from(p.key.as_str())) {
                Some(t) => t.next = next,
                // A file the sink knows but that is gone now: nothing left to read from it.
                None => {
                    weir_sdk::tracing::warn!(position = %p, "a stored position names a file that no longer matches")
                }
            }
        }
        Ok(())
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error> {
        if self.config.run_in_loop {
            // A file that appeared is claimed before it is read: the host seeks it to the
            // sink's stored position (if the sink knows it) and the sink guards its key.
            let new = self.discover()?;
            if !new.is_empty() {
                return Ok(Poll {
                    assigned: new,
                    ..Poll::idle()
                });
            }
        }
        let (lines, positions) = self.read(max_records.max(1))?;
        if lines.is_empty() && positions.is_empty() {
            if !self.config.run_in_loop && self.drained() {
                return Ok(Poll::end());
            }
            std::thread::sleep(self.config.poll_interval.min(timeout));
            return Ok(Poll::idle());
        }
        let records: Vec<Record<'_>> = lines
            .iter()
            .map(|(file, line)| Record {
                file: file.as_str(),
                line,
            })
            .collect();
        let mut poll = if records.is_empty() {
            // Only blank lines: advance the positions, nothing to write.
            Poll {
                positions,
                ..Poll::default()
            }
        } else {
            Poll::records(envelope(&records)?, positions)
        };
        poll.end = !self.config.run_in_loop && self.drained();
        Ok(poll)
    }
}
