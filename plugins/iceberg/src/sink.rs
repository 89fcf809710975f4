//! The Iceberg sink: one fast-append commit per micro-batch, its snapshot summary holding the
//! batch's positions ([`crate::positions`]).
//!
//! `commit` decides on the table as last loaded ([`weir_sdk::exactly_once`]: a batch whose
//! keys another writer moved is dropped with [`Error::positions_moved`]), fits the batch to the
//! table ([`crate::evolve`]; new columns are added by a schema update first), writes its data
//! files and commits them through [`Pinned`], so the catalog checks the very snapshot the
//! decision was made on. A conflict reloads the table and decides again; the files already
//! written are reused while the schema stays the same.

use crate::catalog::{self, Pinned};
use crate::config::{Compression, IcebergConfig};
use crate::{bridge, errors, evolve, partition, positions, promoted, write};
use iceberg::spec::{DataFile, Schema as IcebergSchema};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use weir_sdk::arrow::datatypes::Schema;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::exactly_once::{Decision, Ledger};
use weir_sdk::tracing::{debug, info, warn};
use weir_sdk::{Context, Error, Position, PositionKey, Sink, SinkConfig};

/// Conflicts (another writer's commit in between) retried before the batch fails.
const CONFLICT_RETRIES: usize = 20;

pub(crate) struct IcebergSink {
    cfg: IcebergConfig,
    pipeline: String,
    rt: tokio::runtime::Runtime,
    catalog: Option<Arc<dyn Catalog>>,
    ident: TableIdent,
    /// The table as last loaded or committed; `None` while it does not exist.
    table: Option<Table>,
    staged: Option<RecordBatch>,
    ledger: Ledger,
    last_expiry: Instant,
}

/// The data files written for a batch, with the schema they were written under.
struct Written {
    schema_id: i32,
    files: Vec<DataFile>,
}

