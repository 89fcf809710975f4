//! The options table of a plugin's README, generated from its options struct, and the check
//! that the README holds the table the struct generates today.

use super::{properties, required, schema, Property};
use schemars::JsonSchema;
use serde_json::Value;
use std::path::Path;

/// Where the generated table starts in a README.
pub const BEGIN: &str = "<!-- options table: generated from the options struct; do not edit -->";
/// Where it ends.
pub const END: &str = "<!-- end of options table -->";

/// The options of `T` as a Markdown table: option, type, default, description.
pub fn table<T: JsonSchema>() -> String {
    let schema = schema::<T>();
    let required = required(&schema);
    let mut out = String::from("| option | type | default | description |\n|---|---|---|---|\n");
    for (name, s) in properties(&schema) {
        let p = Property::of(s);
        let mut ty: Vec<String> = if p.values.is_empty() {
            p.types
                .iter()
                .filter(|t| **t != "null")
                .map(|t| t.to_string())
                .collect()
        } else {
            p.values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| {
                    format!(
                        "`{}`",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect()
        };
        ty.dedup();
        if ty.is_empty() {
            ty = vec!["any".into()];
        }
        if p.secret {
            ty = vec!["secret".into()];
        }
        let default = match s.get("default") {
            _ if required.contains(&name) => "required".to_string(),
            Some(Value::Null) | None => "-".to_string(),
            Some(Value::String(d)) => format!("`{d}`"),
            Some(d) => format!("`{d}`"),
        };
        let description = s
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace("\n\n", " ")
            .replace('\n', " ")
            .replace('|', "\\|");
        out.push_str(&format!(
            "| `{name}` | {} | {default} | {description} |\n",
            ty.join(" \\| ")
        ));
    }
    out
}

/// Checks that the README at `path` holds `table` between [`BEGIN`] and [`END`]. With
/// `WEIR_UPDATE_README=1` in the environment it writes the table there instead (and fails
/// only if the markers are missing). For a plugin's tests:
///
/// ```no_run
/// # #[derive(weir_sdk::schemars::JsonSchema)]
/// # #[schemars(crate = "weir_sdk::schemars")]
/// # struct MyOptions { x: u32 }
/// let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
/// weir_sdk::options::check_readme(readme, &weir_sdk::options::table::<MyOptions>()).unwrap();
/// ```
pub fn check_readme(path: impl AsRef<Path>, table: &str) -> Result<(), String> {
    let update = std::env::var_os("WEIR_UPDATE_README").is_some_and(|v| v == "1");
    check_or_update(path.as_ref(), table, update)
}

fn check_or_update(path: &Path, table: &str, update: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} has no options table: put the lines\n{BEGIN}\n{END}\nwhere it goes and run the test with WEIR_UPDATE_README=1",
            path.display()
        ));
    };
    let start = a + BEGIN.len();
    let current = text[start..b].trim_matches('\n');
    if current == table.trim_matches('\n') {
        return Ok(());
    }
    if update {
        let updated = format!(
            "{}\n{}\n{}",
            &text[..start],
            table.trim_matches('\n'),
            &text[b..]
        );
        return std::fs::write(path, updated).map_err(|e| format!("write {}: {e}", path.display()));
    }
    Err(format!(
        "the options table in {} differs from the options struct; run the test with WEIR_UPDATE_README=1 to rewrite it. Expected:\n{table}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Secret;

    /// Options.
    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Opts {
        /// Where to go.
        target: String,
        /// How many | at most. Default 3.
        #[serde(default = "three")]
        count: u32,
        /// The password.
        password: Option<Secret>,
    }

    fn three() -> u32 {
        3
    }

    #[test]
    fn one_row_per_option_with_type_default_and_doc() {
        let t = table::<Opts>();
        assert!(
            t.contains("| `target` | string | required | Where to go. |"),
            "{t}"
        );
        assert!(
            t.contains("| `count` | integer | `3` | How many \\| at most. Default 3. |"),
            "{t}"
        );
        assert!(
            t.contains("| `password` | secret | - | The password. |"),
            "{t}"
        );
    }

    #[test]
    fn a_readme_out_of_date_fails_with_the_expected_table() {
        let dir = std::env::temp_dir().join(format!("weir-readme-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("README.md");
        std::fs::write(&p, format!("# x\n{BEGIN}\n| old |\n{END}\n")).unwrap();
        let e = check_or_update(&p, &table::<Opts>(), false).unwrap_err();
        assert!(
            e.contains("WEIR_UPDATE_README=1") && e.contains("`count`"),
            "{e}"
        );
        std::fs::write(&p, format!("# x\n{BEGIN}\n{}{END}\n", table::<Opts>())).unwrap();
        check_or_update(&p, &table::<Opts>(), false).unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
