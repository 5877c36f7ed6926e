//! Test harness: drives the router in-process with `tower::ServiceExt::oneshot`, over
//! either storage adapter. [`api_tests!`] runs each test once per adapter, on a fresh
//! database of its own; [`TestDb`] is that database, [`TestApp`] the router over it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rhythm_api::AppState;
use rhythm_api::auth::tokens::JwtTokens;
use rhythm_api::state::{AuthConfig, HttpSettings, Settings};
use rhythm_domain::issue::{CreateOutcome, NewIssue};
use rhythm_domain::ports::{
    Clock, IssueRepository, MemberRepository, ProjectRepository, SprintRepository, TokenIssuer,
    UserRepository,
};
use rhythm_domain::sprint::{CompletionTarget, NewSprint};
use rhythm_domain::user::NewUser;
use rhythm_domain::values::{
    Email, IssueDescription, IssueStatus, IssueTitle, IssueType, Priority, Role, SprintGoal,
    SprintName, SprintState, UserName,
};
use rhythm_postgres::PgStore;
use rhythm_sqlite::{SqliteSettings, SqliteStore};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, PgPool, SqlitePool};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

/// Declares the listed tests (each an `async fn name(db: TestDb)` of the calling module)
/// once per adapter: `<module>::postgres::<name>` on a fresh, migrated PostgreSQL database
/// from `#[sqlx::test]`, and `<module>::sqlite::<name>` on a fresh SQLite file. So
/// `cargo nextest run -E 'test(/::sqlite::/)'` runs one adapter. The names after
/// `postgres_only:` are about PostgreSQL itself and run there only (say why at each).
///
/// A body not listed is dead code, which the lints refuse: no test is forgotten.
macro_rules! api_tests {
    ($($name:ident),* $(,)? $(; postgres_only: $($pg_only:ident),* $(,)?)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
                async fn $name(pool: sqlx::PgPool) {
                    super::$name($crate::support::TestDb::postgres(pool)).await;
                }
            )*
            $($(
                #[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
                async fn $pg_only(pool: sqlx::PgPool) {
                    super::$pg_only($crate::support::TestDb::postgres(pool)).await;
                }
            )*)?
        }

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(db.clone()).await;
                    // Only a passing test's file is removed: a failed one stays to look at.
                    db.remove().await;
                }
            )*
        }
    };
}
pub(crate) use api_tests;

/// The ports tests seed through, whatever the adapter.
pub trait SeedPorts:
    UserRepository + ProjectRepository + MemberRepository + IssueRepository + SprintRepository
{
}
impl<T> SeedPorts for T where
    T: UserRepository
        + ProjectRepository
        + MemberRepository
        + IssueRepository
        + SprintRepository
        + ?Sized
{
}

/// A test's own database, on one adapter, with the store over it and a second connection
/// pool for the few checks of what the database holds. Cheap to clone.
#[derive(Clone)]
pub enum TestDb {
    Postgres {
        store: PgStore,
        pool: PgPool,
    },
    /// `pool` is read-only: checks look, they never write.
    Sqlite {
        store: SqliteStore,
        pool: SqlitePool,
    },
}

/// A parameter of a [`TestDb`] query (`$1`, `$2`…).
#[derive(Clone, Debug)]
pub enum Arg {
    Int(i64),
    Text(String),
    Uuid(Uuid),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<Uuid> for Arg {
    fn from(value: Uuid) -> Self {
        Self::Uuid(value)
    }
}

/// `query` with `args` bound in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(value) => query.bind(*value),
                Arg::Text(value) => query.bind(value.clone()),
                Arg::Uuid(value) => query.bind(*value),
            };
        }
        query
    }};
}

/// The tables whose rows [`TestApp::snapshot`] holds.
const SNAPSHOT_TABLES: [&str; 7] =
    ["users", "refresh_tokens", "projects", "project_members", "sprints", "issues", "issue_events"];

impl TestDb {
    /// The database `#[sqlx::test]` made.
    pub fn postgres(pool: PgPool) -> Self {
        let store = PgStore::for_sqlx_pool(&pool).unwrap();
        Self::Postgres { store, pool }
    }

