//! The Iceberg side of the tests: the harness's REST catalog (`iceberg_rest.py`, pyiceberg's
//! `SqlCatalog` behind the REST protocol) as a [`Server`], and the independent reader
//! (`iceberg_read.py`: pyiceberg through the REST catalog, or `StaticTable.from_metadata` on
//! an embedded catalog's newest metadata file).

use crate::server::Server;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The bearer token the catalog requires when started with one (a test secret).
pub const TOKEN: &str = "ice-Token-91c2";

/// The OAuth2 client credentials the catalog exchanges for [`TOKEN`] when started with
/// [`IcebergRest::start_oauth`] (a test secret).
pub const CLIENT: (&str, &str) = ("weir-client", "ice-Secret-4d7e");

/// A running REST catalog.
pub struct IcebergRest {
    server: Server,
}

impl IcebergRest {
    /// A catalog with one warehouse named `lake`; with `token`, every route needs [`TOKEN`].
    pub fn start(token: bool) -> Self {
        Self::launch(token, false)
    }

    /// A catalog whose routes need [`TOKEN`], handed out at `/v1/oauth/tokens` for the client
    /// credentials [`CLIENT`].
    pub fn start_oauth() -> Self {
        Self::launch(true, true)
    }

    fn launch(token: bool, oauth: bool) -> Self {
        let launch = move |port: u16, dir: &Path| {
            let mut cmd = Command::new(crate::python());
            cmd.arg(crate::root().join("tests/harness/iceberg_rest.py"))
                .args(["--port", &port.to_string()])
                .arg("--catalog-db")
                .arg(dir.join("catalog.db"))
                .arg("--warehouse")
                .arg(format!("file://{}", dir.join("warehouse").display()))
                .args(["--warehouse-name", "lake"]);
            if token {
                cmd.args(["--token", TOKEN]);
            }
            if oauth {
                cmd.args(["--client-id", CLIENT.0, "--client-secret", CLIENT.1]);
            }
            cmd
        };
        let mut server = Server::new("iceberg-rest", Duration::from_secs(60), Box::new(launch));
        std::fs::create_dir_all(server.dir().join("warehouse")).expect("warehouse dir");
        server.start();
        Self { server }
    }

    /// The sink address of the catalog, warehouse `lake`.
    pub fn address(&self) -> String {
        format!(
            "iceberg+rest://127.0.0.1:{}?warehouse=lake",
            self.server.port()
        )
    }

    /// The catalog's base URL, for the reader.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Stops the catalog (connections refused) until [`IcebergRest::start_again`].
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts it again on the same port and files.
    pub fn start_again(&mut self) {
        self.server.start();
    }
}

/// What `iceberg_read.py` reports for a table: rows, distinct and duplicated ids, the current
/// snapshot's summary, the partition spec, the schema, the files' partitions, and the rows as
/// JSON when `rows` is set.
pub fn read_rest(catalog: &IcebergRest, table: &str, rows: bool) -> serde_json::Value {
    let mut args = vec!["--token", TOKEN];
    if rows {
        args.push("--rows");
    }
    crate::python_tool(
        "iceberg_read.py",
        "rest",
        &catalog.url(),
        &[&["--table", table], &args[..]].concat(),
    )
}

/// Creates an empty table through pyiceberg with `columns` (`name:type,...`, types long, int,
/// float, double, string), as another writer would.
pub fn create_rest(catalog: &IcebergRest, table: &str, columns: &str) {
    crate::python_tool(
        "iceberg_read.py",
        "rest",
        &catalog.url(),
        &["--table", table, "--token", TOKEN, "--create", columns],
    );
}

/// As [`read_rest`], for a table of an embedded catalog (`iceberg://ROOT`).
pub fn read_embedded(root: &Path, table: &str, rows: bool) -> serde_json::Value {
    let root = root.display().to_string();
    let mut args = vec!["--table", table];
    if rows {
        args.push("--rows");
    }
    crate::python_tool("iceberg_read.py", "embedded", &root, &args)
}

/// As [`create_rest`], in an embedded catalog (`iceberg://ROOT`) whose catalog file weir
/// made already, through pyiceberg's `SqlCatalog`.
pub fn create_embedded(root: &Path, table: &str, columns: &str) {
    let root = root.display().to_string();
    crate::python_tool(
        "iceberg_read.py",
        "embedded",
        &root,
        &["--table", table, "--create", columns],
    );
}

/// Checks a table the promotion tests wrote: `qty` int and `price` float (made by another
/// writer as fields 1 to 3 with `id`) now long and double with the same field ids, the 64-bit
/// values intact, and no variant column.
pub fn assert_promoted(t: &serde_json::Value) {
    let schema: Vec<&str> = t["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert_eq!(
        &schema[..3],
        ["1: id long", "2: qty long", "3: price double"],
        "{t}"
    );
    let row = &t["data"][0];
    assert_eq!(
        (row["qty"].clone(), row["price"].clone()),
        (serde_json::json!(5_000_000_000i64), serde_json::json!(0.1)),
        "{t}"
    );
    assert!(
        schema.iter().all(|c| !c.contains("__v_")),
        "no variant column: {t}"
    );
}
