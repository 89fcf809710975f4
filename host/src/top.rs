//! `weir top`: a terminal view of every pipeline of a running weir (its `GET /pipelines`):
//! state, rate, lag, last commit, restarts and last error, redrawn each second; `q` (or
//! Ctrl-C) quits. Not on a terminal, it prints one snapshot and exits.

use crate::failure::Failure;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

/// The terminal in raw mode (no echo, no line buffering) until dropped.
struct Raw(Option<libc::termios>);

impl Raw {
    fn enter() -> Self {
        // SAFETY: tcgetattr/tcsetattr on stdin with a termios we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Self(None);
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Self(Some(saved))
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restoring the settings read at enter.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// `GET /pipelines` of `base` (`http://HOST:PORT`).
fn fetch(base: &url::Url) -> Result<Vec<Value>, String> {
    let host = base.host_str().ok_or("the URL has no host")?;
    let port = base.port_or_known_default().unwrap_or(80);
    let mut s = std::net::TcpStream::connect((host, port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /pipelines HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str::<Vec<Value>>(body)
        .map_err(|e| format!("not a weir /pipelines answer: {e}"))
}

/// At most `n` characters, control characters (a record's escape codes) as spaces.
fn cut(s: &str, n: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() <= n {
        s
    } else {
        s.chars().take(n.saturating_sub(1)).chain(['…']).collect()
    }
}

/// One screen: a header, a row per pipeline, the keys.
fn frame(base: &url::Url, fetched: &Result<Vec<Value>, String>, now_ms: u64) -> String {
    let mut out = format!("weir top: {base}  (q quits)\r\n\r\n");
    out.push_str(&format!(
        "{:<24} {:<9} {:>10} {:>10} {:>12} {:>8}  {}\r\n",
        "PIPELINE", "STATE", "RECORDS/S", "LAG", "LAST COMMIT", "RESTARTS", "LAST ERROR"
    ));
    match fetched {
        Err(e) => out.push_str(&format!("cannot read {base}pipelines: {e}\r\n")),
        Ok(pipelines) => {
            for p in pipelines {
                let lag = p["lag"]
                    .as_object()
                    .filter(|m| !m.is_empty())
                    .map(|m| {
                        m.values()
                            .filter_map(Value::as_i64)
                            .sum::<i64>()
                            .to_string()
                    })
                    .unwrap_or_else(|| "-".into());
                let commit = p["last_commit_ms"]
                    .as_u64()
                    .map(|t| format!("{} s ago", now_ms.saturating_sub(t) / 1000))
                    .unwrap_or_else(|| "never".into());
                out.push_str(&format!(
                    "{:<24} {:<9} {:>10.1} {:>10} {:>12} {:>8}  {}\r\n",
                    cut(p["name"].as_str().unwrap_or("?"), 24),
                    p["state"].as_str().unwrap_or("?"),
                    p["records_per_s"].as_f64().unwrap_or(0.0),
                    lag,
                    commit,
                    p["restarts"].as_u64().unwrap_or(0),
                    cut(p["last_error"]["message"].as_str().unwrap_or(""), 60),
                ));
            }
        }
    }
    out
}

/// Waits up to `d` for a key; whether it asks to quit.
fn quit_pressed(d: Duration) -> bool {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll(2) on one pollfd we own.
    let ready = unsafe { libc::poll(&mut fds, 1, d.as_millis() as libc::c_int) };
    if ready <= 0 {
        return false;
    }
    let mut buf = [0u8; 16];
    let n = std::io::stdin().read(&mut buf).unwrap_or(0);
    buf[..n].iter().any(|b| matches!(b, b'q' | b'Q' | 3))
}

/// Runs the view against `url` until `q`.
pub fn run(url: &str) -> Result<(), Failure> {
    let base = url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "http" && u.host_str().is_some())
        .ok_or_else(|| {
            Failure::manifest(format!(
                "--url `{url}`: give the address weir run serves, e.g. http://127.0.0.1:9464"
            ))
        })?;
    let stdout = std::io::stdout();
    if !stdout.is_terminal() || !std::io::stdin().is_terminal() {
        let fetched = fetch(&base);
        print!(
            "{}",
            frame(&base, &fetched, crate::service::now_ms()).replace("\r\n", "\n")
        );
        return fetched
            .map(|_| ())
            .map_err(|e| Failure::runtime(format!("{base}: {e}")));
    }
    let _raw = Raw::enter();
    let mut out = stdout.lock();
    // The alternate screen, cursor hidden; both put back on the way out.
    let _ = write!(out, "\x1b[?1049h\x1b[?25l");
    loop {
        let fetched = fetch(&base);
        let _ = write!(
            out,
            "\x1b[H\x1b[2J{}",
            frame(&base, &fetched, crate::service::now_ms())
        );
        let _ = out.flush();
        if quit_pressed(Duration::from_secs(1)) {
            break;
        }
    }
    let _ = write!(out, "\x1b[?25h\x1b[?1049l");
    let _ = out.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_has_a_row_per_pipeline_and_says_when_weir_is_unreachable() {
        let base = url::Url::parse("http://127.0.0.1:9464").unwrap();
        let p = serde_json::json!([{"name": "orders", "state": "retrying", "records_per_s": 12.5,
            "lag": {"t/0": 3, "t/1": 4}, "last_commit_ms": 1_000, "restarts": 2,
            "last_error": {"message": "sink write: connection refused"}}]);
        let f = frame(&base, &Ok(p.as_array().unwrap().clone()), 11_000);
        let row = f.lines().find(|l| l.starts_with("orders")).expect("a row");
        for want in [
            "retrying",
            "12.5",
            " 7 ",
            "10 s ago",
            "sink write: connection refused",
        ] {
            assert!(row.contains(want), "{want} in {row}");
        }
        let down = frame(&base, &Err("connection refused".into()), 0);
        assert!(
            down.contains("cannot read http://127.0.0.1:9464/pipelines"),
            "{down}"
        );
    }
}
