//! The PostgreSQL sink: one transaction per micro-batch holding its rows and its positions.
//!
//! `commit` runs, in one transaction: an advisory lock for the pipeline's positions (two
//! writers of one pipeline take turns), the positions locked and compared with what this sink
//! last read or wrote ([`weir_sdk::exactly_once`]: another writer's move drops the batch with
//! [`Error::positions_moved`]), the table created or evolved ([`crate::evolve`]), the rows by
//! binary COPY (straight into the table when no value needs a cast, else into a staging table
//! and `INSERT ... SELECT` or the merge's `INSERT ... ON CONFLICT`), the positions upserted,
//! `COMMIT`. A lost connection is reconnected on the next call.

use crate::config::PostgresConfig;
use crate::copy::{self, Column};
use crate::evolve::{self, BatchColumn, Ddl, Plan};
use crate::types::{self, Wire};
use crate::{sql, tls};
use bytes::Bytes;
use futures_util::SinkExt;
use std::collections::HashMap;
use tokio_postgres::{Client, Transaction};
use weir_sdk::arrow::json::writer::EncoderOptions;
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_sdk::exactly_once::{Decision, Ledger};
use weir_sdk::options::Strategy;
use weir_sdk::tracing::{debug, info, warn};
use weir_sdk::{Context, Error, Position, PositionKey, RejectedRow, Sink, SinkConfig};

/// COPY data is encoded and sent in chunks of about this many bytes (the server parses one
/// while the next is encoded).
const CHUNK: usize = 128 << 10;

pub(crate) struct PostgresSink {
    cfg: PostgresConfig,
    pipeline: String,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    staged: Option<RecordBatch>,
    /// What the exactly-once rule needs: the positions this sink last read or wrote per key,
    /// and whether the last commit reported a failure (its transaction may have landed).
    ledger: Ledger,
    /// The merge key's unique index is known to exist.
    key_index: bool,
}

/// A batch made ready to write.
struct Prepared {
    columns: Vec<Column>,
    described: Vec<BatchColumn>,
    rows: usize,
}

/// Why a transaction did not write.
enum Failed {
    Pg(&'static str, tokio_postgres::Error),
    Moved(Vec<String>),
    Data(String),
}

impl From<(&'static str, tokio_postgres::Error)> for Failed {
    fn from((what, e): (&'static str, tokio_postgres::Error)) -> Self {
        Self::Pg(what, e)
    }
}

/// What a transaction did.
enum Done {
    Written { rows: u64, direct: bool },
    Landed,
}

impl PostgresSink {
    pub(crate) fn create(config: SinkConfig, ctx: Context) -> Result<Box<dyn Sink>, Error> {
        let cfg = PostgresConfig::from_sink(&config)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::fatal(format!("cannot start the sink's runtime: {e}")))?;
        Ok(Box::new(Self {
            cfg,
            pipeline: ctx.pipeline().to_string(),
            rt,
            client: None,
            staged: None,
            ledger: Ledger::default(),
            key_index: false,
        }))
    }

    /// One error for a failed call: the server's message (with its detail, hint and the
    /// constraint, column or table it names) and what weir was doing, the password never in it.
    fn error(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        let at = format!("{} at {} ({})", self.cfg.table, self.cfg.address(), what);
        let Some(db) = e.as_db_error() else {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            return Error::connection(
                self.cfg
                    .redact(&format!("cannot reach PostgreSQL, {at}: {text}; retrying")),
            );
        };
        let mut text = format!("{}: {}", db.code().code(), db.message());
        for (k, v) in [
            ("detail", db.detail()),
            ("hint", db.hint()),
            ("column", db.column()),
            ("constraint", db.constraint()),
        ] {
            if let Some(v) = v {
                text.push_str(&format!("; {k}: {v}"));
            }
        }
        let message = self.cfg.redact(&format!("{at}: {text}"));
        let code = db.code().code();
        match &code[..2] {
            "08" | "57" | "53" | "40" => Error::connection(message),
            "28" => Error::config(format!(
                "{message}; check the user and password of spec.sink.address"
            )),
            "3D" => Error::config(format!(
                "{message}; create the database or fix spec.sink.address"
            )),
            "42" if code == "42501" => Error::config(format!(
                "{message}; grant the user the privileges it needs (CREATE on the database or schema, INSERT on the table)"
            )),
            "22" | "23" => Error::data(message),
            _ => Error::fatal(message),
        }
    }

    fn connect(&mut self) -> Result<(), Error> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.client = None;
        let (tls, mode) = tls::connector(self.cfg.sslmode, self.cfg.sslrootcert.as_deref())
            .map_err(Error::config)?;
        let mut pg = tokio_postgres::Config::new();
        pg.host(&self.cfg.host)
            .port(self.cfg.port)
            .user(&self.cfg.user)
            .dbname(&self.cfg.database)
            .application_name(&self.cfg.application_name)
            .connect_timeout(self.cfg.connect_timeout)
            .ssl_mode(mode);
        if let Some(p) = &self.cfg.password {
            pg.password(p.expose());
        }
        let (client, connection) = self
            .rt
            .block_on(pg.connect(tls))
            .map_err(|e| self.error("connect", &e))?;
        self.rt.spawn(async move {
            if let Err(e) = connection.await {
                debug!(error = %e, "postgres connection ended");
            }
        });
        self.client = Some(client);
        Ok(())
    }

