//! The status page at `/`: one server-rendered HTML page, no scripts and no external assets,
//! with every pipeline's state, rates, lag, last commit and last error, reloading itself every
//! two seconds. It shows what `GET /pipelines` returns.

use crate::status::View;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "3 s ago" for a Unix ms time.
fn ago(at_ms: Option<u64>, now_ms: u64) -> String {
    match at_ms {
        None => "never".into(),
        Some(t) => {
            let s = now_ms.saturating_sub(t) / 1000;
            match s {
                0..=59 => format!("{s} s ago"),
                60..=3599 => format!("{} min ago", s / 60),
                _ => format!("{} h ago", s / 3600),
            }
        }
    }
}

/// The page for these pipelines.
pub fn render(views: &[View], now_ms: u64) -> String {
    let mut rows = String::new();
    for v in views {
        let lag: i64 = v.lag.values().sum();
        let lag = if v.lag.is_empty() {
            "–".to_string()
        } else {
            lag.to_string()
        };
        let error = v
            .last_error
            .as_ref()
            .map(|e| format!("{} ({})", esc(&e.message), ago(Some(e.at_ms), now_ms)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr data-name=\"{name}\"><td class=name>{name}</td><td class=\"state {state}\">{state}</td><td>{src}</td><td>{snk}</td><td class=num data-field=records_out>{out}</td><td class=num data-field=records_per_s>{rate:.1}</td><td class=num data-field=lag>{lag}</td><td>{commit}</td><td class=num>{restarts}</td><td class=error>{error}</td></tr>\n",
            name = esc(&v.name),
            state = v.state,
            src = esc(&format!("{} {}", v.source.plugin, v.source.address)),
            snk = esc(&format!("{} {}", v.sink.plugin, v.sink.address)),
            out = v.records_out,
            rate = v.records_per_s,
            commit = ago(v.last_commit_ms, now_ms),
            restarts = v.restarts,
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>weir: {count} pipeline{plural}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #1b1f24; }}
h1 {{ font-size: 1.3em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .35em .6em; border-bottom: 1px solid #d8dee4; vertical-align: top; }}
th {{ background: #f3f5f7; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.state {{ font-weight: 600; }}
.running {{ color: #1a7f37; }} .retrying, .draining, .starting {{ color: #9a6700; }}
.paused {{ color: #0969da; }} .failed {{ color: #cf222e; }} .stopped {{ color: #57606a; }}
td.error {{ color: #cf222e; max-width: 30em; word-break: break-word; }}
footer {{ margin-top: 1em; color: #57606a; }}
</style>
</head>
<body>
<h1>weir: {count} pipeline{plural}</h1>
<table id="pipelines">
<thead><tr><th>pipeline</th><th>state</th><th>source</th><th>sink</th><th>records out</th><th>records/s (1 min)</th><th>lag</th><th>last commit</th><th>restarts</th><th>last error</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<footer>Refreshes every 2 s. JSON: <a href="/pipelines">/pipelines</a> · <a href="/metrics">/metrics</a> · <a href="/health/ready">/health/ready</a> · <a href="/openapi.json">/openapi.json</a></footer>
</body>
</html>
"#,
        count = views.len(),
        plural = if views.len() == 1 { "" } else { "s" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    #[test]
    fn the_page_escapes_and_shows_every_pipeline() {
        let a = Status::new("a<b");
        a.error("sink write: <down>".into(), None, true);
        let page = render(
            &[a.view(), Status::new("c").view()],
            crate::service::now_ms(),
        );
        assert!(page.contains("<td class=name>a&lt;b</td>"), "{page}");
        assert!(page.contains("sink write: &lt;down&gt;"), "{page}");
        assert!(page.contains("data-name=\"c\""), "{page}");
        assert!(page.contains("weir: 2 pipelines"), "{page}");
    }
}
