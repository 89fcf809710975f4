//! `cargo xtask bench`: a release build of the host, the generator and null sinks and the probe
//! fixture, then `tests/benches/boundary.rs` (the plugin boundary's per-batch cost, and
//! generator -> null through `weir run` against the generator's raw floor, as ratios taken in
//! one run), NATS -> null through `weir run` against the raw async-nats floor, and Kafka -> null
//! against the raw rdkafka floor (on a tansu broker), and generator -> Delta against writing the
//! same batches with deltalake directly, and generator -> PostgreSQL against binary `COPY` with
//! tokio-postgres directly, and Avro decoding against arrow-avro alone. Reports go to
//! `bench/results/<name>.json`.
//! `cargo xtask bench [boundary|nats|kafka|mask|delta|postgres|avro|all]`.

use crate::{cargo, env, run};
use anyhow::{bail, Context, Result};
use std::process::Stdio;

/// `cargo` without a lint wrapper left in the environment by `cargo xtask test` or a shell:
/// clippy-driver as the compiler lowers MIR optimisation, which slows release code.
fn bench_cargo() -> std::process::Command {
    let mut c = cargo();
    c.env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS");
    c
}

pub(crate) fn run_bench(args: &[String]) -> Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    if !matches!(
        which,
        "all" | "boundary" | "nats" | "mask" | "kafka" | "delta" | "postgres" | "avro" | "iceberg"
    ) {
        bail!("unknown bench `{which}`: boundary, nats, kafka, mask, delta, postgres, avro, iceberg or all");
    }
    run(bench_cargo().args([
        "build",
        "--release",
        "-p",
        "weir",
        "-p",
        "weir-plugin-generator",
        "-p",
        "weir-plugin-console",
        "-p",
        "weir-plugin-nats",
        "-p",
        "weir-plugin-kafka",
        "-p",
        "weir-fixture-probe",
    ]))?;
    if matches!(which, "all" | "delta") {
        // Without DataFusion (append only): a release build with it takes about 40 minutes here.
        run(bench_cargo().args([
            "build",
            "--release",
            "-p",
            "weir-plugin-delta",
            "--no-default-features",
        ]))?;
    }
    if matches!(which, "all" | "postgres") {
        run(bench_cargo().args(["build", "--release", "-p", "weir-plugin-postgres"]))?;
    }
    if matches!(which, "all" | "iceberg") {
        run(bench_cargo().args(["build", "--release", "-p", "weir-plugin-iceberg"]))?;
    }
    let release = env::target_dir()?.join("release");
    crate::stage(&release)?;
    if matches!(which, "all" | "boundary") {
        boundary()?;
    }
    if matches!(which, "all" | "nats") {
        nats()?;
    }
    if matches!(which, "all" | "kafka") {
        kafka()?;
    }
    if matches!(which, "all" | "delta") {
        delta()?;
    }
    if matches!(which, "all" | "postgres") {
        postgres()?;
    }
    if matches!(which, "all" | "avro") {
        avro()?;
    }
    if matches!(which, "all" | "iceberg") {
        iceberg()?;
    }
    if matches!(which, "all" | "mask") {
        let report = bench("mask", &[])?;
        let file = save("mask", &report)?;
        println!(
            "masking 5 columns: {:.0} rows/s (generating the rows: {:.0} rows/s)\nreport: {}",
            report["mask_rows_per_s"].as_f64().unwrap_or(f64::NAN),
            report["generate_rows_per_s"].as_f64().unwrap_or(f64::NAN),
            file.display()
        );
    }
    Ok(())
}

