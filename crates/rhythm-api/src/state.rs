//! What every handler can reach: the domain's services and ports, and the HTTP settings.

use std::sync::Arc;
use std::time::Duration;

pub use rhythm_domain::ports::Store;
use rhythm_domain::ports::{AttemptCounter, Clock, StoreHealth, SystemClock};
use rhythm_domain::services::auth::{AuthService, AuthSettings};
use rhythm_domain::services::boards::BoardService;
use rhythm_domain::services::issues::IssueService;
use rhythm_domain::services::projects::ProjectService;
use rhythm_domain::services::search::SearchService;
use rhythm_domain::services::sprints::SprintService;

use crate::auth::password::Argon2Hasher;
use crate::auth::rate_limit::AuthRateLimiter;
use crate::auth::tokens::JwtTokens;

/// Settings of the HTTP layer itself.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Largest accepted request body.
    pub body_limit: usize,
    /// Take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            body_limit: 1024 * 1024,
            trust_forwarded_for: false,
        }
    }
}

/// Credentials and sign-in settings.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a session lasts from its login, however often it is refreshed.
    pub session_max_age: Duration,
    pub allow_signup: bool,
    /// Register/login attempts per minute per address and per email; 0 = unlimited.
    pub rate_per_min: u32,
    /// Password hashes computed at once (each ~19 MiB and tens of milliseconds of CPU).
    pub hash_concurrency: usize,
}

impl AuthConfig {
    /// Settings for tests and tools: a fixed secret, the contract's defaults.
    pub fn for_tests() -> Self {
        Self {
            jwt_secret: b"test-secret-test-secret-test-secret!".to_vec(),
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_max_age: Duration::from_secs(90 * 24 * 3600),
            allow_signup: true,
            rate_per_min: 0,
            hash_concurrency: 2,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub http: HttpSettings,
    pub auth: AuthConfig,
}

/// Shared state of the router: one reference count, since axum clones the state for
/// every extractor and middleware that takes it (one count per field would be a dozen
/// contended atomic operations per clone). Holds nothing that would make two replicas
/// behave differently: even the sign-in rate-limit counters live in the store.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Services {
    pub health: Arc<dyn StoreHealth>,
    pub auth: Arc<AuthService>,
    pub projects: Arc<ProjectService>,
    pub issues: Arc<IssueService>,
    pub boards: Arc<BoardService>,
    pub sprints: Arc<SprintService>,
    pub search: Arc<SearchService>,
    pub tokens: Arc<JwtTokens>,
    pub auth_limits: Arc<AuthRateLimiter>,
    /// Signs and checks pagination cursors.
    pub cursors: Arc<crate::pagination::Cursors>,
    pub http: Arc<HttpSettings>,
    /// The OpenAPI document, serialized once.
    pub openapi_json: Arc<str>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    /// Wires the services onto one storage adapter. Computes a dummy password hash, so it
    /// takes a few milliseconds.
    pub fn new<S: Store>(store: S, settings: Settings) -> Result<Self, String> {
        Self::with_clock(store, settings, Arc::new(SystemClock))
    }

    /// As [`AppState::new`], with the services reading time from `clock`.
    pub fn with_clock<S: Store>(
        store: S,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let store = Arc::new(store);
        let limits_store: Arc<dyn AttemptCounter> = store.clone();
        let tokens =
            Arc::new(JwtTokens::new(&settings.auth.jwt_secret, settings.auth.access_token_ttl));
        let hasher = Arc::new(Argon2Hasher::new(settings.auth.hash_concurrency)?);
        let auth = AuthService::new(
            store.clone(),
            store.clone(),
            hasher,
            tokens.clone(),
            clock.clone(),
            AuthSettings {
                allow_signup: settings.auth.allow_signup,
                refresh_token_ttl: settings.auth.refresh_token_ttl,
                session_max_age: settings.auth.session_max_age,
            },
        );
        let projects = ProjectService::new(store.clone(), store.clone(), store.clone());
        let issues = IssueService::new(store.clone(), store.clone());
        let boards = BoardService::new(store.clone(), store.clone());
        let search = SearchService::new(store.clone(), clock.clone());
        let sprints = SprintService::new(store.clone(), store.clone(), store.clone());
        Ok(Self(Arc::new(Services {
            health: store,
            auth: Arc::new(auth),
            projects: Arc::new(projects),
            issues: Arc::new(issues),
            boards: Arc::new(boards),
            sprints: Arc::new(sprints),
            search: Arc::new(search),
            tokens,
            auth_limits: Arc::new(AuthRateLimiter::new(
                limits_store,
                clock.clone(),
                settings.auth.rate_per_min,
                &settings.auth.jwt_secret,
            )?),
            cursors: Arc::new(crate::pagination::Cursors::new(&settings.auth.jwt_secret)?),
            http: Arc::new(settings.http),
            metrics: crate::metrics::handle()?,
            openapi_json: crate::app::openapi_json()
                .map(|doc| doc.to_string())
                .map_err(|e| format!("serializing the OpenAPI document: {e}"))?
                .into(),
        })))
    }
}
