//! The demo manifest: 100 000 generator events into Delta, read back independently, and a
//! second run that resumes at the stored position and adds nothing.

use weir_plugin_generator::events::event;
use weir_tests::*;

#[test]
fn demo_manifest_writes_every_generator_event_once() {
    let s = Scratch::new();
    let plugins = s.plugin_dir("plugins", &shipped_plugins());
    let demo = std::fs::read_to_string(root().join("examples/demo.yaml")).expect("demo manifest");
    let lake = s.join("lake");
    let yaml = demo.replace(
        "address: target/demo",
        &format!("address: {}", lake.display()),
    );
    assert_ne!(
        yaml, demo,
        "the demo manifest's sink address moved; update this test"
    );
    let manifest = s.manifest("demo.yaml", &yaml);

    let out = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("records=100000"), "{}", out.stderr);

    let table = lake.join("events");
    let summary = delta_summary(&table);
    assert_eq!(summary["rows"], 100_000, "{summary}");
    assert_eq!(summary["distinct_ids"], 100_000, "{summary}");
    let names: Vec<&str> = summary["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["id", "ts", "user_id", "email", "phone", "amount", "country", "device"]
    );

    // Every value is the generator's (seed 42 in the demo manifest).
    let rows = delta_rows(&table, &s);
    assert_eq!(rows.len(), 100_000);
    for (i, row) in rows.iter().enumerate() {
        let e = event(42, i as i64);
        assert_eq!(row["id"], e.id, "row {i}");
        assert_eq!(row["ts"], e.ts_us, "row {i}");
        assert_eq!(row["user_id"], e.user_id, "row {i}");
        assert_eq!(row["email"], e.email.as_str(), "row {i}");
        assert_eq!(row["phone"], e.phone.as_str(), "row {i}");
        assert_eq!(row["amount"].as_f64(), Some(e.amount), "row {i}");
        assert_eq!(row["country"], e.country, "row {i}");
        assert_eq!(row["device"]["os"], e.os, "row {i}");
        assert_eq!(row["device"]["version"], e.version, "row {i}");
    }

    // Positions: stored in the table (read by Python from the log, and by our sink).
    assert_eq!(
        summary["txn"]["weir/demo-events/generator"], 100_000,
        "{summary}"
    );
    let ours = stored_positions(&table, "demo-events", &["generator"]);
    assert_eq!(ours, vec![weir_sdk::Position::new("generator", 100_000)]);

    // A second run resumes at 100 000 and writes nothing.
    let again = output(weir(&plugins).arg("run").arg(&manifest));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(again.stderr.contains("records=0"), "{}", again.stderr);
    assert_eq!(delta_summary(&table)["rows"], 100_000);
}
