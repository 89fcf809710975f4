//! The context the host hands to every connector instance.

/// What the host tells a connector instance about where it runs.
///
/// ```
/// let ctx = weir_sdk::Context::new("orders", "kafka");
/// assert_eq!(ctx.pipeline(), "orders");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pipeline: String,
    plugin: String,
}

impl Context {
    /// A context for pipeline `pipeline` and plugin `plugin`.
    pub fn new(pipeline: impl Into<String>, plugin: impl Into<String>) -> Self {
        Self {
            pipeline: pipeline.into(),
            plugin: plugin.into(),
        }
    }

    /// The name of the pipeline (the manifest's `name`). Use it in identifiers that must stay
    /// stable across restarts, such as transaction ids.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The plugin's own name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}
