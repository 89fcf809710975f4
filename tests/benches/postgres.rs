//! `cargo xtask bench postgres`: generator -> PostgreSQL through `weir run` against the floor
//! of writing the same Arrow batches with tokio-postgres directly, in one process: the
//! generator's own batch builder, then per batch one transaction holding a binary `COPY`
//! (tokio-postgres's `BinaryCopyInWriter`, a row at a time) and the upsert of one positions
//! row, as the sink does. 1 000 000 rows at batch sizes 10 000 and 100 000; the two sides
//! alternate, each round into tables of its own on one server the harness starts, and medians
//! are taken. JSON on stdout.
//!
//! weir's side includes process start, plugin loading, the table and positions set-up and the
//! read-back of the stored position; the floor connects and creates its table before its
//! clock starts. CPU seconds are the client's (this process for the floor, the child for
//! weir); the server's work is the same on both sides and not counted.
//!
//! Needs the release `weir` with its plugins staged and PostgreSQL's server binaries
//! (`cargo xtask bench postgres` does both).

use bytes::{BufMut, BytesMut};
use futures_util::pin_mut;
use std::time::{Duration, Instant, SystemTime};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};
use weir_sdk::arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use weir_sdk::arrow::record_batch::RecordBatch;
use weir_tests::bench::{generator_arrow_bytes, median, usage};
use weir_tests::postgres::{Postgres, PASSWORD, USER};

const ROWS: i64 = 1_000_000;

/// A `jsonb` value in the binary format: version 1, then the JSON text.
#[derive(Debug)]
struct Jsonb(String);

impl ToSql for Jsonb {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

const TABLE: &str = "(id bigint, ts timestamptz, user_id bigint, email text, phone text, amount double precision, country text, device jsonb)";

/// One batch through `COPY ... (FORMAT binary)` a row at a time, with its positions row, in
/// one transaction.
async fn write_batch(client: &mut Client, schema: &str, b: &RecordBatch, next: i64) {
    let tx = client.transaction().await.expect("begin");
    let sink = tx
        .copy_in(&format!(
            "COPY {schema}.events (id, ts, user_id, email, phone, amount, country, device) FROM STDIN (FORMAT binary)"
        ))
        .await
        .expect("copy");
    let types = [
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
        Type::TEXT,
        Type::JSONB,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let col = |i: usize| b.column(i);
    let id = col(0).as_any().downcast_ref::<Int64Array>().expect("id");
    let ts = col(1)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("ts");
    let user = col(2).as_any().downcast_ref::<Int64Array>().expect("user");
    let text = |i: usize| col(i).as_any().downcast_ref::<StringArray>().expect("text");
    let (email, phone, country) = (text(3), text(4), text(6));
    let amount = col(5)
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("amount");
    let device = col(7).as_struct();
    let os = device.column(0).as_string::<i32>();
    let version = device
        .column(1)
        .as_any()
        .downcast_ref::<Int32Array>()
        .expect("version");
    for r in 0..b.num_rows() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(ts.value(r) as u64);
        let dev = Jsonb(format!(
            "{{\"os\":{:?},\"version\":{}}}",
            os.value(r),
            version.value(r)
        ));
        let row: [&(dyn ToSql + Sync); 8] = [
            &id.value(r),
            &at,
            &user.value(r),
            &email.value(r),
            &phone.value(r),
            &amount.value(r),
            &country.value(r),
            &dev,
        ];
        writer.as_mut().write(&row).await.expect("row");
    }
    writer.finish().await.expect("finish copy");
    tx.execute(
        &format!("INSERT INTO {schema}.weir_positions (pipeline, key, next) VALUES ('floor', 'generator', $1) ON CONFLICT (pipeline, key) DO UPDATE SET next = excluded.next"),
        &[&next],
    )
    .await
    .expect("positions");
    tx.commit().await.expect("commit");
}

/// Writes ROWS generator rows in batches of `batch` into `schema.events`; the time from the
/// first batch to the last commit.
fn floor(rt: &tokio::runtime::Runtime, pg: &Postgres, schema: &str, batch: usize) -> Duration {
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname=weir",
                pg.port()
            ),
            NoTls,
        )
        .await
        .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; CREATE TABLE {schema}.events {TABLE}; CREATE TABLE {schema}.weir_positions (pipeline text, key text, next bigint, PRIMARY KEY (pipeline, key))"
            ))
            .await
            .expect("tables");
        let started = Instant::now();
        let mut from = 0;
        while from < ROWS {
            let b = weir_plugin_generator::events::batch(1, from, batch).expect("batch");
            from += batch as i64;
            write_batch(&mut client, schema, &b, from).await;
        }
        started.elapsed()
    })
}

