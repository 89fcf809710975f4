//! # {{crate}}: {{description}}
//!
//! A weir source for `{{name}}://` addresses. Options (`spec.source.options`) are in
//! [`config`]; what the source reads, its position keys and how it resumes are in [`source`].
//! This file holds the plugin's description and its export line, and little else.

pub mod config;
pub mod source;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    Plugin::new("{{name}}", env!("CARGO_PKG_VERSION")).connector(
        Connector::source("{{name}}", source::{{Name}}Source::create)
            .describe("{{description}}")
            .options_schema(config::schema())
            .typed_output(),
    )
}

weir_sdk::export_plugin!(define);