    /// A new, migrated SQLite file under the target directory.
    pub async fn sqlite() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-sqlite");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.db", Uuid::now_v7()));
        let store = SqliteStore::open(&path, &SqliteSettings::default()).await.unwrap();
        let options = SqliteConnectOptions::new().filename(&path).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
        Self::Sqlite { store, pool }
    }

    /// The same database through a store of its own, as a second server process has.
    pub async fn replica(&self) -> Self {
        match self {
            Self::Postgres { pool, .. } => Self::postgres(pool.clone()),
            Self::Sqlite { store, pool } => {
                let settings = SqliteSettings::default();
                let store = SqliteStore::open(store.path(), &settings).await.unwrap();
                Self::Sqlite { store, pool: pool.clone() }
            }
        }
    }

    /// Which adapter this is, for messages.
    pub fn adapter(&self) -> &'static str {
        match self {
            Self::Postgres { .. } => "postgres",
            Self::Sqlite { .. } => "sqlite",
        }
    }

    /// The store as the ports tests seed through.
    pub fn ports(&self) -> &dyn SeedPorts {
        match self {
            Self::Postgres { store, .. } => store,
            Self::Sqlite { store, .. } => store,
        }
    }

    /// The app's state over this database's store.
    fn state(&self, settings: Settings, clock: &TestClock) -> AppState {
        let clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let state = match self {
            Self::Postgres { store, .. } => AppState::with_clock(store.clone(), settings, clock),
            Self::Sqlite { store, .. } => AppState::with_clock(store.clone(), settings, clock),
        };
        state.unwrap()
    }

    /// Closes the store's connections, as when the database goes away.
    pub async fn close_store(&self) {
        match self {
            Self::Postgres { store, .. } => store.pool().close(),
            Self::Sqlite { store, .. } => store.close().await,
        }
    }

    /// Closes everything and deletes the SQLite file (with its WAL); nothing on PostgreSQL,
    /// where `#[sqlx::test]` cleans up.
    pub async fn remove(&self) {
        if let Self::Sqlite { store, pool } = self {
            pool.close().await;
            store.close().await;
            let path = store.path();
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(file));
            }
        }
    }

    /// The rows of `sql`, a query both adapters understand, with `args` as `$1`, `$2`….
    pub async fn fetch_all<T>(&self, sql: &'static str, args: &[Arg]) -> Vec<T>
    where
        T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let rows = match self {
            Self::Postgres { pool, .. } => {
                bind_all!(sqlx::query_as::<_, T>(sql), args).fetch_all(pool).await
            }
            Self::Sqlite { pool, .. } => {
                bind_all!(sqlx::query_as::<_, T>(sql), args).fetch_all(pool).await
            }
        };
        rows.unwrap_or_else(|e| panic!("{} refused `{sql}`: {e}", self.adapter()))
    }

    /// The one row of `sql` (see [`TestDb::fetch_all`]).
    pub async fn fetch_one<T>(&self, sql: &'static str, args: &[Arg]) -> T
    where
        T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let row = self.fetch_optional(sql, args).await;
        row.unwrap_or_else(|| panic!("`{sql}` found no row"))
    }

    /// The row of `sql` if any (see [`TestDb::fetch_all`]).
    pub async fn fetch_optional<T>(&self, sql: &'static str, args: &[Arg]) -> Option<T>
    where
        T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut rows = self.fetch_all(sql, args).await;
        assert!(rows.len() <= 1, "`{sql}` found {} rows", rows.len());
        rows.pop()
    }

    /// The one-column rows of `sql` (see [`TestDb::fetch_all`]).
    pub async fn scalars<T>(&self, sql: &'static str, args: &[Arg]) -> Vec<T>
    where
        (T,): for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        self.fetch_all::<(T,)>(sql, args).await.into_iter().map(|(value,)| value).collect()
    }

    /// The one value of `sql` (see [`TestDb::fetch_all`]).
    pub async fn scalar<T>(&self, sql: &'static str, args: &[Arg]) -> T
    where
        (T,): for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        self.fetch_one::<(T,)>(sql, args).await.0
    }

    /// The rows of `table` that match `filter` (SQL both adapters understand), each as a
    /// JSON object of its columns, in a stable order: for comparing what a table holds
    /// before and after, on one adapter (the representations differ between adapters).
    pub async fn rows_as_json(&self, table: &str, filter: &str, args: &[Arg]) -> Vec<Value> {
        let mut rows: Vec<String> = match self {
            Self::Postgres { pool, .. } => {
                // The search vector is derived from the row's text: nothing to compare.
                let sql =
                    format!("SELECT (to_jsonb(t) - 'search')::text FROM {table} t WHERE {filter}");
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                bind_all!(query, args).fetch_all(pool).await.unwrap()
            }
            Self::Sqlite { pool, .. } => {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(table.to_owned())
                        .fetch_all(pool)
                        .await
                        .unwrap();
                assert!(!columns.is_empty(), "no table {table}");
                // JSON holds no BLOB: ids and hashes are shown in hex.
                let fields: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!("'{c}', CASE typeof(\"{c}\") WHEN 'blob' THEN hex(\"{c}\") ELSE \"{c}\" END")
                    })
                    .collect();
                let sql = format!(
                    "SELECT json_object({}) FROM {table} WHERE {filter}",
                    fields.join(", ")
                );
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                bind_all!(query, args).fetch_all(pool).await.unwrap()
            }
        };
        rows.sort();
        rows.iter().map(|row| serde_json::from_str(row).unwrap()).collect()
    }

    /// `(expires_at, session_expires_at)` of every refresh token of `user`, oldest first.
    pub async fn refresh_token_expiries(
        &self,
        user: Uuid,
    ) -> Vec<(OffsetDateTime, OffsetDateTime)> {
        const SQL: &str = "SELECT expires_at, session_expires_at FROM refresh_tokens
                           WHERE user_id = $1 ORDER BY id";
        match self {
            Self::Postgres { pool, .. } => {
                sqlx::query_as(SQL).bind(user).fetch_all(pool).await.unwrap()
            }
            Self::Sqlite { pool, .. } => {
                // Microseconds since the epoch, UTC.
                let rows: Vec<(i64, i64)> =
                    sqlx::query_as(SQL).bind(user).fetch_all(pool).await.unwrap();
                let at = |micros: i64| {
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap()
                };
                rows.into_iter().map(|(expires, session)| (at(expires), at(session))).collect()
            }
        }
    }
}

