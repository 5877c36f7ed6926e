//! What every handler can reach: the domain's services and ports, and the HTTP settings.

use std::sync::Arc;
use std::time::Duration;

use rhythm_domain::ports::StoreHealth;

/// Settings of the HTTP layer itself.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Longest time a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Largest accepted request body.
    pub body_limit: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(10), body_limit: 1024 * 1024 }
    }
}

/// Shared, cheap-to-clone state of the router. Holds no per-process data that would make
/// two replicas behave differently.
#[derive(Clone)]
pub struct AppState {
    pub health: Arc<dyn StoreHealth>,
    pub http: Arc<HttpSettings>,
}

/// Every port a storage adapter must implement for Rhythm to run on it.
pub trait Store: StoreHealth + Clone + 'static {}
impl<T: StoreHealth + Clone + 'static> Store for T {}

impl AppState {
    /// Wires the services onto one storage adapter.
    pub fn new<S: Store>(store: S, http: HttpSettings) -> Self {
        let store = Arc::new(store);
        Self { health: store, http: Arc::new(http) }
    }
}
