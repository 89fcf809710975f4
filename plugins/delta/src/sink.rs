//! The Delta sink: one Delta commit per micro-batch, positions as `txn` actions in it.
//!
//! Before each commit the sink reloads the table and compares every key's stored version with
//! the one it last read or wrote: a batch the table already holds (an attempt that reported a
//! failure but landed) is not written again, and a key another writer moved drops the batch
//! with [`Error::positions_moved`], which makes the host restart the pipeline from the
//! table's positions. Commit conflicts on other keys are retried by deltalake's conflict
//! checker, which also refuses a commit whose keys a concurrent commit moved.

use crate::config::{DeltaConfig, Location, Strategy};
use crate::{evolve, partition, readable};
use deltalake::arrow::datatypes::Schema as ArrowSchema;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::{CommitConflictError, CommitProperties, TransactionError};
use deltalake::kernel::{StructType, Transaction};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use std::future::IntoFuture;
use tokio::runtime::Runtime;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::exactly_once::{Decision, Ledger};
use weir_sdk::{Context, Error, Position, PositionKey, Sink, SinkConfig};

pub(crate) struct DeltaSink {
    cfg: DeltaConfig,
    pipeline: String,
    rt: Runtime,
    table: Option<DeltaTable>,
    staged: Option<RecordBatch>,
    /// What the exactly-once rule needs: the versions this sink last read or wrote per
    /// position key, and whether the last commit attempt failed.
    ledger: Ledger,
    /// Commits since the last compaction.
    since_compact: u64,
}

