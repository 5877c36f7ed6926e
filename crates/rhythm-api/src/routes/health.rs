//! Liveness and readiness: `/health/live` answers while the process runs; `/health` also
//! asks the database and reports `degraded` (503) while it cannot be reached.

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

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.health.ping().await {
        Ok(()) => Json(Readiness {
            status: "ok",
            database: "ok",
        })
        .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "degraded",
                    database: "unavailable",
                }),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
