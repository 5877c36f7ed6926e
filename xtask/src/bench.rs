//! `cargo xtask bench`: the workloads W1–W9 of the benchmark suite against a release build
//! on a tuned PostgreSQL cluster of its own, seeded with the benchmark data set and kept
//! under `target/bench/` between runs. Each workload runs closed loop at 8, 32 and 64
//! connections (peak throughput), then open loop at half the peak (latency, corrected for
//! coordinated omission). For W1, W2, W4 and W6 the statements the API sent are captured
//! from PostgreSQL's log and replayed with `pgbench -M prepared` at the pool's concurrency:
//! the raw-SQL limit the API is compared with.
//!
//! Output: a table on stdout and `target/bench/<time>.json` with every figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::chaos::{peak_rss_kib, rss_kib};
use crate::cluster::TempCluster;
use crate::floor;
use crate::load::{Op, Stats, client, closed_loop, open_loop, send};
use crate::seed;
use crate::server::{RhythmProcess, build_binary, build_rhythm, free_port};

mod sqlite;

use crate::seed::PASSWORD as BENCH_PASSWORD;
const POOL_SIZE: usize = 16;
const DATABASE: &str = "rhythm";
/// The freshly seeded data set, copied into [`DATABASE`] at the start of every run.
const PRISTINE: &str = "rhythm_seeded";

/// PostgreSQL settings of the benchmark cluster (recorded in the report).
const SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "'3GB'"),
    ("effective_cache_size", "'12GB'"),
    ("work_mem", "'16MB'"),
    ("maintenance_work_mem", "'1GB'"),
    ("jit", "off"),
    ("random_page_cost", "1.1"),
    ("max_connections", "200"),
    ("shared_preload_libraries", "'pg_stat_statements'"),
    ("pg_stat_statements.track", "top"),
    ("checkpoint_timeout", "'15min'"),
    ("max_wal_size", "'8GB'"),
    ("wal_buffers", "'16MB'"),
    ("track_io_timing", "on"),
    ("log_line_prefix", "'%m [%p] '"),
];

pub struct Options {
    pub workloads: Vec<String>,
    pub duration: Duration,
    pub smoke: bool,
    pub issues: u64,
    pub seed: u64,
    /// Sample the server with `perf` under W1 (see `profile`).
    pub profile: bool,
    /// Also run the embedded store's workloads on a copy of the same data set ([`sqlite`]).
    pub sqlite: bool,
}

/// One workload's figures.
#[derive(Debug, Serialize, Default)]
struct WorkloadReport {
    name: String,
    description: String,
    /// Connections → requests per second, closed loop.
    peak: BTreeMap<usize, f64>,
    best_concurrency: usize,
    best_throughput: f64,
    /// Open loop at half the best throughput.
    open_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// Non-2xx answers over all phases.
    errors: u64,
    /// Those answers by status (0: no answer).
    error_statuses: BTreeMap<u16, u64>,
    requests: u64,
    round_trips_per_request: Option<f64>,
    server_cpu_ms_per_1000: f64,
    postgres_cpu_ms_per_1000: f64,
    server_rss_kib_at_64: Option<u64>,
    raw_sql_tps: Option<f64>,
    ratio_to_raw_sql: Option<f64>,
    extra: BTreeMap<String, Value>,
}

/// What the load can aim at, read from the seeded database.
struct Targets {
    /// Issue lookups: (project key, number, user email).
    issues: Vec<(String, i64, String)>,
    /// Filtered listings: (project key, status, assignee id, user email).
    lists: Vec<(String, String, String, String)>,
    largest: (String, String),
    /// (project key, active sprint id, user email).
    sprints: Vec<(String, String, String)>,
    /// Project keys with a member's email, for writes spread over projects.
    projects: Vec<(String, String)>,
    terms: Vec<seed::Term>,
    tokens: BTreeMap<String, String>,
    /// Email → user id, for the floor (which takes the caller's id instead of a token).
    user_ids: BTreeMap<String, String>,
    /// Titles for created issues, from the seeding vocabulary, so new issues read like the
    /// seeded ones to search.
    titles: seed::Titles,
}

impl Targets {
    fn token(&self, email: &str) -> &str {
        self.tokens.get(email).map_or("", String::as_str)
    }

    fn user_id(&self, email: &str) -> &str {
        self.user_ids.get(email).map_or("", String::as_str)
    }
}

type Next = Arc<dyn Fn(usize, u64) -> Op + Send + Sync>;

fn pick<T>(items: &[T], worker: usize, i: u64) -> &T {
    // Spread workers over the list without a random number generator: deterministic.
    let index = (i.wrapping_mul(2_654_435_761).wrapping_add(worker as u64 * 97)) as usize
        % items.len().max(1);
    &items[index]
}

