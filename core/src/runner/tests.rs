//! Run-loop tests with in-process sources and sinks.

use super::*;
use crate::connector::{ErrorKind, Polled};
use arrow::array::{Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::sync::Mutex;

/// Ids `next..end` (or endless), `per_poll` at a time; commits are recorded.
struct Counter {
    next: i64,
    end: Option<i64>,
    per_poll: i64,
    commits: Arc<Mutex<Vec<i64>>>,
}

impl Source for Counter {
    fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError> {
        Ok(vec!["ids".into()])
    }
    fn poll(&mut self, max: usize, _t: Duration) -> Result<Polled, ConnectorError> {
        let mut n = self.per_poll.min(max as i64);
        if let Some(end) = self.end {
            n = n.min(end - self.next);
            if n <= 0 {
                return Ok(Polled {
                    end: true,
                    ..Polled::default()
                });
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids = Int64Array::from_iter_values(self.next..self.next + n);
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ids)]).unwrap();
        self.next += n;
        Ok(Polled {
            batch: Some(batch),
            positions: vec![Position::new("ids", self.next)],
            end: self.end == Some(self.next),
            ..Polled::default()
        })
    }
    fn seek(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        for p in positions {
            self.next = p.next;
        }
        Ok(())
    }
    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        self.commits
            .lock()
            .unwrap()
            .extend(positions.iter().map(|p| p.next));
        Ok(())
    }
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A transactional in-memory table: rows and the stored position change together.
#[derive(Default)]
struct Table {
    rows: Vec<i64>,
    stored: Option<i64>,
}

struct MemSink {
    table: Arc<Mutex<Table>>,
    staged: Vec<i64>,
    batches_seen: u64,
    /// Fail the write of the batch with this index (counting distinct batches) `times` times.
    fail: Option<(u64, ErrorKind, u32)>,
    /// Refuse, at commit, the rows whose id this picks (as a CHECK constraint would).
    refuse: Option<fn(i64) -> bool>,
}

impl MemSink {
    fn new(table: &Arc<Mutex<Table>>) -> Self {
        Self {
            table: table.clone(),
            staged: Vec::new(),
            batches_seen: 0,
            fail: None,
            refuse: None,
        }
    }
}

impl Sink for MemSink {
    fn open(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn stored_positions(&mut self, _keys: &[PositionKey]) -> Result<Vec<Position>, ConnectorError> {
        Ok(self
            .table
            .lock()
            .unwrap()
            .stored
            .map(|n| Position::new("ids", n))
            .into_iter()
            .collect())
    }
    fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError> {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        if let Some((k, kind, times)) = &mut self.fail {
            if self.batches_seen == *k && *times > 0 {
                *times -= 1;
                self.staged.clear();
                return Err(ConnectorError::new(*kind, "injected failure"));
            }
        }
        self.staged = ids.values().to_vec();
        Ok(())
    }
    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        if let Some(refused) = self.refuse {
            let bad: Vec<(usize, String)> = (self.staged.iter().enumerate())
                .filter(|(_, id)| refused(**id))
                .map(|(i, id)| {
                    (
                        i,
                        format!("t: id {id} violates check constraint \"t_id_check\""),
                    )
                })
                .collect();
            if !bad.is_empty() {
                self.staged.clear();
                let msg = weir_envelope::rejected::encode(&bad);
                return Err(ConnectorError::new(ErrorKind::Data, msg));
            }
        }
        let mut t = self.table.lock().unwrap();
        t.rows.append(&mut self.staged);
        t.stored = positions
            .iter()
            .find(|p| p.key == "ids")
            .map(|p| p.next)
            .or(t.stored);
        self.batches_seen += 1;
        Ok(())
    }
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn cfg(batch: usize) -> RunConfig {
    RunConfig {
        pipeline: "t".into(),
        limits: BatchLimits {
            max_records: batch,
            max_bytes: usize::MAX,
            timeout: Duration::from_secs(60),
        },
        run_in_loop: false,
        retry: RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            attempts: 4,
            max_wait: None,
        },
        queue: 1,
        max_poll_wait: Duration::from_millis(10),
    }
}

