//! The dependency arrows of docs/architecture.md section 1, checked on `cargo metadata`: plugins depend on
//! weir-sdk only (of weir's crates), and core depends on neither the host, abi_stable nor
//! libloading, directly or not.

use std::collections::{BTreeSet, HashMap};
use weir_tests::root;

struct Graph {
    names: HashMap<String, String>,
    deps: HashMap<String, Vec<String>>,
    manifests: HashMap<String, String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut g = Graph {
        names: HashMap::new(),
        deps: HashMap::new(),
        manifests: HashMap::new(),
    };
    for p in meta["packages"].as_array().expect("packages") {
        let id = p["id"].as_str().expect("id").to_string();
        g.names
            .insert(id.clone(), p["name"].as_str().expect("name").to_string());
        g.manifests.insert(
            id,
            p["manifest_path"].as_str().expect("manifest").to_string(),
        );
    }
    for n in meta["resolve"]["nodes"].as_array().expect("resolve") {
        // Normal (non-dev, non-build) dependencies only.
        let deps = n["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k["kind"].is_null()))
            })
            .filter_map(|d| d["pkg"].as_str().map(str::to_string))
            .collect();
        g.deps
            .insert(n["id"].as_str().expect("id").to_string(), deps);
    }
    g
}

impl Graph {
    fn id(&self, name: &str) -> String {
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    fn direct(&self, id: &str) -> BTreeSet<String> {
        self.deps[id]
            .iter()
            .map(|d| self.names[d].clone())
            .collect()
    }

    fn transitive(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.to_string()];
        while let Some(x) = stack.pop() {
            for d in &self.deps[&x] {
                if seen.insert(self.names[d].clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn plugins_depend_on_the_sdk_only_and_core_on_no_loader() {
    let g = graph();
    let weir_crates = [
        "weir",
        "weir-core",
        "weir-sdk",
        "weir-envelope",
        "weir-tests",
    ];
    let plugins_dir = root().join("plugins");
    let plugins: Vec<String> = g
        .manifests
        .iter()
        .filter(|(_, m)| std::path::Path::new(m).starts_with(&plugins_dir))
        .map(|(id, _)| id.clone())
        .collect();
    assert!(plugins.len() >= 3, "plugins found: {plugins:?}");
    for p in &plugins {
        let ours: Vec<String> = g
            .direct(p)
            .into_iter()
            .filter(|d| weir_crates.contains(&d.as_str()) || d.starts_with("weir-"))
            .collect();
        assert_eq!(ours, ["weir-sdk"], "{} depends on {ours:?}", g.names[p]);
        let all = g.transitive(p);
        assert!(
            !all.contains("weir-core") && !all.contains("weir"),
            "{}: {all:?}",
            g.names[p]
        );
    }
    let core = g.transitive(&g.id("weir-core"));
    for banned in ["weir", "weir-sdk", "abi_stable", "libloading"] {
        assert!(!core.contains(banned), "weir-core depends on {banned}");
    }
    // The envelope contract is plain definitions: no weir crate, no loader, no arrow compute.
    let envelope = g.transitive(&g.id("weir-envelope"));
    for banned in [
        "weir",
        "weir-core",
        "weir-sdk",
        "abi_stable",
        "libloading",
        "arrow",
    ] {
        assert!(
            !envelope.contains(banned),
            "weir-envelope depends on {banned}"
        );
    }
    assert!(
        core.contains("weir-envelope") && g.direct(&g.id("weir-sdk")).contains("weir-envelope")
    );
    // librdkafka lives in the Kafka plugin only.
    let host_all = g.transitive(&g.id("weir"));
    for banned in ["rdkafka", "rdkafka-sys", "async-nats", "deltalake"] {
        assert!(!host_all.contains(banned), "the host depends on {banned}");
    }
    // The host is the one that loads libraries.
    let host = g.direct(&g.id("weir"));
    assert!(host.contains("libloading") && host.contains("weir-core") && host.contains("weir-sdk"));
}