pub fn run(sh: &xshell::Shell, options: &Options) -> anyhow::Result<()> {
    let root = sh.current_dir();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    // A smoke run's report and plans (small data) go apart, so they never replace the
    // figures of a real run that docs/performance.md is written from.
    let bench_dir =
        if options.smoke { target.join("bench").join("smoke") } else { target.join("bench") };
    std::fs::create_dir_all(&bench_dir)?;
    let binary = build_rhythm(sh, !options.smoke)?;
    build_binary(sh, "rhythm-floor", "rhythm-floor", !options.smoke)?;
    let port = free_port()?;
    let settings: Vec<(&str, &str)> = SETTINGS.to_vec();
    let (mut cluster, fresh) = if options.smoke {
        (TempCluster::start(port, &settings)?, true)
    } else {
        TempCluster::open(
            bench_dir.join(format!("cluster-{}-{}", options.issues, options.seed)),
            port,
            &settings,
        )?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(bench(&root, &bench_dir, &binary, &mut cluster, fresh, options));
    drop(cluster);
    outcome
}

async fn bench(
    root: &Path,
    bench_dir: &Path,
    binary: &Path,
    cluster: &mut TempCluster,
    fresh: bool,
    options: &Options,
) -> anyhow::Result<()> {
    let admin_url = cluster.url("postgres");
    let url = cluster.url(DATABASE);
    let mut admin = PgConnection::connect(&admin_url).await?;
    // Every run starts from the same data: the seeded database is kept as a template and
    // copied, so the writes of earlier runs (W7, W8) never skew the reads of later ones.
    let pristine: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(PRISTINE)
            .fetch_one(&mut admin)
            .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {DATABASE}")))
        .execute(&mut admin)
        .await?;
    let seed_report = if fresh || !pristine {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {PRISTINE}")))
            .execute(&mut admin)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {PRISTINE}")))
            .execute(&mut admin)
            .await?;
        println!("seeding {} issues (seed {})…", options.issues, options.seed);
        let report = seed::seed(root, &cluster.url(PRISTINE), options.issues, options.seed).await?;
        seed::print(&report);
        let mut db = PgConnection::connect(&cluster.url(PRISTINE)).await?;
        sqlx::raw_sql("VACUUM ANALYZE").execute(&mut db).await?;
        db.close().await?;
        Some(report)
    } else {
        None
    };
    // Data seeded by an older version gets the newer migrations once, not on every copy.
    let mut seeded = PgConnection::connect(&cluster.url(PRISTINE)).await?;
    rhythm_postgres::MIGRATOR.run(&mut seeded).await.context("migrating the seeded data")?;
    seeded.close().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {DATABASE} TEMPLATE {PRISTINE} STRATEGY FILE_COPY"
    )))
    .execute(&mut admin)
    .await?;
    let mut db = PgConnection::connect(&url).await?;
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut db).await?;
    // Nothing left for background workers to catch up on while the figures are taken.
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut db).await?;
    sqlx::raw_sql("CHECKPOINT").execute(&mut db).await?;
    let existing = seed::report(&mut db, Duration::ZERO).await?;

    let log = bench_dir.join("rhythm.log");
    let env = server_env();
    let rhythm = RhythmProcess::start(binary, &url, &env, log)?;
    let http = client(Duration::from_secs(60), 128)?;
    let targets = targets(
        &http,
        &rhythm.base_url,
        &mut db,
        existing.terms.clone(),
        seed::Titles::load(root)?,
        options.smoke,
    )
    .await?;

    let levels: Vec<usize> = if options.smoke { vec![8] } else { vec![8, 32, 64] };
    let wanted = |w: &str| {
        options.workloads.is_empty() || options.workloads.iter().any(|x| x.eq_ignore_ascii_case(w))
    };
    let mut reports = Vec::new();
    let targets = Arc::new(targets);
    let base = rhythm.base_url.clone();
    let all = workloads(&targets);
    // Reads first, then the writes (W7, W8), which change the data the reads see.
    let (reads, writes): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|(name, _, _)| !name.starts_with("W7") && *name != "W8");
    for (name, description, next) in reads {
        if !wanted(name) {
            continue;
        }
        let mut report = measure(
            &http,
            &base,
            &rhythm,
            Some((&*cluster, &mut db)),
            name,
            description,
            next.clone(),
            &levels,
            options,
        )
        .await?;
        if matches!(name, "W1" | "W2" | "W4" | "W6") {
            anchor(&http, &base, cluster, &mut db, bench_dir, &next, &mut report, options).await?;
        }
        if options.profile && name == "W1" {
            let recording = crate::profile::record(
                rhythm.pid(),
                options.duration,
                &bench_dir.join("profile-W1.data"),
            )?;
            closed_loop(&http, &base, 32, options.duration, next.clone()).await;
            let svg = recording.finish("Rhythm under W1 (GET one issue), 32 connections")?;
            println!("W1 profile: {}", svg.display());
        }
        if let Some(floor_next) = floor_workload(name, &targets) {
            let run = floor::FloorRun {
                binary: &floor::binary_beside(binary),
                database_url: &url,
                pool: POOL_SIZE,
                levels: &levels,
                duration: options.duration,
                warm_up: Duration::from_secs(if options.smoke { 1 } else { 3 }),
            };
            let floors = floor::measure_floors(&http, &run, floor_next).await?;
            record_floors(&mut report, &floors);
        }
        println!("{}", row(&report));
        reports.push(report);
    }
    if wanted("W3") {
        let report = depth(&http, &base, cluster, &mut db, bench_dir, &targets, options).await?;
        println!("{}", row(&report));
        reports.push(report);
    }
    if wanted("W2") && !options.smoke {
        reports.extend(list_plans(&http, &base, cluster, &mut db, bench_dir, &targets).await?);
    }
    if wanted("W6") {
        reports.extend(
            search_bands(&http, &base, Some((&*cluster, &mut db)), bench_dir, &targets, options)
                .await?,
        );
    }
    if wanted("login") {
        let report = logins(&http, &base, options).await?;
        println!("{}", row(&report));
        reports.push(report);
    }
    for (name, description, next) in writes {
        if !wanted(name) {
            continue;
        }
        let mut report = measure(
            &http,
            &base,
            &rhythm,
            Some((&*cluster, &mut db)),
            name,
            description,
            next,
            &levels,
            options,
        )
        .await?;
        if name == "W7-one" {
            let gap_free = numbers_are_gap_free(&mut db, &targets.largest.0).await?;
            report.extra.insert("numbers_gap_free".into(), json!(gap_free));
        }
        println!("{}", row(&report));
        reports.push(report);
    }
    // W9 resets the server's peak RSS to measure its own; the run's peak is kept first.
    let peak_before_w9 = peak_rss_kib(rhythm.pid());
    // Last: its setup gives the largest project's board the longest descriptions there are.
    if wanted("W9") {
        // At 8 connections only: at 32 and 64 these requests (each up to hundreds of
        // milliseconds of PostgreSQL time) outrun the pool, and the server sheds them with
        // 503 after its acquire timeout, by design; what counts here is one request's cost.
        let report =
            worst_case(&http, &base, &rhythm, cluster, &mut db, &targets, &[8], options).await?;
        println!("{}", row(&report));
        reports.push(report);
    }
    let peak_rss = peak_rss_kib(rhythm.pid()).max(peak_before_w9);
    rhythm.terminate()?;
    if options.sqlite {
        let pristine_url = cluster.url(PRISTINE);
        let run = sqlite::Run { http: &http, binary, bench_dir, pristine_url: &pristine_url };
        reports.extend(
            sqlite::workloads_on_sqlite(&run, seed_report.is_some(), &targets, &levels, options)
                .await?,
        );
    }

    let report = json!({
        "time": time_label(),
        "commit": git(root, &["rev-parse", "HEAD"]),
        "machine": machine(),
        "postgres_settings": SETTINGS.iter().map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_owned())).collect::<BTreeMap<_, _>>(),
        "pool_size": POOL_SIZE,
        "data_set": existing,
        "seeding": seed_report,
        "server_peak_rss_kib": peak_rss,
        "workloads": reports,
        "smoke": options.smoke,
    });
    let path = bench_dir.join(format!("{}.json", time_label()));
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    println!("\nserver peak RSS {} KiB; report: {}", peak_rss.unwrap_or(0), path.display());
    let failures: Vec<String> = report["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| {
            if w["errors"].as_u64().unwrap_or(0) > 0 {
                Some(format!("{}: {} errors", w["name"], w["errors"]))
            } else if w["extra"]["numbers_gap_free"] == json!(false) {
                Some(format!("{}: issue numbers with gaps or repeats", w["name"]))
            } else {
                None
            }
        })
        .collect();
    if !failures.is_empty() {
        bail!("workloads failed: {}", failures.join(", "));
    }
    Ok(())
}

