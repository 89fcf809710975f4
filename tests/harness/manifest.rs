//! Nilus stream manifests for the tests, built key by key instead of written as escaped YAML
//! text. Tests of manifests that are wrong on purpose keep writing their text by hand.
//!
//! ```
//! let m = weir_tests::manifest::Manifest::new("orders")
//!     .source("generator://?count=10")
//!     .source_option("batch_size", 5)
//!     .sink("/tmp/lake")
//!     .sink_option("dest_table", "orders");
//! let yaml = m.to_yaml();
//! assert!(yaml.contains("address: generator://?count=10"), "{yaml}");
//! assert!(yaml.contains("batch_size: 5"), "{yaml}");
//! ```

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// A `type: nilus`, `spec.type: stream` manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    name: String,
    source: Map<String, Value>,
    sink: Map<String, Value>,
}

impl Manifest {
    /// A manifest named `name` with no addresses yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            source: Map::new(),
            sink: Map::new(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `spec.source.address`.
    pub fn source(mut self, address: impl std::fmt::Display) -> Self {
        self.source
            .insert("address".into(), address.to_string().into());
        self
    }

    /// One key of `spec.source.options`.
    pub fn source_option(mut self, key: &str, value: impl Into<Value>) -> Self {
        options(&mut self.source).insert(key.into(), value.into());
        self
    }

    /// `spec.sink.address` (a path is written as it is).
    pub fn sink(mut self, address: impl AsRef<std::ffi::OsStr>) -> Self {
        let address = Path::new(address.as_ref()).display().to_string();
        self.sink.insert("address".into(), address.into());
        self
    }

    /// One key of `spec.sink.options`.
    pub fn sink_option(mut self, key: &str, value: impl Into<Value>) -> Self {
        options(&mut self.sink).insert(key.into(), value.into());
        self
    }

    /// The manifest as YAML.
    pub fn to_yaml(&self) -> String {
        let doc = json!({
            "name": self.name,
            "type": "nilus",
            "spec": {"type": "stream", "source": self.source, "sink": self.sink},
        });
        serde_yaml::to_string(&doc).expect("a manifest is YAML")
    }

    /// Writes it as `<name>.yaml` in `dir`.
    pub fn write_in(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.yaml", self.name));
        std::fs::write(&path, self.to_yaml()).expect("write manifest");
        path
    }
}

fn options(side: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let v = side
        .entry("options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("options is an object")
}
