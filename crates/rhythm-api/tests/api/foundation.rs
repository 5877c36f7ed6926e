//! The cross-cutting behaviour every route shares: health, errors, limits, request ids.

use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use rhythm_api::extract::ApiJson;
use rhythm_api::state::{HttpSettings, Settings};
use serde::Deserialize;
use serde_json::json;

use crate::support::{TestApp, TestDb, api_tests, test_settings};

api_tests! {
    health_reports_the_database,
    health_is_503_while_the_database_is_unreachable,
    unknown_routes_are_404_problems_with_or_without_a_token,
    wrong_method_is_a_405_problem,
    request_ids_are_echoed_or_made,
    json_bodies_are_checked_in_one_shape,
    bodies_over_one_mebibyte_are_413,
    panics_become_500_problems_without_internals,
    slow_requests_time_out_as_503,
}

async fn health_reports_the_database(db: TestDb) {
    let app = TestApp::new(&db);
    let live = app.get("/health/live").send().await;
    assert_eq!((live.status, live.json()), (StatusCode::OK, json!({"status": "ok"})));
    let ready = app.get("/health").send().await;
    assert_eq!(
        (ready.status, ready.json()),
        (StatusCode::OK, json!({"status": "ok", "database": "ok"}))
    );
}

async fn health_is_503_while_the_database_is_unreachable(db: TestDb) {
    let app = TestApp::new(&db);
    // The store's connections are gone, as when the database is down.
    app.db.close_store().await;
    let ready = app.get("/health").send().await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json(), json!({"status": "degraded", "database": "unavailable"}));
    assert_eq!(ready.header("retry-after"), Some("1"));
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health/live").send().await.status, StatusCode::OK);
}

async fn unknown_routes_are_404_problems_with_or_without_a_token(db: TestDb) {
    let app = TestApp::new(&db);
    app.get("/nope").send().await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/nothing/here")
        .header(axum::http::header::AUTHORIZATION, "Bearer whatever")
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn wrong_method_is_a_405_problem(db: TestDb) {
    let app = TestApp::new(&db);
    let res = app.request(Method::DELETE, "/health").send().await;
    res.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(res.header("allow").is_some_and(|allow| allow.contains("GET")));
}

async fn request_ids_are_echoed_or_made(db: TestDb) {
    let app = TestApp::new(&db);
    let echoed =
        app.get("/health/live").header(rhythm_api::app::REQUEST_ID, "req-123").send().await;
    assert_eq!(echoed.header("x-request-id"), Some("req-123"));
    let made = app.get("/nope").send().await;
    let id = made.header("x-request-id").expect("a request id on errors too");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EchoBody {
    title: String,
    points: Option<u32>,
}

async fn echo(ApiJson(body): ApiJson<EchoBody>) -> String {
    body.title
}

async fn panicking() -> &'static str {
    panic!("boom: secret internals")
}

fn echo_app(db: &TestDb, http: HttpSettings) -> TestApp {
    let settings = Settings { http, ..test_settings() };
    let extra =
        Router::new().route("/test/echo", post(echo)).route("/test/panic", get(panicking)).route(
            "/test/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    TestApp::with_routes(db, extra, settings)
}

async fn json_bodies_are_checked_in_one_shape(db: TestDb) {
    let app = echo_app(&db, HttpSettings::default());
    let ok = app.post("/test/echo").json(&json!({"title": "hi"})).send().await;
    assert_eq!((ok.status, ok.body.as_slice()), (StatusCode::OK, b"hi".as_slice()));

    let no_type = app.post("/test/echo").raw_body(None, r#"{"title":"hi"}"#).send().await;
    no_type.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let text = app.post("/test/echo").raw_body(Some("text/plain"), "hi").send().await;
    text.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    let malformed =
        app.post("/test/echo").raw_body(Some("application/json"), "{\"title\":").send().await;
    malformed.assert_problem(StatusCode::BAD_REQUEST, "bad_request");

    let unknown = app.post("/test/echo").json(&json!({"title": "hi", "id": 1})).send().await;
    let body = unknown.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "id");

    let wrong_type = app.post("/test/echo").json(&json!({"title": 5})).send().await;
    let body = wrong_type.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "title");

    // Found by schemathesis: an array filled the struct by position; a NUL reached the
    // database.
    let array =
        app.post("/test/echo").raw_body(Some("application/json"), "[\"hi\", null]").send().await;
    let body = array.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "body");
    let nul = app
        .post("/test/echo")
        .raw_body(Some("application/json"), "{\"title\": \"a\\u0000b\"}")
        .send()
        .await;
    nul.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let nul_login = app
        .post("/api/v1/auth/login")
        .raw_body(Some("application/json"), "{\"email\": \"a\\u0000@b.c\", \"password\": \"x\"}")
        .send()
        .await;
    nul_login.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let nul_query = app.get("/api/v1/search?q=a%00b").send().await;
    assert_eq!(nul_query.status, StatusCode::UNAUTHORIZED, "auth is checked first");

    let missing = app.post("/test/echo").json(&json!({})).send().await;
    let body = missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"], json!([{"field": "title", "message": "is required"}]));
}

async fn bodies_over_one_mebibyte_are_413(db: TestDb) {
    let app = echo_app(&db, HttpSettings::default());
    let title = "x".repeat(1024 * 1024);
    let res = app.post("/test/echo").json(&json!({ "title": title })).send().await;
    res.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

async fn panics_become_500_problems_without_internals(db: TestDb) {
    let app = echo_app(&db, HttpSettings::default());
    let res = app.get("/test/panic").send().await;
    let body = res.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(!String::from_utf8_lossy(&res.body).contains("secret internals"), "{body}");
    assert!(res.header("x-request-id").is_some());
    // The server keeps serving.
    assert_eq!(app.get("/health/live").send().await.status, StatusCode::OK);
}

async fn slow_requests_time_out_as_503(db: TestDb) {
    let http =
        HttpSettings { request_timeout: Duration::from_millis(200), ..HttpSettings::default() };
    let app = echo_app(&db, http);
    let started = std::time::Instant::now();
    let res = app.get("/test/slow").send().await;
    res.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(2));
}
