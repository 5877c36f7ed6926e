//! Liveness and readiness: `/health/live` answers while the process runs; `/health` also
//! asks the database and reports `degraded` (503) while it cannot be reached.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

#[derive(Serialize)]
pub struct Liveness {
    status: &'static str,
}

#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
}

pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// A database that cannot answer `SELECT 1` within this is reported unavailable: load
/// balancers want a quick answer, and a pool that cannot hand out a connection this fast is
/// not healthy either.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn ready(State(state): State<AppState>) -> Response {
    let error = match tokio::time::timeout(PING_TIMEOUT, state.health.ping()).await {
        Ok(Ok(())) => return Json(Readiness { status: "ok", database: "ok" }).into_response(),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {} ms", PING_TIMEOUT.as_millis()),
    };
    tracing::warn!(%error, "health check: database unavailable");
    let body = Readiness { status: "degraded", database: "unavailable" };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
