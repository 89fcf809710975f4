//! What an operator asks of a running pipeline: to stop (drain: the batch in flight is
//! committed, then the run returns) or to pause (the batch in flight is committed, then
//! nothing is polled until a resume; connections and positions are kept).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A pipeline's stop and pause requests, shared by the run and whoever controls it.
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
}

impl StopSignal {
    /// Not stopped, not paused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the pipeline to drain and stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The stop flag itself, for signal handlers.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Pauses (`true`) or resumes (`false`) polling.
    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::SeqCst);
    }

    /// Whether polling is paused (and no stop was asked for, which wins).
    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::SeqCst) && !self.is_stopped()
    }

    /// The pause flag itself, shared with the operator's controls.
    pub fn pause_flag(&self) -> Arc<AtomicBool> {
        self.pause.clone()
    }

    /// A signal whose pause flag is `pause` (kept across a pipeline's restarts).
    pub fn with_pause(pause: Arc<AtomicBool>) -> Self {
        Self {
            stop: Arc::default(),
            pause,
        }
    }

    /// Waits at most `d` while paused (returns early on a resume or a stop).
    pub fn wait_while_paused(&self, d: Duration) {
        let until = std::time::Instant::now() + d;
        while self.is_paused() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_wins_over_a_pause() {
        let s = StopSignal::new();
        assert!(!s.is_paused() && !s.is_stopped());
        s.set_paused(true);
        assert!(s.is_paused());
        let shared = StopSignal::with_pause(s.pause_flag());
        assert!(shared.is_paused(), "the pause flag is shared");
        s.stop();
        assert!(!s.is_paused() && s.is_stopped());
        s.set_paused(false);
        assert!(!shared.is_paused());
    }
}
