//! The Delta sink: one Delta commit per micro-batch, positions as `txn` actions in it.

use crate::config::DeltaConfig;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructType, Transaction};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use std::collections::HashMap;
use tokio::runtime::Runtime;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::{Context, Error, Position, PositionKey, Sink, SinkConfig};

pub(crate) struct DeltaSink {
    cfg: DeltaConfig,
    pipeline: String,
    rt: Runtime,
    table: Option<DeltaTable>,
    staged: Option<RecordBatch>,
}

impl DeltaSink {
    pub(crate) fn create(config: SinkConfig, ctx: Context) -> Result<Box<dyn Sink>, Error> {
        let cfg = DeltaConfig::from_sink(&config)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fatal(format!("cannot start the delta sink's runtime: {e}")))?;
        Ok(Box::new(Self {
            cfg,
            pipeline: ctx.pipeline().to_string(),
            rt,
            table: None,
            staged: None,
        }))
    }

    fn app_id(&self, key: &str) -> String {
        format!("weir/{}/{}", self.pipeline, key)
    }

    fn url(&self) -> Result<url::Url, Error> {
        let dir = std::path::absolute(&self.cfg.table_dir).map_err(|e| {
            Error::config(format!("table path {}: {e}", self.cfg.table_dir.display()))
        })?;
        url::Url::from_directory_path(&dir).map_err(|_| {
            Error::config(format!(
                "table path {} is not a directory path",
                dir.display()
            ))
        })
    }

    /// Loads the table if it exists (refreshing it if already loaded).
    fn refresh(&mut self) -> Result<(), Error> {
        if !self.log_exists() {
            // Loading a table that does not exist yet only makes the Delta kernel log errors.
            self.table = None;
            return Ok(());
        }
        let url = self.url()?;
        let table = self.rt.block_on(async {
            let mut t = DeltaTable::try_from_url_with_storage_options(url, HashMap::new()).await?;
            if t.version().is_some() {
                t.update_state().await?;
            }
            Ok::<_, DeltaTableError>(t)
        });
        let table = table.map_err(|e| classify(e, "open the table"))?;
        self.table = table.version().is_some().then_some(table);
        Ok(())
    }

    /// Stored positions from the table as loaded now (no reload).
    fn stored_in_loaded(&self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        let Some(table) = &self.table else {
            return Ok(Vec::new());
        };
        let snapshot = table
            .snapshot()
            .map_err(|e| classify(e, "read the table snapshot"))?;
        let log_store = table.log_store();
        let mut out = Vec::new();
        for key in keys {
            let app_id = self.app_id(key.as_str());
            let version = self
                .rt
                .block_on(snapshot.transaction_version(log_store.as_ref(), &app_id))
                .map_err(|e| classify(e, "read stored positions"))?;
            if let Some(v) = version {
                out.push(Position::new(key.clone(), v));
            }
        }
        Ok(out)
    }

    /// Whether the table has a transaction log with at least one commit.
    fn log_exists(&self) -> bool {
        std::fs::read_dir(self.cfg.table_dir.join("_delta_log"))
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    }

    fn create_table(&mut self, batch: &RecordBatch) -> Result<DeltaTable, Error> {
        let url = self.url()?;
        let schema: StructType = batch
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| Error::data(format!("batch schema has no Delta equivalent: {e}")))?;
        tracing::info!(table = %self.cfg.table_dir.display(), columns = schema.fields().count(), "creating Delta table");
        self.rt
            .block_on(async {
                let t = DeltaTableBuilder::from_url(url)?.build()?;
                t.create().with_columns(schema.fields().cloned()).await
            })
            .map_err(|e| classify(e, "create the table"))
    }
}

/// Sorts Delta errors by what the host should do.
fn classify(e: DeltaTableError, doing: &str) -> Error {
    let text = format!("cannot {doing}: {e}");
    match e {
        DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } => Error::connection(text),
        // Writing parquet through the object store: a storage failure (a full disk, a directory
        // gone or unwritable) comes wrapped as an external parquet error. Retried.
        DeltaTableError::Parquet {
            source: deltalake::parquet::errors::ParquetError::External(_),
        } => Error::connection(text),
        DeltaTableError::VersionAlreadyExists(_) | DeltaTableError::Transaction { .. } => {
            Error::retriable(text)
        }
        DeltaTableError::SchemaMismatch { .. } | DeltaTableError::Arrow { .. } => Error::data(text),
        // The Delta kernel reports storage failures as its own errors: retried like the rest.
        DeltaTableError::KernelError(ref k) if k.to_string().contains("object store") => {
            Error::connection(text)
        }
        _ => Error::fatal(text),
    }
}

impl Sink for DeltaSink {
    fn open(&mut self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.cfg.table_dir).map_err(|e| {
            Error::connection(format!(
                "cannot create table directory {}: {e}",
                self.cfg.table_dir.display()
            ))
        })?;
        self.refresh()?;
        tracing::info!(table = %self.cfg.table_dir.display(), version = ?self.table.as_ref().and_then(|t| t.version()), strategy = %self.cfg.strategy, "delta sink open");
        Ok(())
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        self.refresh()?;
        self.stored_in_loaded(keys)
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        self.staged = Some(batch);
        Ok(())
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        let Some(batch) = self.staged.take() else {
            return Ok(());
        };
        if self.table.is_none() {
            // After a failed commit the handle was dropped: reload before deciding to create,
            // and if the failed attempt did land (the error came after the log entry was
            // written), do not write the batch a second time.
            self.refresh()?;
            if self.table.is_some() && !positions.is_empty() {
                let keys: Vec<PositionKey> = positions.iter().map(|p| p.key.clone()).collect();
                let stored = self.stored_in_loaded(&keys)?;
                let landed = positions
                    .iter()
                    .all(|p| stored.iter().any(|s| s.key == p.key && s.next >= p.next));
                if landed {
                    weir_sdk::tracing::warn!(positions = ?positions, "the batch was already committed by an attempt that reported a failure; not writing it again");
                    return Ok(());
                }
            }
        }
        let mut table = match self.table.take() {
            Some(t) => t,
            None => self.create_table(&batch)?,
        };
        let txns: Vec<Transaction> = positions
            .iter()
            .map(|p| Transaction::new(self.app_id(p.key.as_str()), p.next))
            .collect();
        let result = self.rt.block_on(async {
            let mut writer = RecordBatchWriter::for_table(&table)?.with_commit_properties(
                CommitProperties::default().with_application_transactions(txns),
            );
            // New columns widen the table (old rows read them as null); a column missing from
            // the batch is written as null.
            writer
                .write_with_mode(batch, WriteMode::MergeSchema)
                .await?;
            writer.flush_and_commit(&mut table).await
        });
        match result {
            Ok(version) => {
                tracing::debug!(version, "delta commit");
                self.table = Some(table);
                Ok(())
            }
            Err(e) => {
                // The table handle may be stale now; reload it on the next call.
                self.table = None;
                let _ = self.refresh();
                Err(classify(e, "commit the batch"))
            }
        }
    }
}