/// `run` of 1 000 counter records into `sink` in batches of 100, no stop, no observer.
fn run_thousand(
    commits: &Arc<Mutex<Vec<i64>>>,
    sink: MemSink,
) -> Result<RunSummary, Box<RunFailure>> {
    run(
        counter(Some(1000), commits),
        Box::new(sink),
        &cfg(100),
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
}

fn counter(end: Option<i64>, commits: &Arc<Mutex<Vec<i64>>>) -> Box<Counter> {
    Box::new(Counter {
        next: 0,
        end,
        per_poll: 30,
        commits: commits.clone(),
    })
}

#[test]
fn drains_to_the_end_committing_in_batch_order() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let s = run_thousand(&commits, MemSink::new(&table)).unwrap();
    assert_eq!(s.records, 1000);
    assert_eq!(s.batches, 10);
    assert_eq!(s.committed.get("ids"), Some(1000));
    assert_eq!(table.lock().unwrap().rows, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        *commits.lock().unwrap(),
        (1..=10).map(|b| b * 100).collect::<Vec<_>>()
    );
}

#[test]
fn a_sink_failing_on_batch_k_leaves_positions_at_batch_k_minus_1_and_a_rerun_resumes() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let mut sink = MemSink::new(&table);
    sink.fail = Some((3, ErrorKind::Fatal, 1));
    let f = run_thousand(&commits, sink).unwrap_err();
    assert!(
        matches!(f.error, RunError::Sink { seq: 3, .. }),
        "{:?}",
        f.error
    );
    assert_eq!(f.summary.committed.get("ids"), Some(300));
    assert_eq!(
        commits.lock().unwrap().last(),
        Some(&300),
        "source never committed past the failure"
    );
    assert_eq!(table.lock().unwrap().rows, (0..300).collect::<Vec<_>>());

    // The rerun seeks to the sink's stored position and completes: nothing lost or doubled.
    let s = run_thousand(&commits, MemSink::new(&table)).unwrap();
    assert_eq!(s.records, 700);
    assert_eq!(table.lock().unwrap().rows, (0..1000).collect::<Vec<_>>());
}

#[test]
fn retriable_sink_failures_are_retried_in_place() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let mut sink = MemSink::new(&table);
    sink.fail = Some((2, ErrorKind::Retriable, 2));
    let s = run(
        counter(Some(500), &commits),
        Box::new(sink),
        &cfg(100),
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
    .unwrap();
    assert_eq!(s.records, 500);
    assert_eq!(table.lock().unwrap().rows, (0..500).collect::<Vec<_>>());
}

#[test]
fn retriable_failures_that_outlast_the_policy_stop_the_run() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let mut sink = MemSink::new(&table);
    sink.fail = Some((1, ErrorKind::Connection, 100));
    let f = run(
        counter(Some(500), &commits),
        Box::new(sink),
        &cfg(100),
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
    .unwrap_err();
    assert!(matches!(f.error, RunError::Sink { seq: 1, .. }));
    assert_eq!(f.summary.committed.get("ids"), Some(100));
    assert_eq!(table.lock().unwrap().rows.len(), 100);
}