impl DeltaSink {
    pub(crate) fn create(config: SinkConfig, ctx: Context) -> Result<Box<dyn Sink>, Error> {
        let cfg = DeltaConfig::from_sink(&config)?;
        #[cfg(not(feature = "datafusion"))]
        if cfg.strategy == Strategy::Merge || cfg.compact_every > 0 {
            return Err(Error::config(
                "this build of the delta sink has no DataFusion: incremental_strategy merge and compact_every need the plugin built with its `datafusion` feature",
            ));
        }
        #[cfg(not(feature = "s3"))]
        if matches!(cfg.location, Location::Remote(_)) {
            return Err(Error::config(
                "this build of the delta sink has no S3 support: build the plugin with its `s3` feature",
            ));
        }
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
            ledger: Ledger::default(),
            since_compact: 0,
        }))
    }

    fn app_id(&self, key: &str) -> String {
        format!("weir/{}/{}", self.pipeline, key)
    }

    fn builder(&self) -> Result<DeltaTableBuilder, Error> {
        let url = self.cfg.url()?;
        Ok(DeltaTableBuilder::from_url(url)
            .map_err(|e| classify(e, "open the table"))?
            .with_storage_options(self.cfg.storage.clone()))
    }

    /// Brings the table up to date: an incremental log replay if loaded, else a load (no
    /// table yet is `None`).
    fn refresh(&mut self) -> Result<(), Error> {
        if let Some(t) = self.table.as_mut() {
            let r = self.rt.block_on(t.update_state());
            match r {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.table = None;
                    return Err(classify(e, "reload the table"));
                }
            }
        }
        if let Location::Local(dir) = &self.cfg.location {
            // Loading a table that does not exist yet only makes the Delta kernel log errors.
            let has_log = std::fs::read_dir(dir.join("_delta_log"))
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if !has_log {
                return Ok(());
            }
        }
        let mut table = self
            .builder()?
            .build()
            .map_err(|e| classify(e, "open the table"))?;
        let loaded = self.rt.block_on(async {
            if !table.verify_deltatable_existence().await? {
                return Ok(false);
            }
            table.load().await.map(|_| true)
        });
        match loaded {
            Ok(true) => self.table = table.version().is_some().then_some(table),
            Ok(false) | Err(DeltaTableError::NotATable(_)) => self.table = None,
            Err(e) => return Err(classify(e, "open the table")),
        }
        Ok(())
    }

    /// Stored positions from the table as loaded now (no reload).
    fn stored_in_loaded(
        &self,
        keys: &[PositionKey],
    ) -> Result<Vec<(PositionKey, Option<i64>)>, Error> {
        let Some(table) = &self.table else {
            return Ok(keys.iter().map(|k| (k.clone(), None)).collect());
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
            out.push((key.clone(), version));
        }
        Ok(out)
    }

    fn create_table(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let initial = evolve::initial_schema(batch.schema().as_ref());
        readable::check_depth(&initial)?;
        let schema: StructType = (&initial)
            .try_into_kernel()
            .map_err(|e| Error::data(format!("batch schema has no Delta equivalent: {e}")))?;
        readable::check(&schema)?;
        let partitions = partition::names(&self.cfg.partition_by);
        tracing::info!(table = %self.cfg.location, columns = schema.fields().count(), partitions = ?partitions, "creating Delta table");
        let builder = self.builder()?;
        let config = [
            (
                "delta.checkpointInterval".to_string(),
                Some(self.cfg.checkpoint_interval.to_string()),
            ),
            (
                "delta.logRetentionDuration".to_string(),
                Some(self.cfg.log_retention.clone()),
            ),
            (
                "delta.enableExpiredLogCleanup".to_string(),
                Some("true".to_string()),
            ),
        ];
        let created = self.rt.block_on(async {
            let t = builder.build()?;
            let mut create = t
                .create()
                .with_columns(schema.fields().cloned())
                .with_configuration(config);
            if !partitions.is_empty() {
                create = create.with_partition_columns(partitions);
            }
            create.await
        });
        match created {
            Ok(t) => {
                self.table = Some(t);
                Ok(())
            }
            Err(e) => {
                // Another writer may have created it first: use theirs.
                self.refresh()?;
                if self.table.is_some() {
                    Ok(())
                } else {
                    Err(classify(e, "create the table"))
                }
            }
        }
    }

    /// Adds the batch's columns the table lacks (a commit of its own, before the data: deltalake
    /// cannot merge schemas while writing to a partitioned table).
    fn add_new_columns(&mut self, batch: &RecordBatch, table: &ArrowSchema) -> Result<(), Error> {
        let new: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .filter(|f| table.field_with_name(f.name()).is_err())
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = new.iter().map(|f| f.name().clone()).collect();
        let new = ArrowSchema::new(new);
        readable::check_depth(&new)?;
        let kernel: StructType = (&new)
            .try_into_kernel()
            .map_err(|e| Error::data(format!("new columns {names:?} have no Delta type: {e}")))?;
        readable::check(&kernel)?;
        let Some(t) = self.table.take() else {
            return Err(Error::fatal("no table to add columns to"));
        };
        let added = self.rt.block_on(
            t.add_columns()
                .with_fields(kernel.fields().cloned().collect::<Vec<_>>())
                .into_future(),
        );
        match added {
            Ok(t) => {
                tracing::info!(table = %self.cfg.location, columns = ?names, "new columns added to the table");
                self.table = Some(t);
                Ok(())
            }
            // Another writer may have changed the schema meanwhile: retried after a reload.
            Err(e) => Err(classify(e, "add new columns")),
        }
    }

    /// Writes `batch` with `txns` as one commit.
    fn write_commit(&mut self, batch: RecordBatch, txns: Vec<Transaction>) -> Result<(), Error> {
        let Some(mut table) = self.table.take() else {
            return Err(Error::fatal("no table to write to"));
        };
        let props = CommitProperties::default().with_application_transactions(txns);
        let result = match self.cfg.strategy {
            Strategy::Append => self.rt.block_on(async {
                let mut writer =
                    RecordBatchWriter::for_table(&table)?.with_commit_properties(props);
                writer.write_with_mode(batch, WriteMode::Default).await?;
                writer.flush_and_commit(&mut table).await?;
                Ok(table)
            }),
            Strategy::Merge => self.merge(table, batch, props),
        };
        match result {
            Ok(t) => {
                self.table = Some(t);
                Ok(())
            }
            // The handle may be stale now: the next call reloads.
            Err(e) => Err(classify(e, "commit the batch")),
        }
    }

    #[cfg(feature = "datafusion")]
    fn merge(
        &self,
        table: DeltaTable,
        batch: RecordBatch,
        props: CommitProperties,
    ) -> Result<DeltaTable, DeltaTableError> {
        let batch = crate::merge::last_per_key(&batch, &self.cfg.primary_key)
            .map_err(DeltaTableError::Generic)?;
        self.rt.block_on(crate::merge::upsert(
            table,
            batch,
            &self.cfg.primary_key,
            props,
        ))
    }

    #[cfg(not(feature = "datafusion"))]
    fn merge(
        &self,
        _table: DeltaTable,
        _batch: RecordBatch,
        _props: CommitProperties,
    ) -> Result<DeltaTable, DeltaTableError> {
        Err(DeltaTableError::Generic(
            "merge needs the datafusion feature".into(),
        ))
    }

    /// Bin-packs small files when `compact_every` commits have passed. Best effort: a failure
    /// is logged and the data stays as it is.
    fn maybe_compact(&mut self) {
        self.since_compact += 1;
        if self.cfg.compact_every == 0 || self.since_compact < self.cfg.compact_every {
            return;
        }
        self.since_compact = 0;
        #[cfg(feature = "datafusion")]
        if let Some(table) = self.table.take() {
            let fallback = table.clone();
            match self
                .rt
                .block_on(crate::merge::compact(table, self.cfg.target_file_size))
            {
                Ok((t, removed, added)) => {
                    tracing::info!(table = %self.cfg.location, files_removed = removed, files_added = added, version = t.version(), "compacted small files");
                    self.table = Some(t);
                }
                Err(e) => {
                    tracing::warn!(table = %self.cfg.location, error = %e, "compaction failed; the data is untouched and the next one will try again");
                    self.table = Some(fallback);
                }
            }
        }
    }
}