impl IcebergSink {
    pub(crate) fn create(config: SinkConfig, ctx: Context) -> Result<Box<dyn Sink>, Error> {
        let cfg = IcebergConfig::from_sink(&config)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fatal(format!("cannot start the sink's runtime: {e}")))?;
        let ident = TableIdent::new(
            NamespaceIdent::new(cfg.namespace.clone()),
            cfg.table.clone(),
        );
        Ok(Box::new(Self {
            cfg,
            pipeline: ctx.pipeline().to_string(),
            rt,
            catalog: None,
            ident,
            table: None,
            staged: None,
            ledger: Ledger::default(),
            last_expiry: Instant::now(),
        }))
    }

    fn fail(&self, what: &str, e: &iceberg::Error) -> Error {
        errors::classify(&self.cfg, what, e)
    }

    /// The catalog, opened (and the namespace created) on first use.
    fn catalog(&mut self) -> Result<Arc<dyn Catalog>, Error> {
        if let Some(c) = &self.catalog {
            return Ok(c.clone());
        }
        let cfg = &self.cfg;
        let catalog = self
            .rt
            .block_on(catalog::open(cfg))
            .map_err(|e| errors::open(cfg, &e))?;
        let ns = self.ident.namespace().clone();
        let made = self.rt.block_on(async {
            if catalog.namespace_exists(&ns).await? {
                return Ok(());
            }
            match catalog.create_namespace(&ns, HashMap::new()).await {
                Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => Ok(()),
                other => other.map(|_| ()),
            }
        });
        made.map_err(|e| self.fail("open the namespace", &e))?;
        self.catalog = Some(catalog.clone());
        Ok(catalog)
    }

    /// Loads the table as it stands now (`None` when it does not exist yet).
    fn reload(&mut self) -> Result<(), Error> {
        let catalog = self.catalog()?;
        let ident = self.ident.clone();
        let loaded = self.rt.block_on(async {
            if catalog.table_exists(&ident).await? {
                catalog.load_table(&ident).await.map(Some)
            } else {
                Ok(None)
            }
        });
        self.table = loaded.map_err(|e| self.fail("load the table", &e))?;
        Ok(())
    }

    /// The table's stored position per key of `keys`, in their order.
    fn stored(&self, keys: &[&str]) -> Vec<Option<i64>> {
        match &self.table {
            Some(t) => positions::stored(t.metadata(), &self.pipeline, keys),
            None => vec![None; keys.len()],
        }
    }

    /// Creates the table from the first batch (held types), with the partition spec.
    fn create_table(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let catalog = self.catalog()?;
        let schema = iceberg_schema(batch.schema().as_ref()).map_err(Error::data)?;
        let spec = partition::spec(&self.cfg.partition_by, &schema).map_err(Error::config)?;
        let mut properties = HashMap::from([
            // One attempt per commit: conflicts come back to the sink, which decides again.
            ("commit.retry.num-retries".to_string(), "0".to_string()),
            (
                "write.target-file-size-bytes".to_string(),
                self.cfg.target_file_size.to_string(),
            ),
        ]);
        if self.cfg.compression == Compression::Gzip {
            properties.insert("write.metadata.compression-codec".into(), "gzip".into());
        }
        let creation = TableCreation::builder()
            .name(self.cfg.table.clone())
            .schema(schema)
            .partition_spec(spec)
            .properties(properties)
            .build();
        let ns = self.ident.namespace().clone();
        let ident = self.ident.clone();
        let made = self.rt.block_on(async {
            match catalog.create_table(&ns, creation).await {
                Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {
                    catalog.load_table(&ident).await
                }
                other => other,
            }
        });
        let table = made.map_err(|e| self.fail("create the table", &e))?;
        info!(table = %self.cfg.table_name(), catalog = %self.cfg.describe(), "created Iceberg table");
        self.table = Some(table);
        Ok(())
    }

    /// Adds columns through a schema update checked against the loaded table; `false` on a
    /// conflict (the table is reloaded).
    fn add_columns(&mut self, fields: &[weir_sdk::arrow::datatypes::Field]) -> Result<bool, Error> {
        let catalog = self.catalog()?;
        let Some(table) = self.table.clone() else {
            return Err(Error::fatal("no table to evolve"));
        };
        let mut update = Transaction::new(&table).update_schema();
        for f in fields {
            let t = iceberg_type(f).map_err(Error::data)?;
            warn!(table = %self.cfg.table_name(), column = %f.name(), "adding a column to the table");
            update = update.add_column(AddColumn::optional(f.name(), t));
        }
        let pinned = Pinned {
            inner: catalog.as_ref(),
            table: table.clone(),
        };
        let done = self.rt.block_on(async {
            let tx = update.apply(Transaction::new(&table))?;
            tx.commit(&pinned).await
        });
        match done {
            Ok(t) => {
                self.table = Some(t);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
                self.reload()?;
                Ok(false)
            }
            Err(e) => Err(self.fail("add columns", &e)),
        }
    }

    /// Promotes columns' types (int to long, float to double, a wider decimal) with their
    /// field ids kept. iceberg-rust's schema update only adds and deletes columns, so it is
    /// handed a base table whose current schema already has the wider types: its update then
    /// carries that schema, checked against the table's current schema id as usual.
    fn promote(&mut self, fields: &[weir_sdk::arrow::datatypes::Field]) -> Result<(), Error> {
        let catalog = self.catalog()?;
        let Some(table) = self.table.clone() else {
            return Err(Error::fatal("no table to evolve"));
        };
        for f in fields {
            warn!(table = %self.cfg.table_name(), column = %f.name(), to = %f.data_type(), "promoting a column's type");
        }
        let base = self
            .rt
            .block_on(async { promoted::base(&table, fields) })
            .map_err(Error::fatal)?;
        let pinned = Pinned {
            inner: catalog.as_ref(),
            table: base.clone(),
        };
        let done = self.rt.block_on(async {
            let tx = Transaction::new(&base);
            let update = tx.update_schema();
            update.apply(tx)?.commit(&pinned).await
        });
        match done {
            Ok(t) => self.table = Some(t),
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => self.reload()?,
            Err(e) => return Err(self.fail("promote columns", &e)),
        }
        Ok(())
    }

    /// One attempt: decide, fit, write (or reuse the files), commit. `Ok(None)` on a
    /// conflict, after which the table has been reloaded.
    fn attempt(
        &mut self,
        held: &RecordBatch,
        positions: &[Position],
        retry: bool,
        written: &mut Option<Written>,
    ) -> Result<Option<Decision>, Error> {
        let keys: Vec<&str> = positions.iter().map(|p| p.key.as_str()).collect();
        let stored: Vec<(PositionKey, Option<i64>)> = positions
            .iter()
            .map(|p| p.key.clone())
            .zip(self.stored(&keys))
            .collect();
        match self.ledger.decide(positions, &stored, retry) {
            Decision::Write => {}
            other => return Ok(Some(other)),
        }
        if self.table.is_none() {
            self.create_table(held)?;
        }
        let table = self
            .table
            .clone()
            .ok_or_else(|| Error::fatal("no table after create"))?;
        let schema_id = table.metadata().current_schema().schema_id();
        if written.as_ref().is_none_or(|w| w.schema_id != schema_id) {
            match self.write_files(held, &table)? {
                Some(w) => *written = Some(w),
                None => return Ok(None),
            }
        }
        let files = written
            .as_ref()
            .map(|w| w.files.clone())
            .unwrap_or_default();
        let catalog = self.catalog()?;
        let props = positions::properties(&self.pipeline, positions);
        let pinned = Pinned {
            inner: catalog.as_ref(),
            table: table.clone(),
        };
        let done = self.rt.block_on(async {
            let tx = Transaction::new(&table);
            let append = tx
                .fast_append()
                .add_data_files(files)
                .set_snapshot_properties(props);
            append.apply(tx)?.commit(&pinned).await
        });
        match done {
            Ok(t) => {
                self.table = Some(t);
                Ok(Some(Decision::Write))
            }
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
                debug!(error = %e, "commit conflict; reloading the table");
                self.reload()?;
                Ok(None)
            }
            Err(e) => {
                // The commit may have landed all the same (a lost response): the retry
                // reads the table before it writes anything.
                self.ledger.failed();
                self.table = None;
                self.catalog = None;
                Err(self.fail("commit", &e))
            }
        }
    }

    /// Fits the batch to the table and writes its data files; `None` when columns had to be
    /// added first (the table has changed: decide again).
    fn write_files(&mut self, held: &RecordBatch, table: &Table) -> Result<Option<Written>, Error> {
        let schema = table.metadata().current_schema().clone();
        let arrow = iceberg::arrow::schema_to_arrow_schema(&schema)
            .map_err(|e| self.fail("read the table's schema", &e))?;
        let arrow = bridge::schema_to_59(&arrow).map_err(Error::fatal)?;
        let fitted = evolve::fit(held, &arrow)
            .map_err(|e| Error::data(format!("{}: {e}", self.cfg.table_name())))?;
        let fitted = match fitted {
            evolve::Fit::Add(fields) => {
                self.add_columns(&fields)?;
                return Ok(None);
            }
            evolve::Fit::Promote(fields) => {
                self.promote(&fields)?;
                return Ok(None);
            }
            evolve::Fit::Ready(b, variants) => {
                if !variants.is_empty() {
                    debug!(?variants, "values in variant columns");
                }
                b
            }
        };
        let batch = bridge::batch_to_58(&fitted).map_err(Error::fatal)?;
        let size = self.cfg.target_file_size;
        let files = self
            .rt
            .block_on(write::data_files(table, batch, size))
            .map_err(|e| self.fail("write data files", &e))?;
        Ok(Some(Written {
            schema_id: schema.schema_id(),
            files,
        }))
    }

    /// Expires old snapshots, keeping those that hold the latest positions.
    fn expire(&mut self) {
        if self.last_expiry.elapsed() < self.cfg.expire_interval {
            return;
        }
        self.last_expiry = Instant::now();
        let Some(table) = self.table.clone() else {
            return;
        };
        let Ok(catalog) = self.catalog() else { return };
        let now = chrono_ms();
        let mut bound = now - i64::try_from(self.cfg.expire_after.as_millis()).unwrap_or(i64::MAX);
        if let Some(oldest) = positions::oldest_needed(table.metadata()) {
            bound = bound.min(oldest);
        }
        let expirable = table
            .metadata()
            .snapshots()
            .filter(|s| s.timestamp_ms() < bound)
            .count();
        if expirable == 0 {
            return;
        }
        let pinned = Pinned {
            inner: catalog.as_ref(),
            table: table.clone(),
        };
        let done = self.rt.block_on(async {
            let tx = Transaction::new(&table);
            let action = tx
                .expire_snapshots()
                .expire_older_than_ms(bound)
                .retain_last(1);
            action.apply(tx)?.commit(&pinned).await
        });
        match done {
            Ok(t) => {
                info!(table = %self.cfg.table_name(), expired = expirable, "expired old snapshots");
                self.table = Some(t);
            }
            Err(e) => {
                warn!(error = %self.cfg.redact(&e.to_string()), "snapshot expiry failed; trying again later");
                let _ = self.reload();
            }
        }
    }
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The Iceberg schema of a held Arrow schema, ids assigned from 1.
fn iceberg_schema(schema: &Schema) -> Result<IcebergSchema, String> {
    let s58 = bridge::schema_to_58(schema)?;
    iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&s58).map_err(|e| e.to_string())
}