#[test]
fn stop_drains_the_batch_in_flight() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let stop = StopSignal::new();
    let stopper = stop.clone();
    let t = table.clone();
    let watcher = std::thread::spawn(move || {
        while t.lock().unwrap().rows.len() < 5000 {
            std::thread::sleep(Duration::from_millis(1));
        }
        stopper.stop();
    });
    let mut c = cfg(1000);
    c.run_in_loop = true;
    let s = run(
        counter(None, &commits),
        Box::new(MemSink::new(&table)),
        &c,
        &stop,
        Arc::new(NoObserver),
    )
    .unwrap();
    watcher.join().unwrap();
    assert!(s.stopped);
    let rows = table.lock().unwrap().rows.clone();
    assert_eq!(
        rows,
        (0..rows.len() as i64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(s.committed.get("ids"), Some(rows.len() as i64));
    assert_eq!(s.records as usize, rows.len());
}

#[test]
fn a_batch_closes_by_timeout_on_a_slow_source() {
    struct Trickle(i64);
    impl Source for Trickle {
        fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError> {
            Ok(vec![])
        }
        fn poll(&mut self, _m: usize, t: Duration) -> Result<Polled, ConnectorError> {
            if self.0 >= 3 {
                return Ok(Polled {
                    end: true,
                    ..Polled::default()
                });
            }
            std::thread::sleep(t.min(Duration::from_millis(5)));
            let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
            let b = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![self.0]))])
                .unwrap();
            self.0 += 1;
            Ok(Polled {
                batch: Some(b),
                positions: vec![Position::new("ids", self.0)],
                ..Polled::default()
            })
        }
        fn seek(&mut self, _p: &[Position]) -> Result<(), ConnectorError> {
            Ok(())
        }
        fn commit(&mut self, _p: &[Position]) -> Result<(), ConnectorError> {
            Ok(())
        }
        fn close(&mut self) -> Result<(), ConnectorError> {
            Ok(())
        }
    }
    let table = Arc::new(Mutex::new(Table::default()));
    let mut c = cfg(1000);
    c.limits.timeout = Duration::from_millis(1);
    let s = run(
        Box::new(Trickle(0)),
        Box::new(MemSink::new(&table)),
        &c,
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
    .unwrap();
    assert_eq!(s.records, 3);
    assert!(
        s.batches >= 2,
        "a 1 ms timeout closes batches long before 1000 records: {}",
        s.batches
    );
    assert_eq!(table.lock().unwrap().rows, vec![0, 1, 2]);
}

#[test]
fn a_failing_source_keeps_what_was_committed() {
    struct Breaks(Counter);
    impl Source for Breaks {
        fn open(&mut self) -> Result<Vec<PositionKey>, ConnectorError> {
            self.0.open()
        }
        fn poll(&mut self, m: usize, t: Duration) -> Result<Polled, ConnectorError> {
            if self.0.next >= 250 {
                return Err(ConnectorError::new(ErrorKind::Fatal, "broken"));
            }
            self.0.poll(m, t)
        }
        fn seek(&mut self, p: &[Position]) -> Result<(), ConnectorError> {
            self.0.seek(p)
        }
        fn commit(&mut self, p: &[Position]) -> Result<(), ConnectorError> {
            self.0.commit(p)
        }
        fn close(&mut self) -> Result<(), ConnectorError> {
            Ok(())
        }
    }
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let f = run(
        Box::new(Breaks(*counter(None, &commits))),
        Box::new(MemSink::new(&table)),
        &cfg(100),
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
    .unwrap_err();
    assert!(matches!(f.error, RunError::Source(_)));
    let rows = table.lock().unwrap().rows.clone();
    assert_eq!(
        rows,
        (0..200).collect::<Vec<_>>(),
        "batches handed to the sink before the failure are committed"
    );
    assert_eq!(f.summary.committed.get("ids"), Some(200));
    let _ = Int64Array::from(vec![0]).len();
}

#[test]
fn a_stop_request_ends_retrying_and_keeps_positions() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let mut sink = MemSink::new(&table);
    // Batch 1 keeps failing retriably; the policy would wait minutes in all.
    sink.fail = Some((1, ErrorKind::Retriable, u32::MAX));
    let mut c = cfg(100);
    c.retry = RetryPolicy {
        initial: Duration::from_secs(5),
        max: Duration::from_secs(60),
        attempts: 100,
        max_wait: None,
    };
    let stop = StopSignal::new();
    let stopper = {
        let stop = stop.clone();
        let table = table.clone();
        std::thread::spawn(move || {
            // Once batch 0 is in, ask to stop while batch 1 is being retried.
            while table.lock().unwrap().stored.is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            stop.stop();
        })
    };
    let f = run(
        counter(None, &commits),
        Box::new(sink),
        &c,
        &stop,
        Arc::new(NoObserver),
    )
    .unwrap_err();
    stopper.join().unwrap();
    assert!(
        matches!(f.error, RunError::Sink { seq: 1, .. }),
        "{:?}",
        f.error
    );
    let t = table.lock().unwrap();
    assert_eq!(t.stored, Some(100));
    assert_eq!(t.rows, (0..100).collect::<Vec<_>>());
    assert_eq!(*commits.lock().unwrap(), vec![100]);
}