/// The settings the benchmarked server runs with, whatever its store.
fn server_env() -> Vec<(&'static str, String)> {
    vec![
        ("RHYTHM_DB_MAX_CONNECTIONS", POOL_SIZE.to_string()),
        ("RHYTHM_AUTH_RATE_PER_MIN", "0".to_owned()),
        ("RHYTHM_REQUEST_TIMEOUT_MS", "30000".to_owned()),
        ("RHYTHM_SLOW_QUERY_MS", "1000".to_owned()),
        // The access tokens are taken once, before the workloads, and must outlive a full
        // run (tens of minutes); the default 15 minutes would turn the last ones into 401s.
        ("RHYTHM_ACCESS_TOKEN_TTL_SECS", "14400".to_owned()),
    ]
}

fn time_label() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git").args(args).current_dir(root).output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim);
    let memory = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = memory.lines().find(|l| l.starts_with("MemTotal")).map(str::to_owned);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": model,
        "memory": total,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
    })
}

async fn targets(
    http: &Client,
    base: &str,
    db: &mut PgConnection,
    terms: Vec<seed::Term>,
    titles: seed::Titles,
    smoke: bool,
) -> anyhow::Result<Targets> {
    let sample = if smoke { 200 } else { 4000 };
    // A member of each project with role member or stronger acts for it.
    let issues: Vec<(String, i64, String)> = sqlx::query_as(
        "WITH actor AS (
             SELECT DISTINCT ON (m.project_id) m.project_id, u.email
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.role IN ('owner', 'maintainer', 'member') ORDER BY m.project_id, m.user_id
         )
         SELECT p.key, i.number, a.email FROM issues i
         JOIN projects p ON p.id = i.project_id JOIN actor a ON a.project_id = p.id
         WHERE i.deleted_at IS NULL ORDER BY md5(i.id::text) LIMIT $1",
    )
    .bind(sample)
    .fetch_all(&mut *db)
    .await?;
    ensure!(!issues.is_empty(), "the bench database holds no issues");
    let lists: Vec<(String, String, String, String)> = sqlx::query_as(
        "WITH actor AS (
             SELECT DISTINCT ON (m.project_id) m.project_id, u.email
             FROM project_members m JOIN users u ON u.id = m.user_id ORDER BY m.project_id, m.user_id
         )
         SELECT p.key, i.status, i.assignee_id::text, a.email FROM issues i
         JOIN projects p ON p.id = i.project_id JOIN actor a ON a.project_id = p.id
         WHERE i.deleted_at IS NULL AND i.assignee_id IS NOT NULL ORDER BY md5(i.id::text || 'list') LIMIT $1",
    )
    .bind(sample / 4)
    .fetch_all(&mut *db)
    .await?;
    let largest: (String, String) = sqlx::query_as(
        "SELECT p.key, u.email FROM projects p JOIN project_members m ON m.project_id = p.id JOIN users u ON u.id = m.user_id
         WHERE m.role IN ('owner', 'maintainer', 'member')
         ORDER BY p.issue_counter DESC, p.key, m.user_id LIMIT 1",
    )
    .fetch_one(&mut *db)
    .await?;
    let sprints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (p.id) p.key, s.id::text, u.email FROM sprints s
         JOIN projects p ON p.id = s.project_id JOIN project_members m ON m.project_id = p.id JOIN users u ON u.id = m.user_id
         WHERE s.state = 'active' ORDER BY p.id, m.user_id",
    )
    .fetch_all(&mut *db)
    .await?;
    let projects: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (p.id) p.key, u.email FROM projects p JOIN project_members m ON m.project_id = p.id
         JOIN users u ON u.id = m.user_id WHERE m.role IN ('owner', 'maintainer', 'member') ORDER BY p.id, m.user_id",
    )
    .fetch_all(&mut *db)
    .await?;
    let mut emails: Vec<&str> = issues.iter().map(|i| i.2.as_str()).collect();
    emails.extend(lists.iter().map(|l| l.3.as_str()));
    emails.extend(sprints.iter().map(|s| s.2.as_str()));
    emails.extend(projects.iter().map(|p| p.1.as_str()));
    emails.push(&largest.1);
    emails.sort_unstable();
    emails.dedup();
    let user_ids: BTreeMap<String, String> =
        sqlx::query_as("SELECT email, id::text FROM users WHERE email = ANY($1)")
            .bind(emails.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
            .fetch_all(&mut *db)
            .await?
            .into_iter()
            .collect();
    let mut tokens = BTreeMap::new();
    for email in emails {
        let op = Op {
            method: Method::POST,
            path: "/api/v1/auth/login".into(),
            body: Some(json!({"email": email, "password": BENCH_PASSWORD})),
            token: None,
            if_match: None,
        };
        let outcome = send(http, base, &op).await;
        let token =
            outcome.body.as_ref().and_then(|b| b["access_token"].as_str()).map(str::to_owned);
        let token =
            token.with_context(|| format!("logging in as {email}: {:?}", outcome.status))?;
        tokens.insert(email.to_owned(), token);
    }
    Ok(Targets { issues, lists, largest, sprints, projects, terms, tokens, user_ids, titles })
}

/// W1 and W2 as `rhythm-floor` takes them: the same picks, the caller by id.
fn floor_workload(name: &str, t: &Arc<Targets>) -> Option<Next> {
    let t = t.clone();
    match name {
        "W1" => Some(Arc::new(move |w, i| {
            let (key, number, email) = pick(&t.issues, w, i);
            floor_op(format!("/projects/{key}/issues/{number}?user={}", t.user_id(email)))
        })),
        "W2" => Some(Arc::new(move |w, i| {
            let (key, status, assignee, email) = pick(&t.lists, w, i);
            floor_op(format!(
                "/projects/{key}/issues?status={status}&assignee={assignee}&user={}",
                t.user_id(email)
            ))
        })),
        _ => None,
    }
}

