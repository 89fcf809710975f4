//! Secrets never leak (logs, /metrics, /health, /pipelines, the status page): every secret
//! option of every shipped connector (the fields their options schemas mark `writeOnly`,
//! found through `weir plugins --json`), the passwords that
//! sit in addresses and the schema registry's, each set to a recognisable value and pointed at a
//! closed 127.0.0.1 port so the connector fails or retries. Every output channel is searched
//! for the values: `weir validate`, `weir run`'s text and JSON logs at debug level and its
//! error exit, `/metrics`, `/health/live` and `/health/ready` while it retries, and
//! `weir plugins` (text and JSON).

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::*;

/// One manifest's worth of secrets: a connector's address and options, with the secret
/// values in them.
struct Group {
    name: String,
    manifest: Manifest,
    secrets: Vec<String>,
    /// The schema fields this group sets, as `plugin.field`.
    covers: Vec<String>,
}

fn secret(group: &str, field: &str) -> String {
    format!("LeAk-{group}-{field}-Q7zR")
}

/// A connector's group: its secrets in `options` (field -> value made by [`secret`]) and the
/// address; a source feeds `null://`, a sink is fed by a generator.
fn group(
    name: &str,
    plugin: &str,
    is_source: bool,
    address: String,
    fields: &[&str],
    extra: Value,
) -> Group {
    let mut m = if is_source {
        Manifest::new(name).source(address).sink("null://")
    } else {
        Manifest::new(name)
            .source("generator://?count=100&seed=1")
            .sink(address)
    };
    let set = |m: Manifest, k: &str, v: Value| {
        if is_source {
            m.source_option(k, v)
        } else {
            m.sink_option(k, v)
        }
    };
    let mut secrets = Vec::new();
    for (k, v) in extra.as_object().expect("options") {
        m = set(m, k, v.clone());
    }
    for f in fields {
        let s = secret(name, f);
        m = set(m, f, Value::from(s.as_str()));
        secrets.push(s);
    }
    Group {
        name: name.into(),
        manifest: m,
        secrets,
        covers: fields.iter().map(|f| format!("{plugin}.{f}")).collect(),
    }
}

fn source(name: &str, plugin: &str, address: String, fields: &[&str], extra: Value) -> Group {
    group(name, plugin, true, address, fields, extra)
}

fn sink(name: &str, plugin: &str, address: String, fields: &[&str], extra: Value) -> Group {
    group(name, plugin, false, address, fields, extra)
}

/// Adds a secret that sits inside the address or another option (written by the caller).
fn with(mut g: Group, value: &str) -> Group {
    g.secrets.push(value.to_string());
    g
}

