//! Loads the built library as the weir host does (`weir_sdk::testing`) and reads files:
//! every line once with its position, a resume from a stored position, tailing a file that
//! grows (a half-written line is not read until its `\n` arrives).

use std::io::Write;
use weir_sdk::arrow::array::{Array, AsArray};
use weir_sdk::arrow::datatypes::Int64Type;
use weir_sdk::testing::{Collected, PluginUnderTest};
use weir_sdk::SourceConfig;

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

/// The envelope rows' values, as text.
fn values(run: &Collected) -> Vec<String> {
    run.batches
        .iter()
        .flat_map(|b| {
            let v = b.column_by_name("value").expect("a value column");
            let v = v.as_binary::<i32>();
            (0..v.len())
                .map(|i| String::from_utf8_lossy(v.value(i)).into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `id` of each row's JSON value.
fn ids(run: &Collected) -> Vec<i64> {
    values(run)
        .iter()
        .map(|v| {
            weir_sdk::serde_json::from_str::<weir_sdk::serde_json::Value>(v).expect("JSON")["id"]
                .as_i64()
                .expect("an id")
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
fn a_line_that_is_not_json_reaches_core_as_it_is_with_its_file_and_offset() {
    let dir = scratch("bad");
    std::fs::write(dir.join("x.jsonl"), "{\"id\":1}\nnot json\n").unwrap();
    let run = plugin()
        .source_with(config(format!("file://{}", dir.display()), false))
        .unwrap()
        .run_to_end()
        .unwrap();
    // Core decodes the values: a line that is not JSON becomes a dead letter there.
    assert_eq!(values(&run), vec!["{\"id\":1}", "not json"]);
    let key = dir.join("x.jsonl").display().to_string();
    let b = &run.batches[0];
    assert_eq!(
        b.column_by_name("path")
            .expect("path")
            .as_string::<i32>()
            .value(1),
        key
    );
    let offsets = b
        .column_by_name("offset")
        .expect("offset")
        .as_primitive::<Int64Type>();
    assert_eq!(offsets.values().to_vec(), vec![0, 9]);
    assert_eq!(run.position(&key), Some(18));
    std::fs::remove_dir_all(&dir).unwrap();
}
