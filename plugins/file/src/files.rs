//! Finding the files a source reads (a directory listing filtered by a file-name pattern) and
//! reading complete lines from a byte offset. No decoding here: the rows go to core as an envelope (`envelope.rs`).

use crate::config::Files;
use std::io::{BufRead, BufReader, Read as _, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The files matching `files` now, sorted by path. A missing directory is an empty list (the
/// files may come later when tailing); other I/O errors are returned.
pub fn list(files: &Files) -> std::io::Result<Vec<PathBuf>> {
    match files {
        Files::One(path) => Ok(if path.is_file() {
            vec![path.clone()]
        } else {
            Vec::new()
        }),
        Files::Matching { dir, pattern } => {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for entry in entries {
                let path = entry?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !name.starts_with('.') && path.is_file() && matches(pattern, &name) {
                    out.push(path);
                }
            }
            out.sort();
            Ok(out)
        }
    }
}

/// Whether `name` matches `pattern` (`*` any run of characters, `?` one character).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One complete line read from a file.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Its text without the line end (`\n` or `\r\n`).
    pub text: String,
}

/// Why lines could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// A line longer than the limit starts at this offset.
    TooLong(u64),
    /// A line that is not UTF-8 starts at this offset.
    NotUtf8(u64),
}

/// Complete lines of `path` from `from`, ending at or before `limit` (`None`: the file's end
/// now), at most `max` lines. A last line without its `\n` is left for a later read: it may
/// still be being written. Returns the lines and the offset after the last one.
pub fn read_lines(
    path: &Path,
    from: u64,
    limit: Option<u64>,
    max: usize,
    max_line_bytes: u64,
) -> Result<(Vec<Line>, u64), ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(from)).map_err(ReadError::Io)?;
    let mut lines = Vec::new();
    let mut next = from;
    let mut buf = Vec::new();
    while lines.len() < max {
        buf.clear();
        let budget = max_line_bytes.saturating_add(2);
        let n = (&mut reader)
            .take(budget)
            .read_until(b'\n', &mut buf)
            .map_err(ReadError::Io)?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            if n as u64 >= budget {
                return Err(ReadError::TooLong(next));
            }
            break; // incomplete: the writer has not finished this line
        }
        let end = next + n as u64;
        if limit.is_some_and(|l| end > l) {
            break;
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.len() as u64 > max_line_bytes {
            return Err(ReadError::TooLong(next));
        }
        let text =
            String::from_utf8(std::mem::take(&mut buf)).map_err(|_| ReadError::NotUtf8(next))?;
        lines.push(Line { offset: next, text });
        next = end;
    }
    Ok((lines, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*.jsonl", "a.jsonl"));
        assert!(matches("*", "anything"));
        assert!(matches("day-??.jsonl", "day-01.jsonl"));
        assert!(!matches("*.jsonl", "a.json"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn complete_lines_only_and_the_limit() {
        let dir = tempdir();
        let path = dir.join("in.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\r\n{\"a\":2}\r\n{\"a\":").unwrap();
        let (lines, next) = read_lines(&path, 0, None, 100, 1024).unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["{\"a\":1}", "", "{\"a\":2}"]);
        assert_eq!(lines[2].offset, 10);
        assert_eq!(next, 19);
        // A limit inside the second line stops before it.
        let (lines, next) = read_lines(&path, 0, Some(9), 100, 1024).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(next, 8);
        // At most `max` lines, resuming at the returned offset.
        let (lines, next) = read_lines(&path, 0, None, 1, 1024).unwrap();
        assert_eq!((lines.len(), next), (1, 8));
        let (lines, _) = read_lines(&path, next, None, 100, 1024).unwrap();
        assert_eq!(lines.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_over_the_limit_names_its_offset() {
        let dir = tempdir();
        let path = dir.join("in.jsonl");
        std::fs::write(&path, "ok\n0123456789\n").unwrap();
        assert!(matches!(
            read_lines(&path, 0, None, 100, 5),
            Err(ReadError::TooLong(3))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn listing_filters_and_sorts() {
        let dir = tempdir();
        for f in ["b.jsonl", "a.jsonl", ".hidden.jsonl", "c.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let found = list(&Files::Matching {
            dir: dir.clone(),
            pattern: "*.jsonl".into(),
        })
        .unwrap();
        assert_eq!(found, [dir.join("a.jsonl"), dir.join("b.jsonl")]);
        let missing = list(&Files::Matching {
            dir: dir.join("nope"),
            pattern: "*".into(),
        })
        .unwrap();
        assert!(missing.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "weir-file-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
