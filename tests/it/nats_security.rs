//! The NATS source's logins and TLS against nats-servers configured to require them: TLS with
//! a private CA and a user and password, mutual TLS with an NKey, a token, and a `.creds` file
//! (a user JWT of an operator-mode server). Each works (every
//! message lands once) and each wrong credential or untrusted certificate is one clear error
//! (exit 2) that never prints the secret.

use serde_json::Value;
use std::path::{Path, PathBuf};
use weir_tests::certs::Certs;
use weir_tests::manifest::Manifest;
use weir_tests::nats::{json_ids, NatsServer, Tls};
use weir_tests::*;

const PASSWORD: &str = "nats-Pass-7d1e";
const TOKEN: &str = "nats-Token-c4b9";
const ADMIN: &str = "admin:admin-Pass-01f3";

/// A run of `manifest`, with `secret` as `$NATS_SECRET`: the exit and what was printed, which
/// never holds the secret.
fn run(plugins: &Path, manifest: &Path, secret: &str) -> Outcome {
    let out = output(
        weir(plugins)
            .env("NATS_SECRET", secret)
            .arg("run")
            .arg(manifest),
    );
    assert!(
        !out.stderr.contains(secret) && !out.stdout.contains(secret),
        "the secret was printed: {}",
        out.stderr
    );
    out
}

/// The stream `EVENTS` with 2 000 messages.
fn fill(server: &NatsServer) {
    server.tool(&["stream", "EVENTS", "events.>"]);
    let out = server.tool(&["publish", "events", "0", "2000"]);
    assert_eq!(out["published"], 2000);
}

struct Case<'a> {
    name: &'a str,
    /// The address's user info (`user:{NATS_SECRET}@`), or empty.
    login: &'a str,
    options: Vec<(&'a str, Value)>,
}

fn manifest(scratch: &Scratch, server: &NatsServer, lake: &Path, case: &Case) -> PathBuf {
    let mut m = Manifest::new(case.name)
        .source(format!(
            "nats+jetstream://{}{}?subject=events.>&durable={}",
            case.login,
            server.host_port(),
            case.name
        ))
        .source_option("source_table", "EVENTS")
        .sink(lake)
        .sink_option("dest_table", case.name);
    for (k, v) in &case.options {
        m = m.source_option(k, v.clone());
    }
    scratch.write(&m)
}

/// Runs `good` with `secret` (every message of the filled stream once), then each of `bad` with its secret: exit 2
/// with one error line saying what it must.
fn check(server: &NatsServer, good: (Case, &str), bad: Vec<(Case, &str, &str)>) {
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir("plugins", &shipped_plugins());
    let lake = scratch.join("lake");
    let (case, secret) = good;
    let out = run(&plugins, &manifest(&scratch, server, &lake, &case), secret);
    assert_eq!(out.code, Some(0), "{}: {}", case.name, out.stderr);
    let ids = json_ids(&lake.join(case.name));
    assert_eq!(
        (ids["rows"].clone(), ids["distinct"].clone()),
        (2000.into(), 2000.into()),
        "{}: {ids}",
        case.name
    );
    for (case, secret, says) in bad {
        let out = run(&plugins, &manifest(&scratch, server, &lake, &case), secret);
        assert_eq!(out.code, Some(2), "{}: {}", case.name, out.stderr);
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{}: one error: {}", case.name, out.stderr);
        assert!(errors[0].contains(says), "{}: {}", case.name, errors[0]);
    }
}

fn tls_block(certs: &Certs, verify: bool) -> String {
    let mut block = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
        certs.server_cert.display(),
        certs.server_key.display()
    );
    if verify {
        block.push_str(&format!(
            "  ca_file: \"{}\"\n  verify: true\n",
            certs.ca.display()
        ));
    }
    block + "}\n"
}

fn harness_tls(certs: &Certs) -> Tls {
    Tls {
        ca: certs.ca.clone(),
        client: (certs.client_cert.clone(), certs.client_key.clone()),
    }
}

