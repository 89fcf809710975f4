//! Crash tests' common steps: kill delays from a seeded generator (the seed is printed so a
//! failing run can be replayed with `WEIR_TEST_KILL_SEED`), and SIGKILL at such a moment with a
//! check that the process really died of it.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// A small deterministic generator of kill delays.
pub struct KillClock(u64);

impl KillClock {
    /// Seeded from `WEIR_TEST_KILL_SEED`, else the clock; prints the seed.
    pub fn new() -> Self {
        let seed = std::env::var("WEIR_TEST_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("kill delays seeded with {seed} (WEIR_TEST_KILL_SEED replays them)");
        Self(seed)
    }

    /// Always the same delays.
    pub fn with_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// The next delay, below `max_ms` milliseconds.
    pub fn next_ms(&mut self, max_ms: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max_ms
    }

    /// Waits a random moment below `max_ms`, SIGKILLs `child` and checks that the signal is
    /// what ended it (its log, at `log`, is shown when it ended any other way).
    pub fn kill(&mut self, child: &mut Child, max_ms: u64, log: &Path, what: &str) {
        // Not synchronisation: the random moment of the kill is what the test varies.
        std::thread::sleep(Duration::from_millis(self.next_ms(max_ms)));
        crate::signal(child, libc::SIGKILL);
        let status = child.wait().expect("wait");
        assert_eq!(
            status.code(),
            None,
            "{what}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Default for KillClock {
    fn default() -> Self {
        Self::new()
    }
}