/// The `plugin.field` of every `writeOnly` option of the shipped connectors.
fn secret_fields(plugins: &Path) -> BTreeSet<String> {
    let out = output(weir(plugins).args(["plugins", "--json"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let listing: Value = serde_json::from_str(&out.stdout).expect("plugins JSON");
    let mut fields = BTreeSet::new();
    for p in listing["plugins"].as_array().expect("plugins") {
        for c in p["connectors"].as_array().expect("connectors") {
            let props = c["options_schema"]["properties"].as_object();
            for (k, v) in props.into_iter().flatten() {
                if v["writeOnly"] == json!(true) {
                    fields.insert(format!("{}.{k}", p["name"].as_str().unwrap_or("?")));
                }
            }
        }
    }
    fields
}

/// Everything a run of `manifest` prints and serves while it retries, then its exit.
fn channels(plugins: &Path, manifest: &Path, format: &str) -> String {
    let port = free_port();
    let log = manifest.with_extension(format!("{format}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = std::process::Command::new(weir_bin())
        .args(["--log-format", format, "--plugin-dir"])
        .arg(plugins)
        .env("WEIR_LOG", "debug")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("run")
        .arg(manifest)
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("start weir");
    let mut served = String::new();
    let mut child = child;
    let mut exited = None;
    // Until the pipeline has retried once (its sink or source is unreachable) or exited; a
    // Kafka source polling a closed port neither retries nor exits, and is searched after
    // 20 s of that.
    eventually(Duration::from_secs(20), || {
        if let Some(status) = child.try_wait().ok().flatten() {
            exited = Some(status);
            return true;
        }
        let metrics = http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let retried = metrics
            .lines()
            .any(|l| l.starts_with("weir_retries_total{") && !l.ends_with(" 0"));
        if retried {
            served = metrics;
        }
        retried
    });
    for path in ["/health/live", "/health/ready", "/pipelines", "/"] {
        if let Some((_, body)) = http_get(port, path) {
            served.push_str(&body);
        }
    }
    if exited.is_none() {
        signal(&child, libc::SIGTERM);
    }
    let status = child.wait().expect("wait");
    let logged = std::fs::read_to_string(&log).expect("read the log");
    // The pipeline ran (the secrets reached the connector), at debug level.
    assert!(
        logged.contains("starting") && logged.contains("DEBUG"),
        "{format} run of {}: the pipeline never started ({status}):\n{logged}",
        manifest.display()
    );
    format!("{served}\n{status}\n{logged}")
}

fn check(groups: Vec<Group>) {
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    for g in &groups {
        let m = scratch.write(&g.manifest);
        let validate = output(weir(&plugins).arg("validate").arg(&m));
        let mut seen = format!("{}\n{}", validate.stdout, validate.stderr);
        for format in ["json", "text"] {
            seen.push_str(&channels(&plugins, &m, format));
        }
        for s in &g.secrets {
            assert!(
                !seen.contains(s),
                "{}: the secret {s} was printed or served:\n{seen}",
                g.name
            );
        }
        // The runs did something worth searching: the debug logs name the pipeline.
        assert!(
            seen.contains(&g.name),
            "{}: nothing was logged:\n{seen}",
            g.name
        );
    }
    for args in [&["plugins"][..], &["plugins", "--json"][..]] {
        let out = output(weir(&plugins).args(args));
        assert!(!out.stdout.contains("LeAk-"), "{args:?}: {}", out.stdout);
    }
}

fn closed() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[test]
fn every_secret_field_is_covered_here() {
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let covered: BTreeSet<String> = [kafka(), nats(), postgres(), lakes(Path::new("/lake"))]
        .into_iter()
        .flatten()
        .flat_map(|g| g.covers)
        .collect();
    let missing: Vec<String> = secret_fields(&plugins)
        .difference(&covered)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "secret fields no test sets: {missing:?}"
    );
}

fn kafka() -> Vec<Group> {
    let address = || {
        format!(
            "kafka://?bootstrap_servers={}&group_id=leak&security_protocol=SASL_PLAINTEXT&sasl_mechanisms=PLAIN&sasl_username=weir",
            closed()
        )
    };
    let fields = [
        "sasl_password",
        "ssl_key_password",
        "ssl_truststore_password",
    ];
    let registry = format!("http://{}", closed());
    let plain = || format!("kafka://?bootstrap_servers={}&group_id=leak", closed());
    vec![
        source(
            "kafka-sasl",
            "kafka",
            address(),
            &fields,
            json!({"source_table": "t"}),
        ),
        source(
            "kafka-registry",
            "core",
            plain(),
            &["schema_registry_password"],
            json!({"source_table": "t", "format": "avro", "schema_registry_url": registry,
                   "schema_registry_username": "weir"}),
        ),
        source(
            "kafka-registry-token",
            "core",
            plain(),
            &["schema_registry_token"],
            json!({"source_table": "t", "format": "avro", "schema_registry_url": registry}),
        ),
    ]
}

fn nats() -> Vec<Group> {
    let address = || format!("nats+jetstream://{}?subject=a", closed());
    let password = secret("nats-address", "password");
    vec![
        with(
            source(
                "nats-address",
                "nats",
                format!("nats+jetstream://weir:{password}@{}?subject=a", closed()),
                &[],
                json!({"source_table": "S"}),
            ),
            &password,
        ),
        source(
            "nats-token",
            "nats",
            address(),
            &["token"],
            json!({"source_table": "S"}),
        ),
        source(
            "nats-nkey",
            "nats",
            address(),
            &["nkeys_seed"],
            json!({"source_table": "S"}),
        ),
    ]
}

fn postgres() -> Vec<Group> {
    let password = secret("pg-address", "password");
    vec![
        with(
            sink(
                "pg-address",
                "postgres",
                format!("postgresql://weir:{password}@{}/db", closed()),
                &[],
                json!({"dest_table": "t"}),
            ),
            &password,
        ),
        sink(
            "pg-option",
            "postgres",
            format!("postgresql://weir@{}/db", closed()),
            &["password"],
            json!({"dest_table": "t"}),
        ),
    ]
}

fn lakes(root: &Path) -> Vec<Group> {
    let embedded = |name: &str| format!("iceberg://{}", root.join(name).display());
    let aws = ["aws_secret_access_key", "aws_session_token"];
    let endpoint = || {
        json!({"aws_endpoint": format!("http://{}", closed()), "aws_region": "us-east-1",
               "aws_access_key_id": "weir", "dest_table": "ns.t"})
    };
    let rest = || format!("iceberg+rest://{}?warehouse=lake", closed());
    let catalog_uri = format!(
        "postgresql://weir:{}@{}/db",
        secret("ice-sql", "catalog_uri"),
        closed()
    );
    vec![
        sink("delta-s3", "delta", "s3://lake/t".into(), &aws, endpoint()),
        sink("ice-s3", "iceberg", embedded("ice-s3"), &aws, {
            let mut o = endpoint();
            o["warehouse"] = json!("s3://lake/wh");
            o
        }),
        sink(
            "ice-token",
            "iceberg",
            rest(),
            &["token"],
            json!({"dest_table": "ns.t"}),
        ),
        sink(
            "ice-oauth",
            "iceberg",
            rest(),
            &["client_secret"],
            json!({"dest_table": "ns.t", "client_id": "weir"}),
        ),
        with(
            {
                let mut g = sink(
                    "ice-sql",
                    "iceberg",
                    embedded("ice-sql"),
                    &[],
                    json!({"dest_table": "ns.t", "catalog_uri": catalog_uri}),
                );
                g.covers.push("iceberg.catalog_uri".into());
                g
            },
            &secret("ice-sql", "catalog_uri"),
        ),
    ]
}

#[test]
fn kafka_and_registry_secrets_never_leak() {
    check(kafka());
}

#[test]
fn nats_secrets_never_leak() {
    check(nats());
}

#[test]
fn postgres_secrets_never_leak() {
    check(postgres());
}

#[test]
fn lake_secrets_never_leak() {
    let root = tempfile::tempdir().expect("lake root");
    check(lakes(root.path()));
}