#[test]
fn tls_with_a_private_ca_and_a_password() {
    let dir = tempfile::tempdir().expect("certs dir");
    let certs = Certs::make(dir.path());
    let (user, admin_pw) = ADMIN.split_once(':').expect("admin");
    let config = format!(
        "{}authorization {{\n  users: [\n    {{user: weir, password: \"{PASSWORD}\"}}\n    {{user: {user}, password: \"{admin_pw}\"}}\n  ]\n}}\n",
        tls_block(&certs, false)
    );
    let server = NatsServer::start_secured(&config, Some(ADMIN), Some(harness_tls(&certs)));
    let ca = certs.ca.display().to_string();
    let good = Case {
        name: "tls_password",
        login: "weir:{NATS_SECRET}@",
        options: vec![("tls_ca", ca.clone().into())],
    };
    let wrong = Case {
        name: "wrong_password",
        login: "weir:{NATS_SECRET}@",
        options: vec![("tls_ca", ca.into())],
    };
    let untrusted = Case {
        name: "untrusted",
        login: "weir:{NATS_SECRET}@",
        options: vec![("tls", true.into())],
    };
    fill(&server);
    check(
        &server,
        (good, PASSWORD),
        vec![
            (wrong, "not-the-Password-2", "refused the login"),
            (untrusted, PASSWORD, "check tls_ca"),
        ],
    );
}

#[test]
fn mutual_tls_with_an_nkey() {
    let dir = tempfile::tempdir().expect("certs dir");
    let certs = Certs::make(dir.path());
    let key = nkeys::KeyPair::new_user();
    let seed = key.seed().expect("seed");
    let (user, admin_pw) = ADMIN.split_once(':').expect("admin");
    let config = format!(
        "{}authorization {{\n  users: [\n    {{nkey: {}}}\n    {{user: {user}, password: \"{admin_pw}\"}}\n  ]\n}}\n",
        tls_block(&certs, true),
        key.public_key()
    );
    let server = NatsServer::start_secured(&config, Some(ADMIN), Some(harness_tls(&certs)));
    let files = |name: &'static str| Case {
        name,
        login: "",
        options: vec![
            ("tls_ca", certs.ca.display().to_string().into()),
            ("tls_cert", certs.client_cert.display().to_string().into()),
            ("tls_key", certs.client_key.display().to_string().into()),
            ("nkeys_seed", "{NATS_SECRET}".into()),
        ],
    };
    let other = nkeys::KeyPair::new_user().seed().expect("seed");
    fill(&server);
    check(
        &server,
        (files("mtls_nkey"), &seed),
        vec![(files("unknown_nkey"), &other, "refused the login")],
    );
}

#[test]
fn a_token() {
    let config = format!("authorization {{\n  token: \"{TOKEN}\"\n}}\n");
    let server = NatsServer::start_secured(&config, Some(TOKEN), None);
    let case = |name: &'static str| Case {
        name,
        login: "",
        options: vec![("token", "{NATS_SECRET}".into())],
    };
    fill(&server);
    check(
        &server,
        (case("token"), TOKEN),
        vec![(case("wrong_token"), "nats-Token-wrong", "refused the login")],
    );
}

/// Publishes what [`fill`] does, logged in with a `.creds` file (nats-py needs the `nkeys`
/// package for that, which the venv lacks; the messages are plain JSON either way).
async fn fill_with_creds(url: &str, creds: &Path) {
    let client = async_nats::ConnectOptions::with_credentials_file(creds)
        .await
        .expect("creds")
        .connect(url)
        .await
        .expect("connect with creds");
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "EVENTS".into(),
        subjects: vec!["events.>".into()],
        ..Default::default()
    })
    .await
    .expect("stream");
    for i in 0..2000u64 {
        let body = serde_json::json!({"id": i}).to_string();
        js.publish(format!("events.{}", i % 4), body.into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
}

#[test]
fn a_creds_file_of_an_operator_mode_server() {
    let operator = weir_tests::nats_jwt::Operator::new();
    let server = NatsServer::start_secured(&operator.server_config(), None, None);
    let dir = tempfile::tempdir().expect("creds dir");
    let (weir_creds, other_creds) = (
        dir.path().join("weir.creds"),
        dir.path().join("other.creds"),
    );
    operator.user_creds(&weir_creds, "weir");
    // A user of an account the server does not know.
    weir_tests::nats_jwt::Operator::new().user_creds(&other_creds, "stranger");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fill_with_creds(&server.url(), &weir_creds));
    let case = |name: &'static str, file: &Path| Case {
        name,
        login: "",
        options: vec![("creds_file", file.display().to_string().into())],
    };
    // The secret is the seed inside the file: read it back to check it is never printed.
    let seed = |file: &Path| {
        let text = std::fs::read_to_string(file).expect("creds");
        text.lines()
            .find(|l| l.starts_with("SU"))
            .expect("a seed line")
            .to_string()
    };
    check(
        &server,
        (case("creds", &weir_creds), &seed(&weir_creds)),
        vec![(
            case("unknown_account", &other_creds),
            &seed(&other_creds),
            "refused the login",
        )],
    );
}