fn floor_op(path: String) -> Op {
    Op { method: Method::GET, path, body: None, token: None, if_match: None }
}

fn workloads(t: &Arc<Targets>) -> Vec<(&'static str, &'static str, Next)> {
    let w1: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            let (key, number, email) = pick(&t.issues, w, i);
            Op::get(format!("/api/v1/projects/{key}/issues/{number}"), t.token(email))
        })
    };
    let w2: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            let (key, status, assignee, email) = pick(&t.lists, w, i);
            Op::get(
                format!("/api/v1/projects/{key}/issues?status={status}&assignee={assignee}"),
                t.token(email),
            )
        })
    };
    let w4: Next = {
        let t = t.clone();
        Arc::new(move |_, _| {
            Op::get(format!("/api/v1/projects/{}/board", t.largest.0), t.token(&t.largest.1))
        })
    };
    let w5: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            let (key, sprint, email) = pick(&t.sprints, w, i);
            if i % 2 == 0 {
                Op::get(format!("/api/v1/projects/{key}/backlog"), t.token(email))
            } else {
                Op::get(format!("/api/v1/projects/{key}/sprints/{sprint}/board"), t.token(email))
            }
        })
    };
    let w6: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            let term = &pick(&t.terms, w, i).term;
            let (key, _, email) = pick(&t.issues, w, i / 7);
            if i % 2 == 0 {
                Op::get(format!("/api/v1/search?q={term}"), t.token(email))
            } else {
                Op::get(format!("/api/v1/projects/{key}/issues?q={term}"), t.token(email))
            }
        })
    };
    let w7: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            let (key, email) = if i % 2 == 0 {
                (&t.largest.0, &t.largest.1)
            } else {
                let (k, e) = pick(&t.projects, w, i);
                (k, e)
            };
            if i % 3 == 2 {
                let (key, number, email) = pick(&t.issues, w, i);
                return Op::post(
                    format!("/api/v1/projects/{key}/issues/{number}/move"),
                    t.token(email),
                    json!({}),
                );
            }
            Op::post(
                format!("/api/v1/projects/{key}/issues"),
                t.token(email),
                json!({"title": t.titles.title(((w as u64) << 40) ^ i)}),
            )
        })
    };
    let creates_in_one_project: Next = {
        let t = t.clone();
        Arc::new(move |w, i| {
            Op::post(
                format!("/api/v1/projects/{}/issues", t.largest.0),
                t.token(&t.largest.1),
                json!({"title": t.titles.title(((w as u64) << 40) ^ i ^ (1 << 63))}),
            )
        })
    };
    let w8: Next = {
        let (w1, w2, w4, w5, w6, w7) =
            (w1.clone(), w2.clone(), w4.clone(), w5.clone(), w6.clone(), w7.clone());
        Arc::new(move |w, i| match i % 20 {
            0..=5 => w1(w, i),
            6..=9 => w2(w, i),
            10..=11 => w5(w, i),
            12..=14 => w6(w, i),
            15..=16 => w7(w, i),
            17 => w4(w, i),
            _ => w1(w, i / 2),
        })
    };
    vec![
        ("W1", "GET one issue", w1),
        ("W2", "GET filtered list (status + assignee), first page of 50", w2),
        ("W4", "GET board of the largest project", w4),
        ("W5", "GET backlog and active sprint board", w5),
        ("W6", "GET search (global) and q= (project), all frequency bands", w6),
        ("W7", "POST create (half on the largest project) and move", w7),
        ("W7-one", "POST create, all on the largest project", creates_in_one_project),
        ("W8", "mix: 75% reads W1–W5, 15% search, 10% writes", w8),
    ]
}

/// The word every worst-case description holds, and nothing else does.
const WORST_CASE_WORD: &str = "zyzzyva";

/// W9: the most expensive requests a member can send, on the largest project once the
/// issues they show hold the longest descriptions allowed (100 000 characters): the board
/// at 100 per column, a page of 200 of the list in rank order, and a page of 200 search
/// hits (project and global) whose every description matches. Reports the p99 and the
/// server's RSS during this workload alone, and the size of each answer.
#[allow(clippy::too_many_arguments)]
async fn worst_case(
    http: &Client,
    base: &str,
    rhythm: &RhythmProcess,
    cluster: &TempCluster,
    db: &mut PgConnection,
    t: &Arc<Targets>,
    levels: &[usize],
    options: &Options,
) -> anyhow::Result<WorkloadReport> {
    // The first 200 of each status column by rank: every issue the four requests show.
    let lengthened = sqlx::query(
        "WITH top AS (
             SELECT id FROM (
                 SELECT i.id, row_number() OVER (PARTITION BY i.status ORDER BY i.rank) AS n
                 FROM issues i JOIN projects p ON p.id = i.project_id
                 WHERE p.key = $1 AND i.deleted_at IS NULL) ranked
             WHERE n <= 200)
         UPDATE issues i
         SET description = left(repeat(i.title || ' ' || $2 || ' ' || i.description || ' ',
                                       100000 / (length(i.title) + length(i.description) + 10) + 1),
                                100000)
         FROM top WHERE i.id = top.id",
    )
    .bind(&t.largest.0)
    .bind(WORST_CASE_WORD)
    .execute(&mut *db)
    .await?
    .rows_affected();
    sqlx::raw_sql("VACUUM (ANALYZE) issues").execute(&mut *db).await?;
    let (key, token) = (t.largest.0.clone(), t.token(&t.largest.1).to_owned());
    let requests = [
        format!("/api/v1/projects/{key}/board?per_column=100"),
        format!("/api/v1/projects/{key}/issues?sort=rank&limit=200"),
        format!("/api/v1/projects/{key}/issues?q={WORST_CASE_WORD}&limit=200"),
        format!("/api/v1/search?q={WORST_CASE_WORD}&limit=200"),
    ];
    let mut sizes = BTreeMap::new();
    for path in &requests {
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .with_context(|| format!("W9: {path}"))?;
        ensure!(response.status().is_success(), "W9: {path} answered {}", response.status());
        sizes.insert(path.clone(), json!(response.bytes().await?.len()));
    }
    // VmHWM from here on is this workload's own peak.
    std::fs::write(format!("/proc/{}/clear_refs", rhythm.pid()), "5").ok();
    let next: Next = Arc::new(move |w, i| Op::get(pick(&requests, w, i).clone(), &token));
    let mut report = measure(
        http,
        base,
        rhythm,
        Some((cluster, &mut *db)),
        "W9",
        "worst case: board ×100, list ×200, search ×200 of 100 000-character descriptions",
        next,
        levels,
        options,
    )
    .await?;
    report.extra.insert("issues_lengthened".into(), json!(lengthened));
    report.extra.insert("response_bytes".into(), Value::Object(sizes.into_iter().collect()));
    report.extra.insert("server_peak_rss_kib".into(), json!(peak_rss_kib(rhythm.pid())));
    Ok(report)
}

