//! The harness's Iceberg REST catalog (`tests/harness/iceberg_rest.py`, pyiceberg's
//! `SqlCatalog` behind the protocol's routes), checked with pyiceberg's own `RestCatalog`
//! client: namespaces, partitioned tables, appends with snapshot properties read back, a
//! stale commit refused with 409, bearer tokens and OAuth2 client credentials, a restart that
//! keeps every commit. The Iceberg sink's tests will run against this server.

use std::process::Command;

#[test]
fn the_harness_rest_catalog_serves_pyicebergs_client() {
    let script = weir_tests::root().join("tests/harness/iceberg_rest_check.py");
    let out = Command::new(weir_tests::python())
        .arg(&script)
        .output()
        .expect("run iceberg_rest_check.py");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    let checks = report["checks"].as_u64().unwrap_or(0);
    assert!(checks >= 50, "only {checks} checks ran: {report}");
}
