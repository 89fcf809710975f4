//! Opening the catalog the configuration names, and the commit that checks the table the
//! sink decided on.
//!
//! iceberg-rust's `Transaction::commit` reloads the table before it applies its actions, so
//! its requirement (the current snapshot) is taken from the table as it stands at commit time,
//! not from the table the sink read its positions from. [`Pinned`] closes that gap: it hands
//! the transaction the sink's table as the "reloaded" one, so the catalog's optimistic check
//! compares against exactly what the sink saw, and a commit by anyone else in between is a
//! conflict ([`iceberg::ErrorKind::CatalogCommitConflicts`]), never a silent rebase.

use crate::config::{Catalog as Kind, IcebergConfig};
use async_trait::async_trait;
use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg::table::Table;
use iceberg::{
    Catalog, CatalogBuilder, Namespace, NamespaceIdent, Result as IcebergResult, TableCommit,
    TableCreation, TableIdent,
};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use std::collections::HashMap;
use std::sync::Arc;

/// The storage for a warehouse URL: the local filesystem for `file://`, opendal otherwise.
fn storage(warehouse: Option<&str>) -> Arc<dyn StorageFactory> {
    match warehouse {
        Some(w) if w.starts_with("file:") || w.starts_with('/') => Arc::new(LocalFsStorageFactory),
        _ => Arc::new(OpenDalResolvingStorageFactory::new()),
    }
}

/// Opens the catalog (no request is made yet for REST catalogs).
pub(crate) async fn open(cfg: &IcebergConfig) -> Result<Arc<dyn Catalog>, String> {
    let mut props = cfg.storage.clone();
    match &cfg.catalog {
        Kind::Sqlite { file } => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            create_wal(file).await?;
            props.insert(
                "uri".into(),
                format!("sqlite://{}?mode=rwc", file.display()),
            );
            props.insert("sql_bind_style".into(), SqlBindStyle::QMark.to_string());
            props.insert("pool.max-connections".into(), "1".into());
            sql(cfg, props).await
        }
        Kind::Postgres { uri } => {
            props.insert("uri".into(), uri.expose().to_string());
            props.insert(
                "sql_bind_style".into(),
                SqlBindStyle::DollarNumeric.to_string(),
            );
            props.insert("pool.max-connections".into(), "2".into());
            sql(cfg, props).await
        }
        Kind::Rest {
            uri,
            warehouse,
            token,
            credential,
            oauth2_server_uri,
            scope,
            prefix,
            tls_ca,
        } => {
            props.insert("uri".into(), uri.clone());
            let optional = [
                ("warehouse", warehouse.clone()),
                ("token", token.as_ref().map(|t| t.expose().to_string())),
                (
                    "credential",
                    credential
                        .as_ref()
                        .map(|(id, secret)| format!("{id}:{}", secret.expose())),
                ),
                ("oauth2-server-uri", oauth2_server_uri.clone()),
                ("scope", scope.clone()),
                ("prefix", prefix.clone()),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    props.insert(k.into(), v);
                }
            }
            let mut http =
                reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10));
            if let Some(ca) = tls_ca {
                let pem = std::fs::read(ca)
                    .map_err(|e| format!("tls_ca {}: cannot read it: {e}", ca.display()))?;
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("tls_ca {}: not a PEM certificate: {e}", ca.display()))?;
                http = http.add_root_certificate(cert);
            }
            let http = http
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
            let catalog = RestCatalogBuilder::default()
                .with_client(http)
                .with_storage_factory(storage(None))
                .load(cfg.catalog_name.clone(), props)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(catalog))
        }
    }
}

async fn sql(
    cfg: &IcebergConfig,
    mut props: HashMap<String, String>,
) -> Result<Arc<dyn Catalog>, String> {
    let warehouse = cfg.warehouse.clone().unwrap_or_default();
    props.insert("warehouse".into(), warehouse.clone());
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(storage(Some(&warehouse)))
        .load(cfg.catalog_name.clone(), props)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(catalog))
}

/// Creates the SQLite file in WAL mode when missing (the mode persists in the file), so a
/// reader never blocks the writer.
async fn create_wal(file: &std::path::Path) -> Result<(), String> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    if file.exists() {
        return Ok(());
    }
    let options = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .map_err(|e| format!("cannot create the catalog file {}: {e}", file.display()))?;
    pool.close().await;
    Ok(())
}

/// A catalog whose `load_table` returns the sink's table: see the module docs.
#[derive(Debug)]
pub(crate) struct Pinned<'a> {
    pub(crate) inner: &'a dyn Catalog,
    pub(crate) table: Table,
}

#[async_trait]
impl Catalog for Pinned<'_> {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> IcebergResult<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> IcebergResult<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> IcebergResult<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> IcebergResult<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> IcebergResult<Table> {
        if table == self.table.identifier() {
            Ok(self.table.clone())
        } else {
            self.inner.load_table(table).await
        }
    }
    async fn drop_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> IcebergResult<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> IcebergResult<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> IcebergResult<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> IcebergResult<Table> {
        self.inner.update_table(commit).await
    }
}
