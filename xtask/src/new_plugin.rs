//! `cargo xtask new-plugin NAME --kind source|sink [--path DIR]`: a plugin crate from the
//! templates under `xtask/templates/` (embedded, rendered by placeholder substitution).
//!
//! With `--path` the crate is standalone, as a third party's would be: weir-sdk by absolute
//! path to this checkout's `sdk/`, an empty `[workspace]` table, and a copy of the workspace
//! `Cargo.lock`. Without it the crate goes to `plugins/NAME` as a workspace member (workspace
//! dependencies and lints); add it to `members` in the root `Cargo.toml`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const USAGE: &str =
    "cargo xtask new-plugin NAME --kind source|sink [--path DIR] [--description TEXT]";

/// Source or sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Source,
    Sink,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Sink => "sink",
        }
    }
}

/// What to generate.
#[derive(Debug, PartialEq)]
struct Request {
    name: String,
    kind: Kind,
    path: Option<PathBuf>,
    description: Option<String>,
}

fn parse(args: &[String]) -> Result<Request> {
    let mut name = None;
    let mut kind = None;
    let mut path = None;
    let mut description = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\nusage: {USAGE}"))
        };
        match a.as_str() {
            "--kind" => {
                kind = Some(match value("--kind")?.as_str() {
                    "source" => Kind::Source,
                    "sink" => Kind::Sink,
                    other => bail!("--kind `{other}`: source or sink\nusage: {USAGE}"),
                })
            }
            "--path" => path = Some(PathBuf::from(value("--path")?)),
            "--description" => description = Some(value("--description")?),
            flag if flag.starts_with('-') => bail!("unknown flag `{flag}`\nusage: {USAGE}"),
            n if name.is_none() => name = Some(n.to_string()),
            extra => bail!("unexpected argument `{extra}`\nusage: {USAGE}"),
        }
    }
    let name = name.with_context(|| format!("a NAME is required\nusage: {USAGE}"))?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("NAME `{name}`: lower-case letters, digits and `-`, starting with a letter (it is the URI scheme)");
    }
    let kind = kind.with_context(|| format!("--kind source|sink is required\nusage: {USAGE}"))?;
    Ok(Request {
        name,
        kind,
        path,
        description,
    })
}

/// `file-tail` -> `FileTail`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The README paragraph on what the crate depends on.
fn dependency_note(standalone: bool, sdk: &Path) -> String {
    if standalone {
        format!(
            "The crate depends on `weir-sdk` alone, **by path** ({}): weir-sdk is not\n\
             published on a registry, so the dependency points at the weir checkout that generated\n\
             this crate; move it if you move that checkout. `Cargo.lock` is a copy of that\n\
             checkout's, so arrow, abi_stable and the rest are the versions the host was tested\n\
             with. A plugin built against any weir-sdk `0.1.z` loads in any host of ABI 1 (the\n\
             sdk's `CHANGELOG.md`, \"Versions\").",
            sdk.display()
        )
    } else {
        "A member of the weir workspace: it depends on `weir-sdk` alone (the workspace\n\
         dependency), and `tests/it/arrows.rs` checks that it stays so."
            .to_string()
    }
}

/// Replaces every `{{key}}` of `vars` in `template`; other braces are left alone.
fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// The README's options table for the template's options struct, as `weir_sdk::options::table`
/// renders it (the generated crate's `the_readme_lists_every_option` test checks it).
fn options_table(kind: Kind) -> &'static str {
    match kind {
        Kind::Source => include_str!("../templates/source/options.md"),
        Kind::Sink => include_str!("../templates/sink/options.md"),
    }
}

/// The template files of a kind: (path in the crate, template text).
fn files(kind: Kind, standalone: bool) -> Vec<(&'static str, &'static str)> {
    let manifest = if standalone {
        include_str!("../templates/common/Cargo.out-of-tree.toml")
    } else {
        include_str!("../templates/common/Cargo.in-tree.toml")
    };
    let mut v = vec![
        ("Cargo.toml", manifest),
        ("README.md", include_str!("../templates/common/README.md")),
        (".gitignore", include_str!("../templates/common/gitignore")),
    ];
    match kind {
        Kind::Source => v.extend([
            ("src/lib.rs", include_str!("../templates/source/lib.rs")),
            (
                "src/config.rs",
                include_str!("../templates/source/config.rs"),
            ),
            (
                "src/source.rs",
                include_str!("../templates/source/source.rs"),
            ),
            (
                "tests/loads.rs",
                include_str!("../templates/source/loads.rs"),
            ),
        ]),
        Kind::Sink => v.extend([
            ("src/lib.rs", include_str!("../templates/sink/lib.rs")),
            ("src/config.rs", include_str!("../templates/sink/config.rs")),
            ("src/sink.rs", include_str!("../templates/sink/sink.rs")),
            ("tests/loads.rs", include_str!("../templates/sink/loads.rs")),
        ]),
    }
    v
}