/// The Iceberg type of one held field.
fn iceberg_type(field: &weir_sdk::arrow::datatypes::Field) -> Result<iceberg::spec::Type, String> {
    let one = iceberg_schema(&Schema::new(vec![field.clone()]))?;
    one.as_struct()
        .fields()
        .first()
        .map(|f| f.field_type.as_ref().clone())
        .ok_or_else(|| format!("column `{}`: no Iceberg type", field.name()))
}

impl Sink for IcebergSink {
    fn open(&mut self) -> Result<(), Error> {
        self.reload()?;
        info!(catalog = %self.cfg.describe(), table = %self.cfg.table_name(), exists = self.table.is_some(), "iceberg sink open");
        Ok(())
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        self.reload()?;
        let names: Vec<&str> = keys.iter().map(PositionKey::as_str).collect();
        let stored = self.stored(&names);
        let mut out = Vec::new();
        for (k, v) in keys.iter().zip(stored) {
            self.ledger.read(k, v);
            if let Some(n) = v {
                out.push(Position::new(k.clone(), n));
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
        let held = evolve::hold(&batch)
            .map_err(|e| Error::data(format!("{}: {e}", self.cfg.table_name())))?;
        let retry = self.ledger.take_retry();
        if retry || self.table.is_none() {
            self.reload()?;
        }
        let mut written = None;
        for _ in 0..CONFLICT_RETRIES {
            match self.attempt(&held, positions, retry, &mut written)? {
                None => continue,
                Some(Decision::Write) => {
                    self.ledger.committed(positions);
                    self.expire();
                    return Ok(());
                }
                Some(Decision::Landed) => {
                    warn!(positions = ?positions, "the table already holds this batch (an attempt that reported a failure landed); not writing it again");
                    self.ledger.committed(positions);
                    return Ok(());
                }
                Some(Decision::Moved(m)) => {
                    return Err(Error::positions_moved(format!(
                        "{} in table {}; the batch is dropped, nothing of it written",
                        m.join(", "),
                        self.cfg.table_name()
                    )));
                }
            }
        }
        Err(Error::connection(format!(
            "{}: {CONFLICT_RETRIES} commits in a row conflicted with other writers; retrying",
            self.cfg.table_name()
        )))
    }

    fn close(&mut self) -> Result<(), Error> {
        self.catalog = None;
        Ok(())
    }
}