fn weir_run(dir: &std::path::Path, pg: &Postgres, schema: &str, batch: usize) -> Duration {
    let manifest = dir.join(format!("{schema}.yaml"));
    std::fs::write(
        &manifest,
        format!(
            "name: bench\ntype: nilus\nspec:\n  type: stream\n  source:\n    address: generator://?count={ROWS}&seed=1\n    options: {{batch_size: {batch}, batch_timeout: 30}}\n  sink:\n    address: {}\n    options: {{dest_table: {schema}.events}}\n",
            pg.url("weir")
        ),
    )
    .expect("manifest");
    weir_tests::timed_run(&manifest)
}

fn main() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tmp");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The Arrow size of everything written (the same batches on both sides).
    let arrow_bytes = generator_arrow_bytes(ROWS);
    let (mut sizes, mut ratios, mut peak_rss) = (Vec::new(), Vec::new(), 0f64);
    for batch in [10_000usize, 100_000] {
        let (mut ours, mut raw, mut our_cpu, mut raw_cpu) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..3 {
            let (c0, _) = usage(libc::RUSAGE_CHILDREN);
            ours.push(weir_run(
                dir.path(),
                &pg,
                &format!("weir_{batch}_{round}"),
                batch,
            ));
            let (c1, rss) = usage(libc::RUSAGE_CHILDREN);
            our_cpu.push(c1 - c0);
            peak_rss = peak_rss.max(rss);
            let (c0, _) = usage(libc::RUSAGE_SELF);
            raw.push(floor(&rt, &pg, &format!("floor_{batch}_{round}"), batch));
            raw_cpu.push(usage(libc::RUSAGE_SELF).0 - c0);
            let rows = pg.count(
                "weir",
                &format!("SELECT count(*) FROM weir_{batch}_{round}.events"),
            );
            assert_eq!(rows, ROWS, "weir wrote {rows} rows");
            eprintln!(
                "batch {batch}, round {round}: weir {:?}, floor {:?}",
                ours[round], raw[round]
            );
        }
        let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
        let mb = |d: Duration| arrow_bytes as f64 / 1e6 / d.as_secs_f64();
        let (o, r) = (median(ours.clone()), median(raw.clone()));
        let ratio = rate(o) / rate(r);
        ratios.push(ratio);
        let secs = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        sizes.push(serde_json::json!({
            "batch_size": batch,
            "commits": ROWS as usize / batch,
            "weir_generator_to_postgres_records_per_s": rate(o),
            "weir_generator_to_postgres_mb_per_s": mb(o),
            "floor_tokio_postgres_copy_records_per_s": rate(r),
            "floor_tokio_postgres_copy_mb_per_s": mb(r),
            "ratio_weir_to_floor": ratio,
            "weir_seconds": secs(&ours),
            "floor_seconds": secs(&raw),
            "weir_cpu_seconds": our_cpu,
            "floor_cpu_seconds": raw_cpu,
        }));
    }
    let report = serde_json::json!({
        "rows": ROWS,
        "arrow_bytes": arrow_bytes,
        "sizes": sizes,
        "ratios_weir_to_floor": ratios,
        "weir_peak_rss_mb": peak_rss,
        "floor_peak_rss_mb": usage(libc::RUSAGE_SELF).1,
        "server": "Debian's PostgreSQL, started by the harness (fsync off), on this machine",
        "note": "MB/s are Arrow bytes of the generated batches per second; weir's time includes process start, plugin loading, table and positions set-up; the floor's clock starts after it connected and made its tables; CPU is the client's only",
    });
    println!("{report:#}");
}
