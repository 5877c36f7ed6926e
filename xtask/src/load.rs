//! A small HTTP load generator on reqwest: closed loop (N workers back to back, for peak
//! throughput) and open loop (requests started on a fixed schedule, latency measured from
//! the scheduled start — so a stalled server is charged for the requests it delayed, the
//! "coordinated omission" correction).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;

/// One request to send.
#[derive(Clone, Debug)]
pub struct Op {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
    pub if_match: Option<String>,
}

impl Op {
    pub fn get(path: impl Into<String>, token: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
            token: Some(token.to_owned()),
            if_match: None,
        }
    }

    pub fn post(path: impl Into<String>, token: &str, body: Value) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            body: Some(body),
            token: Some(token.to_owned()),
            if_match: None,
        }
    }

    pub fn patch(path: impl Into<String>, token: &str, body: Value) -> Self {
        Self {
            method: Method::PATCH,
            path: path.into(),
            body: Some(body),
            token: Some(token.to_owned()),
            if_match: None,
        }
    }
}

/// What came back.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when no response arrived (connection refused, reset, timed out).
    pub status: Option<StatusCode>,
    pub latency: Duration,
    pub body: Option<Value>,
    pub problem_json: bool,
    pub retry_after: bool,
}

pub fn client(timeout: Duration, connections: usize) -> anyhow::Result<Client> {
    Ok(Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

pub async fn send(client: &Client, base: &str, op: &Op) -> Outcome {
    let started = Instant::now();
    let (status, problem_json, retry_after, body) = match request(client, base, op).send().await {
        Ok(response) => {
            let status = response.status();
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            let problem_json = content_type.starts_with("application/problem+json");
            let retry_after = response.headers().contains_key("retry-after");
            let body = response.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
            (Some(status), problem_json, retry_after, body)
        }
        Err(_) => (None, false, false, None),
    };
    Outcome { status, latency: started.elapsed(), body, problem_json, retry_after }
}

/// Sends `op` for a load loop: the body is read to the end but not parsed, so the load
/// generator, which shares the cores with the server and the database, spends as little
/// of them as it can. `None`: no complete answer.
async fn fire(client: &Client, base: &str, op: &Op) -> Option<StatusCode> {
    let response = request(client, base, op).send().await.ok()?;
    let status = response.status();
    response.bytes().await.ok()?;
    Some(status)
}

fn request(client: &Client, base: &str, op: &Op) -> reqwest::RequestBuilder {
    let mut request = client.request(op.method.clone(), format!("{base}{}", op.path));
    if let Some(token) = &op.token {
        request = request.bearer_auth(token);
    }
    if let Some(etag) = &op.if_match {
        request = request.header("if-match", etag);
    }
    if let Some(body) = &op.body {
        request = request.json(body);
    }
    request
}

/// Latency and status statistics of a run.
#[derive(Clone)]
pub struct Stats {
    pub latency_us: Histogram<u64>,
    /// Status code (0: no response) → count.
    pub statuses: BTreeMap<u16, u64>,
    pub elapsed: Duration,
}

impl Stats {
    pub fn new() -> Self {
        let latency_us = match Histogram::new_with_bounds(1, 120_000_000, 3) {
            Ok(histogram) => histogram,
            Err(_) => unreachable!("constant histogram bounds are valid"),
        };
        Self { latency_us, statuses: BTreeMap::new(), elapsed: Duration::ZERO }
    }

    pub fn record(&mut self, status: Option<StatusCode>, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.latency_us.record(micros.min(self.latency_us.high()));
        *self.statuses.entry(status.map_or(0, |s| s.as_u16())).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency_us.add(&other.latency_us);
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub fn ok(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, c)| c).sum()
    }

    pub fn throughput(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at `quantile`, in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `workers` loops back to back for `duration`; `next(worker, i)` picks each request.
pub async fn closed_loop(
    client: &Client,
    base: &str,
    workers: usize,
    duration: Duration,
    next: Arc<dyn Fn(usize, u64) -> Op + Send + Sync>,
) -> Stats {
    let total = Arc::new(Mutex::new(Stats::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (client, base, next, total) =
            (client.clone(), base.to_owned(), next.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Stats::new();
            let mut i = 0u64;
            while started.elapsed() < duration {
                let op = next(worker, i);
                let sent = Instant::now();
                let status = fire(&client, &base, &op).await;
                local.record(status, sent.elapsed());
                i += 1;
            }
            total.lock().await.merge(&local);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut stats = total.lock().await.clone();
    stats.elapsed = started.elapsed();
    stats
}

/// Starts requests at `rate` per second for `duration` over at most `connections` at once;
/// each latency counts from the request's scheduled start.
pub async fn open_loop(
    client: &Client,
    base: &str,
    rate: f64,
    connections: usize,
    duration: Duration,
    next: Arc<dyn Fn(usize, u64) -> Op + Send + Sync>,
) -> Stats {
    let total = Arc::new(Mutex::new(Stats::new()));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    // Each connection owns every `connections`-th slot of the schedule.
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (client, base, next, total) =
            (client.clone(), base.to_owned(), next.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Stats::new();
            let mut slot = worker as u64;
            loop {
                let scheduled = started + interval.mul_f64(slot as f64);
                if scheduled.duration_since(started) >= duration {
                    break;
                }
                tokio::time::sleep_until(tokio::time::Instant::from_std(scheduled)).await;
                let op = next(worker, slot);
                let status = fire(&client, &base, &op).await;
                local.record(status, scheduled.elapsed());
                slot += connections as u64;
            }
            total.lock().await.merge(&local);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut stats = total.lock().await.clone();
    stats.elapsed = started.elapsed();
    stats
}