#[derive(Clone)]
pub struct TestApp {
    router: Router,
    /// The database the app runs on: seeding goes through its store's ports (as any adapter
    /// allows), the few checks of what is stored through its queries.
    pub db: TestDb,
    /// The clock the app's services read.
    #[allow(dead_code)]
    pub clock: TestClock,
    /// Ids of the projects made with `create_project`, by key.
    projects: Arc<Mutex<HashMap<String, Uuid>>>,
}

/// A clock that runs with the wall clock, shifted by however far a test moved it.
#[derive(Clone, Default)]
pub struct TestClock(Arc<Mutex<Duration>>);

impl TestClock {
    /// Moves the clock `by` into the future.
    #[allow(dead_code)]
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.0.lock().unwrap()
    }
}

pub fn test_settings() -> Settings {
    Settings { http: HttpSettings::default(), auth: AuthConfig::for_tests() }
}

/// Where every request comes from unless it says otherwise.
fn default_client() -> MockConnectInfo<SocketAddr> {
    MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)))
}

impl TestApp {
    pub fn new(db: &TestDb) -> Self {
        Self::with_routes(db, Router::new(), test_settings())
    }

    pub fn with_settings(db: &TestDb, settings: Settings) -> Self {
        Self::with_routes(db, Router::new(), settings)
    }

