//! `cargo xtask bench`: a release build of the host, the generator and null sinks and the probe
//! fixture, then `tests/benches/boundary.rs` (the plugin boundary's per-batch cost, and
//! generator -> null through `weir run` against the generator's raw floor, as ratios taken in
//! one run). The JSON report goes to `<target>/bench/bench.json`.

use crate::{cargo, env, run};
use anyhow::{bail, Context, Result};
use std::process::Stdio;

pub(crate) fn run_bench(_args: &[String]) -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "weir",
        "-p",
        "weir-plugin-generator",
        "-p",
        "weir-plugin-console",
        "-p",
        "weir-fixture-probe",
    ]))?;
    let release = env::target_dir()?.join("release");
    crate::stage(&release)?;
    let out = cargo()
        .args(["bench", "-p", "weir-tests", "--bench", "boundary"])
        .current_dir(crate::root())
        .stderr(Stdio::inherit())
        .output()
        .context("cargo bench")?;
    if !out.status.success() {
        bail!("the bench failed: {}", out.status);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("the bench's JSON report")?;
    let dir = env::target_dir()?.join("bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bench.json");
    std::fs::write(&file, format!("{report:#}\n"))?;

    println!("plugin boundary, per batch (release):");
    println!(
        "  {:>9}  {:>10}  {:>12}  {:>14}  {:>12}",
        "rows", "poll µs", "floor µs", "boundary µs", "write µs"
    );
    for b in report["boundary"].as_array().into_iter().flatten() {
        println!(
            "  {:>9}  {:>10.2}  {:>12.2}  {:>14.2}  {:>12.2}",
            b["rows"],
            b["poll_us"].as_f64().unwrap_or(f64::NAN),
            b["in_process_make_us"].as_f64().unwrap_or(f64::NAN),
            b["poll_boundary_cost_us"].as_f64().unwrap_or(f64::NAN),
            b["write_and_commit_us"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let p = &report["pipeline"];
    println!(
        "generator -> null through weir: {:.0} records/s; raw generator floor {:.0} records/s; ratio {:.2}",
        p["weir_generator_to_null_records_per_s"].as_f64().unwrap_or(f64::NAN),
        p["raw_generator_floor_records_per_s"].as_f64().unwrap_or(f64::NAN),
        p["ratio_weir_to_floor"].as_f64().unwrap_or(f64::NAN),
    );
    println!("report: {}", file.display());
    Ok(())
}
