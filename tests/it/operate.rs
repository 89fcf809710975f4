//! What an operator looks at, against one weir with a flowing and a paused pipeline: the status
//! page in headless Chromium (Debian's package) agrees with `/pipelines`; `weir top` under tmux
//! shows both and quits on `q`; schemathesis (PyPI) runs the OpenAPI document against the
//! server and finds no 5xx and no response outside its schema.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use weir_tests::manifest::Manifest;
use weir_tests::running::Running;
use weir_tests::*;

const TOKEN: &str = "op-4c2e";

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// One weir with `flowing` (generator -> null, looping) and `paused` (the same, then paused).
struct Served {
    _run: Running,
    port: u16,
    scratch: Scratch,
}

fn served() -> Served {
    let scratch = Scratch::new();
    let plugins = scratch.plugin_dir(
        "plugins",
        &[
            library("weir_plugin_generator"),
            library("weir_plugin_console"),
        ],
    );
    let dir = scratch.join("manifests");
    std::fs::create_dir_all(&dir).expect("dir");
    for name in ["flowing", "paused"] {
        Manifest::new(name)
            .source("generator://?rate=2000&seed=1")
            .source_option("run_in_loop", true)
            .source_option("batch_size", 500)
            .source_option("batch_timeout", 1)
            .sink("null://")
            .write_in(&dir);
    }
    let port = free_port();
    let run = Running::serving(&plugins, &dir, port, TOKEN, &scratch.join("weir.log"));
    let state = |name: &str| -> Option<String> {
        let (_, body) = http_get(port, &format!("/pipelines/{name}"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["state"].as_str().map(str::to_string)
    };
    wait_for("both running", Duration::from_secs(60), || {
        state("flowing").as_deref() == Some("running")
            && state("paused").as_deref() == Some("running")
    });
    let (code, body) = http_post(port, "/pipelines/paused/pause", Some(TOKEN)).expect("answer");
    assert_eq!(code, 202, "{body}");
    wait_for("one paused", Duration::from_secs(30), || {
        state("paused").as_deref() == Some("paused")
    });
    Served {
        _run: run,
        port,
        scratch,
    }
}

#[test]
fn the_status_page_agrees_with_the_api_in_chromium() {
    let s = served();
    let url = format!("http://127.0.0.1:{}/", s.port);
    let chromium = tool("WEIR_TEST_CHROMIUM", "/usr/bin/chromium");
    let headless = |extra: &[&str]| {
        let out = Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                s.scratch.join("chromium").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = headless(&["--dump-dom"]);
    let (_, body) = http_get(s.port, "/pipelines").expect("answer");
    let pipelines: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    assert!(dom.contains("weir: 2 pipelines"), "{dom}");
    for p in &pipelines {
        let name = p["name"].as_str().expect("name");
        let row = dom
            .split("<tr ")
            .find(|r| r.starts_with(&format!("data-name=\"{name}\"")))
            .unwrap_or_else(|| panic!("no row for {name}: {dom}"));
        let state = p["state"].as_str().expect("state");
        assert!(
            row.contains(&format!("class=\"state {state}\">{state}</td>")),
            "{name}: {state} in {row}"
        );
        assert!(row.contains("generator"), "{row}");
    }
    // The README's picture, from this run.
    let shot = s.scratch.join("status-page.png");
    headless(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1400,260",
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    if std::env::var_os("WEIR_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(&shot, root().join("docs/status-page.png")).expect("copy the screenshot");
    }
}

#[test]
fn weir_top_shows_every_pipeline_under_tmux_and_quits_on_q() {
    let s = served();
    let tmux = tool("WEIR_TEST_TMUX", "/usr/bin/tmux");
    let socket = format!("weir-top-{}", std::process::id());
    let t = |args: &[&str]| {
        Command::new(&tmux)
            .arg("-L")
            .arg(&socket)
            .args(args)
            .output()
            .expect("run tmux")
    };
    let top = format!(
        "{} top --url http://127.0.0.1:{}",
        weir_bin().display(),
        s.port
    );
    let started = t(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "12",
        &top,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen =
        || String::from_utf8_lossy(&t(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned();
    wait_for(
        "both pipelines on the screen",
        Duration::from_secs(30),
        || {
            let sc = screen();
            sc.lines()
                .any(|l| l.starts_with("flowing") && l.contains("running"))
                && sc
                    .lines()
                    .any(|l| l.starts_with("paused") && l.contains("paused"))
        },
    );
    assert!(screen().contains("PIPELINE"), "{}", screen());
    t(&["send-keys", "-t", "top", "q"]);
    wait_for("weir top to quit", Duration::from_secs(10), || {
        !t(&["has-session", "-t", "top"]).status.success()
    });
    let _ = t(&["kill-server"]);
}

/// `st run` against the served document with `args`; its output, failing the test if it fails.
fn schemathesis(s: &Served, args: &[&str]) -> String {
    let out = Command::new(python().with_file_name("st"))
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/openapi.json", s.port))
        .args(["--max-examples", "25", "--header"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(s.scratch.path())
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_schema() {
    let s = served();
    // Every operation but readiness: no 5xx, every answer as described. With the token,
    // its stateful phase pauses, resumes and restarts the pipelines it finds.
    let text = schemathesis(
        &s,
        &[
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--exclude-path",
            "/health/ready",
        ],
    );
    assert!(text.contains("7 selected"), "{text}");
    // Readiness answers 503 by design while a pipeline restarts: only its form is checked.
    let text = schemathesis(
        &s,
        &[
            "--checks",
            "response_schema_conformance,content_type_conformance",
            "--include-path",
            "/health/ready",
        ],
    );
    assert!(text.contains("1 selected"), "{text}");
}