/// Whether the project's issue numbers, deleted issues included, are exactly 1..=its
/// counter: every create that took a number kept it, none was skipped or given twice.
async fn numbers_are_gap_free(db: &mut PgConnection, key: &str) -> anyhow::Result<bool> {
    let (count, distinct, low, high, counter): (i64, i64, Option<i64>, Option<i64>, i64) =
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT i.number), min(i.number), max(i.number), p.issue_counter
             FROM projects p JOIN issues i ON i.project_id = p.id
             WHERE p.key = $1 GROUP BY p.issue_counter",
        )
        .bind(key)
        .fetch_one(db)
        .await?;
    Ok(count == counter && distinct == counter && low == Some(1) && high == Some(counter))
}

/// CPU ticks (user + system) of a process and its children so far.
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime, stime, cutime, cstime are fields 14–17 of the whole line (11–14 here).
    field(11) + field(12) + field(13) + field(14)
}

/// CPU ticks of every process of the cluster: the postmaster and its backends.
fn postgres_ticks(cluster: &TempCluster) -> u64 {
    let Some(postmaster) = cluster.postmaster_pid() else {
        return 0;
    };
    let mut total = cpu_ticks(postmaster);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if parent == Some(postmaster) {
                total += cpu_ticks(pid);
            }
        }
    }
    total
}

const TICKS_PER_SECOND: f64 = 100.0;

/// CPU milliseconds per 1 000 requests from clock ticks.
pub(crate) fn ms_per_1000(ticks: u64, requests: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND * 1000.0 * 1000.0 / requests.max(1) as f64
}

async fn statement_calls(db: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND s.query NOT ILIKE '%pg_stat_statements%' AND s.query NOT ILIKE 'BEGIN%' AND s.query NOT ILIKE 'COMMIT%'",
    )
    .fetch_one(db)
    .await?)
}

/// One workload at every level, then open loop at half the peak. With `pg` (the cluster
/// and a connection to the database the server uses) it also counts round trips and
/// PostgreSQL's CPU; without (another store) only the server's side.
#[allow(clippy::too_many_arguments)]
async fn measure(
    http: &Client,
    base: &str,
    rhythm: &RhythmProcess,
    mut pg: Option<(&TempCluster, &mut PgConnection)>,
    name: &str,
    description: &str,
    next: Next,
    levels: &[usize],
    options: &Options,
) -> anyhow::Result<WorkloadReport> {
    let mut report =
        WorkloadReport { name: name.into(), description: description.into(), ..Default::default() };
    // Warm the caches and the connection pool first.
    closed_loop(
        http,
        base,
        8,
        Duration::from_secs(if options.smoke { 1 } else { 3 }),
        next.clone(),
    )
    .await;
    if let Some((_, db)) = pg.as_mut() {
        sqlx::query("SELECT pg_stat_statements_reset()").execute(&mut **db).await?;
    }
    let pg_before = pg.as_ref().map_or(0, |(cluster, _)| postgres_ticks(cluster));
    let server_before = cpu_ticks(rhythm.pid());
    let mut all = Stats::new();
    for &connections in levels {
        let stats = closed_loop(http, base, connections, options.duration, next.clone()).await;
        report.peak.insert(connections, stats.throughput());
        if stats.throughput() > report.best_throughput {
            report.best_throughput = stats.throughput();
            report.best_concurrency = connections;
        }
        if connections == 64 {
            report.server_rss_kib_at_64 = rss_kib(rhythm.pid());
        }
        all.merge(&stats);
    }
    report.open_rate = (report.best_throughput / 2.0).max(1.0);
    let open = open_loop(http, base, report.open_rate, 64, options.duration, next.clone()).await;
    all.merge(&open);
    report.p50_ms = open.ms(0.50);
    report.p99_ms = open.ms(0.99);
    report.p999_ms = open.ms(0.999);
    report.requests = all.count();
    report.errors = all.count() - all.ok();
    report.error_statuses = all
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(s, c)| (*s, *c))
        .collect();
    let per_1000 = |ticks: u64| ms_per_1000(ticks, all.count());
    report.server_cpu_ms_per_1000 = per_1000(cpu_ticks(rhythm.pid()).saturating_sub(server_before));
    if let Some((cluster, db)) = pg {
        let calls = statement_calls(db).await?;
        // Every request of the measured phases, the statement-counting query itself aside.
        report.round_trips_per_request =
            Some((calls as f64 - 1.0).max(0.0) / all.count().max(1) as f64);
        report.postgres_cpu_ms_per_1000 =
            per_1000(postgres_ticks(cluster).saturating_sub(pg_before));
    }
    Ok(report)
}

