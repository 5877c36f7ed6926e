//! `rhythm migrate-store --from URL --to URL`: a one-way copy of every row of one store
//! into another, empty one, so a team that outgrows the SQLite file keeps its history on
//! PostgreSQL (and, the other way, a PostgreSQL data set can become an SQLite file).
//!
//! The source is read in one snapshot (PostgreSQL `REPEATABLE READ`, an SQLite read
//! transaction), so a server may keep running on it; the target is written in one
//! transaction, so a failed copy leaves it as empty as it was. Rows are copied as they are
//! stored — ids, times to the microsecond, versions, ranks, numbers, counters — in
//! multi-row INSERTs, table by table in foreign-key order. What the stores derive (board
//! totals, PostgreSQL's project lock rows, the search indexes) the target builds itself from
//! the copied rows — by its triggers, except PostgreSQL's board totals, which its schema's
//! recount function computes once after the issues (see [`Endpoint::before_rows`]). Before
//! it commits, the copy checks the totals against the rows, and that every table holds as
//! many rows as the source's.

mod codec;
mod endpoint;
mod tables;

use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::TryStreamExt;

use self::endpoint::Endpoint;
use self::tables::{TABLES, Table};
use crate::cli::{DatabaseArgs, MigrateStoreArgs};
use crate::store::StoreChoice;

/// Rows of one table: in the source's snapshot, copied, and in the target afterwards.
struct Counted {
    table: &'static str,
    source: i64,
    copied: i64,
    target: i64,
}

impl Counted {
    fn agrees(&self) -> bool {
        self.source == self.copied && self.copied == self.target
    }
}

pub async fn run(args: &MigrateStoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let from = choice("--from", &args.from, false)?;
    let to = choice("--to", &args.to, true)?;
    if from == to {
        bail!("--from and --to name the same store");
    }
    tracing::info!(from = %from.describe(), to = %to.describe(), "copying the store");

    let mut source = Endpoint::open_source(&from).await.context("opening the source")?;
    source.ensure_current_schema().await?;
    let mut target = Endpoint::open_target(&to).await.context("opening the target")?;
    target.begin_write_into_empty().await?;
    source.begin_snapshot().await?;

    let mut counts = Vec::new();
    for table in &TABLES {
        let table_started = Instant::now();
        let in_source = source.count(table.name).await?;
        let paused = target.before_rows(table).await?;
        let copied = copy_table(&mut source, &mut target, table).await?;
        target.after_rows(table, paused).await?;
        let in_target = target.count(table.name).await?;
        tracing::info!(
            table = table.name,
            rows = copied,
            ms = table_started.elapsed().as_millis(),
            "copied"
        );
        counts.push(Counted { table: table.name, source: in_source, copied, target: in_target });
    }
    source.close().await?;

    print_counts(&counts);
    if let Some(bad) = counts.iter().find(|c| !c.agrees()) {
        bail!(
            "{}: the source has {} rows, {} were copied, the target has {}; nothing was committed",
            bad.table,
            bad.source,
            bad.copied,
            bad.target
        );
    }
    target.verify_derived().await.context("nothing was committed")?;
    target.commit().await.context("committing the copy")?;
    target.finish_target().await?;
    let rows: i64 = counts.iter().map(|c| c.copied).sum();
    print_done(rows, started.elapsed().as_secs_f64(), &to);
    Ok(())
}

/// Which store `url` names, reading it as `DATABASE_URL` is read. A source file's
/// directory is never created.
fn choice(flag: &str, url: &str, create_dir: bool) -> anyhow::Result<StoreChoice> {
    if url.trim().is_empty() {
        bail!("{flag} is empty: give postgres://… or sqlite:PATH");
    }
    if !create_dir && url.trim().starts_with("sqlite:") {
        let path = rhythm_sqlite::path_of_url(url.trim());
        if !path.is_file() {
            bail!("{flag}: there is no SQLite database at {}", path.display());
        }
    }
    let args = DatabaseArgs {
        database_url: Some(url.to_owned()),
        data_dir: ".".into(),
        db_max_connections: 1,
        db_acquire_timeout_ms: 0,
        db_statement_timeout_ms: 0,
        slow_query_ms: 0,
        log_format: rhythm_api::telemetry::LogFormat::Pretty,
    };
    StoreChoice::from_args(&args).with_context(|| format!("{flag} (read like DATABASE_URL)"))
}

/// Streams `table` from the source into the target in batches; returns the rows copied.
async fn copy_table(
    source: &mut Endpoint,
    target: &mut Endpoint,
    table: &'static Table,
) -> anyhow::Result<i64> {
    let batch_rows = table.batch_rows();
    let mut rows = source.rows(table);
    let mut batch = Vec::with_capacity(batch_rows);
    let mut copied = 0i64;
    while let Some(row) =
        rows.try_next().await.with_context(|| format!("reading {}", table.name))?
    {
        batch.push(row);
        if batch.len() == batch_rows {
            copied += batch.len() as i64;
            target
                .insert(table, std::mem::replace(&mut batch, Vec::with_capacity(batch_rows)))
                .await?;
        }
    }
    copied += batch.len() as i64;
    target.insert(table, batch).await?;
    Ok(copied)
}

#[expect(clippy::print_stdout, reason = "the command's report, for the operator")]
fn print_counts(counts: &[Counted]) {
    println!("{:<18} {:>12} {:>12}", "table", "source", "target");
    for c in counts {
        let mark = if c.agrees() { "" } else { "  <- differs" };
        println!("{:<18} {:>12} {:>12}{mark}", c.table, c.source, c.target);
    }
    println!("{:<18} {:>12} {:>12}", "sign_in_attempts", "-", "not copied (ephemeral)");
}

#[expect(clippy::print_stdout, reason = "the command's report, for the operator")]
fn print_done(rows: i64, secs: f64, to: &StoreChoice) {
    println!("copied {rows} rows into {} in {secs:.1} s", to.describe());
}
