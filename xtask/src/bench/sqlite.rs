//! `cargo xtask bench --store sqlite`: the embedded store on the same data set, beside
//! PostgreSQL in the same run. The seeded PostgreSQL database is copied into an SQLite file
//! once with `rhythm migrate-store` (kept as `target/bench/sqlite-<issues>-<seed>.db`, so both
//! stores hold the very same rows and ids), and every run starts from a fresh copy of it. The
//! same targets and tokens drive both servers (they share the harness's JWT secret).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, ensure};
use reqwest::Client;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{Options, Targets, WorkloadReport, measure, row, search_bands, server_env, workloads};
use crate::server::RhythmProcess;

/// The workloads the embedded store is measured on (the others are about PostgreSQL:
/// raw-SQL anchors, plans, depth of cursors, worst cases).
const READS: &[&str] = &["W1", "W2", "W4"];
const WRITES: &[&str] = &["W7", "W7-one", "W8"];

pub(super) struct Run<'a> {
    pub http: &'a Client,
    pub binary: &'a Path,
    pub bench_dir: &'a Path,
    /// The seeded PostgreSQL database, the copy's source.
    pub pristine_url: &'a str,
}

fn remove_database_files(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

/// The SQLite copy of the seeded data set, made when missing or when PostgreSQL was just
/// seeded anew.
fn pristine_file(run: &Run<'_>, options: &Options, reseeded: bool) -> anyhow::Result<PathBuf> {
    let file = run.bench_dir.join(format!("sqlite-{}-{}.db", options.issues, options.seed));
    if file.exists() && !reseeded {
        return Ok(file);
    }
    remove_database_files(&file)?;
    let partial = run.bench_dir.join("sqlite-copy-in-progress.db");
    remove_database_files(&partial)?;
    println!("copying the data set into SQLite ({})…", file.display());
    let started = std::time::Instant::now();
    let status = std::process::Command::new(run.binary)
        .args(["migrate-store", "--from", run.pristine_url, "--to"])
        .arg(format!("sqlite:{}", partial.display()))
        .env("RUST_LOG", "warn")
        .status()
        .context("running rhythm migrate-store")?;
    ensure!(status.success(), "rhythm migrate-store failed: {status}");
    std::fs::rename(&partial, &file)?;
    println!("copied in {:.1} s", started.elapsed().as_secs_f64());
    Ok(file)
}

/// Runs the embedded store's workloads and returns their reports, named `sqlite W…`.
pub(super) async fn workloads_on_sqlite(
    run: &Run<'_>,
    reseeded: bool,
    targets: &Arc<Targets>,
    levels: &[usize],
    options: &Options,
) -> anyhow::Result<Vec<WorkloadReport>> {
    let pristine = pristine_file(run, options, reseeded)?;
    let file = run.bench_dir.join("sqlite-run.db");
    remove_database_files(&file)?;
    std::fs::copy(&pristine, &file)?;
    let log = run.bench_dir.join("rhythm-sqlite.log");
    let rhythm = RhythmProcess::start(
        run.binary,
        &format!("sqlite:{}", file.display()),
        &server_env(),
        log,
    )?;
    let base = rhythm.base_url.clone();
    let wanted = |w: &str| {
        options.workloads.is_empty() || options.workloads.iter().any(|x| x.eq_ignore_ascii_case(w))
    };
    println!("\nSQLite ({}):", file.display());
    let mut reports = Vec::new();
    let all = workloads(targets);
    for phase in [READS, WRITES] {
        if phase == WRITES && wanted("W6") {
            for mut report in
                search_bands(run.http, &base, None, run.bench_dir, targets, options).await?
            {
                report.name = format!("sqlite {}", report.name);
                reports.push(report);
            }
        }
        for (name, description, next) in all.iter().filter(|(n, _, _)| phase.contains(n)) {
            if !wanted(name) {
                continue;
            }
            let mut report = measure(
                run.http,
                &base,
                &rhythm,
                None,
                &format!("sqlite {name}"),
                description,
                next.clone(),
                levels,
                options,
            )
            .await?;
            if *name == "W7-one" {
                let gap_free = numbers_are_gap_free(&file, &targets.largest.0).await?;
                report.extra.insert("numbers_gap_free".into(), json!(gap_free));
            }
            println!("{}", row(&report));
            reports.push(report);
        }
    }
    rhythm.terminate()?;
    Ok(reports)
}

/// As the PostgreSQL check: the project's numbers are exactly 1..=its counter.
async fn numbers_are_gap_free(file: &Path, key: &str) -> anyhow::Result<bool> {
    let mut db = SqliteConnectOptions::new().filename(file).read_only(true).connect().await?;
    let (count, distinct, low, high, counter): (i64, i64, Option<i64>, Option<i64>, i64) =
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT i.number), min(i.number), max(i.number), p.issue_counter
             FROM projects p JOIN issues i ON i.project_id = p.id
             WHERE p.key = $1 GROUP BY p.id",
        )
        .bind(key)
        .fetch_one(&mut db)
        .await?;
    db.close().await?;
    Ok(count == counter && distinct == counter && low == Some(1) && high == Some(counter))
}
