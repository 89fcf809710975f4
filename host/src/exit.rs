//! The host's exit codes and the one-line errors that go with them.
//!
//! 0 done; 1 runtime failure after retries; 2 bad manifest or usage; 3 plugin load failure.
//! [`RESEEK`] never leaves the process: the supervisor restarts the pipeline.

/// A run that ended because a transactional sink found its stored positions moved by another
/// writer (`weir_sdk::Error::positions_moved`): the pipeline is restarted, which seeks the
/// source to the sink's positions.
pub const RESEEK: i32 = 75;

/// A reason to exit with a non-zero code, and the lines to print first.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: i32,
    /// One line per problem.
    pub lines: Vec<String>,
}

impl Exit {
    /// A bad manifest or usage (exit code 2).
    pub fn manifest(line: String) -> Self {
        Self {
            code: 2,
            lines: vec![line],
        }
    }

    /// A plugin that cannot be loaded (exit code 3).
    pub fn load(line: String) -> Self {
        Self {
            code: 3,
            lines: vec![line],
        }
    }

    /// A runtime failure (exit code 1).
    pub fn runtime(line: String) -> Self {
        Self {
            code: 1,
            lines: vec![line],
        }
    }
}
