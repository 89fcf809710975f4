//! Live progress on a terminal: one line, redrawn in place twice a second, with records, rate,
//! batches and the age of the last commit of each pipeline. Nothing of the kind when stderr is
//! not a terminal or logs are JSON (the summary at exit is a log line either way).

use crate::service::{now_ms, PipelineLabel, Service};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Starts the redrawing thread for these pipelines.
pub fn start(service: Arc<Service>, pipelines: Vec<String>) {
    let _ = std::thread::Builder::new()
        .name("weir-progress".into())
        .spawn(move || {
            let mut last: Vec<(u64, Instant)> =
                pipelines.iter().map(|_| (0, Instant::now())).collect();
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let mut parts = Vec::new();
                for (i, name) in pipelines.iter().enumerate() {
                    let l = PipelineLabel {
                        pipeline: name.clone(),
                    };
                    let m = &service.metrics;
                    let records = m.records_out.get_or_create(&l).get();
                    let batches = m.batches.get_or_create(&l).get();
                    let commit_s = m.last_commit.get_or_create(&l).get();
                    let lag = service
                        .health_of(name)
                        .filter(|h| h.lag_known.load(Ordering::SeqCst))
                        .map(|h| format!(", lag {}", thousands(h.lag.load(Ordering::SeqCst))))
                        .unwrap_or_default();
                    let (prev, at) = last[i];
                    let secs = at.elapsed().as_secs_f64().max(1e-3);
                    let rate = (records.saturating_sub(prev)) as f64 / secs;
                    last[i] = (records, Instant::now());
                    let age = if commit_s > 0.0 {
                        format!(
                            "{:.1} s ago",
                            (now_ms() as f64 / 1000.0 - commit_s).max(0.0)
                        )
                    } else {
                        "none yet".to_string()
                    };
                    parts.push(format!(
                        "{name}: {} records, {}/s, {} batches{lag}, last commit {age}",
                        thousands(records),
                        thousands(rate.round() as u64),
                        thousands(batches)
                    ));
                }
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", parts.join(" | "));
                let _ = err.flush();
            }
        });
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
