//! `cargo xtask chaos`: breaks the database under a running `rhythm` and checks that clients
//! only ever see clean 503s, and that service resumes on its own.
//!
//! Runs against its own throwaway PostgreSQL cluster (never the development database).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::cluster::TempCluster;
use crate::server::{RhythmProcess, build_rhythm, free_port};

/// The request timeout the harness configures; answers must arrive within it.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(3000);
/// The pool's acquire timeout: below the request timeout, so an outage surfaces as the
/// store's own "unavailable" rather than as a request timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long after PostgreSQL returns 2xx must resume.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);

pub struct Options {
    /// Seconds each scenario keeps the fault in place.
    pub fault_secs: u64,
}

pub fn run(sh: &xshell::Shell, options: &Options) -> anyhow::Result<()> {
    let binary = build_rhythm(sh, false)?;
    let mut pg = TempCluster::start(free_port()?, &[])?;
    let log = std::env::temp_dir().join(format!("rhythm-chaos-{}.log", std::process::id()));
    let env = [
        ("RHYTHM_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT.as_millis().to_string()),
        ("RHYTHM_DB_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT.as_millis().to_string()),
    ];
    // An empty database: `serve` must migrate it before answering.
    let mut rhythm = RhythmProcess::start(&binary, &pg.url("postgres"), &env, log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let client =
        reqwest::Client::builder().timeout(REQUEST_TIMEOUT + Duration::from_secs(3)).build()?;
    let outcome = runtime.block_on(database_outage(&client, &mut pg, &mut rhythm, options));
    if outcome.is_err() {
        eprintln!("rhythm's log: {}", rhythm.log.display());
    }
    outcome?;
    let status = rhythm.terminate()?;
    ensure!(status.success(), "rhythm did not exit cleanly on SIGTERM: {status}");
    eprintln!("chaos: all scenarios passed");
    Ok(())
}

struct Probe {
    status: u16,
    body: Value,
    latency: Duration,
}

async fn health(client: &reqwest::Client, base: &str) -> anyhow::Result<Probe> {
    let started = Instant::now();
    let response = client.get(format!("{base}/health")).send().await.context("GET /health")?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok(Probe { status, body, latency: started.elapsed() })
}

/// Scenario: PostgreSQL dies (`-m immediate`). `/health` must answer 503 `degraded` within
/// the request timeout for as long as it is down, the process must stay up, and 200 must
/// return within 10 s of PostgreSQL's restart, without restarting `rhythm`.
async fn database_outage(
    client: &reqwest::Client,
    pg: &mut TempCluster,
    rhythm: &mut RhythmProcess,
    options: &Options,
) -> anyhow::Result<()> {
    let base = rhythm.base_url.clone();
    let before = health(client, &base).await?;
    ensure!(before.status == 200, "/health before the outage: {} {}", before.status, before.body);

    pg.kill()?;
    let outage_started = Instant::now();
    let (mut probes, mut max_latency) = (0u32, Duration::ZERO);
    while outage_started.elapsed() < Duration::from_secs(options.fault_secs) {
        let probe = health(client, &base).await?;
        probes += 1;
        max_latency = max_latency.max(probe.latency);
        ensure!(
            probe.status == 503
                && probe.body["status"] == "degraded"
                && probe.body["database"] == "unavailable",
            "/health while the database is down: {} {}",
            probe.status,
            probe.body
        );
        ensure!(
            probe.latency <= REQUEST_TIMEOUT,
            "/health took {:?} while the database was down",
            probe.latency
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(rhythm.is_alive(), "rhythm exited while the database was down");

    pg.resume()?;
    let restarted = Instant::now();
    let recovery = loop {
        let probe = health(client, &base).await?;
        if probe.status == 200 {
            break restarted.elapsed();
        }
        if restarted.elapsed() > RECOVERY_LIMIT {
            bail!(
                "/health still {} {} {:?} after PostgreSQL restarted",
                probe.status,
                probe.body,
                RECOVERY_LIMIT
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "outage: {probes} probes while down, all 503 degraded, slowest {} ms (limit {} ms); \
         200 again {} ms after restart (limit {} ms); process stayed up",
        max_latency.as_millis(),
        REQUEST_TIMEOUT.as_millis(),
        recovery.as_millis(),
        RECOVERY_LIMIT.as_millis()
    );
    Ok(())
}
