//! The router and the middleware every request passes through.
//!
//! Outermost first: request id (made or echoed) → tracing span (request id, method, route
//! template) → metrics (count and latency by route template; outside the panic catcher, so
//! a panic's 500 is counted) → panic catcher (500 problem) → "bare error statuses become problem+json" →
//! request timeout (503 problem) → body limit → routes, with a problem+json 404 fallback.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the complete application.
pub fn router(state: AppState) -> Router {
    with_middleware(routes(), state)
}

/// Where the interactive API page lives. Its assets are compiled into the binary: the
/// page works without internet access.
pub const DOCS_PATH: &str = "/docs";

/// Every route of the API, and the docs page, without middleware.
pub fn routes() -> Router<AppState> {
    let docs =
        SwaggerUi::new(DOCS_PATH).config(utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"]));
    routes::api().split_for_parts().0.merge(docs)
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes::api().into_openapi();
    crate::openapi::finish(&mut doc);
    doc
}

/// The OpenAPI document as served, with the rules utoipa's model cannot state (which
/// fields exclude each other) added to its JSON.
pub fn openapi_json() -> Result<serde_json::Value, serde_json::Error> {
    let mut doc = serde_json::to_value(openapi())?;
    crate::openapi::state_field_combinations(&mut doc);
    Ok(doc)
}

/// Wraps `routes` in the middleware stack and the problem+json fallback.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.http.body_limit;
    routes
        .fallback(unknown_route)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(middleware::from_fn(crate::metrics::track))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn(problem_for_bare_errors))
                .layer(middleware::from_fn_with_state(state.clone(), request_timeout))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}

fn request_span(req: &Request) -> tracing::Span {
    let route =
        req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
    let request_id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %req.method(), route, request_id)
}

async fn unknown_route() -> ApiError {
    ApiError::not_found()
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Errors made below the handlers (405 from the router, …) come without a body; give them
/// the one error shape clients can rely on.
async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let mut replaced = ApiError::from_status(status).into_response();
        if let Some(allow) = response.headers().get(header::ALLOW) {
            replaced.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return replaced;
    }
    response
}

/// Bounds every request: a slow database becomes a 503 the client can retry, not a hang.
async fn request_timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit: Duration = state.http.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(format!("request exceeded {} ms", limit.as_millis()))
            .into_response(),
    }
}
