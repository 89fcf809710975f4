//! tansu's command line (`tansu broker`, `tansu topic`, `tansu user`, ...) as the 0.6.0
//! release's binary starts it, linked with rsasl's PLAIN mechanism: rsasl registers every
//! mechanism compiled in, and tansu-auth's server configuration offers all of them.

use tansu_broker::{otel, TracingFormat};
use tansu_cli::{Cli, Result};
use tansu_sans_io::ErrorCode;

#[tokio::main]
async fn main() -> Result<ErrorCode> {
    let _guard = otel::init(TracingFormat::Text)?;
    Cli::main().await
}