/// W3: page 1 versus page 1 000 of the largest project, newest first, walking cursors.
async fn depth(
    http: &Client,
    base: &str,
    cluster: &TempCluster,
    db: &mut PgConnection,
    bench_dir: &Path,
    t: &Targets,
    options: &Options,
) -> anyhow::Result<WorkloadReport> {
    let token = t.token(&t.largest.1).to_owned();
    let target_page = if options.smoke { usize::MAX } else { 1000 };
    let mut first = Vec::new();
    let mut deep = Vec::new();
    let walks = if options.smoke { 1 } else { 3 };
    let mut reached = 0;
    let mut deepest = String::new();
    for _ in 0..walks {
        let mut cursor: Option<String> = None;
        let mut page = 0usize;
        loop {
            page += 1;
            let mut path = format!("/api/v1/projects/{}/issues?limit=50", t.largest.0);
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let outcome = send(http, base, &Op::get(path, &token)).await;
            ensure!(
                outcome.status.is_some_and(|s| s.is_success()),
                "W3 page {page}: {:?}",
                outcome.status
            );
            if page == 1 {
                first.push(outcome.latency);
            }
            let next =
                outcome.body.as_ref().and_then(|b| b["next_cursor"].as_str()).map(str::to_owned);
            if page >= target_page || next.is_none() {
                // Measure the deepest page a few more times: one sample is noise.
                for _ in 0..5 {
                    let mut path = format!("/api/v1/projects/{}/issues?limit=50", t.largest.0);
                    if let Some(c) = &cursor {
                        path.push_str(&format!("&cursor={c}"));
                    }
                    deep.push(send(http, base, &Op::get(path.clone(), &token)).await.latency);
                    deepest = path;
                }
                reached = page;
                break;
            }
            cursor = next;
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let (p1, pn) = (median(&mut first), median(&mut deep));
    let mut report = WorkloadReport {
        name: "W3".into(),
        description: format!(
            "walk cursors to page {reached} of the largest project ({})",
            t.largest.0
        ),
        requests: (reached * walks) as u64,
        ..Default::default()
    };
    report.extra.insert("page".into(), json!(reached));
    report.extra.insert("page_1_ms".into(), json!(p1.as_secs_f64() * 1000.0));
    report.extra.insert("deep_page_ms".into(), json!(pn.as_secs_f64() * 1000.0));
    report.extra.insert("ratio".into(), json!(pn.as_secs_f64() / p1.as_secs_f64().max(1e-9)));
    report.p50_ms = pn.as_secs_f64() * 1000.0;
    let statements = capture(http, base, cluster, db, vec![Op::get(deepest, &token)]).await?;
    explain_slowest(db, bench_dir, "W3", &statements, &mut report).await?;
    Ok(report)
}

/// Plans of the issue listing on the largest project for filter and sort combinations
/// beyond W2's: each request once, its statement explained (`target/bench/plans/list-*.txt`).
async fn list_plans(
    http: &Client,
    base: &str,
    cluster: &TempCluster,
    db: &mut PgConnection,
    bench_dir: &Path,
    t: &Targets,
) -> anyhow::Result<Vec<WorkloadReport>> {
    let (key, email) = (&t.largest.0, &t.largest.1);
    let assignee = t.lists.iter().find(|l| &l.0 == key).map_or("none", |l| l.2.as_str());
    let combinations = [
        ("list-status-assignee", format!("status=todo,in_progress&assignee={assignee}")),
        ("list-priority-type", "priority=high,urgent&type=bug&sort=-priority".to_owned()),
        ("list-column-rank", "status=in_review&sort=rank".to_owned()),
        ("list-updated-since", "updated_since=2026-01-01T00:00:00Z&sort=-updated_at".to_owned()),
    ];
    let mut reports = Vec::new();
    for (name, query) in combinations {
        let path = format!("/api/v1/projects/{key}/issues?{query}");
        let mut report = WorkloadReport {
            name: name.into(),
            description: format!("GET …/issues?{query} on {key}"),
            ..Default::default()
        };
        let statements =
            capture(http, base, cluster, db, vec![Op::get(path, t.token(email))]).await?;
        explain_slowest(db, bench_dir, name, &statements, &mut report).await?;
        println!(
            "{name:<16} plan {} ms",
            report.extra.get("plan_execution_ms").unwrap_or(&json!(null))
        );
        reports.push(report);
    }
    Ok(reports)
}

/// Sign-ins: argon2id hashing on the blocking pool, bounded. How many logins per second the
/// box sustains, and what they do to everything else (`/health` p99 while they run).
async fn logins(http: &Client, base: &str, options: &Options) -> anyhow::Result<WorkloadReport> {
    let email = "login-bench@rhythm.test";
    let register = Op {
        method: Method::POST,
        path: "/api/v1/auth/register".into(),
        body: Some(json!({"email": email, "name": "Login bench", "password": BENCH_PASSWORD})),
        token: None,
        if_match: None,
    };
    send(http, base, &register).await;
    let login: Next = Arc::new(move |_, _| Op {
        method: Method::POST,
        path: "/api/v1/auth/login".into(),
        body: Some(json!({"email": email, "password": BENCH_PASSWORD})),
        token: None,
        if_match: None,
    });
    let health: Next = Arc::new(|_, _| Op {
        method: Method::GET,
        path: "/health".into(),
        body: None,
        token: None,
        if_match: None,
    });
    let quiet = open_loop(http, base, 100.0, 4, options.duration, health.clone()).await;
    let (logins, during) = tokio::join!(
        closed_loop(http, base, 8, options.duration, login),
        open_loop(http, base, 100.0, 4, options.duration, health)
    );
    let mut report = WorkloadReport {
        name: "login".into(),
        description: "POST /auth/login, 8 connections, while GET /health runs at 100/s".into(),
        best_concurrency: 8,
        best_throughput: logins.throughput(),
        p50_ms: logins.ms(0.5),
        p99_ms: logins.ms(0.99),
        p999_ms: logins.ms(0.999),
        requests: logins.count() + during.count(),
        errors: logins.count() - logins.ok() + (during.count() - during.ok()),
        ..Default::default()
    };
    report.peak.insert(8, logins.throughput());
    report.extra.insert("health_p99_ms_idle".into(), json!(quiet.ms(0.99)));
    report.extra.insert("health_p99_ms_during_logins".into(), json!(during.ms(0.99)));
    report.extra.insert("health_p50_ms_during_logins".into(), json!(during.ms(0.5)));
    Ok(report)
}

/// W6 per frequency band: p50/p99 of global and project-scoped search for each term.
/// W6 per band, global and in the largest project. With `pg`, the statements are captured
/// and the slowest explained.
async fn search_bands(
    http: &Client,
    base: &str,
    mut pg: Option<(&TempCluster, &mut PgConnection)>,
    bench_dir: &Path,
    t: &Arc<Targets>,
    options: &Options,
) -> anyhow::Result<Vec<WorkloadReport>> {
    let mut reports = Vec::new();
    for term in &t.terms {
        for scoped in [false, true] {
            let t2 = t.clone();
            let word = term.term.clone();
            let next: Next = Arc::new(move |w, i| {
                let (key, _, email) = if scoped {
                    (&t2.largest.0, &0, &t2.largest.1)
                } else {
                    let (k, n, e) = pick(&t2.issues, w, i);
                    (k, n, e)
                };
                if scoped {
                    Op::get(format!("/api/v1/projects/{key}/issues?q={word}"), t2.token(email))
                } else {
                    Op::get(format!("/api/v1/search?q={word}"), t2.token(email))
                }
            });
            let peak = closed_loop(http, base, 8, options.duration, next.clone()).await;
            // Latency at half the peak, open loop, like the other workloads.
            let rate = (peak.throughput() / 2.0).max(1.0);
            let next_op = next.clone();
            let stats = open_loop(http, base, rate, 64, options.duration, next).await;
            let mut report = WorkloadReport {
                name: format!("W6 {} {}", if scoped { "project" } else { "global" }, term.band),
                description: format!("q={} ({} matches in all)", term.term, term.matches),
                best_concurrency: 8,
                best_throughput: peak.throughput(),
                open_rate: rate,
                p50_ms: stats.ms(0.5),
                p99_ms: stats.ms(0.99),
                p999_ms: stats.ms(0.999),
                requests: peak.count() + stats.count(),
                errors: peak.count() - peak.ok() + stats.count() - stats.ok(),
                ..Default::default()
            };
            report.peak.insert(8, peak.throughput());
            if let Some((cluster, db)) = pg.as_mut() {
                let ops = (0..4).map(|i| next_op(0, i)).collect();
                let statements = capture(http, base, cluster, db, ops).await?;
                explain_slowest(db, bench_dir, &report.name.clone(), &statements, &mut report)
                    .await?;
            }
            println!("{}", row(&report));
            reports.push(report);
        }
    }
    Ok(reports)
}

/// The statements the API sends for `ops`, with their parameters spliced in, read from
/// PostgreSQL's log (every statement is logged while they run).
async fn capture(
    http: &Client,
    base: &str,
    cluster: &TempCluster,
    db: &mut PgConnection,
    ops: Vec<Op>,
) -> anyhow::Result<Vec<String>> {
    let log = cluster.log_file();
    let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    // ALTER SYSTEM may not share a (multi-statement) transaction with anything.
    sqlx::raw_sql("ALTER SYSTEM SET log_min_duration_statement = 0").execute(&mut *db).await?;
    sqlx::raw_sql("SELECT pg_reload_conf()").execute(&mut *db).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for op in &ops {
        send(http, base, op).await;
    }
    sqlx::raw_sql("ALTER SYSTEM RESET log_min_duration_statement").execute(&mut *db).await?;
    sqlx::raw_sql("SELECT pg_reload_conf()").execute(&mut *db).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
    let text =
        String::from_utf8_lossy(&text[usize::try_from(offset).unwrap_or(0).min(text.len())..])
            .into_owned();
    let statements = captured_statements(&text);
    ensure!(!statements.is_empty(), "no statements captured from {}", log.display());
    Ok(statements)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the slowest of `statements` (each run once to warm the
/// cache, then explained), written to `target/bench/plans/<name>.txt` and kept in the report.
async fn explain_slowest(
    db: &mut PgConnection,
    bench_dir: &Path,
    name: &str,
    statements: &[String],
    report: &mut WorkloadReport,
) -> anyhow::Result<()> {
    let mut slowest: Option<(f64, String, String)> = None;
    for statement in statements.iter().take(8) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(&mut *db).await?;
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS) {statement}"
        )))
        .fetch_all(&mut *db)
        .await?;
        let ms = lines
            .iter()
            .find_map(|l| l.strip_prefix("Execution Time: "))
            .and_then(|t| t.trim_end_matches(" ms").parse::<f64>().ok())
            .unwrap_or(0.0);
        if slowest.as_ref().is_none_or(|(worst, _, _)| ms > *worst) {
            slowest = Some((ms, statement.clone(), lines.join("\n")));
        }
    }
    let Some((ms, statement, plan)) = slowest else { return Ok(()) };
    let dir = bench_dir.join("plans");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{}.txt", name.replace(' ', "-")));
    std::fs::write(&file, format!("{statement};\n\n{plan}\n"))?;
    report.extra.insert("plan_execution_ms".into(), json!(ms));
    report.extra.insert("plan_file".into(), json!(file.display().to_string()));
    Ok(())
}

