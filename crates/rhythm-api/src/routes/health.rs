//! Liveness and readiness: `/health/live` answers while the process runs; `/health` also
//! asks the database and reports `degraded` (503) while it cannot be reached.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
}

/// Answers 200 while the process runs.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process is running", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// A database that cannot answer `SELECT 1` within this is reported unavailable: load
/// balancers want a quick answer, and a pool that cannot hand out a connection this fast is
/// not healthy either.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers 200 when the database answers, 503 `degraded` while it does not.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The database is unreachable", body = Readiness),
    ))]
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

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        state.openapi_json.to_string(),
    )
        .into_response()
}
