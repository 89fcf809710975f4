//! rustberg, a third-party Iceberg REST catalog server (crates.io `rustberg` 0.3.0, installed
//! by `cargo xtask test` into the tools cache; `$WEIR_TEST_RUSTBERG`), as a [`Server`]: HTTPS
//! with a certificate from the harness's CA, one API key (sent as `Authorization: Bearer`, as
//! Iceberg clients send tokens), its catalog in a redb file and its warehouse on S3 (moto).
//! It writes the table metadata files itself, so it gets the same S3 properties as clients.

use crate::certs::Certs;
use crate::s3::S3Server;
use crate::server::Server;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The API key rustberg accepts (a test secret, in rustberg's `rb_` form).
pub const KEY: &str = "rb_weirTestKey5c1f0a9d3b7e26484f0c1a2b";

/// The rustberg binary: `$WEIR_TEST_RUSTBERG`, else `rustberg` on the PATH.
pub fn binary() -> PathBuf {
    std::env::var_os("WEIR_TEST_RUSTBERG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("rustberg"))
}

/// A running rustberg over TLS with its warehouse at `s3://BUCKET/warehouse`.
pub struct Rustberg {
    server: Server,
    /// The warehouse location, which is also the name rustberg advertises for it.
    pub warehouse: String,
    /// The CA that signed the server's certificate.
    pub ca: PathBuf,
    s3: serde_json::Value,
}

fn config(port: u16, dir: &Path, warehouse: &str, endpoint: &str) -> String {
    format!(
        r#"[server]
host = "127.0.0.1"
port = {port}

[server.auth]
api_key_enabled = true

[[server.auth.api_keys]]
name = "weir-tests"
tenant = "default"
roles = ["admin"]
key_env = "RUSTBERG_TEST_KEY"

[storage]
catalog_url = "file://{catalog}"
warehouse_location = "{warehouse}"

[storage.properties]
"s3.endpoint" = "{endpoint}"
"s3.region" = "us-east-1"
"s3.access-key-id" = "weir"
"s3.secret-access-key" = "env:RUSTBERG_TEST_S3_SECRET"
"s3.path-style-access" = "true"

[rate_limit]
enabled = false
"#,
        catalog = dir.join("catalog").display(),
    )
}

impl Rustberg {
    /// Starts rustberg on HTTPS (certificates made under its directory) with its warehouse
    /// in `s3`'s bucket.
    pub fn start(s3: &S3Server) -> Self {
        let warehouse = format!("s3://{}/warehouse", s3.bucket);
        let (wh, endpoint) = (warehouse.clone(), s3.endpoint());
        let launch = move |port: u16, dir: &Path| {
            let file = dir.join("rustberg.toml");
            std::fs::create_dir_all(dir.join("catalog")).expect("catalog dir");
            std::fs::write(&file, config(port, dir, &wh, &endpoint)).expect("rustberg.toml");
            let mut cmd = Command::new(binary());
            cmd.arg("--config")
                .arg(&file)
                .arg("--tls-cert")
                .arg(dir.join("certs/server.pem"))
                .arg("--tls-key")
                .arg(dir.join("certs/server.key"))
                .env("RUSTBERG_TEST_KEY", KEY)
                .env("RUSTBERG_TEST_S3_SECRET", "weir-secret")
                .env("RUST_LOG", "info");
            cmd
        };
        let mut server = Server::new("rustberg", Duration::from_secs(60), Box::new(launch));
        let certs = Certs::make(&server.dir().join("certs"));
        server.start();
        Self {
            server,
            warehouse,
            ca: certs.ca,
            s3: s3.storage_options(),
        }
    }

    /// `https://127.0.0.1:PORT`, the catalog's base URL (`metastore_url` in a depot).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port())
    }

    /// Reads a table back with pyiceberg's `RestCatalog` (over TLS, trusting [`Rustberg::ca`],
    /// the data files from moto), as [`crate::iceberg::read_rest`] reports it.
    pub fn read(&self, table: &str, rows: bool) -> serde_json::Value {
        let ca = self.ca.display().to_string();
        let s3 = |k: &str| self.s3[k].as_str().unwrap_or_default().to_string();
        let props = [
            format!("s3.endpoint={}", s3("AWS_ENDPOINT_URL")),
            format!("s3.region={}", s3("AWS_REGION")),
            format!("s3.access-key-id={}", s3("AWS_ACCESS_KEY_ID")),
            format!("s3.secret-access-key={}", s3("AWS_SECRET_ACCESS_KEY")),
        ];
        let mut args = vec!["--table", table, "--token", KEY, "--ca", &ca];
        args.extend(["--warehouse", &self.warehouse]);
        for p in &props {
            args.extend(["--prop", p]);
        }
        if rows {
            args.push("--rows");
        }
        crate::python_tool("iceberg_read.py", "rest", &self.url(), &args)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.server.log()
    }
}