    /// The key of the advisory lock the writers of this pipeline's positions share.
    fn lock_key(&self) -> String {
        format!("weir:{}:{}", self.cfg.positions, self.pipeline)
    }

    /// Creates the schema and the positions table when missing, under the lock.
    fn setup(&mut self) -> Result<(), Error> {
        self.connect()?;
        let lock = self.lock_key();
        let cfg = self.cfg.clone();
        let Some(client) = self.client.as_mut() else {
            return Err(Error::fatal("no connection after connect"));
        };
        let done = self.rt.block_on(async {
            let tx = client.transaction().await.map_err(|e| ("begin", e))?;
            tx.execute(sql::LOCK, &[&lock])
                .await
                .map_err(|e| ("lock", e))?;
            for t in [&cfg.positions, &cfg.table] {
                let have = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                        &[&t.schema],
                    )
                    .await
                    .map_err(|e| ("look up the schema", e))?;
                if !have.get::<_, bool>(0) {
                    tx.batch_execute(&sql::create_schema(t))
                        .await
                        .map_err(|e| ("create the schema", e))?;
                }
            }
            let exists: bool = tx
                .query_one(sql::EXISTS, &[&sql::table(&cfg.positions)])
                .await
                .map_err(|e| ("look up the positions table", e))?
                .get(0);
            if !exists {
                tx.batch_execute(&sql::create_positions(&cfg.positions))
                    .await
                    .map_err(|e| ("create the positions table", e))?;
            }
            tx.commit().await.map_err(|e| ("commit", e))
        });
        done.map_err(|(what, e)| self.fail(what, &e))
    }

    /// The error for `e`, dropping a connection that is gone.
    fn fail(&mut self, what: &str, e: &tokio_postgres::Error) -> Error {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        self.error(what, e)
    }
}

/// The batch's columns as wire columns (columns of nulls only are left out).
fn prepare(batch: &RecordBatch) -> Result<Prepared, Error> {
    let schema = batch.schema();
    let mut columns = Vec::new();
    let mut described = Vec::new();
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let Some((wire, target)) = Wire::of(field.data_type())
            .map_err(|e| Error::data(format!("column `{}`: {e}", field.name())))?
        else {
            continue;
        };
        columns.push(
            Column::new(wire, array, &target)
                .map_err(|e| Error::data(format!("column `{}`: {e}", field.name())))?,
        );
        described.push(BatchColumn {
            name: field.name().clone(),
            wire,
            create_as: types::column_type(field.data_type(), wire),
        });
    }
    Ok(Prepared {
        columns,
        described,
        rows: batch.num_rows(),
    })
}