/// Runs one bench target, returning its JSON report.
fn bench(name: &str, envs: &[(&str, std::path::PathBuf)]) -> Result<serde_json::Value> {
    let mut cmd = bench_cargo();
    cmd.args(["bench", "-p", "weir-tests", "--bench", name]);
    // The release binaries: a WEIR_TEST_BIN_DIR left over from running the tests by hand
    // would point the benches at a debug build.
    cmd.env("WEIR_TEST_BIN_DIR", env::target_dir()?.join("release"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .current_dir(crate::root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cargo bench --bench {name}"))?;
    if !out.status.success() {
        bail!("the {name} bench failed: {}", out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("the {name} bench's JSON report"))
}

/// The numbers of a report's array `key`, rounded, comma-separated.
fn numbers(report: &serde_json::Value, key: &str) -> String {
    report[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_f64())
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a report to `bench/results/NAME.json` in the workspace.
fn save(name: &str, report: &serde_json::Value) -> Result<std::path::PathBuf> {
    let dir = crate::root().join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, format!("{report:#}\n"))?;
    Ok(file)
}

fn nats() -> Result<()> {
    let python = crate::python::ensure_venv()?;
    let report = bench("nats", &[("WEIR_TEST_PYTHON", python)])?;
    let file = save("nats", &report)?;
    let rates = |k: &str| numbers(&report, k);
    println!(
        "NATS -> null, {} messages of ~300 B: weir {} records/s; raw async-nats floor {} records/s; ratio {:.2}",
        report["messages"],
        rates("weir_nats_to_null_records_per_s"),
        rates("raw_floor_records_per_s"),
        report["ratio_weir_to_floor"].as_f64().unwrap_or(f64::NAN)
    );
    println!("report: {}", file.display());
    Ok(())
}

fn delta() -> Result<()> {
    let report = bench("delta", &[])?;
    let file = save("delta", &report)?;
    for size in report["sizes"].as_array().into_iter().flatten() {
        println!(
            "generator -> Delta, {} rows in batches of {}: weir {:.0} records/s ({:.1} MB/s); deltalake direct {:.0} records/s ({:.1} MB/s); ratio {:.2}",
            report["rows"],
            size["batch_size"],
            size["weir_generator_to_delta_records_per_s"].as_f64().unwrap_or(f64::NAN),
            size["weir_generator_to_delta_mb_per_s"].as_f64().unwrap_or(f64::NAN),
            size["floor_deltalake_direct_records_per_s"].as_f64().unwrap_or(f64::NAN),
            size["floor_deltalake_direct_mb_per_s"].as_f64().unwrap_or(f64::NAN),
            size["ratio_weir_to_floor"].as_f64().unwrap_or(f64::NAN),
        );
    }
    println!("report: {}", file.display());
    Ok(())
}

fn avro() -> Result<()> {
    let report = bench("avro", &[])?;
    let file = save("avro", &report)?;
    let f = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "Avro decoding, {} messages of ~300 B: weir {:.0} records/s ({:.1} MB/s); arrow-avro alone {:.0} records/s; ratio {:.2}; weir's JSON decoding of the same records {:.0} records/s; apache-avro to Arrow {:.0} records/s\nreport: {}",
        report["messages"],
        f("weir_avro_records_per_s"),
        f("weir_avro_mb_per_s"),
        f("floor_arrow_avro_records_per_s"),
        f("ratio_weir_avro_to_floor"),
        f("weir_json_records_per_s"),
        f("apache_avro_to_arrow_records_per_s"),
        file.display()
    );
    Ok(())
}

fn iceberg() -> Result<()> {
    let report = bench("iceberg", &[])?;
    let file = save("iceberg", &report)?;
    for size in report["sizes"].as_array().into_iter().flatten() {
        let f = |k: &str| size[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "generator -> Iceberg (SQLite catalog), {} rows in batches of {}: weir {:.0} records/s ({:.1} MB/s, {:.1} CPU s); iceberg-rust append direct {:.0} records/s ({:.1} MB/s, {:.1} CPU s); ratio {:.2}",
            report["rows"],
            size["batch_size"],
            f("weir_generator_to_iceberg_records_per_s"),
            f("weir_generator_to_iceberg_mb_per_s"),
            median(&size["weir_cpu_seconds"]),
            f("floor_iceberg_rust_append_records_per_s"),
            f("floor_iceberg_rust_append_mb_per_s"),
            median(&size["floor_cpu_seconds"]),
            f("ratio_weir_to_floor"),
        );
    }
    println!("report: {}", file.display());
    Ok(())
}

fn postgres() -> Result<()> {
    let bin = crate::tools::ensure_postgres()?;
    let report = bench("postgres", &[("WEIR_TEST_PG_BIN", bin)])?;
    let file = save("postgres", &report)?;
    for size in report["sizes"].as_array().into_iter().flatten() {
        let f = |k: &str| size[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "generator -> PostgreSQL, {} rows in batches of {}: weir {:.0} records/s ({:.1} MB/s, {:.1} CPU s); tokio-postgres COPY direct {:.0} records/s ({:.1} MB/s, {:.1} CPU s); ratio {:.2}",
            report["rows"],
            size["batch_size"],
            f("weir_generator_to_postgres_records_per_s"),
            f("weir_generator_to_postgres_mb_per_s"),
            median(&size["weir_cpu_seconds"]),
            f("floor_tokio_postgres_copy_records_per_s"),
            f("floor_tokio_postgres_copy_mb_per_s"),
            median(&size["floor_cpu_seconds"]),
            f("ratio_weir_to_floor"),
        );
    }
    println!(
        "peak RSS: weir {:.0} MB, the floor's process {:.0} MB",
        report["weir_peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        report["floor_peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    println!("report: {}", file.display());
    Ok(())
}

/// The median of a report's array of numbers.
fn median(v: &serde_json::Value) -> f64 {
    let mut v: Vec<f64> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_f64())
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn kafka() -> Result<()> {
    let tansu = crate::tools::ensure_tansu()?;
    let report = bench("kafka", &[("WEIR_TEST_TANSU", tansu)])?;
    let file = save("kafka", &report)?;
    let list = |k: &str| numbers(&report, k);
    println!(
        "Kafka -> null, {} messages of ~300 B: weir {} records/s ({} MB/s); raw rdkafka floor {} records/s ({} MB/s); ratio {:.2}",
        report["messages"],
        list("weir_kafka_to_null_records_per_s"),
        list("weir_kafka_to_null_mb_per_s"),
        list("raw_floor_records_per_s"),
        list("raw_floor_mb_per_s"),
        report["ratio_weir_to_floor"].as_f64().unwrap_or(f64::NAN)
    );
    let cpu = |k: &str| -> f64 {
        let v: Vec<f64> = report[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_f64())
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    println!(
        "CPU for the 1 000 000 messages: weir {:.2} s, floor {:.2} s",
        cpu("weir_cpu_seconds"),
        cpu("raw_floor_cpu_seconds")
    );
    println!("report: {}", file.display());
    Ok(())
}

fn boundary() -> Result<()> {
    let report = bench("boundary", &[])?;
    let file = save("boundary", &report)?;

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
    println!("isolation: process, generator -> null, per batch (two socket crossings):");
    println!(
        "  {:>10}  {:>12}  {:>16}  {:>16}",
        "batch", "Arrow bytes", "in-process µs", "isolation µs"
    );
    for b in report["isolation"].as_array().into_iter().flatten() {
        println!(
            "  {:>10}  {:>12}  {:>16.1}  {:>16.1}",
            b["batch_size"],
            b["batch_arrow_bytes"],
            b["in_process_per_batch_us"].as_f64().unwrap_or(f64::NAN),
            b["isolation_cost_per_batch_us"]
                .as_f64()
                .unwrap_or(f64::NAN),
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