/// Sorts Delta errors by what the host should do.
fn classify(e: DeltaTableError, doing: &str) -> Error {
    if let Some(io) = io_cause(&e).filter(|io| io.kind() == std::io::ErrorKind::PermissionDenied) {
        // Whatever layer reports it (parquet, the object store, the log), say what it is.
        return Error::connection(format!(
            "cannot {doing}: permission denied ({io}): the table's directory must be writable by the user weir runs as; retrying until it is"
        ));
    }
    let text = format!("cannot {doing}: {e}");
    match e {
        DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } => Error::connection(text),
        // Writing parquet through the object store: a storage failure (a full disk, a directory
        // gone or unwritable) comes wrapped as an external parquet error. Retried.
        DeltaTableError::Parquet {
            source: deltalake::parquet::errors::ParquetError::External(_),
        } => Error::connection(text),
        // A concurrent commit moved one of this batch's keys: drop the batch, re-read.
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction),
        } => Error::positions_moved(format!(
            "{text}: a concurrent commit wrote one of this batch's position keys; the batch is dropped"
        )),
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

/// The I/O error at the bottom of a Delta error's sources, if any.
fn io_cause(e: &DeltaTableError) -> Option<&std::io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = c.source();
    }
    None
}

impl Sink for DeltaSink {
    fn open(&mut self) -> Result<(), Error> {
        if let Location::Local(dir) = &self.cfg.location {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::connection(format!(
                    "cannot create table directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        self.refresh()?;
        tracing::info!(table = %self.cfg.location, version = self.table.as_ref().and_then(|t| t.version()), strategy = %self.cfg.strategy, "delta sink open");
        Ok(())
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        self.refresh()?;
        let stored = self.stored_in_loaded(keys)?;
        let mut out = Vec::new();
        for (key, version) in stored {
            self.ledger.read(&key, version);
            if let Some(v) = version {
                out.push(Position::new(key, v));
            }
        }
        Ok(out)
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        self.staged = Some(batch);
        Ok(())
    }

    fn commit(&mut self, positions: &[Position]) -> Result<(), Error> {
        let Some(batch) = self.staged.take() else {
            return Ok(());
        };
        self.refresh()?;
        let keys: Vec<PositionKey> = positions.iter().map(|p| p.key.clone()).collect();
        let stored = self.stored_in_loaded(&keys)?;
        let retry = self.ledger.take_retry();
        match self.ledger.decide(positions, &stored, retry) {
            Decision::Write => {}
            Decision::Landed => {
                tracing::warn!(positions = ?positions, "the table already holds this batch (an attempt that reported a failure landed); not writing it again");
                self.ledger.committed(positions);
                return Ok(());
            }
            Decision::Moved(moved) => {
                return Err(Error::positions_moved(format!(
                    "{} in table {}; the batch is dropped, nothing of it written",
                    moved.join(", "),
                    self.cfg.location
                )));
            }
        }
        let batch = crate::types::held(batch).map_err(Error::data)?;
        let batch = partition::add_columns(batch, &self.cfg.partition_by).map_err(Error::data)?;
        if self.table.is_none() {
            self.create_table(&batch)?;
        }
        let table_schema = match &self.table {
            Some(t) => {
                let kernel = t
                    .snapshot()
                    .map_err(|e| classify(e, "read the table schema"))?
                    .schema();
                let arrow: ArrowSchema = kernel.as_ref().try_into_arrow().map_err(|e| {
                    Error::fatal(format!("the table's schema has no Arrow form: {e}"))
                })?;
                arrow
            }
            None => return Err(Error::fatal("the table vanished after its creation")),
        };
        let (batch, variants) = evolve::conform(&batch, &table_schema).map_err(Error::data)?;
        if !variants.is_empty() {
            tracing::warn!(columns = ?variants, "values whose type the table's column cannot hold went to variant columns");
        }
        self.add_new_columns(&batch, &table_schema)?;
        // Only claimed keys: two commits with the same `txn` application id conflict in the
        // Delta protocol, and a shared key (a NATS durable's) is committed by every member.
        let txns: Vec<Transaction> = positions
            .iter()
            .filter(|p| self.ledger.guards(&p.key))
            .map(|p| Transaction::new(self.app_id(p.key.as_str()), p.next))
            .collect();
        if let Err(e) = self.write_commit(batch, txns) {
            self.ledger.failed();
            return Err(e);
        }
        self.ledger.committed(positions);
        tracing::debug!(
            version = self.table.as_ref().and_then(|t| t.version()),
            "delta commit"
        );
        self.maybe_compact();
        Ok(())
    }
}
