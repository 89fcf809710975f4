//! `weir plugins`: what is installed, with versions and the schemes each plugin serves.

use crate::loader::Registry;
use std::fmt::Write;

/// The listing as text, or as JSON with `json`.
pub fn render(registry: &Registry, json: bool) -> String {
    if json {
        let plugins: Vec<serde_json::Value> = registry
            .plugins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "sdk_version": p.info.sdk_version,
                    "abi_version": p.info.abi_version,
                    "path": p.path.display().to_string(),
                    "connectors": p.info.connectors.iter().map(|c| serde_json::json!({
                        "kind": c.kind.as_str(),
                        "scheme": c.scheme,
                        "description": c.description,
                        "typed_output": c.typed_output,
                        "exactly_once": c.exactly_once,
                        "options_schema": serde_json::from_str::<serde_json::Value>(&c.options_schema)
                            .unwrap_or(serde_json::Value::Null),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = serde_json::json!({"plugin_dir": registry.dir.display().to_string(), "plugins": plugins});
        return format!("{doc:#}\n");
    }
    let mut out = String::new();
    let _ = writeln!(out, "plugins in {}:", registry.dir.display());
    if registry.plugins.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for p in &registry.plugins {
        let file = p
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}  (weir-sdk {}, ABI {})  {}",
            p.info.name, p.info.version, p.info.sdk_version, p.info.abi_version, file
        );
        for c in &p.info.connectors {
            let mut notes = Vec::new();
            if c.typed_output {
                notes.push("typed output");
            }
            if c.exactly_once {
                notes.push("exactly-once");
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" [{}]", notes.join(", "))
            };
            let _ = writeln!(
                out,
                "    {:<6} {:<18} {}{}",
                c.kind.as_str(),
                format!("{}://", c.scheme),
                c.description,
                notes
            );
        }
    }
    out
}
