//! A local S3-compatible server for the tests: `moto` in server mode (PyPI `moto[server]`,
//! installed into the test venv by `cargo xtask test`) on a free 127.0.0.1 port, with one
//! bucket made through boto3; stopped on drop. moto serves conditional puts
//! (`If-None-Match: *`), which deltalake's S3 log store uses for safe concurrent commits.

use crate::server::Server;
use std::process::Command;
use std::time::Duration;

/// A running moto server with a bucket.
pub struct S3Server {
    server: Server,
    /// The bucket made at start.
    pub bucket: String,
}

impl S3Server {
    /// Starts the server and makes `bucket`.
    pub fn start(bucket: &str) -> Self {
        let launch = |port: u16, _: &std::path::Path| {
            let mut cmd = Command::new(crate::python());
            cmd.args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]);
            cmd
        };
        let mut server = Server::new("moto", Duration::from_secs(60), Box::new(launch));
        server.start();
        let s = Self {
            server,
            bucket: bucket.to_string(),
        };
        let script = format!(
            "import boto3; boto3.client('s3', endpoint_url='{}', aws_access_key_id='weir', \
             aws_secret_access_key='weir-secret', region_name='us-east-1').create_bucket(Bucket='{bucket}')",
            s.endpoint()
        );
        let out = Command::new(crate::python())
            .args(["-c", &script])
            .output()
            .expect("run boto3");
        assert!(
            out.status.success(),
            "create bucket: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// deltalake storage options for this server (for the Python reader too).
    pub fn storage_options(&self) -> serde_json::Value {
        serde_json::json!({
            "AWS_ENDPOINT_URL": self.endpoint(),
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "weir",
            "AWS_SECRET_ACCESS_KEY": "weir-secret",
            "AWS_ALLOW_HTTP": "true",
        })
    }
}