/// Everything one transaction needs.
struct Job<'a> {
    cfg: &'a PostgresConfig,
    pipeline: &'a str,
    lock: String,
    positions: &'a [Position],
    ledger: &'a Ledger,
    retry: bool,
    batch: &'a Prepared,
    key_index: bool,
}

async fn transaction(client: &mut Client, job: &Job<'_>) -> Result<Done, Failed> {
    let cfg = job.cfg;
    let tx = client.transaction().await.map_err(|e| ("begin", e))?;
    if let Some(done) = lock_and_decide(&tx, job).await? {
        return Ok(done);
    }
    let keys: Vec<String> = job
        .positions
        .iter()
        .map(|p| p.key.as_str().to_string())
        .collect();
    let (rows, direct) = write_rows(&tx, cfg, job.batch, job.key_index).await?;
    let nexts: Vec<i64> = job.positions.iter().map(|p| p.next).collect();
    tx.execute(
        &sql::upsert_positions(&cfg.positions),
        &[&job.pipeline, &keys, &nexts],
    )
    .await
    .map_err(|e| ("store the positions", e))?;
    tx.commit().await.map_err(|e| ("commit", e))?;
    Ok(Done::Written { rows, direct })
}

/// The batch's rows into the table (created or evolved first), inside `tx`: how many, and
/// whether by COPY straight into the table.
async fn write_rows(
    tx: &Transaction<'_>,
    cfg: &PostgresConfig,
    batch: &Prepared,
    key_index: bool,
) -> Result<(u64, bool), Failed> {
    let table = sql::table(&cfg.table);
    let columns: Vec<(String, String)> = tx
        .query(sql::COLUMNS, &[&table])
        .await
        .map_err(|e| ("read the table's columns", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let plan = evolve::plan(&batch.described, &columns).map_err(Failed::Data)?;
    evolve_table(tx, cfg, &plan, columns.is_empty(), key_index).await?;
    let merge = cfg.strategy == Strategy::Merge;
    let direct = !merge
        && plan.targets.iter().all(|t| {
            let wire = batch.columns[t.source].wire;
            wire != Wire::Numeric && t.pg_type == wire.staging_type()
        });
    let copy_sql = if direct {
        sql::copy_into(&cfg.table, &plan.targets)
    } else {
        let types: Vec<&str> = batch
            .columns
            .iter()
            .map(|c| c.wire.staging_type())
            .collect();
        tx.batch_execute(&sql::create_staging(&types, merge))
            .await
            .map_err(|e| ("create the staging table", e))?;
        sql::COPY_STAGING.to_string()
    };
    // Direct COPY writes every batch column, in plan order (one target per column).
    let (fields, options) = (copy::fields(&batch.columns), EncoderOptions::default());
    let mut chunks = copy::Encoder::new(&batch.columns, &fields, &options, batch.rows, merge)
        .map_err(Failed::Data)?;
    let sink = tx.copy_in(&copy_sql).await.map_err(|e| ("copy", e))?;
    futures_util::pin_mut!(sink);
    while let Some(c) = chunks.next_chunk(CHUNK) {
        sink.send(Bytes::from(c)).await.map_err(|e| ("copy", e))?;
    }
    let copied = sink.finish().await.map_err(|e| ("copy", e))?;
    let rows = if direct {
        copied
    } else if merge {
        let stmt = sql::merge(&cfg.table, &plan.targets, &cfg.primary_key).map_err(Failed::Data)?;
        tx.execute(&stmt, &[]).await.map_err(|e| ("merge", e))?
    } else {
        tx.execute(&sql::insert(&cfg.table, &plan.targets), &[])
            .await
            .map_err(|e| ("insert", e))?
    };
    Ok((rows, direct))
}

/// The rows of `batch` the table refuses (a data error, SQLSTATE class 22 or 23), each with
/// its error: the batch written again in halves under savepoints of one transaction, which
/// is then rolled back, so nothing is written.
async fn probe(
    client: &mut Client,
    cfg: &PostgresConfig,
    batch: &RecordBatch,
    key_index: bool,
) -> Result<Vec<(usize, &'static str, tokio_postgres::Error)>, Failed> {
    let tx = client.transaction().await.map_err(|e| ("begin", e))?;
    let mut refused = Vec::new();
    let mut ranges = vec![(0, batch.num_rows())];
    while let Some((offset, len)) = ranges.pop() {
        let part = prepare(&batch.slice(offset, len)).map_err(|e| Failed::Data(e.message))?;
        tx.batch_execute("SAVEPOINT weir_probe")
            .await
            .map_err(|e| ("savepoint", e))?;
        match write_rows(&tx, cfg, &part, key_index).await {
            Ok(_) => tx.batch_execute("RELEASE SAVEPOINT weir_probe").await,
            Err(Failed::Pg(what, e)) if is_refusal(&e) => {
                if len == 1 {
                    refused.push((offset, what, e));
                } else {
                    ranges.push((offset + len / 2, len - len / 2));
                    ranges.push((offset, len / 2));
                }
                tx.batch_execute("ROLLBACK TO SAVEPOINT weir_probe").await
            }
            Err(other) => return Err(other),
        }
        .map_err(|e| ("savepoint", e))?;
    }
    tx.rollback().await.map_err(|e| ("rollback", e))?;
    Ok(refused)
}

/// Whether the server refused a value or a row (SQLSTATE class 22 or 23), not the batch.
fn is_refusal(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| matches!(&d.code().code()[..2], "22" | "23"))
}

/// Takes the pipeline's lock and its position rows, and decides whether to write
/// ([`Ledger::decide`]): `Some` when the batch already landed.
async fn lock_and_decide(tx: &Transaction<'_>, job: &Job<'_>) -> Result<Option<Done>, Failed> {
    let cfg = job.cfg;
    tx.execute(sql::LOCK, &[&job.lock])
        .await
        .map_err(|e| ("lock", e))?;
    let keys: Vec<String> = job
        .positions
        .iter()
        .map(|p| p.key.as_str().to_string())
        .collect();
    let rows = tx
        .query(
            &sql::lock_positions(&cfg.positions),
            &[&job.pipeline, &keys],
        )
        .await
        .map_err(|e| ("lock the positions", e))?;
    let found: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let stored: Vec<(PositionKey, Option<i64>)> = job
        .positions
        .iter()
        .map(|p| (p.key.clone(), found.get(p.key.as_str()).copied()))
        .collect();
    match job.ledger.decide(job.positions, &stored, job.retry) {
        Decision::Write => {}
        Decision::Landed => return Ok(Some(Done::Landed)),
        Decision::Moved(m) => return Err(Failed::Moved(m)),
    }
    Ok(None)
}

/// Creates the table (with the merge key's unique index) or applies the plan's changes.
async fn evolve_table(
    tx: &Transaction<'_>,
    cfg: &PostgresConfig,
    plan: &Plan,
    create: bool,
    key_index: bool,
) -> Result<(), Failed> {
    if create {
        let cols: Vec<(String, String)> = plan
            .ddl
            .iter()
            .filter_map(|d| match d {
                Ddl::Add { column, pg_type } => Some((column.clone(), pg_type.clone())),
                Ddl::Widen { .. } => None,
            })
            .collect();
        info!(table = %cfg.table, columns = cols.len(), "creating PostgreSQL table");
        tx.batch_execute(&sql::create_table(&cfg.table, &cols))
            .await
            .map_err(|e| ("create the table", e))?;
    } else {
        for d in &plan.ddl {
            warn!(table = %cfg.table, change = ?d, "changing the table's schema");
            tx.batch_execute(&sql::ddl(&cfg.table, d))
                .await
                .map_err(|e| ("change the table's schema", e))?;
        }
    }
    if cfg.strategy == Strategy::Merge && !key_index {
        tx.batch_execute(&sql::key_index(&cfg.table, &cfg.primary_key))
            .await
            .map_err(|e| ("create the merge key's unique index", e))?;
    }
    Ok(())
}

impl Sink for PostgresSink {
    fn open(&mut self) -> Result<(), Error> {
        self.setup()?;
        info!(address = %self.cfg.address(), table = %self.cfg.table, positions = %self.cfg.positions, strategy = %self.cfg.strategy, "postgres sink open");
        Ok(())
    }

    fn stored_positions(&mut self, keys: &[PositionKey]) -> Result<Vec<Position>, Error> {
        self.connect()?;
        let names: Vec<String> = keys.iter().map(|k| k.as_str().to_string()).collect();
        let stmt = sql::read_positions(&self.cfg.positions);
        let pipeline = self.pipeline.clone();
        let Some(client) = self.client.as_mut() else {
            return Err(Error::fatal("no connection after connect"));
        };
        let rows = self.rt.block_on(client.query(&stmt, &[&pipeline, &names]));
        let rows = rows.map_err(|e| self.fail("read the stored positions", &e))?;
        let found: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut out = Vec::new();
        for k in keys {
            let v = found.get(k.as_str()).copied();
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
        let prepared = prepare(&batch)?;
        self.connect()?;
        let retry = self.ledger.take_retry();
        let job = Job {
            cfg: &self.cfg,
            pipeline: &self.pipeline,
            lock: self.lock_key(),
            positions,
            ledger: &self.ledger,
            retry,
            batch: &prepared,
            key_index: self.key_index,
        };
        let Some(client) = self.client.as_mut() else {
            return Err(Error::fatal("no connection after connect"));
        };
        let outcome = self.rt.block_on(transaction(client, &job));
        match outcome {
            Ok(done) => {
                match done {
                    Done::Written { rows, direct } => {
                        debug!(rows, direct, "postgres commit");
                    }
                    Done::Landed => {
                        warn!(positions = ?positions, "the table already holds this batch (an attempt that reported a failure landed); not writing it again");
                    }
                }
                self.key_index = true;
                self.ledger.committed(positions);
                Ok(())
            }
            Err(Failed::Moved(m)) => Err(Error::positions_moved(format!(
                "{} in {}; the batch is dropped, nothing of it written",
                m.join(", "),
                self.cfg.positions
            ))),
            Err(Failed::Data(m)) => Err(Error::data(format!("{}: {m}", self.cfg.table))),
            Err(Failed::Pg(what, e)) if is_refusal(&e) => {
                let first = self.error(what, &e);
                let found = match self.client.as_mut() {
                    Some(client) => {
                        self.rt
                            .block_on(probe(client, &self.cfg, &batch, self.key_index))
                    }
                    None => return Err(first),
                };
                match found {
                    Ok(rows) if !rows.is_empty() => Err(Error::rows_rejected(
                        rows.iter()
                            .map(|(row, what, e)| {
                                RejectedRow::new(*row, self.error(what, e).message)
                            })
                            .collect(),
                    )),
                    // Refused as a whole but no single row alone: the batch's error stands.
                    Ok(_) => Err(first),
                    Err(Failed::Pg(what, e)) => Err(self.fail(what, &e)),
                    Err(_) => Err(first),
                }
            }
            Err(Failed::Pg(what, e)) => {
                self.ledger.failed();
                Err(self.fail(what, &e))
            }
        }
    }

    fn close(&mut self) -> Result<(), Error> {
        self.client = None;
        Ok(())
    }
}
