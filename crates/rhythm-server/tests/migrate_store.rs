//! `rhythm migrate-store` from a seeded SQLite file to an empty PostgreSQL database: every
//! table's row count is equal, and the API answers the same reads the same on both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rhythm_api::AppState;
use rhythm_api::state::{AuthConfig, HttpSettings, Settings};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tower::ServiceExt;

const TABLES: &[&str] = &[
    "users",
    "refresh_tokens",
    "projects",
    "project_members",
    "sprints",
    "issues",
    "issue_events",
    "project_board_totals",
];

fn settings() -> Settings {
    Settings { http: HttpSettings::default(), auth: AuthConfig::for_tests() }
}

fn app<S: rhythm_api::state::Store>(store: S) -> Router {
    let state = AppState::new(store, settings()).unwrap();
    rhythm_api::app::with_middleware(rhythm_api::app::routes(), state)
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))))
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if !token.is_empty() {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, value)
}

/// Seeds through the API: two users, a project with both, issues with edits, a move, a
/// delete and a sprint, so every table has rows.
async fn seed(app: &Router) -> String {
    let (status, owner) = call(
        app,
        Method::POST,
        "/api/v1/auth/register",
        "",
        Some(json!({"email": "Åsa@Example.test", "name": "Åsa", "password": "correct-horse-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{owner}");
    let token = owner["access_token"].as_str().unwrap().to_owned();
    let (status, _) = call(
        app,
        Method::POST,
        "/api/v1/auth/register",
        "",
        Some(json!({"email": "bo@example.test", "name": "Bo", "password": "correct-horse-2"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let post = |path: &'static str, body: Value| {
        let token = token.clone();
        async move { call(app, Method::POST, path, &token, Some(body)).await }
    };
    assert_eq!(
        post("/api/v1/projects", json!({"key": "MIG", "name": "Migration"})).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        post("/api/v1/projects/MIG/members", json!({"email": "bo@example.test", "role": "member"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, sprint) =
        post("/api/v1/projects/MIG/sprints", json!({"name": "Sprint 1", "goal": "Ship"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sprint}");
    for (title, description) in [
        ("Login page crashes", "The login page crashes on submit"),
        ("Deploy pipeline", "Deploying takes forever"),
        ("Crash in search", "Search crashes with quotes"),
        ("Obsolete", "to be deleted"),
    ] {
        let (status, _) = post(
            "/api/v1/projects/MIG/issues",
            json!({"title": title, "description": description, "story_points": 3, "sprint_id": sprint["id"]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = call(
        app,
        Method::PATCH,
        "/api/v1/projects/MIG/issues/2",
        &token,
        Some(json!({"status": "done", "priority": "high"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, moved) = post("/api/v1/projects/MIG/issues/3/move", json!({"before": 1})).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (status, _) =
        call(app, Method::DELETE, "/api/v1/projects/MIG/issues/4", &token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    token
}

/// The reads compared on both stores.
const READS: &[&str] = &[
    "/api/v1/projects/MIG",
    "/api/v1/projects/MIG/issues",
    "/api/v1/projects/MIG/issues?sort=rank",
    "/api/v1/projects/MIG/issues/1",
    "/api/v1/projects/MIG/issues/2/events",
    "/api/v1/projects/MIG/board",
    "/api/v1/projects/MIG/members",
    "/api/v1/projects/MIG/sprints",
    "/api/v1/search?q=crash",
    "/api/v1/projects/MIG/issues?q=deploy",
];

async fn counts_sqlite(path: &Path) -> Vec<i64> {
    let mut db = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in TABLES {
        let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        counts.push(sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap());
    }
    counts
}

async fn counts_postgres(url: &str) -> Vec<i64> {
    let mut db = PgConnection::connect(url).await.unwrap();
    let mut counts = Vec::new();
    for table in TABLES {
        // PostgreSQL keeps board totals as one row per project (six columns in arrays).
        let sql = if *table == "project_board_totals" {
            "SELECT count(*) * 6 FROM project_board_totals".to_owned()
        } else {
            format!("SELECT count(*) FROM {table}")
        };
        counts.push(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut db).await.unwrap());
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_sqlite_file_moves_to_postgres_with_every_row_and_the_same_answers() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("migrate-store");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
    let sqlite = rhythm_sqlite::SqliteStore::open(&file, &rhythm_sqlite::SqliteSettings::default())
        .await
        .unwrap();
    let on_sqlite = app(sqlite.clone());
    let token = seed(&on_sqlite).await;

    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let database = format!("rhythm_migrate_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&server).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
    let target = format!("{base}/{database}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args(["migrate-store", "--from", &format!("sqlite:{}", file.display()), "--to", &target])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // A second copy into the now full target is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args(["migrate-store", "--from", &format!("sqlite:{}", file.display()), "--to", &target])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let sqlite_counts = counts_sqlite(&file).await;
    assert!(sqlite_counts.iter().all(|n| *n > 0), "every table seeded: {sqlite_counts:?}");
    assert_eq!(counts_postgres(&target).await, sqlite_counts);

    let pool =
        rhythm_postgres::connect_pool(&target, &rhythm_postgres::PoolSettings::default()).unwrap();
    let on_postgres = app(rhythm_postgres::PgStore::new(pool.clone()));
    for path in READS {
        let (status_sqlite, body_sqlite) = call(&on_sqlite, Method::GET, path, &token, None).await;
        let (status_pg, body_pg) = call(&on_postgres, Method::GET, path, &token, None).await;
        assert_eq!(status_sqlite, StatusCode::OK, "{path}: {body_sqlite}");
        if path.contains("q=") {
            // Each store scores and cuts excerpts its own way: the same issues must be found.
            let keys = |body: &Value| -> Vec<String> {
                let mut keys: Vec<String> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| {
                        let issue = if item["issue"].is_object() { &item["issue"] } else { item };
                        issue["key"].as_str().unwrap().to_owned()
                    })
                    .collect();
                keys.sort();
                keys
            };
            assert_eq!(status_pg, status_sqlite, "{path}");
            assert_eq!(keys(&body_pg), keys(&body_sqlite), "{path}");
            assert!(!keys(&body_pg).is_empty(), "{path} finds something");
        } else {
            assert_eq!((status_pg, &body_pg), (status_sqlite, &body_sqlite), "{path}");
        }
    }
    // The copied session signs in on PostgreSQL too.
    let (status, _) = call(
        &on_postgres,
        Method::POST,
        "/api/v1/auth/login",
        "",
        Some(json!({"email": "åsa@example.test", "password": "correct-horse-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    pool.close();
    drop(on_postgres);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {database} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlite.close().await;
    std::fs::remove_file(&file).ok();
}
