//! `rhythm migrate-store`, run as the built binary on real files and real PostgreSQL
//! databases (`DATABASE_URL`, default the local server; each test makes and drops its own
//! databases). A store seeded through the HTTP API is copied; then every table holds the
//! same rows, and the API answers the same reads the same on both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rhythm_api::AppState;
use rhythm_api::state::{AuthConfig, HttpSettings, Settings, Store};
use rhythm_postgres::{PgStore, PoolSettings};
use rhythm_sqlite::{SqliteSettings, SqliteStore};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
use tower::ServiceExt;
use uuid::Uuid;

/// The tables `migrate-store` copies.
const COPIED: [&str; 7] =
    ["users", "refresh_tokens", "projects", "project_members", "sprints", "issues", "issue_events"];

fn app<S: Store>(store: S) -> Router {
    let settings = Settings { http: HttpSettings::default(), auth: AuthConfig::for_tests() };
    let state = AppState::new(store, settings).unwrap();
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

/// Seeds through the API, so that every copied table has rows and every nullable column
/// both kinds of value: two accounts (one session refreshed, so a token is rotated), a
/// project with a member, an active sprint, issues created, edited, moved, deleted and
/// restored. Returns the owner's access token.
async fn seed(app: &Router) -> String {
    let register = |email: &'static str, name: &'static str| async move {
        let body = json!({"email": email, "name": name, "password": "correct-horse-battery"});
        let (status, session) =
            call(app, Method::POST, "/api/v1/auth/register", "", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        session
    };
    let owner = register("Åsa@Example.test", "Åsa").await;
    register("bo@example.test", "Bo").await;
    let (status, refreshed) = call(
        app,
        Method::POST,
        "/api/v1/auth/refresh",
        "",
        Some(json!({"refresh_token": owner["refresh_token"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let token = refreshed["access_token"].as_str().unwrap().to_owned();

    let send = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        async move { call(app, method, &path, &token, body).await }
    };
    let expect = |(status, body): (StatusCode, Value), want: StatusCode| {
        assert_eq!(status, want, "{body}");
        body
    };
    let post = |path: &str, body: Value| send(Method::POST, path.to_owned(), Some(body));
    expect(
        post("/api/v1/projects", json!({"key": "MIG", "name": "Migration", "description": "Move"}))
            .await,
        StatusCode::CREATED,
    );
    let bo = expect(
        post("/api/v1/projects/MIG/members", json!({"email": "BO@example.test", "role": "member"}))
            .await,
        StatusCode::CREATED,
    );
    let sprint = expect(
        post(
            "/api/v1/projects/MIG/sprints",
            json!({"name": "Sprint 1", "goal": "Ship", "starts_on": "2026-12-01", "ends_on": "2026-12-14"}),
        )
        .await,
        StatusCode::CREATED,
    );
    let sprint_id = sprint["id"].as_str().unwrap().to_owned();
    expect(
        send(Method::POST, format!("/api/v1/projects/MIG/sprints/{sprint_id}/start"), None).await,
        StatusCode::OK,
    );
    for (title, description, points) in [
        ("Login page crashes", "The login page crashes on submit", json!(3)),
        ("Deploy pipeline", "Deploying takes forever", json!(5)),
        ("Crash in search", "Search crashes with \"quotes\"", json!(null)),
        ("Obsolete", "to be deleted", json!(1)),
        ("Résumé upload", "Unicode everywhere: 日本語, emoji 🚀", json!(8)),
    ] {
        let body = json!({"title": title, "description": description, "story_points": points,
                          "sprint_id": sprint_id, "assignee_id": bo["user"]["id"].clone()});
        expect(post("/api/v1/projects/MIG/issues", body).await, StatusCode::CREATED);
    }
    let patch = |number: u32, body: Value| {
        send(Method::PATCH, format!("/api/v1/projects/MIG/issues/{number}"), Some(body))
    };
    expect(patch(2, json!({"status": "done", "priority": "high"})).await, StatusCode::OK);
    expect(
        patch(5, json!({"status": "in_review", "assignee_id": null, "type": "bug"})).await,
        StatusCode::OK,
    );
    expect(post("/api/v1/projects/MIG/issues/3/move", json!({"before": 1})).await, StatusCode::OK);
    expect(
        post("/api/v1/projects/MIG/issues/1/move", json!({"status": "in_progress"})).await,
        StatusCode::OK,
    );
    let delete =
        |number: u32| send(Method::DELETE, format!("/api/v1/projects/MIG/issues/{number}"), None);
    expect(delete(4).await, StatusCode::NO_CONTENT);
    expect(delete(2).await, StatusCode::NO_CONTENT);
    expect(
        send(Method::POST, "/api/v1/projects/MIG/issues/2/restore".to_owned(), None).await,
        StatusCode::OK,
    );
    token
}

/// The reads compared between stores, with the status each must answer.
const READS: &[(&str, StatusCode)] = &[
    ("/api/v1/me", StatusCode::OK),
    ("/api/v1/projects", StatusCode::OK),
    ("/api/v1/projects/MIG", StatusCode::OK),
    ("/api/v1/projects/MIG/members", StatusCode::OK),
    ("/api/v1/projects/MIG/issues", StatusCode::OK),
    ("/api/v1/projects/MIG/issues?sort=rank", StatusCode::OK),
    ("/api/v1/projects/MIG/issues?limit=2", StatusCode::OK),
    ("/api/v1/projects/MIG/issues/1", StatusCode::OK),
    ("/api/v1/projects/MIG/issues/2", StatusCode::OK),
    ("/api/v1/projects/MIG/issues/1/events", StatusCode::OK),
    ("/api/v1/projects/MIG/issues/2/events", StatusCode::OK),
    // Deleted: gone on both.
    ("/api/v1/projects/MIG/issues/4", StatusCode::NOT_FOUND),
    ("/api/v1/projects/MIG/board", StatusCode::OK),
    ("/api/v1/projects/MIG/backlog", StatusCode::OK),
    ("/api/v1/projects/MIG/sprints", StatusCode::OK),
    ("/api/v1/search?q=crash", StatusCode::OK),
    ("/api/v1/search?q=MIG-2", StatusCode::OK),
    ("/api/v1/search?q=deploy&project=MIG", StatusCode::OK),
];

/// Every read of [`READS`] with its status and body, checked against the status it must
/// answer.
async fn answers(app: &Router, token: &str) -> Vec<(&'static str, StatusCode, Value)> {
    let mut all = Vec::new();
    for (path, want) in READS {
        let (status, body) = call(app, Method::GET, path, token, None).await;
        assert_eq!(status, *want, "{path}: {body}");
        all.push((*path, status, body));
    }
    all
}

/// `answers` with what each store's search engine computes itself — the relevance score
/// and the highlighted fragments (PostgreSQL's `ts_rank`/`ts_headline`, SQLite's FTS5) —
/// left out: for comparing answers across the two kinds of store.
fn engine_neutral(
    mut answers: Vec<(&'static str, StatusCode, Value)>,
) -> Vec<(&'static str, StatusCode, Value)> {
    for (path, _, body) in &mut answers {
        if path.starts_with("/api/v1/search")
            && let Some(hits) = body["items"].as_array_mut()
        {
            for hit in hits {
                let hit = hit.as_object_mut().unwrap();
                hit.remove("score");
                hit.remove("highlights");
            }
        }
    }
    answers
}

#[track_caller]
fn assert_same_answers(
    left: &[(&'static str, StatusCode, Value)],
    right: &[(&'static str, StatusCode, Value)],
) {
    assert_eq!(left.len(), right.len());
    for ((path, status, body), (_, other_status, other_body)) in left.iter().zip(right) {
        assert_eq!((other_status, other_body), (status, body), "{path}");
    }
}

/// A PostgreSQL database of the test's own, dropped by [`PgDatabase::drop_it`].
struct PgDatabase {
    admin: PgConnection,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("rhythm_migrate_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&server).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, _) = server.split_once('?').map_or((server.as_str(), ""), |p| p);
        let base = base.rsplit_once('/').map_or(base, |(base, _)| base);
        Self { admin, url: format!("{base}/{name}"), name }
    }

    fn store(&self) -> PgStore {
        PgStore::new(rhythm_postgres::connect_pool(&self.url, &PoolSettings::default()).unwrap())
    }

    async fn drop_it(mut self) {
        let sql = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut self.admin).await.unwrap();
    }
}

fn new_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("migrate-store");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}.db", Uuid::now_v7()))
}

fn remove_file(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

fn migrate_store(from: &str, to: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rhythm"))
        .args(["migrate-store", "--from", from, "--to", to])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[track_caller]
fn assert_copied(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "migrate-store failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[track_caller]
fn assert_refused(output: &Output, reason: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "migrate-store should have refused ({reason})");
    assert!(stderr.contains(reason), "expected {reason:?} in: {stderr}");
}

/// The rows the report gives for `table`: `(source, target)`.
fn reported(stdout: &str, table: &str) -> (i64, i64) {
    let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(table)).unwrap();
    let numbers: Vec<i64> = line.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1])
}

/// Every row of every table of a PostgreSQL database, as text, sorted: the copied tables,
/// what the triggers derived, and the search vectors.
async fn postgres_rows(url: &str) -> BTreeMap<String, Vec<String>> {
    let mut db = PgConnection::connect(url).await.unwrap();
    let mut all = BTreeMap::new();
    let tables = COPIED.iter().chain(&["project_board_totals", "project_locks"]);
    for table in tables {
        let sql = format!("SELECT (to_jsonb(t) - 'search')::text FROM {table} t");
        let mut rows: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut db).await.unwrap();
        rows.sort();
        all.insert((*table).to_owned(), rows);
    }
    let mut vectors: Vec<String> =
        sqlx::query_scalar("SELECT id::text || search::text FROM issues")
            .fetch_all(&mut db)
            .await
            .unwrap();
    vectors.sort();
    all.insert("issues.search".to_owned(), vectors);
    db.close().await.unwrap();
    all
}

/// The same for an SQLite file (ids and hashes in hex), `seq` and `email_key` included.
async fn sqlite_rows(path: &Path) -> BTreeMap<String, Vec<String>> {
    // Not read-only: FTS5's integrity check is spelled as an INSERT (it writes nothing).
    let mut db = SqliteConnectOptions::new().filename(path).connect().await.unwrap();
    let mut all = BTreeMap::new();
    for table in COPIED.iter().chain(&["project_board_totals"]) {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(*table)
                .fetch_all(&mut db)
                .await
                .unwrap();
        let fields: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "'{c}', CASE typeof(\"{c}\") WHEN 'blob' THEN hex(\"{c}\") ELSE \"{c}\" END"
                )
            })
            .collect();
        let sql = format!("SELECT json_object({}) FROM {table}", fields.join(", "));
        let mut rows: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut db).await.unwrap();
        rows.sort();
        all.insert((*table).to_owned(), rows);
    }
    // The search index agrees with its content table.
    sqlx::query("INSERT INTO issues_fts (issues_fts, rank) VALUES ('integrity-check', 1)")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    all
}

#[track_caller]
fn assert_every_table_has_rows(rows: &BTreeMap<String, Vec<String>>) {
    for (table, rows) in rows {
        assert!(!rows.is_empty(), "{table} was seeded with no rows");
    }
}

/// The required direction: a team's SQLite file, seeded through the API, moves to an empty
/// PostgreSQL database; then back into a new SQLite file, which holds exactly the rows of
/// the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_sqlite_file_moves_to_postgres_with_every_row_and_the_same_answers() {
    let file = new_file("source");
    let sqlite = SqliteStore::open(&file, &SqliteSettings::default()).await.unwrap();
    let on_sqlite = app(sqlite.clone());
    let token = seed(&on_sqlite).await;
    let before = answers(&on_sqlite, &token).await;
    let source_rows = sqlite_rows(&file).await;
    assert_every_table_has_rows(&source_rows);

    let target = PgDatabase::create().await;
    let report = assert_copied(&migrate_store(&sqlite_url(&file), &target.url));
    assert!(report.contains("sign_in_attempts"), "{report}");
    let target_rows = postgres_rows(&target.url).await;
    for table in COPIED {
        let (source, copied) = reported(&report, table);
        assert_eq!(source, source_rows[table].len() as i64, "{table}");
        assert_eq!(copied, target_rows[table].len() as i64, "{table}");
        assert_eq!(source, copied, "{table}");
    }
    assert_eq!(target_rows["project_locks"].len(), 2 * target_rows["projects"].len());

    // A second copy into the now full target is refused, and changes nothing.
    assert_refused(&migrate_store(&sqlite_url(&file), &target.url), "target is not empty");
    assert_eq!(postgres_rows(&target.url).await, target_rows);

    let postgres = target.store();
    let on_postgres = app(postgres.clone());
    let after = answers(&on_postgres, &token).await;
    assert_same_answers(&engine_neutral(before.clone()), &engine_neutral(after));

    // And back: a new SQLite file with the very rows of the first, search index included.
    let back = new_file("back");
    assert_copied(&migrate_store(&target.url, &sqlite_url(&back)));
    assert_eq!(sqlite_rows(&back).await, source_rows);
    let copy = SqliteStore::open(&back, &SqliteSettings::default()).await.unwrap();
    assert_same_answers(&before, &answers(&app(copy.clone()), &token).await);

    // The copied password hash signs in on PostgreSQL.
    let login = json!({"email": "åsa@example.test", "password": "correct-horse-battery"});
    let (status, body) =
        call(&on_postgres, Method::POST, "/api/v1/auth/login", "", Some(login)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    postgres.pool().close();
    target.drop_it().await;
    copy.close().await;
    sqlite.close().await;
    remove_file(&back);
    remove_file(&file);
}

/// The benchmark's direction: a PostgreSQL data set becomes an SQLite file, and that file
/// becomes a second PostgreSQL database holding exactly the first one's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_data_set_round_trips_through_sqlite_unchanged() {
    let source = PgDatabase::create().await;
    PgStore::migrate(&source.url).await.unwrap();
    let postgres = source.store();
    let on_postgres = app(postgres.clone());
    let token = seed(&on_postgres).await;
    let before = answers(&on_postgres, &token).await;
    let source_rows = postgres_rows(&source.url).await;
    assert_every_table_has_rows(&source_rows);

    let file = new_file("copy");
    assert_refused(&migrate_store(&source.url, &source.url), "same store");
    assert_refused(
        &migrate_store(&sqlite_url(&new_file("missing")), &sqlite_url(&file)),
        "no SQLite database",
    );
    let report = assert_copied(&migrate_store(&source.url, &sqlite_url(&file)));
    let copied_rows = sqlite_rows(&file).await;
    for table in COPIED {
        let counts = (source_rows[table].len() as i64, copied_rows[table].len() as i64);
        assert_eq!(reported(&report, table), counts, "{table}");
        assert_eq!(counts.0, counts.1, "{table}");
    }
    // The file is full now: a second copy into it is refused.
    assert_refused(&migrate_store(&source.url, &sqlite_url(&file)), "target is not empty");
    assert_eq!(sqlite_rows(&file).await, copied_rows);

    let sqlite = SqliteStore::open(&file, &SqliteSettings::default()).await.unwrap();
    let on_sqlite = app(sqlite.clone());
    assert_same_answers(
        &engine_neutral(before.clone()),
        &engine_neutral(answers(&on_sqlite, &token).await),
    );

    let again = PgDatabase::create().await;
    assert_copied(&migrate_store(&sqlite_url(&file), &again.url));
    assert_eq!(postgres_rows(&again.url).await, source_rows);
    let round_tripped = again.store();
    assert_same_answers(&before, &answers(&app(round_tripped.clone()), &token).await);

    round_tripped.pool().close();
    postgres.pool().close();
    again.drop_it().await;
    source.drop_it().await;
    sqlite.close().await;
    remove_file(&file);
}
