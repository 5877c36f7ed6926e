//! `cargo xtask chaos` and `cargo xtask soak`: break the database under a loaded `rhythm`
//! and check that clients only ever see clean answers, that service resumes on its own,
//! and that nothing acknowledged is lost and nothing refused is half-written.
//!
//! Everything runs against a throwaway PostgreSQL cluster of its own (never the
//! development database), with `rhythm` started and stopped per scenario; then the same
//! load runs on the embedded SQLite store ([`crate::chaos_sqlite`]), killed and locked.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::{Client, StatusCode};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::Mutex;

use crate::cluster::TempCluster;
use crate::load::{Op, Outcome, Stats, client, send};
use crate::server::{RhythmProcess, build_rhythm, free_port};

/// The request timeout the harness configures; every answer must come within it.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_millis(3000);
/// Below the request timeout, so an unreachable database surfaces as the store's own 503.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);
const STATEMENT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Slack for scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(700);
/// How long after a fault is removed 2xx must resume.
pub(crate) const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
pub(crate) const WORKERS: usize = 6;
pub(crate) const PROJECT: &str = "CHA";

pub struct Options {
    /// Seconds each fault lasts.
    pub fault_secs: u64,
}

/// Every write a worker attempted on one issue, in order, and the last one acknowledged.
#[derive(Default, Debug)]
struct IssueLog {
    /// (version the write would produce, title it writes).
    attempts: Vec<(i64, String)>,
    acknowledged: i64,
}

/// What the load saw, for the checks.
#[derive(Default)]
pub(crate) struct Ledger {
    /// Issue number → its write log. Created issues are in it with version 1 acknowledged.
    issues: BTreeMap<i64, IssueLog>,
}

pub(crate) struct Fixture {
    pub(crate) token: String,
}

