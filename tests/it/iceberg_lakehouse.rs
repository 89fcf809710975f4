//! The Iceberg sink in the DataOS Lakehouse's shape: a Nilus `dataos://lakehouse` depot naming
//! a third-party REST catalog server (rustberg, from crates.io) over TLS with a private CA,
//! its warehouse on S3 (moto); what that server answers to a wrong key, an unknown warehouse
//! and an untrusted certificate; and in-place promotion through the embedded SQL catalog.
//! Tables are read back by pyiceberg (`iceberg_read.py`).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use weir_tests::iceberg::{assert_promoted, create_embedded, read_embedded};
use weir_tests::manifest::Manifest;
use weir_tests::rustberg::{Rustberg, KEY};
use weir_tests::s3::S3Server;
use weir_tests::*;

const S3_SECRET: &str = "weir-secret";

fn depots(scratch: &Scratch, catalog: &Rustberg, warehouse: &str) -> PathBuf {
    let file = scratch.join("depots.yaml");
    std::fs::write(
        &file,
        format!(
            "depots:\n  lakehouse: {{type: lakehouse, format: iceberg, metastore_url: \"{}\", warehouse: \"{warehouse}\"}}\n",
            catalog.url()
        ),
    )
    .expect("depots file");
    file
}

fn lakehouse(name: &str, s3: &S3Server, ca: Option<&Path>) -> Manifest {
    let m = Manifest::new(name)
        .source("generator://?count=20000&seed=4")
        .source_option("batch_size", 5000)
        .sink("dataos://lakehouse?purpose=rw")
        .sink_option("dest_table", "retail.events")
        .sink_option("token", "{LAKE_TOKEN}")
        .sink_option("aws_endpoint", s3.endpoint())
        .sink_option("aws_region", "us-east-1")
        .sink_option("aws_access_key_id", "weir")
        .sink_option("aws_secret_access_key", "{LAKE_S3_SECRET}");
    match ca {
        Some(ca) => m.sink_option("tls_ca", ca.display().to_string()),
        None => m,
    }
}

fn run(plugins: &Path, depots: &Path, manifest: &Path, token: &str) -> Outcome {
    let out = output(
        weir(plugins)
            .env("LAKE_TOKEN", token)
            .env("LAKE_S3_SECRET", S3_SECRET)
            .arg("--depots")
            .arg(depots)
            .arg("run")
            .arg(manifest),
    );
    for secret in [KEY, S3_SECRET, token] {
        assert!(
            !out.stderr.contains(secret),
            "a secret was printed: {}",
            out.stderr
        );
        assert!(
            !out.stdout.contains(secret),
            "a secret was printed: {}",
            out.stdout
        );
    }
    out
}

#[test]
fn a_lakehouse_depot_writes_through_rustberg_over_tls_into_s3_exactly_once() {
    let s3 = S3Server::start("lake");
    let catalog = Rustberg::start(&s3);
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let depots = depots(&scratch, &catalog, &catalog.warehouse);
    let m = scratch.write(&lakehouse("lake-ice", &s3, Some(&catalog.ca)));
    let out = run(&plugins, &depots, &m, KEY);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stderr, catalog.log());
    let t = catalog.read("retail.events", false);
    assert_eq!(t["rows"], 20_000, "{t}");
    assert_eq!(t["distinct_ids"], 20_000, "{t}");
    let positions = t["positions"].as_object().expect("positions");
    assert!(
        positions.keys().any(|k| k.starts_with("weir.lake-ice.")),
        "the snapshot summaries hold the positions: {t}"
    );
    // rustberg placed the table under its warehouse; the data files are in moto's bucket.
    assert_eq!(
        t["file_dirs"],
        json!([format!("{}/retail/events", catalog.warehouse)]),
        "{t}"
    );
    // A rerun finds every position stored: no new snapshot, no duplicate.
    let snapshots = t["snapshots"].clone();
    let again = run(&plugins, &depots, &m, KEY);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let t = catalog.read("retail.events", false);
    assert_eq!(
        (t["rows"].clone(), t["snapshots"].clone()),
        (json!(20_000), snapshots),
        "{t}"
    );
}

#[test]
fn rustbergs_refusals_and_an_untrusted_certificate_are_one_clear_error_each() {
    let s3 = S3Server::start("lake");
    let catalog = Rustberg::start(&s3);
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let cases: [(&str, &str, Option<&Path>, &str, &str); 3] = [
        (
            "wrong-key",
            &catalog.warehouse,
            Some(&catalog.ca),
            "rb_wrongKey00000000000000000000000000",
            "refused the credentials",
        ),
        (
            "unknown-warehouse",
            "s3://elsewhere/warehouse",
            Some(&catalog.ca),
            KEY,
            "no such warehouse",
        ),
        ("untrusted", &catalog.warehouse, None, KEY, "tls_ca"),
    ];
    for (name, warehouse, ca, token, says) in cases {
        let depots = depots(&scratch, &catalog, warehouse);
        let m = scratch.write(&lakehouse(name, &s3, ca));
        let out = run(&plugins, &depots, &m, token);
        assert_eq!(out.code, Some(2), "{name}: {}", out.stderr);
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{name}: one error: {}", out.stderr);
        assert!(errors[0].contains(says), "{name}: {}", errors[0]);
    }
}

#[test]
fn promotion_in_place_goes_through_the_embedded_sql_catalog() {
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let root = scratch.join("lake");
    let inbox = scratch.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let write = |name: &str, rows: &[Value]| {
        let text: Vec<String> = rows.iter().map(Value::to_string).collect();
        std::fs::write(inbox.join(format!("{name}.jsonl")), text.join("\n") + "\n").expect("lines");
    };
    let manifest = |name: &str, table: &str| {
        scratch.write(
            &Manifest::new(name)
                .source(format!("file://{}/*.jsonl", inbox.display()))
                .sink(format!("iceberg://{}", root.display()))
                .sink_option("dest_table", table),
        )
    };
    // weir makes the catalog file; then another writer (pyiceberg) makes a table in it with
    // 32-bit columns, and weir's JSON brings 64-bit values into that table.
    write("a", &[json!({"id": 1})]);
    run_ok(&plugins, &manifest("seed", "promo.seed"));
    create_embedded(&root, "promo.t", "id:long,qty:int,price:float");
    std::fs::remove_file(inbox.join("a.jsonl")).expect("remove");
    write(
        "b",
        &[json!({"id": 1, "qty": 5_000_000_000i64, "price": 0.1})],
    );
    run_ok(&plugins, &manifest("promo", "promo.t"));
    let t = read_embedded(&root, "promo.t", true);
    // Columns 1 to 3 keep their ids; the file source's `_file_path` and `_file_offset`
    // follow as 4 and 5.
    assert_promoted(&t);
}
