//! Capped exponential backoff for retriable connector errors.

use crate::connector::ConnectorError;
use std::time::Duration;

/// How often and how patiently a retriable failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait.
    pub initial: Duration,
    /// The cap on one wait.
    pub max: Duration,
    /// Attempts in all (the first call included) before the error is final.
    pub attempts: u32,
    /// `max_retry_time`: the most one call may wait between its attempts in all; past it the
    /// error is final whatever `attempts` says. `None`: no bound beyond `attempts`.
    pub max_wait: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            attempts: 10,
            max_wait: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Calls `f` until it succeeds, fails with a non-retriable error, or the attempts are used
    /// up; `on_retry` hears of each retry (attempt, error, wait) and may cancel by returning
    /// false. The wait is done with `sleep` so callers can make it interruptible.
    pub fn run<T>(
        &self,
        mut f: impl FnMut() -> Result<T, ConnectorError>,
        mut on_retry: impl FnMut(u32, &ConnectorError, Duration) -> bool,
        sleep: impl Fn(Duration),
    ) -> Result<T, ConnectorError> {
        let mut attempt = 1;
        let mut waited = Duration::ZERO;
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.kind.is_retriable() && attempt < self.attempts => {
                    let mut wait = self.backoff(attempt);
                    if let Some(max) = self.max_wait {
                        if waited >= max {
                            return Err(e);
                        }
                        wait = wait.min(max - waited);
                    }
                    if !on_retry(attempt, &e, wait) {
                        return Err(e);
                    }
                    sleep(wait);
                    waited += wait;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ErrorKind;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            attempts: 10,
            max_wait: None,
        };
        let waits: Vec<u128> = (1..6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn retries_retriable_errors_only_until_attempts_run_out() {
        let p = RetryPolicy {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            attempts: 3,
            max_wait: None,
        };
        let mut calls = 0;
        let r: Result<(), _> = p.run(
            || {
                calls += 1;
                Err(ConnectorError::new(ErrorKind::Retriable, "busy"))
            },
            |_, _, _| true,
            |_| {},
        );
        assert!(r.is_err());
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), _> = p.run(
            || {
                calls += 1;
                Err(ConnectorError::new(ErrorKind::Fatal, "broken"))
            },
            |_, _, _| true,
            |_| {},
        );
        assert!(r.is_err());
        assert_eq!(calls, 1, "fatal errors are not retried");
    }

    #[test]
    fn max_wait_bounds_the_waiting_of_one_call() {
        let p = RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            attempts: u32::MAX,
            max_wait: Some(Duration::from_secs(5)),
        };
        let waits = std::cell::RefCell::new(Vec::new());
        let mut calls = 0;
        let r: Result<(), _> = p.run(
            || {
                calls += 1;
                Err(ConnectorError::new(ErrorKind::Connection, "down"))
            },
            |_, _, _| true,
            |w| waits.borrow_mut().push(w.as_secs()),
        );
        assert!(r.is_err());
        // 1 + 2 + 2 (cut to the 5 s bound), then the error is final.
        assert_eq!(*waits.borrow(), vec![1, 2, 2]);
        assert_eq!(calls, 4);
    }
}
