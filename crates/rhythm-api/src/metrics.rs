//! Prometheus metrics: request counts and latency histograms by method, route template
//! (never the raw path: one series per route, however many ids clients send) and status,
//! plus the database pool's gauges. Served at `GET /metrics`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

const REQUESTS: &str = "http_requests_total";
const DURATION: &str = "http_request_duration_seconds";

/// Latency buckets, in seconds: fine-grained where an API should live (1–100 ms).
const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide recorder (installed on first use): metrics are per replica by nature.
pub fn handle() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| format!("installing the metrics recorder: {e}"))?;
            spawn_upkeep(handle.clone())?;
            Ok(handle)
        })
        .clone()
}

/// The recorder keeps every histogram sample until upkeep folds it into the buckets, and
/// `install_recorder` leaves upkeep to its caller: without it memory grows with every request
/// until the next scrape (~20 bytes a request; the soak test caught it). A plain thread, so
/// it runs whatever runtime, if any, the handle was first asked for on.
fn spawn_upkeep(handle: PrometheusHandle) -> Result<(), String> {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .map(drop)
        .map_err(|e| format!("starting the metrics upkeep thread: {e}"))
}

/// Counts and times every request under its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route =
        req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(req).await;
    let labels =
        [("method", method), ("route", route), ("status", response.status().as_str().to_owned())];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn render(State(state): State<AppState>) -> Response {
    let pool = state.health.connections();
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("db_pool_connections", "state" => "busy")
        .set(f64::from(pool.open.saturating_sub(pool.idle)));
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.max));
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], body)
        .into_response()
}
