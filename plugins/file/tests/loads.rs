//! Loads the built library as the weir host does (`weir_sdk::testing`) and reads files:
//! every line once with its position, a resume from a stored position, tailing a file that
//! grows (a half-written line is not read until its `\n` arrives).

use std::io::Write;
use weir_sdk::arrow::array::AsArray;
use weir_sdk::arrow::datatypes::Int64Type;
use weir_sdk::testing::{Collected, PluginUnderTest};
use weir_sdk::{Position, SourceConfig};

fn plugin() -> PluginUnderTest {
    PluginUnderTest::built("weir_plugin_file").expect("load the built library")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-plugin-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn config(address: String, run_in_loop: bool) -> SourceConfig {
    let options = weir_sdk::serde_json::json!({"poll_interval_ms": 10});
    SourceConfig {
        address,
        options: options.as_object().cloned().unwrap_or_default(),
        run_in_loop,
        batch_size: 4,
        ..SourceConfig::default()
    }
}

fn ids(run: &Collected) -> Vec<i64> {
    run.batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .expect("an id column")
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn lines(range: std::ops::Range<i64>) -> String {
    range
        .map(|i| format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"))
        .collect()
}

#[test]
fn reads_every_file_to_its_end_and_resumes_from_stored_positions() {
    let dir = scratch("resume");
    std::fs::write(dir.join("a.jsonl"), lines(0..5)).unwrap();
    std::fs::write(
        dir.join("b.jsonl"),
        format!("{}\n{}", lines(5..7), "{\"id\":99"),
    )
    .unwrap();
    std::fs::write(dir.join("c.txt"), lines(100..101)).unwrap();
    let address = format!("file://{}/*.jsonl", dir.display());
    let run = plugin()
        .source_with(config(address.clone(), false))
        .unwrap()
        .run_to_end()
        .unwrap();
    assert_eq!(ids(&run), (0..7).collect::<Vec<_>>());
    let a = dir.join("a.jsonl").display().to_string();
    let b = dir.join("b.jsonl").display().to_string();
    let a_len = std::fs::metadata(dir.join("a.jsonl")).unwrap().len() as i64;
    assert_eq!(run.position(&a), Some(a_len));
    // b: two lines and a blank one; the unfinished `{"id":99` is not read.
    assert_eq!(run.position(&b), Some(lines(5..7).len() as i64 + 1));
    assert!(run.batches.iter().all(|b| b.num_rows() <= 4));

    // New lines after the stored positions: a resume reads only those.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("a.jsonl"))
        .unwrap();
    f.write_all(lines(7..9).as_bytes()).unwrap();
    drop(f);
    let resumed = plugin()
        .source_with(config(address, false))
        .unwrap()
        .resume_to_end(&run.to_positions())
        .unwrap();
    assert_eq!(ids(&resumed), vec![7, 8]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tails_a_growing_file_and_reads_lines_only_once_complete() {
    let dir = scratch("tail");
    let path = dir.join("live.jsonl");
    std::fs::write(&path, format!("{}{}", lines(0..2), "{\"id\":2,")).unwrap();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"\"name\":\"n2\"}\n").unwrap();
            f.write_all(lines(3..6).as_bytes()).unwrap();
        })
    };
    let run = plugin()
        .source_with(config(format!("file://{}", dir.display()), true))
        .unwrap()
        .run_until(|c| c.rows() >= 6)
        .unwrap();
    writer.join().unwrap();
    assert_eq!(ids(&run), (0..6).collect::<Vec<_>>());
    let len = std::fs::metadata(&path).unwrap().len() as i64;
    assert_eq!(run.position(&path.display().to_string()), Some(len));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_line_that_is_not_json_is_a_data_error_at_its_offset() {
    let dir = scratch("bad");
    std::fs::write(dir.join("x.jsonl"), "{\"id\":1}\nnot json\n").unwrap();
    let err = plugin()
        .source_with(config(format!("file://{}", dir.display()), false))
        .unwrap()
        .run_to_end()
        .unwrap_err();
    assert_eq!(err.kind, weir_sdk::ErrorKind::Data);
    let key = dir.join("x.jsonl").display().to_string();
    assert_eq!(err.position, Some(Position::new(key.as_str(), 9)));
    std::fs::remove_dir_all(&dir).unwrap();
}
