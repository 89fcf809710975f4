//! A private certificate authority for the tests' TLS servers (`certs.py`, made with the
//! venv's `cryptography`): the CA, a server certificate for 127.0.0.1 signed by it, and a
//! client certificate for mutual TLS, as PEM files in a directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of one CA and the certificates it signed.
pub struct Certs {
    /// The CA certificate, the file a client is told to trust.
    pub ca: PathBuf,
    /// The server certificate (SANs 127.0.0.1 and localhost).
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate (CN `weir`), for mutual TLS.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
}

impl Certs {
    /// Makes a fresh CA and its certificates under `dir`.
    pub fn make(dir: &Path) -> Self {
        let out = Command::new(crate::python())
            .arg(crate::root().join("tests/harness/certs.py"))
            .arg("--out")
            .arg(dir)
            .output()
            .expect("run certs.py");
        assert!(
            out.status.success(),
            "certs.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let paths: serde_json::Value = serde_json::from_slice(&out.stdout).expect("certs.py JSON");
        let path = |k: &str| PathBuf::from(paths[k].as_str().expect("a path"));
        Self {
            ca: path("ca"),
            server_cert: path("server_cert"),
            server_key: path("server_key"),
            client_cert: path("client_cert"),
            client_key: path("client_key"),
        }
    }
}
