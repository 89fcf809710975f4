//! # {{crate}}: {{description}}
//!
//! A weir sink for `{{name}}://` addresses. Options (`spec.sink.options`) are in [`config`];
//! what the sink writes and when it is durable are in [`sink`]. This file holds the plugin's
//! description and its export line, and little else.

pub mod config;
pub mod sink;

use weir_sdk::{Connector, Plugin};

fn define() -> Plugin {
    Plugin::new("{{name}}", env!("CARGO_PKG_VERSION")).connector(
        Connector::sink("{{name}}", sink::{{Name}}Sink::create)
            .describe("{{description}}")
            .options_schema(config::schema()),
    )
}

weir_sdk::export_plugin!(define);