    /// The real routes, under the real middleware and `layer` on top.
    pub fn with_outer_layer<L>(db: &TestDb, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::http::Request<Body>, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<axum::http::Request<Body>>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::http::Request<Body>>>::Future: Send + 'static,
    {
        let clock = TestClock::default();
        let state = db.state(test_settings(), &clock);
        let router = rhythm_api::app::with_middleware(rhythm_api::app::routes(), state)
            .layer(layer)
            .layer(default_client());
        Self { router, db: db.clone(), clock, projects: Arc::default() }
    }

    /// The real routes plus `extra` ones, under the real middleware.
    pub fn with_routes(db: &TestDb, extra: Router<AppState>, settings: Settings) -> Self {
        let clock = TestClock::default();
        let state = db.state(settings, &clock);
        let routes = rhythm_api::app::routes().merge(extra);
        let router = rhythm_api::app::with_middleware(routes, state).layer(default_client());
        Self { router, db: db.clone(), clock, projects: Arc::default() }
    }

    /// The store the app runs on, as the ports tests seed through.
    pub fn store(&self) -> &dyn SeedPorts {
        self.db.ports()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    #[allow(dead_code)]
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// Registers an account and returns its session.
    pub async fn register(&self, email: &str, name: &str) -> Account {
        let res = self
            .post("/api/v1/auth/register")
            .json(&serde_json::json!({ "email": email, "name": name, "password": PASSWORD }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
        Account::from_session(&res.json())
    }
}

impl TestApp {
    /// A user made through the store's port (no password hashing), with a valid token.
    pub async fn seed_user(&self, name: &str) -> Account {
        let id = uuid::Uuid::now_v7();
        let email = format!("{name}-{id}@example.com");
        let user = NewUser {
            id,
            email: Email::parse(&email).unwrap(),
            name: UserName::new(name).unwrap(),
            password_hash: "not-a-login".into(),
        };
        UserRepository::create(self.store(), &user).await.unwrap();
        let tokens = JwtTokens::new(
            &AuthConfig::for_tests().jwt_secret,
            std::time::Duration::from_secs(900),
        );
        let token = tokens.access_token(id).unwrap().token;
        Account { id, email, token, refresh: String::new() }
    }

    /// Creates a project through the API; `owner` becomes its owner.
    pub async fn create_project(&self, owner: &Account, key: &str) -> Value {
        let res = self
            .post("/api/v1/projects")
            .token(&owner.token)
            .json(&serde_json::json!({ "key": key, "name": format!("Project {key}") }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
        let body = res.json();
        let id = body["id"].as_str().unwrap().parse().unwrap();
        self.projects.lock().unwrap().insert(key.to_owned(), id);
        body
    }

    /// The id of project `key`, made with [`TestApp::create_project`].
    pub fn project_id(&self, key: &str) -> Uuid {
        let known = self.projects.lock().unwrap().get(key).copied();
        known.unwrap_or_else(|| panic!("project {key} was not made with create_project"))
    }

    /// Adds `user` to project `key` with `role`, through the store's port (whatever the
    /// caller's own role).
    pub async fn add_member(&self, key: &str, user: &Account, role: &str) {
        let role = Role::parse(role).unwrap();
        MemberRepository::add(self.store(), self.project_id(key), user.id, role).await.unwrap();
    }

    /// An issue made through the store's port, whatever the reporter's role, deleted
    /// afterwards when `deleted`; returns its number.
    pub async fn seed_issue(&self, key: &str, reporter: &Account, deleted: bool) -> i64 {
        let issue = NewIssue {
            id: Uuid::now_v7(),
            title: IssueTitle::new("Seeded").unwrap(),
            description: IssueDescription::default(),
            status: IssueStatus::Todo,
            priority: Priority::None,
            issue_type: IssueType::Task,
            assignee_id: None,
            sprint_id: None,
            story_points: None,
        };
        let created =
            IssueRepository::create(self.store(), self.project_id(key), &issue, reporter.id).await;
        let CreateOutcome::Created(issue) = created.unwrap() else {
            panic!("a plain issue has no references to refuse");
        };
        if deleted {
            IssueRepository::set_deleted(self.store(), issue.id, true, reporter.id).await.unwrap();
        }
        issue.number
    }

    /// A sprint of project `key` in `state`, made through the store's port and the sprint
    /// state machine (planned → active → closed).
    #[allow(dead_code)]
    pub async fn seed_sprint(&self, key: &str, state: SprintState) -> Uuid {
        let project_id = self.project_id(key);
        let new = NewSprint {
            id: Uuid::now_v7(),
            name: SprintName::new("Sprint").unwrap(),
            goal: SprintGoal::new("").unwrap(),
            starts_on: None,
            ends_on: None,
        };
        let id = SprintRepository::create(self.store(), project_id, &new).await.unwrap().id;
        if state != SprintState::Planned {
            SprintRepository::start(self.store(), project_id, id).await.unwrap();
        }
        if state == SprintState::Closed {
            let anyone = Uuid::now_v7();
            SprintRepository::complete(
                self.store(),
                project_id,
                id,
                CompletionTarget::Backlog,
                anyone,
            )
            .await
            .unwrap();
        }
        id
    }

    /// Every row of every table, as JSON: to show a refused request changed nothing.
    pub async fn snapshot(&self) -> Value {
        let mut all = serde_json::Map::new();
        for table in SNAPSHOT_TABLES {
            let rows = self.db.rows_as_json(table, "TRUE", &[]).await;
            all.insert(table.to_owned(), Value::Array(rows));
        }
        Value::Object(all)
    }
}

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery";

/// A registered user and its tokens.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

impl Account {
    pub fn from_session(body: &Value) -> Self {
        Self {
            id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email: body["user"]["email"].as_str().unwrap().to_owned(),
            token: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

pub struct RequestBuilder {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl RequestBuilder {
    pub fn header(mut self, name: impl AsRef<str>, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_ref().as_bytes()).unwrap();
        self.builder = self.builder.header(name, HeaderValue::from_str(value).unwrap());
        self
    }

    /// A header whose value is raw bytes, for values that are not text.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        self.builder = self.builder.header(name, HeaderValue::from_bytes(value).unwrap());
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// Makes the request come from `ip` (instead of the default 127.0.0.1).
    pub fn client_ip(mut self, ip: [u8; 4]) -> Self {
        self.builder = self.builder.extension(ConnectInfo(SocketAddr::from((ip, 40000))));
        self
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.builder = self.builder.header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).unwrap());
        self
    }

    pub fn raw_body(mut self, content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Self {
        if let Some(content_type) = content_type {
            self.builder = self.builder.header(header::CONTENT_TYPE, content_type);
        }
        self.body = Body::from(bytes.into());
        self
    }

    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).unwrap();
        let response = self.router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        TestResponse { status, headers, body }
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with `status` and `code`, and returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let body = self.json();
        assert_eq!(body["status"], status.as_u16());
        assert_eq!(body["code"], code, "body: {body}");
        assert_eq!(body["type"], "about:blank");
        assert!(body["title"].is_string() && body["detail"].is_string());
        body
    }
}