/// One scenario's `rhythm` with its settings.
fn start_rhythm(
    binary: &Path,
    pg: &TempCluster,
    extra: &[(&str, String)],
    name: &str,
) -> anyhow::Result<RhythmProcess> {
    let mut env = vec![
        ("RHYTHM_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_DB_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_AUTH_RATE_PER_MIN", "0".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let log = std::env::temp_dir().join(format!("rhythm-chaos-{name}-{}.log", std::process::id()));
    RhythmProcess::start(binary, &pg.url("postgres"), &env, log)
}

pub(crate) async fn setup(client: &Client, base: &str) -> anyhow::Result<Fixture> {
    let register = Op {
        method: reqwest::Method::POST,
        path: "/api/v1/auth/register".into(),
        body: Some(
            json!({"email": "chaos@rhythm.test", "name": "Chaos", "password": "chaos-password"}),
        ),
        token: None,
        if_match: None,
    };
    let session = send(client, base, &register).await;
    ensure!(session.status == Some(StatusCode::CREATED), "registering: {:?}", session.status);
    let token = session
        .body
        .as_ref()
        .and_then(|b| b["access_token"].as_str())
        .context("no token")?
        .to_owned();
    let project = send(
        client,
        base,
        &Op::post("/api/v1/projects", &token, json!({"key": PROJECT, "name": "Chaos"})),
    )
    .await;
    ensure!(
        project.status == Some(StatusCode::CREATED),
        "creating the project: {:?}",
        project.status
    );
    Ok(Fixture { token })
}

/// A worker's loop: create an issue, update it a few times with If-Match, read around.
async fn worker(
    client: Client,
    base: String,
    token: String,
    id: usize,
    running: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    outcomes: Arc<Mutex<Vec<(Instant, Outcome)>>>,
) {
    let mut own: Option<(i64, i64)> = None; // (number, acknowledged version)
    let mut i = 0u64;
    while running.load(Ordering::Relaxed) {
        let mut outcome = match (i % 4, own) {
            (0, _) | (_, None) => {
                let op = Op::post(
                    format!("/api/v1/projects/{PROJECT}/issues"),
                    &token,
                    json!({"title": format!("w{id}-{i}")}),
                );
                let outcome = send(&client, &base, &op).await;
                if outcome.status == Some(StatusCode::CREATED)
                    && let Some(number) = outcome.body.as_ref().and_then(|b| b["number"].as_i64())
                {
                    ledger.lock().await.issues.insert(
                        number,
                        IssueLog { attempts: vec![(1, format!("w{id}-{i}"))], acknowledged: 1 },
                    );
                    own = Some((number, 1));
                }
                outcome
            }
            (1, Some((number, version))) => {
                let title = format!("w{id}-{i}-v{}", version + 1);
                let mut op = Op::patch(
                    format!("/api/v1/projects/{PROJECT}/issues/{number}"),
                    &token,
                    json!({ "title": title }),
                );
                op.if_match = Some(format!("\"{version}\""));
                ledger
                    .lock()
                    .await
                    .issues
                    .entry(number)
                    .or_default()
                    .attempts
                    .push((version + 1, title));
                let outcome = send(&client, &base, &op).await;
                if outcome.status == Some(StatusCode::OK) {
                    ledger.lock().await.issues.entry(number).or_default().acknowledged =
                        version + 1;
                    own = Some((number, version + 1));
                } else {
                    // The write may or may not have landed; start over on a fresh issue.
                    own = None;
                }
                outcome
            }
            (2, Some((number, _))) => {
                send(
                    &client,
                    &base,
                    &Op::get(format!("/api/v1/projects/{PROJECT}/issues/{number}"), &token),
                )
                .await
            }
            _ => {
                send(
                    &client,
                    &base,
                    &Op::get(format!("/api/v1/projects/{PROJECT}/issues?limit=20"), &token),
                )
                .await
            }
        };
        // Success bodies have served their purpose (the ledger); keeping them would hold
        // every issue list of a long soak in memory (tens of GiB over 10 minutes).
        if outcome.status.is_some_and(|s| s.is_success()) {
            outcome.body = None;
        }
        outcomes.lock().await.push((Instant::now(), outcome));
        i += 1;
    }
}

/// Load running in the background until stopped.
pub(crate) struct Load {
    running: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<(Instant, Outcome)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(
        client: &Client,
        base: &str,
        token: &str,
        ledger: &Arc<Mutex<Ledger>>,
    ) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..WORKERS)
            .map(|id| {
                tokio::spawn(worker(
                    client.clone(),
                    base.to_owned(),
                    token.to_owned(),
                    id,
                    running.clone(),
                    ledger.clone(),
                    outcomes.clone(),
                ))
            })
            .collect();
        Self { running, outcomes, tasks }
    }

    pub(crate) async fn stop(self) -> Vec<(Instant, Outcome)> {
        self.running.store(false, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        std::mem::take(&mut *self.outcomes.lock().await)
    }
}

pub(crate) fn summarize(outcomes: &[(Instant, Outcome)]) -> Stats {
    let mut stats = Stats::new();
    for (_, outcome) in outcomes {
        stats.record(outcome.status, outcome.latency);
    }
    stats
}

pub(crate) fn describe(stats: &Stats) -> String {
    let statuses: Vec<String> = stats
        .statuses
        .iter()
        .map(|(s, n)| if *s == 0 { format!("none×{n}") } else { format!("{s}×{n}") })
        .collect();
    format!(
        "{} requests [{}], p99 {:.0} ms, max {:.0} ms",
        stats.count(),
        statuses.join(" "),
        stats.ms(0.99),
        stats.ms(1.0)
    )
}

/// Every answer must be a 2xx or a clean 503 (problem+json with Retry-After) within the
/// request timeout; never a 500, never no answer at all.
pub(crate) fn check_clean(name: &str, outcomes: &[(Instant, Outcome)]) -> anyhow::Result<()> {
    for (_, outcome) in outcomes {
        match outcome.status {
            None => bail!("{name}: a request got no answer at all after {:?}", outcome.latency),
            Some(status) if status.is_success() => {}
            Some(StatusCode::SERVICE_UNAVAILABLE) => {
                ensure!(
                    outcome.problem_json && outcome.retry_after,
                    "{name}: a 503 without problem+json and Retry-After"
                );
            }
            // A write whose If-Match lost to another of the same worker's retries.
            Some(StatusCode::PRECONDITION_FAILED) => {}
            Some(status) => bail!("{name}: unexpected {status}: {:?}", outcome.body),
        }
        ensure!(
            outcome.latency <= REQUEST_TIMEOUT + SLACK,
            "{name}: an answer took {:?} (request timeout {:?})",
            outcome.latency,
            REQUEST_TIMEOUT
        );
    }
    Ok(())
}

/// Polls `GET /health` until 200, returning how long it took.
pub(crate) async fn await_recovery(
    client: &Client,
    base: &str,
    token: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let outcome = send(
            client,
            base,
            &Op::get(format!("/api/v1/projects/{PROJECT}/issues?limit=1"), token),
        )
        .await;
        if outcome.status == Some(StatusCode::OK) {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < RECOVERY_LIMIT,
            "no 2xx within {RECOVERY_LIMIT:?} after the fault ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn run(sh: &xshell::Shell, options: &Options) -> anyhow::Result<()> {
    let binary = build_rhythm(sh, false)?;
    let mut pg = TempCluster::start(free_port()?, &[])?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut outcome = runtime.block_on(scenarios(&binary, &mut pg, options));
    if outcome.is_ok() {
        println!("SQLite (the embedded store):");
        let fault = Duration::from_secs(options.fault_secs);
        outcome = runtime.block_on(crate::chaos_sqlite::scenarios(&binary, fault));
    }
    if let Err(err) = &outcome {
        eprintln!(
            "chaos failed: {err:#}\n(rhythm's logs are in {})",
            std::env::temp_dir().display()
        );
    }
    outcome
}

async fn scenarios(binary: &Path, pg: &mut TempCluster, options: &Options) -> anyhow::Result<()> {
    let fault = Duration::from_secs(options.fault_secs);
    let http = client(REQUEST_TIMEOUT + Duration::from_secs(5), WORKERS * 2)?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // An empty database: `serve` migrates it before answering.
    let rhythm = start_rhythm(binary, pg, &[], "outage")?;
    let base = rhythm.base_url.clone();
    let fixture = setup(&http, &base).await?;
    let health = send(&http, &base, &Op::get("/health", "")).await;
    ensure!(
        health.status == Some(StatusCode::OK),
        "/health after migrating an empty database: {:?}",
        health.status
    );

    // 1. The database dies under load, then comes back.
    let load = Load::start(&http, &base, &fixture.token, &ledger);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.kill()?;
    let down_at = Instant::now();
    tokio::time::sleep(fault / 2).await;
    // Readiness says so too, within the request timeout, and the process stays up.
    let health_down = send(&http, &base, &Op::get("/health", "")).await;
    ensure!(
        health_down.status == Some(StatusCode::SERVICE_UNAVAILABLE)
            && health_down.latency <= REQUEST_TIMEOUT + SLACK,
        "/health while the database is down: {:?} after {:?}",
        health_down.status,
        health_down.latency
    );
    tokio::time::sleep(fault - fault / 2).await;
    // The database may accept connections before pg_ctl reports it: "down" ends here.
    let up_at = Instant::now();
    pg.resume()?;
    let recovery = await_recovery(&http, &base, &fixture.token).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcomes = load.stop().await;
    check_clean("outage", &outcomes)?;
    let during: Vec<_> = outcomes
        .iter()
        .filter(|(at, o)| {
            *at > down_at + REQUEST_TIMEOUT
                && *at < up_at
                && o.status.is_some_and(|s| s.is_success())
        })
        .collect();
    ensure!(
        during.is_empty(),
        "outage: {} 2xx while the database was down: {:?}",
        during.len(),
        during
            .iter()
            .map(|(at, o)| (at.duration_since(down_at), o.latency, o.status))
            .collect::<Vec<_>>()
    );
    let down: Vec<_> = outcomes
        .iter()
        .filter(|(at, _)| *at > down_at && *at < up_at)
        .map(|(_, o)| o.status)
        .collect();
    let health = send(&http, &base, &Op::get("/health", "")).await;
    ensure!(health.status == Some(StatusCode::OK), "/health after recovery");
    println!(
        "1 outage: {}; while down {} answers, all 503, and /health 503 in {} ms; 2xx and /health 200 again \
         {} ms after restart; rhythm never restarted",
        describe(&summarize(&outcomes)),
        down.len(),
        health_down.latency.as_millis(),
        recovery.as_millis()
    );
    rhythm.terminate()?;

    // 2. Pool exhaustion: a tiny pool, and the project row locked by another session.
    let rhythm = start_rhythm(binary, pg, &[("RHYTHM_DB_MAX_CONNECTIONS", "2".into())], "pool")?;
    let base = rhythm.base_url.clone();
    let token = login(&http, &base).await?;
    let mut locker = PgConnection::connect(&pg.url("postgres")).await?;
    let load = Load::start(&http, &base, &token, &ledger);
    tokio::time::sleep(Duration::from_secs(1)).await;
    locker.execute("BEGIN").await?;
    locker.execute("SELECT * FROM projects FOR UPDATE").await?;
    let locked_at = Instant::now();
    tokio::time::sleep(fault).await;
    locker.execute("ROLLBACK").await?;
    let released_at = Instant::now();
    let recovery = await_recovery(&http, &base, &token).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcomes = load.stop().await;
    check_clean("pool exhaustion", &outcomes)?;
    let while_locked: Vec<_> =
        outcomes.iter().filter(|(at, _)| *at > locked_at && *at < released_at).collect();
    let unavailable = while_locked
        .iter()
        .filter(|(_, o)| o.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .count();
    ensure!(unavailable > 0, "pool exhaustion: no 503 while the pool was exhausted");
    let slowest_503 = while_locked
        .iter()
        .filter(|(_, o)| o.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .map(|(_, o)| o.latency)
        .max()
        .unwrap_or_default();
    println!(
        "2 pool exhaustion (2 connections, rows locked {} s): {}; {unavailable} × 503 while locked, slowest {} ms \
         (acquire timeout {} ms, statement timeout {} ms); 2xx again {} ms after release",
        fault.as_secs(),
        describe(&summarize(&outcomes)),
        slowest_503.as_millis(),
        ACQUIRE_TIMEOUT.as_millis(),
        STATEMENT_TIMEOUT.as_millis(),
        recovery.as_millis()
    );

    // 4. A statement that hits statement_timeout → 503, and the connection serves the
    //    next request (one connection in the pool, so it must be the same one).
    rhythm.terminate()?;
    let rhythm =
        start_rhythm(binary, pg, &[("RHYTHM_DB_MAX_CONNECTIONS", "1".into())], "statement")?;
    let base = rhythm.base_url.clone();
    let token = login(&http, &base).await?;
    locker.execute("BEGIN").await?;
    locker.execute("SELECT * FROM projects FOR UPDATE").await?;
    let create =
        Op::post(format!("/api/v1/projects/{PROJECT}/issues"), &token, json!({"title": "blocked"}));
    let blocked = send(&http, &base, &create).await;
    let next =
        send(&http, &base, &Op::get(format!("/api/v1/projects/{PROJECT}/issues?limit=1"), &token))
            .await;
    locker.execute("ROLLBACK").await?;
    ensure!(
        blocked.status == Some(StatusCode::SERVICE_UNAVAILABLE)
            && blocked.problem_json
            && blocked.retry_after,
        "statement timeout: expected a clean 503, got {:?}",
        blocked.status
    );
    ensure!(
        next.status == Some(StatusCode::OK),
        "statement timeout: the next request got {:?}",
        next.status
    );
    println!(
        "4 statement timeout: the blocked write answered 503 after {} ms (statement timeout {} ms); the next request on the \
         same connection answered 200 in {} ms",
        blocked.latency.as_millis(),
        STATEMENT_TIMEOUT.as_millis(),
        next.latency.as_millis()
    );
    rhythm.terminate()?;

    // 3. Backends terminated under load.
    let rhythm = start_rhythm(binary, pg, &[], "terminate")?;
    let base = rhythm.base_url.clone();
    let token = login(&http, &base).await?;
    let load = Load::start(&http, &base, &token, &ledger);
    let mut killed = 0u64;
    let started = Instant::now();
    while started.elapsed() < fault {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let rows: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rhythm' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut locker)
        .await?;
        killed += rows.len() as u64;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcomes = load.stop().await;
    check_clean("terminated backends", &outcomes)?;
    let recovery = await_recovery(&http, &base, &token).await?;
    println!(
        "3 terminated backends: {killed} connections killed over {} s: {}; never a 500; 2xx {} ms after",
        fault.as_secs(),
        describe(&summarize(&outcomes)),
        recovery.as_millis()
    );
    let status = rhythm.terminate()?;
    ensure!(status.success(), "rhythm did not exit cleanly on SIGTERM: {status}");

    // 5. What must hold after all of it.
    invariants(&mut locker, &*ledger.lock().await).await
}

pub(crate) async fn login(client: &Client, base: &str) -> anyhow::Result<String> {
    let op = Op {
        method: reqwest::Method::POST,
        path: "/api/v1/auth/login".into(),
        body: Some(json!({"email": "chaos@rhythm.test", "password": "chaos-password"})),
        token: None,
        if_match: None,
    };
    let outcome = send(client, base, &op).await;
    ensure!(outcome.status == Some(StatusCode::OK), "login: {:?}", outcome.status);
    Ok(outcome
        .body
        .as_ref()
        .and_then(|b| b["access_token"].as_str())
        .context("no token")?
        .to_owned())
}

async fn invariants(db: &mut PgConnection, ledger: &Ledger) -> anyhow::Result<()> {
    let ownerless: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projects p WHERE NOT EXISTS
             (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.role = 'owner')",
    )
    .fetch_one(&mut *db)
    .await?;
    ensure!(ownerless == 0, "{ownerless} projects without an owner");
    let (count, max, counter): (i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT count(i.id), max(i.number), p.issue_counter FROM projects p LEFT JOIN issues i ON i.project_id = p.id
         WHERE p.key = $1 GROUP BY p.issue_counter",
    )
    .bind(PROJECT)
    .fetch_one(&mut *db)
    .await?;
    ensure!(
        max.unwrap_or(0) == count && counter == count,
        "numbers are not gap-free: {count} issues, highest number {max:?}, counter {counter}"
    );
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT i.number, i.version, i.title, (SELECT count(*) FROM issue_events e WHERE e.issue_id = i.id)
         FROM issues i JOIN projects p ON p.id = i.project_id WHERE p.key = $1",
    )
    .bind(PROJECT)
    .fetch_all(&mut *db)
    .await?;
    let stored: BTreeMap<i64, (i64, String, i64)> =
        rows.into_iter().map(|(n, v, t, e)| (n, (v, t, e))).collect();
    let drifted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM project_board_totals t WHERE t.issues <> ARRAY(
             SELECT count(i.id) FROM generate_series(1, 6) AS g(k)
             LEFT JOIN issues i ON i.project_id = t.project_id AND i.deleted_at IS NULL
                               AND rhythm_status_column(i.status) = g.k
             GROUP BY g.k ORDER BY g.k)",
    )
    .fetch_one(&mut *db)
    .await?;
    ensure!(drifted == 0, "{drifted} projects' board totals differ from their issues");
    let checked = check_ledger(&stored, ledger)?;
    println!(
        "6 invariants: every project has an owner; {count} issue numbers gap-free; {checked} acknowledged issues and all their \
         acknowledged updates present; version = event count for all {} issues (no half-applied write); board totals = counted rows",
        stored.len()
    );
    Ok(())
}

/// Checks the stored issues (number → version, title, event count) against what the load
/// saw: every acknowledged create and update is there, every stored state is one a client
/// wrote, and no write is half-applied. Returns how many acknowledged issues were checked.
pub(crate) fn check_ledger(
    stored: &BTreeMap<i64, (i64, String, i64)>,
    ledger: &Ledger,
) -> anyhow::Result<usize> {
    for (number, (version, _, events)) in stored {
        ensure!(
            version == events,
            "issue {number}: version {version} but {events} events — a half-applied write"
        );
    }
    let mut checked = 0;
    for (number, log) in &ledger.issues {
        let (version, title, _) = stored
            .get(number)
            .with_context(|| format!("acknowledged issue {number} is missing"))?;
        ensure!(
            *version >= log.acknowledged,
            "issue {number}: acknowledged version {} lost (stored {version})",
            log.acknowledged
        );
        let expected = log.attempts.iter().find(|(v, _)| v == version).map(|(_, t)| t);
        ensure!(
            expected == Some(title),
            "issue {number}: stored {version}/{title:?} is no state a client wrote"
        );
        checked += 1;
    }
    Ok(checked)
}

/// `cargo xtask soak --minutes N`: steady mixed load on a release build; RSS must stay
/// flat, connections within the pool, and every answer a success.
pub fn soak(sh: &xshell::Shell, minutes: u64) -> anyhow::Result<()> {
    let binary = build_rhythm(sh, true)?;
    let pg = TempCluster::start(free_port()?, &[])?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let pool_size = 8;
        let rhythm = start_rhythm(&binary, &pg, &[("RHYTHM_DB_MAX_CONNECTIONS", pool_size.to_string())], "soak")?;
        let base = rhythm.base_url.clone();
        let http = client(REQUEST_TIMEOUT + Duration::from_secs(5), WORKERS * 2)?;
        let fixture = setup(&http, &base).await?;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut db = PgConnection::connect(&pg.url("postgres")).await?;
        let pid = rhythm.pid();
        let load = Load::start(&http, &base, &fixture.token, &ledger);
        let started = Instant::now();
        let duration = Duration::from_secs(minutes * 60);
        let mut samples = Vec::new();
        let mut max_connections = 0i64;
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let rss = rss_kib(pid).unwrap_or(0);
            let connections: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rhythm'")
                    .fetch_one(&mut db)
                    .await?;
            max_connections = max_connections.max(connections);
            samples.push((started.elapsed().as_secs(), rss, connections));
            println!("soak t={:>4}s rss={:>6} KiB connections={connections}", started.elapsed().as_secs(), rss);
        }
        let outcomes = load.stop().await;
        let mut stats = summarize(&outcomes);
        stats.elapsed = started.elapsed();
        let errors = stats.count() - stats.ok();
        // Warm-up: the first sample; the steady state: the last.
        let (first, last) = (samples.first().map_or(0, |s| s.1), samples.last().map_or(0, |s| s.1));
        println!(
            "soak {minutes} min: {} ({:.0} req/s); errors {errors}; RSS {first} KiB after 10 s → {last} KiB at the end; \
             at most {max_connections} connections (pool {pool_size})",
            describe(&stats),
            stats.throughput()
        );
        invariants(&mut db, &*ledger.lock().await).await?;
        ensure!(errors == 0, "soak: {errors} error responses");
        ensure!(max_connections <= pool_size, "soak: {max_connections} connections for a pool of {pool_size}");
        ensure!(last <= first + first / 4 + 4096, "soak: RSS grew from {first} KiB to {last} KiB");
        rhythm.terminate()?;
        Ok(())
    })
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

/// Peak resident set size of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}
