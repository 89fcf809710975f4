//! The legacy v1 form: a `type: workflow` whose DAG step runs `stack: nilus:1.0` with
//! kebab-case keys under `stackSpec`. It is rewritten into the current form before checking,
//! and problem paths are mapped back to where the keys are in the file.

use super::{problem, Problem};
use serde_json::{Map, Value};

/// Where the current form's `spec.source` / `spec.sink` live in a legacy file.
pub(super) struct Legacy {
    /// e.g. `workflow.dag[0].spec.stackSpec`.
    pub(super) stack_spec: String,
    /// e.g. `workflow.dag[0].spec`.
    pub(super) step_spec: String,
}

impl Legacy {
    /// A current-form path as it is in the legacy file.
    pub(super) fn path(&self, current: &str) -> String {
        for (from, to) in [
            ("spec.source", &self.stack_spec),
            ("spec.sink", &self.stack_spec),
        ] {
            if let Some(rest) = current.strip_prefix(from) {
                let leaf = &from["spec.".len()..];
                return format!("{to}.{leaf}{rest}");
            }
        }
        match current.strip_prefix("spec.") {
            Some(rest) => format!("{}.{rest}", self.step_spec),
            None => current.to_string(),
        }
    }
}

/// Rewrites a legacy workflow into the current form; other documents pass unchanged.
pub(super) fn normalize(doc: Value, problems: &mut Vec<Problem>) -> (Value, Option<Legacy>) {
    let Some(root) = doc.as_object() else {
        return (doc, None);
    };
    if root.get("type").and_then(Value::as_str) != Some("workflow") {
        return (doc, None);
    }
    let dag = root
        .get("workflow")
        .and_then(|w| w.get("dag"))
        .and_then(Value::as_array);
    let Some(dag) = dag else {
        problems.push(problem(
            "workflow.dag",
            "required: a list of steps, one of them running `stack: nilus:1.0`",
        ));
        return (doc, None);
    };
    let step = dag.iter().enumerate().find(|(_, s)| {
        s.get("spec")
            .and_then(|sp| sp.get("stack"))
            .and_then(Value::as_str)
            .is_some_and(|st| st.starts_with("nilus"))
    });
    let Some((i, step)) = step else {
        problems.push(problem(
            "workflow.dag",
            "no step runs `stack: nilus:1.0`; weir runs Nilus pipelines only",
        ));
        return (doc, None);
    };
    let step_spec = step
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let stack_spec = step_spec
        .get("stackSpec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut spec = Map::new();
    spec.insert("type".into(), Value::String("stream".into()));
    for (k, v) in &step_spec {
        if !matches!(k.as_str(), "stack" | "stackSpec") {
            spec.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in stack_spec {
        spec.insert(k, v);
    }
    let mut out = Map::new();
    for (k, v) in root {
        if !matches!(k.as_str(), "type" | "workflow") {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("type".into(), Value::String("nilus".into()));
    out.insert("spec".into(), Value::Object(spec));
    (
        Value::Object(out),
        Some(Legacy {
            stack_spec: format!("workflow.dag[{i}].spec.stackSpec"),
            step_spec: format!("workflow.dag[{i}].spec"),
        }),
    )
}