/// Generates the crate; returns its directory.
pub(crate) fn run(args: &[String]) -> Result<PathBuf> {
    let req = parse(args)?;
    let root = crate::root();
    let standalone = req.path.is_some();
    let dir = match &req.path {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => std::env::current_dir()?.join(p),
        None => root.join("plugins").join(&req.name),
    };
    if dir.join("Cargo.toml").exists() || dir.join("src").exists() {
        bail!(
            "{} already holds a crate; choose another --path",
            dir.display()
        );
    }
    let sdk = root.join("sdk");
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    let crate_name = format!("weir-plugin-{}", req.name);
    let description = req
        .description
        .clone()
        .unwrap_or_else(|| format!("A weir {} for {}:// addresses", req.kind.as_str(), req.name));
    let dependency_note = dependency_note(standalone, &sdk);
    let vars = [
        ("dependency_note", dependency_note),
        ("name", req.name.clone()),
        ("Name", camel(&req.name)),
        ("crate", crate_name.clone()),
        ("crate_ident", crate_name.replace('-', "_")),
        ("kind", req.kind.as_str().to_string()),
        ("description", description.replace('"', "'")),
        ("sdk_path", sdk.display().to_string().replace('\\', "/")),
        (
            "options_table",
            options_table(req.kind).trim_end().to_string(),
        ),
    ];
    let mut sources = Vec::new();
    for (rel, template) in files(req.kind, standalone) {
        let path = dir.join(rel);
        write(&path, &render(template, &vars))?;
        if rel.ends_with(".rs") {
            sources.push(path);
        }
    }
    // The templates are formatted for a short name; a longer one moves line breaks.
    let formatted = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&sources)
        .status();
    if !formatted.is_ok_and(|s| s.success()) {
        println!("new-plugin: rustfmt did not run; `cargo fmt` in the crate formats it");
    }
    if standalone {
        let lock = root.join("Cargo.lock");
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copy {}", lock.display()))?;
    }
    println!(
        "new-plugin: {crate_name} ({}) in {}",
        req.kind.as_str(),
        dir.display()
    );
    if standalone {
        println!(
            "new-plugin: cd {} && cargo build && cargo test",
            dir.display()
        );
    } else {
        println!(
            "new-plugin: add \"plugins/{}\" to `members` in the root Cargo.toml, then cargo build --workspace",
            req.name
        );
    }
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_name_kind_and_path() {
        let r = parse(&args(&["file", "--kind", "source", "--path", "/tmp/x"])).unwrap();
        assert_eq!(r.name, "file");
        assert_eq!(r.kind, Kind::Source);
        assert_eq!(r.path, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn refuses_bad_names_and_kinds() {
        assert!(parse(&args(&["File", "--kind", "sink"])).is_err());
        assert!(parse(&args(&["a_b", "--kind", "sink"])).is_err());
        assert!(parse(&args(&["ok", "--kind", "both"])).is_err());
        assert!(parse(&args(&["ok"])).is_err());
    }

    #[test]
    fn renders_known_placeholders_only() {
        let out = render(
            "{{name}} {{Name}} {{\"id\":{i}}}",
            &[("name", "file-tail".into()), ("Name", camel("file-tail"))],
        );
        assert_eq!(out, "file-tail FileTail {{\"id\":{i}}}");
    }

    #[test]
    fn every_placeholder_of_every_template_is_known() {
        let known = [
            "name",
            "Name",
            "crate",
            "crate_ident",
            "kind",
            "description",
            "sdk_path",
            "dependency_note",
            "options_table",
        ];
        for kind in [Kind::Source, Kind::Sink] {
            for standalone in [true, false] {
                for (rel, text) in files(kind, standalone) {
                    let vars: Vec<(&str, String)> =
                        known.iter().map(|k| (*k, "x".to_string())).collect();
                    let out = render(text, &vars);
                    for k in known {
                        assert!(!out.contains(&format!("{{{{{k}}}}}")), "{rel}: {k} left");
                    }
                    // Any `{{word}}` left is a typo in a template.
                    let left = out
                        .match_indices("{{")
                        .filter(|(i, _)| {
                            out[i + 2..].split("}}").next().is_some_and(|w| {
                                !w.is_empty()
                                    && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            })
                        })
                        .count();
                    assert_eq!(left, 0, "{rel}: an unknown placeholder remains");
                }
            }
        }
    }
}
