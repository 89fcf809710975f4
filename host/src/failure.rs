//! The host's one error type: why a command failed, and the lines to print about it.
//!
//! Nothing here knows exit codes: `main` alone turns a [`Failure`] into one, and the supervisor
//! decides restarts by matching the variant.

/// Why a command failed, with one line per problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A bad manifest, option or command line: it does not get better by retrying.
    Manifest(Vec<String>),
    /// A plugin that cannot be loaded.
    Load(Vec<String>),
    /// A runtime failure after the retries.
    Runtime(Vec<String>),
    /// A transactional sink found its stored positions moved by another writer
    /// (`weir_sdk::ErrorKind::PositionsMoved`) and dropped the batch: the supervisor restarts
    /// the pipeline, which seeks the source to the sink's positions.
    PositionsMoved(Vec<String>),
}

impl Failure {
    /// A bad manifest or usage.
    pub fn manifest(line: String) -> Self {
        Self::Manifest(vec![line])
    }

    /// A plugin that cannot be loaded.
    pub fn load(line: String) -> Self {
        Self::Load(vec![line])
    }

    /// A runtime failure.
    pub fn runtime(line: String) -> Self {
        Self::Runtime(vec![line])
    }

    /// The lines to print.
    pub fn lines(&self) -> &[String] {
        match self {
            Self::Manifest(l) | Self::Load(l) | Self::Runtime(l) | Self::PositionsMoved(l) => l,
        }
    }

    /// The lines to print, taken.
    pub fn into_lines(self) -> Vec<String> {
        match self {
            Self::Manifest(l) | Self::Load(l) | Self::Runtime(l) | Self::PositionsMoved(l) => l,
        }
    }

    /// Both failures as one, for commands that report every problem at once: the lines of
    /// both, and a runtime failure wins over a bad manifest (retrying may help it).
    pub fn and(self, other: Failure) -> Failure {
        let runtime = matches!(self, Self::Runtime(_)) || matches!(other, Self::Runtime(_));
        let make: fn(Vec<String>) -> Failure = match &self {
            _ if runtime => Self::Runtime,
            Self::Manifest(_) => Self::Manifest,
            Self::Load(_) => Self::Load,
            Self::Runtime(_) => Self::Runtime,
            Self::PositionsMoved(_) => Self::PositionsMoved,
        };
        let mut lines = self.into_lines();
        lines.extend(other.into_lines());
        make(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn problems_reported_together_keep_every_line_and_the_runtime_kind() {
        let both = Failure::manifest("a".into()).and(Failure::runtime("b".into()));
        assert_eq!(both, Failure::Runtime(vec!["a".into(), "b".into()]));
        let both = Failure::manifest("a".into()).and(Failure::manifest("b".into()));
        assert_eq!(both, Failure::Manifest(vec!["a".into(), "b".into()]));
    }
}
