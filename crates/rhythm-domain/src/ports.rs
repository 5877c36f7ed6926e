//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`rhythm-postgres` today). Each method's doc says which [`RepoError`] variant an
//! implementation returns in which case, so another adapter can be written from the docs.
//!
//! Ports are object-safe (`Arc<dyn Port>`); with the `mock` feature each gets a mockall
//! double (`MockStoreHealth`…) for service unit tests.

use async_trait::async_trait;

use crate::error::RepoError;

/// Whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `Ok` when a trivial query round-trips; `Unavailable` when the store cannot be reached
    /// (down, no free connection within the acquire timeout).
    async fn ping(&self) -> Result<(), RepoError>;
}
