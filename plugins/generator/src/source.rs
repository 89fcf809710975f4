//! The generator source: paced or unpaced, finite or endless, seekable.

use crate::config::GeneratorConfig;
use crate::events;
use std::time::{Duration, Instant};
use weir_sdk::{Context, Error, Poll, Position, PositionKey, Source, SourceConfig};

const KEY: &str = "generator";

pub(crate) struct Generator {
    cfg: GeneratorConfig,
    next: i64,
    /// Pacing: when the run (or the last seek) started, and the id it started from.
    paced_from: (Instant, i64),
    committed: i64,
    run_in_loop: bool,
}

impl Generator {
    pub(crate) fn create(config: SourceConfig, _ctx: Context) -> Result<Box<dyn Source>, Error> {
        let cfg = GeneratorConfig::from_source(&config)?;
        Ok(Box::new(Self {
            cfg,
            next: 0,
            paced_from: (Instant::now(), 0),
            committed: 0,
            run_in_loop: config.run_in_loop,
        }))
    }

    /// Events the pacing allows now.
    fn allowed(&self, now: Instant) -> i64 {
        match self.cfg.rate {
            None => i64::MAX,
            Some(rate) => {
                let (t0, from) = self.paced_from;
                let due = from + (now.duration_since(t0).as_secs_f64() * rate) as i64 + 1;
                (due - self.next).max(0)
            }
        }
    }
}

impl Source for Generator {
    fn open(&mut self) -> Result<Vec<PositionKey>, Error> {
        self.paced_from = (Instant::now(), self.next);
        tracing::info!(
            count = self.cfg.count,
            rate = self.cfg.rate,
            seed = self.cfg.seed,
            "generator open"
        );
        Ok(vec![PositionKey::new(KEY)])
    }

    fn poll(&mut self, max_records: usize, timeout: Duration) -> Result<Poll, Error> {
        let remaining = self.cfg.count.map(|c| c - self.next).unwrap_or(i64::MAX);
        if remaining <= 0 {
            if !self.run_in_loop {
                return Ok(Poll::end());
            }
            // Finite, but asked to run in a loop: idle until stopped.
            std::thread::sleep(timeout);
            return Ok(Poll::idle());
        }
        let deadline = Instant::now() + timeout;
        let mut allowed = self.allowed(Instant::now());
        while allowed == 0 {
            let now = Instant::now();
            if now >= deadline {
                return Ok(Poll::idle());
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
            allowed = self.allowed(Instant::now());
        }
        let n = (max_records as i64).min(remaining).min(allowed).max(1);
        let batch = events::batch(self.cfg.seed, self.next, n as usize)
            .map_err(|e| Error::fatal(format!("cannot build generator batch: {e}")))?;
        self.next += n;
        let mut poll = Poll::records(batch, vec![Position::new(KEY, self.next)]);
        poll.end = !self.run_in_loop && self.cfg.count == Some(self.next);
        Ok(poll)
    }

    fn seek(&mut self, positions: &[Position]) -> Result<(), Error> {
        for p in positions {
            if p.key.as_str() != KEY {
                return Err(Error::config(format!(
                    "the generator has no substream `{}`",
                    p.key
                )));
            }
            if p.next < 0 {
                return Err(Error::data("cannot seek to a negative id").at(p.clone()));
            }
            self.next = p.next;
            self.paced_from = (Instant::now(), p.next);
            tracing::info!(next = p.next, "generator resumes");
        }
        Ok(())
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        for p in positions {
            self.committed = self.committed.max(p.next);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        tracing::debug!(
            next = self.next,
            committed = self.committed,
            "generator closed"
        );
        Ok(())
    }
}
