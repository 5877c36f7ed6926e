//! `cargo xtask chaos`, SQLite part: the embedded store under load, killed with SIGKILL
//! mid-write (twice) and locked by another process. Every answer must be a 2xx or a clean
//! 503, and after restarts every acknowledged create and update must be in the file, with
//! the same invariants as on PostgreSQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use reqwest::StatusCode;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use tokio::sync::Mutex;

use crate::chaos::{
    ACQUIRE_TIMEOUT, Ledger, Load, PROJECT, REQUEST_TIMEOUT, WORKERS, await_recovery, check_clean,
    check_ledger, describe, login, setup, summarize,
};
use crate::load::{Op, client, send};
use crate::server::RhythmProcess;

/// How many times the server is killed under load.
const KILLS: usize = 2;

fn start(binary: &Path, file: &Path, name: &str) -> anyhow::Result<RhythmProcess> {
    let env = [
        ("RHYTHM_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_DB_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_AUTH_RATE_PER_MIN", "0".to_owned()),
    ];
    let log =
        std::env::temp_dir().join(format!("rhythm-chaos-sqlite-{name}-{}.log", std::process::id()));
    RhythmProcess::start(binary, &format!("sqlite:{}", file.display()), &env, log)
}

/// A fresh directory for this run's database file.
fn fresh_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rhythm-chaos-sqlite-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub async fn scenarios(binary: &Path, fault: Duration) -> anyhow::Result<()> {
    let dir = fresh_dir()?;
    let file = dir.join("rhythm.db");
    let http = client(REQUEST_TIMEOUT + Duration::from_secs(5), WORKERS * 2)?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // 1. SIGKILL under load, restart on the same file, twice.
    let mut rhythm = start(binary, &file, "kill-0")?;
    let mut token = setup(&http, &rhythm.base_url).await?.token;
    let mut answered = 0;
    for round in 0..KILLS {
        let load = Load::start(&http, &rhythm.base_url, &token, &ledger);
        tokio::time::sleep(fault.max(Duration::from_secs(2))).await;
        rhythm.kill()?;
        // Requests in flight at the kill get no answer; that is the point. What was
        // acknowledged before it is in the ledger and must survive.
        let outcomes = load.stop().await;
        answered += outcomes.iter().filter(|(_, o)| o.status.is_some()).count();
        rhythm = start(binary, &file, &format!("kill-{}", round + 1))?;
        token = login(&http, &rhythm.base_url).await?;
        await_recovery(&http, &rhythm.base_url, &token).await?;
    }
    println!(
        "1 SIGKILL under load: killed {KILLS} times with {WORKERS} writers running ({answered} answers before the kills); \
         restarted on the same file each time"
    );

    // 2. Another process holds the write lock: writes answer a clean 503, reads go on
    //    (WAL), and writes resume when the lock is released.
    let load = Load::start(&http, &rhythm.base_url, &token, &ledger);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut locker = SqliteConnectOptions::new().filename(&file).connect().await?;
    locker.execute("BEGIN IMMEDIATE").await?;
    let locked_at = Instant::now();
    tokio::time::sleep(fault).await;
    locker.execute("ROLLBACK").await?;
    let released_at = Instant::now();
    let recovery = await_recovery(&http, &rhythm.base_url, &token).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcomes = load.stop().await;
    check_clean("write lock held elsewhere", &outcomes)?;
    let while_locked: Vec<_> =
        outcomes.iter().filter(|(at, _)| *at > locked_at && *at < released_at).collect();
    let unavailable = while_locked
        .iter()
        .filter(|(_, o)| o.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .count();
    let reads_ok = while_locked.iter().filter(|(_, o)| o.status == Some(StatusCode::OK)).count();
    ensure!(unavailable > 0, "write lock: no 503 while another process held the lock");
    ensure!(reads_ok > 0, "write lock: no read succeeded while another process held the lock");
    println!(
        "2 write lock held by another process for {} s: {}; {unavailable} × 503 and {reads_ok} × 200 while locked; \
         2xx writes again {} ms after release",
        fault.as_secs(),
        describe(&summarize(&outcomes)),
        recovery.as_millis()
    );
    let health = send(&http, &rhythm.base_url, &Op::get("/health", "")).await;
    ensure!(health.status == Some(StatusCode::OK), "/health after the faults: {:?}", health.status);
    let status = rhythm.terminate()?;
    ensure!(status.success(), "rhythm did not exit cleanly on SIGTERM: {status}");

    // 3. What must hold after all of it, read from the file itself.
    invariants(&mut locker, &*ledger.lock().await).await?;
    locker.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

async fn invariants(db: &mut SqliteConnection, ledger: &Ledger) -> anyhow::Result<()> {
    let integrity: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut *db).await?;
    ensure!(integrity == "ok", "integrity check: {integrity}");
    let ownerless: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projects p WHERE NOT EXISTS
             (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.role = 'owner')",
    )
    .fetch_one(&mut *db)
    .await?;
    ensure!(ownerless == 0, "{ownerless} projects without an owner");
    let (count, max, counter): (i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT count(i.id), max(i.number), p.issue_counter FROM projects p
         LEFT JOIN issues i ON i.project_id = p.id WHERE p.key = $1 GROUP BY p.id",
    )
    .bind(PROJECT)
    .fetch_one(&mut *db)
    .await?;
    ensure!(
        max.unwrap_or(0) == count && counter == count,
        "numbers are not gap-free: {count} issues, highest number {max:?}, counter {counter}"
    );
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT i.number, i.version, i.title,
                (SELECT count(*) FROM issue_events e WHERE e.issue_id = i.id)
         FROM issues i JOIN projects p ON p.id = i.project_id WHERE p.key = $1",
    )
    .bind(PROJECT)
    .fetch_all(&mut *db)
    .await?;
    let stored: BTreeMap<i64, (i64, String, i64)> =
        rows.into_iter().map(|(n, v, t, e)| (n, (v, t, e))).collect();
    let drifted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM project_board_totals t WHERE t.issues <> (
             SELECT count(*) FROM issues i WHERE i.project_id = t.project_id
             AND i.status = t.status AND i.deleted_at IS NULL)",
    )
    .fetch_one(&mut *db)
    .await?;
    ensure!(drifted == 0, "{drifted} board totals differ from their issues");
    let checked = check_ledger(&stored, ledger)?;
    println!(
        "3 invariants (SQLite): integrity_check ok; every project has an owner; {count} issue numbers gap-free; \
         {checked} acknowledged issues and all their acknowledged updates present after {KILLS} SIGKILLs; \
         version = event count for all {} issues; board totals = counted rows",
        stored.len()
    );
    Ok(())
}
