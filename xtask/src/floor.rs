//! The floor of W1 and W2: the same requests, aimed at `rhythm-floor` (bare axum handlers
//! running the statements Rhythm sends, no authentication or middleware) on each candidate
//! PostgreSQL driver, measured in the bench run that measures Rhythm. Raw SQL ÷ floor is
//! what the driver and HTTP cost; floor ÷ Rhythm is what Rhythm's own request path costs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Client;
use serde::Serialize;

use crate::load::{Op, closed_loop};
use crate::server::free_port;

/// The drivers a floor is measured on.
pub const DRIVERS: &[&str] = &["sqlx", "tokio-postgres"];

/// The driver `rhythm-postgres` is built on: its floor is the one Rhythm is held to.
pub const RHYTHM_DRIVER: &str = "tokio-postgres";

/// One driver's floor for one workload.
#[derive(Debug, Serialize, Clone)]
pub struct Floor {
    /// Connections → requests per second, closed loop.
    pub peak: BTreeMap<usize, f64>,
    pub best_throughput: f64,
    pub server_cpu_ms_per_1000: f64,
    pub errors: u64,
}

/// A running `rhythm-floor`; stopped on drop.
struct FloorProcess {
    child: Child,
    base_url: String,
}

impl FloorProcess {
    fn start(binary: &Path, driver: &str, database_url: &str, pool: usize) -> anyhow::Result<Self> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .args([driver, &address, database_url, &pool.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut process = Self { child, base_url: format!("http://{address}") };
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            if let Some(status) = process.child.try_wait()? {
                bail!("rhythm-floor {driver} exited during startup ({status})");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("rhythm-floor {driver} did not listen within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(process)
    }
}

impl Drop for FloorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `rhythm-floor` binary next to `rhythm` in the same profile directory.
pub fn binary_beside(rhythm: &Path) -> PathBuf {
    rhythm.with_file_name("rhythm-floor")
}

/// How floors are run: the same pool size, levels and phases as Rhythm's measurement.
pub struct FloorRun<'a> {
    pub binary: &'a Path,
    pub database_url: &'a str,
    pub pool: usize,
    pub levels: &'a [usize],
    pub duration: Duration,
    pub warm_up: Duration,
}

/// Measures `next` (paths of the floor's routes) on every driver at the run's levels,
/// after the same warm-up Rhythm gets.
pub async fn measure_floors(
    http: &Client,
    run: &FloorRun<'_>,
    next: Arc<dyn Fn(usize, u64) -> Op + Send + Sync>,
) -> anyhow::Result<BTreeMap<String, Floor>> {
    let mut floors = BTreeMap::new();
    for driver in DRIVERS {
        let process = FloorProcess::start(run.binary, driver, run.database_url, run.pool)?;
        let base = process.base_url.clone();
        closed_loop(http, &base, 8, run.warm_up, next.clone()).await;
        let cpu_before = crate::bench::cpu_ticks(process.child.id());
        let mut floor = Floor {
            peak: BTreeMap::new(),
            best_throughput: 0.0,
            server_cpu_ms_per_1000: 0.0,
            errors: 0,
        };
        let mut requests = 0;
        for &connections in run.levels {
            let stats = closed_loop(http, &base, connections, run.duration, next.clone()).await;
            floor.peak.insert(connections, stats.throughput());
            floor.best_throughput = floor.best_throughput.max(stats.throughput());
            floor.errors += stats.count() - stats.ok();
            requests += stats.count();
        }
        let ticks = crate::bench::cpu_ticks(process.child.id()).saturating_sub(cpu_before);
        floor.server_cpu_ms_per_1000 = crate::bench::ms_per_1000(ticks, requests);
        drop(process);
        floors.insert((*driver).to_owned(), floor);
    }
    Ok(floors)
}
