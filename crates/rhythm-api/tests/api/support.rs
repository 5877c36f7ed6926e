//! Test harness: drives the router in-process with `tower::ServiceExt::oneshot`.

use std::collections::HashMap;
use std::net::SocketAddr;
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
    Clock, IssueRepository, MemberRepository, SprintRepository, TokenIssuer, UserRepository,
};
use rhythm_domain::sprint::{CompletionTarget, NewSprint};
use rhythm_domain::user::NewUser;
use rhythm_domain::values::{
    Email, IssueDescription, IssueStatus, IssueTitle, IssueType, Priority, Role, SprintGoal,
    SprintName, SprintState, UserName,
};
use rhythm_postgres::PgStore;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

#[derive(Clone)]
pub struct TestApp {
    router: Router,
    /// For the few checks of what PostgreSQL holds; seeding goes through `store`.
    #[allow(dead_code)]
    pub pool: PgPool,
    /// The store the app runs on: tests seed through its ports, as any adapter allows.
    pub store: PgStore,
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

impl TestApp {
    pub fn new(pool: PgPool) -> Self {
        Self::with_routes(pool, Router::new(), test_settings())
    }

    pub fn with_settings(pool: PgPool, settings: Settings) -> Self {
        Self::with_routes(pool, Router::new(), settings)
    }

    /// The real routes, under the real middleware and `layer` on top.
    pub fn with_outer_layer<L>(pool: PgPool, layer: L) -> Self
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
        let store = PgStore::for_sqlx_pool(&pool).unwrap();
        let state =
            AppState::with_clock(store.clone(), test_settings(), Arc::new(clock.clone())).unwrap();
        let router = rhythm_api::app::with_middleware(rhythm_api::app::routes(), state)
            .layer(layer)
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Self { router, pool, store, clock, projects: Arc::default() }
    }

    /// The real routes plus `extra` ones, under the real middleware.
    pub fn with_routes(pool: PgPool, extra: Router<AppState>, settings: Settings) -> Self {
        let clock = TestClock::default();
        let store = PgStore::for_sqlx_pool(&pool).unwrap();
        let state = AppState::with_clock(store.clone(), settings, Arc::new(clock.clone())).unwrap();
        let routes = rhythm_api::app::routes().merge(extra);
        let router = rhythm_api::app::with_middleware(routes, state)
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Self { router, pool, store, clock, projects: Arc::default() }
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
        UserRepository::create(&self.store, &user).await.unwrap();
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
        MemberRepository::add(&self.store, self.project_id(key), user.id, role).await.unwrap();
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
            IssueRepository::create(&self.store, self.project_id(key), &issue, reporter.id).await;
        let CreateOutcome::Created(issue) = created.unwrap() else {
            panic!("a plain issue has no references to refuse");
        };
        if deleted {
            IssueRepository::set_deleted(&self.store, issue.id, true, reporter.id).await.unwrap();
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
        let id = SprintRepository::create(&self.store, project_id, &new).await.unwrap().id;
        if state != SprintState::Planned {
            SprintRepository::start(&self.store, project_id, id).await.unwrap();
        }
        if state == SprintState::Closed {
            let anyone = Uuid::now_v7();
            SprintRepository::complete(
                &self.store,
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
        for table in [
            "users",
            "refresh_tokens",
            "projects",
            "project_members",
            "sprints",
            "issues",
            "issue_events",
        ] {
            let rows: Option<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT json_agg(t ORDER BY t::text) FROM {table} t"
            )))
            .fetch_one(&self.pool)
            .await
            .unwrap();
            all.insert(table.to_owned(), rows.unwrap_or(Value::Null));
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