/// A dead-letter destination that keeps each row's `_error` and the positions of each commit.
#[derive(Default)]
struct DeadTable {
    errors: Vec<String>,
    stored: std::collections::HashMap<String, i64>,
}

struct DeadSink(Arc<Mutex<DeadTable>>, Vec<String>);

impl Sink for DeadSink {
    fn open(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, ConnectorError> {
        let t = self.0.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| t.stored.get(k).map(|n| Position::new(k.clone(), *n)))
            .collect())
    }
    fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError> {
        let errors = batch.column_by_name("_error").expect("_error");
        let errors = errors
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("text");
        self.1 = errors.iter().map(|e| e.unwrap_or("").to_string()).collect();
        Ok(())
    }
    fn commit(&mut self, positions: &[Position]) -> Result<(), ConnectorError> {
        let mut t = self.0.lock().unwrap();
        t.errors.append(&mut self.1);
        for p in positions {
            t.stored.insert(p.key.clone(), p.next);
        }
        Ok(())
    }
    fn close(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[test]
fn rows_the_sink_refuses_go_to_the_dead_letters_and_the_rest_commits() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let dead = Arc::new(Mutex::new(DeadTable::default()));
    let mut sink = MemSink::new(&table);
    sink.refuse = Some(|id| id % 7 == 3);
    let stages = Stages {
        transform: None,
        dead_letter: Some(Box::new(DeadSink(dead.clone(), Vec::new()))),
    };
    let s = run_with(
        counter(Some(1000), &commits),
        Box::new(sink),
        stages,
        &cfg(100),
        &StopSignal::new(),
        Arc::new(NoObserver),
    )
    .unwrap();
    let refused: Vec<i64> = (0..1000).filter(|i| i % 7 == 3).collect();
    assert_eq!(s.dead_letters, refused.len() as u64);
    assert_eq!(s.records, 1000 - refused.len() as u64);
    assert_eq!(s.committed.get("ids"), Some(1000));
    let rows = table.lock().unwrap().rows.clone();
    assert_eq!(rows, (0..1000).filter(|i| i % 7 != 3).collect::<Vec<_>>());
    let dead = dead.lock().unwrap();
    assert_eq!(dead.errors.len(), refused.len());
    assert!(
        dead.errors[0].contains("row 3 of the batch ending at ids@100"),
        "{}",
        dead.errors[0]
    );
    assert!(dead.errors[0].contains("t_id_check"), "{}", dead.errors[0]);
    assert_eq!(dead.stored.get("ids#refused"), Some(&1000));
    assert_eq!(*commits.lock().unwrap().last().unwrap(), 1000);
}

#[test]
fn without_a_dead_letter_destination_a_refused_row_stops_the_run_before_its_positions() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::new(Mutex::new(Table::default()));
    let mut sink = MemSink::new(&table);
    sink.refuse = Some(|id| id == 153);
    let f = run_thousand(&commits, sink).unwrap_err();
    let RunError::Sink { seq: 1, error } = &f.error else {
        panic!("{:?}", f.error);
    };
    assert_eq!(error.kind, ErrorKind::Data);
    assert!(
        error
            .message
            .contains("refused 1 row(s) of the batch ending at ids@200"),
        "{error}"
    );
    assert!(error.message.contains("t_id_check"), "{error}");
    assert!(error.message.contains("dead_letter"), "{error}");
    assert_eq!(f.summary.committed.get("ids"), Some(100));
    assert_eq!(table.lock().unwrap().rows, (0..100).collect::<Vec<_>>());
    assert_eq!(commits.lock().unwrap().last(), Some(&100));
}