/// Replays the statements a workload sent with pgbench at the pool's concurrency: the
/// raw-SQL limit of the same work. Also keeps the plan of the slowest of them.
#[allow(clippy::too_many_arguments)]
async fn anchor(
    http: &Client,
    base: &str,
    cluster: &TempCluster,
    db: &mut PgConnection,
    bench_dir: &Path,
    next: &Next,
    report: &mut WorkloadReport,
    options: &Options,
) -> anyhow::Result<()> {
    let ops = (0..24).map(|i| next(i % 4, i as u64 * 13)).collect();
    let statements = capture(http, base, cluster, db, ops).await?;
    explain_slowest(db, bench_dir, &report.name.clone(), &statements, report).await?;
    let dir =
        std::env::temp_dir().join(format!("rhythm-pgbench-{}-{}", report.name, std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut args: Vec<String> = vec![
        "-n".into(),
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        POOL_SIZE.to_string(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        options.duration.as_secs().max(1).to_string(),
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        cluster.port.to_string(),
        "-U".into(),
        "postgres".into(),
    ];
    for (i, statement) in statements.iter().take(24).enumerate() {
        let path = dir.join(format!("{i}.sql"));
        std::fs::write(&path, format!("{statement};\n"))?;
        args.push("-f".into());
        args.push(format!("{}@1", path.display()));
    }
    args.push(DATABASE.into());
    let output = tokio::process::Command::new("pgbench")
        .args(&args)
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok());
    let Some(tps) = tps else {
        bail!(
            "pgbench for {} failed: {}{}",
            report.name,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::remove_dir_all(&dir).ok();
    report.raw_sql_tps = Some(tps);
    report.ratio_to_raw_sql = Some(report.best_throughput / tps);
    report.extra.insert("captured_statements".into(), json!(statements.len()));
    report.extra.insert("sample_statement".into(), json!(statements.first()));
    Ok(())
}

/// Statements with their parameters spliced in as literals, from log lines such as
/// `LOG:  duration: 0.1 ms  execute <unnamed>: SELECT … $1` and
/// `DETAIL:  parameters: $1 = 'x', $2 = NULL` (a `bind` line before each `execute` is
/// skipped).
fn captured_statements(log: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current: Option<String> = None;
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some((_, sql)) =
            line.split_once("execute ").and_then(|(_, rest)| rest.split_once(": "))
        {
            let mut sql = sql.to_owned();
            // Continuation lines of a multi-line statement start with whitespace.
            while let Some(next) = lines.peek() {
                if next.starts_with('\t') || next.starts_with(' ') {
                    sql.push('\n');
                    sql.push_str(next);
                    lines.next();
                } else {
                    break;
                }
            }
            if let Some(previous) = current.take() {
                statements.push(previous);
            }
            let interesting = !sql.contains("pg_stat_statements")
                && !sql.starts_with("SELECT 1")
                && !sql.contains("pg_reload_conf");
            current = interesting.then_some(sql);
        } else if let Some((_, params)) = line.split_once("DETAIL:  parameters: ")
            && let Some(sql) = current.take()
        {
            statements.push(splice(&sql, params));
        }
    }
    if let Some(last) = current {
        statements.push(last);
    }
    // A statement whose parameters were not logged cannot be replayed.
    statements.retain(|s| !s.contains("$1"));
    statements
}

/// Replaces `$n` by the logged literal for each parameter (highest first, so `$1` does
/// not eat into `$10`).
fn splice(sql: &str, params: &str) -> String {
    let mut values: Vec<(usize, String)> = Vec::new();
    let mut rest = params;
    while let Some(start) = rest.find('$') {
        rest = &rest[start + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(index) = digits.parse::<usize>() else { break };
        rest = rest[digits.len()..].trim_start_matches(" = ");
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            // A quoted literal ends at a quote not doubled.
            let mut end = 0;
            let bytes = quoted.as_bytes();
            while end < bytes.len() {
                if bytes[end] == b'\'' {
                    if bytes.get(end + 1) == Some(&b'\'') {
                        end += 2;
                        continue;
                    }
                    break;
                }
                end += 1;
            }
            let literal = format!("'{}'", &quoted[..end]);
            rest = &quoted[(end + 1).min(quoted.len())..];
            literal
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let literal = rest[..end].trim().to_owned();
            rest = &rest[end..];
            literal
        };
        values.push((index, value));
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.0));
    let mut sql = sql.to_owned();
    for (index, value) in values {
        sql = sql.replace(&format!("${index}"), &value);
    }
    sql
}

/// Puts each driver's floor into the report with its ratio to raw SQL, and Rhythm's ratio
/// to the floor of the driver it runs on.
fn record_floors(report: &mut WorkloadReport, floors: &BTreeMap<String, floor::Floor>) {
    let mut figures = serde_json::Map::new();
    for (driver, f) in floors {
        figures.insert(
            driver.clone(),
            json!({
                "peak": f.peak,
                "best_throughput": f.best_throughput,
                "server_cpu_ms_per_1000": f.server_cpu_ms_per_1000,
                "errors": f.errors,
                "ratio_to_raw_sql": report.raw_sql_tps.map(|raw| f.best_throughput / raw),
            }),
        );
        report.errors += f.errors;
    }
    report.extra.insert("floors".into(), Value::Object(figures));
    if let Some(own) = floors.get(floor::RHYTHM_DRIVER) {
        report.extra.insert("driver".into(), json!(floor::RHYTHM_DRIVER));
        report
            .extra
            .insert("ratio_to_floor".into(), json!(report.best_throughput / own.best_throughput));
    }
}

fn row(r: &WorkloadReport) -> String {
    let peak: Vec<String> = r.peak.iter().map(|(c, t)| format!("{c}:{t:.0}")).collect();
    let mut line = format!(
        "{:<16} peak/s [{}] p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms",
        r.name,
        peak.join(" "),
        r.p50_ms,
        r.p99_ms,
        r.p999_ms
    );
    if let Some(rt) = r.round_trips_per_request {
        line.push_str(&format!(" rt/req {rt:.2}"));
    }
    if let Some(ratio) = r.ratio_to_raw_sql {
        line.push_str(&format!(" raw-SQL {:.0}/s ratio {ratio:.2}", r.raw_sql_tps.unwrap_or(0.0)));
    }
    if r.server_cpu_ms_per_1000 > 0.0 {
        line.push_str(&format!(
            " cpu ms/1k server {:.0} pg {:.0}",
            r.server_cpu_ms_per_1000, r.postgres_cpu_ms_per_1000
        ));
    }
    if let Some(rss) = r.server_rss_kib_at_64 {
        line.push_str(&format!(" rss@64 {} KiB", rss));
    }
    if let Some(Value::Object(floors)) = r.extra.get("floors") {
        for (driver, f) in floors {
            line.push_str(&format!(
                " floor[{driver}] {:.0}/s raw÷ {:.2} cpu ms/1k {:.0}",
                f["best_throughput"].as_f64().unwrap_or(0.0),
                f["ratio_to_raw_sql"].as_f64().unwrap_or(0.0),
                f["server_cpu_ms_per_1000"].as_f64().unwrap_or(0.0),
            ));
        }
        if let Some(ratio) = r.extra.get("ratio_to_floor").and_then(Value::as_f64) {
            line.push_str(&format!(" rhythm÷floor {ratio:.2}"));
        }
    }
    if !r.extra.is_empty() && matches!(r.name.as_str(), "W3" | "login" | "W7-one" | "W9") {
        line.push_str(&format!(" {}", serde_json::to_string(&r.extra).unwrap_or_default()));
    }
    if r.errors > 0 {
        line.push_str(&format!(" ERRORS {} by status {:?}", r.errors, r.error_statuses));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_spliced_as_literals() {
        let sql = "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $10 AND d = $3";
        let params = "$1 = 'it''s', $2 = NULL, $3 = '5', $10 = 'ten, with comma'";
        assert_eq!(
            splice(sql, params),
            "SELECT * FROM t WHERE a = 'it''s' AND b = NULL AND c = 'ten, with comma' AND d = '5'"
        );
    }

    #[test]
    fn statements_come_from_log_lines() {
        let log = "2026-11-26 10:00:00.000 UTC [1] LOG:  duration: 0.050 ms  execute <unnamed>: SELECT a\n\
                   \tFROM t WHERE x = $1\n\
                   2026-11-26 10:00:00.000 UTC [1] DETAIL:  parameters: $1 = '7'\n\
                   2026-11-26 10:00:00.001 UTC [1] LOG:  duration: 0.010 ms  execute s1: SELECT 1\n";
        assert_eq!(captured_statements(log), vec!["SELECT a\n\tFROM t WHERE x = '7'".to_owned()]);
    }
}
