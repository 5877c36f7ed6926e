//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`rhythm-postgres` today). Each method's doc says which [`RepoError`] variant an
//! implementation returns in which case, so another adapter can be written from the docs.
//!
//! Ports are object-safe (`Arc<dyn Port>`); with the `mock` feature each gets a mockall
//! double (`MockStoreHealth`…) for service unit tests.

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::{DomainError, RepoError};
use crate::user::{
    AccessToken, NewRefreshToken, NewUser, RefreshSecret, Rotation, TokenHash, User,
    UserCredentials,
};
use crate::values::{Password, UserName};

/// Whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `Ok` when a trivial query round-trips; `Unavailable` when the store cannot be reached
    /// (down, no free connection within the acquire timeout).
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Accounts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account. `Conflict(EmailTaken)` when another account has the same email
    /// in any letter case.
    async fn create(&self, user: &NewUser) -> Result<User, RepoError>;

    /// The account whose email matches `email` case-insensitively, with its password hash.
    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError>;

    /// The account `id` with its password hash.
    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError>;

    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError>;

    /// Renames the account; `None` when it does not exist.
    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError>;

    /// Replaces the password hash and revokes every refresh token of the user, atomically.
    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError>;
}

/// Refresh tokens ("sessions"). A chain is one login's sequence of rotations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores the first token of a new chain (a login or registration).
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError>;

    /// Atomically exchanges the live token `presented` for `replacement` (same chain, same
    /// user: `replacement.user_id` is ignored and taken from the presented token). Of two
    /// concurrent rotations of one token exactly one gets `Rotated`. A token that was
    /// already rotated gives `Reused` and revokes its whole chain; an unknown, expired or
    /// revoked one gives `Refused`.
    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &NewRefreshToken,
    ) -> Result<Rotation, RepoError>;

    /// Revokes the token (logout). A token that was already rotated revokes its whole
    /// chain. Unknown or already revoked tokens are no error.
    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError>;
}

/// Password hashing: slow on purpose, so implementations run it off the async runtime and
/// bound how many run at once.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string (`$argon2id$…`) with a fresh salt.
    async fn hash(&self, password: &Password) -> Result<String, DomainError>;

    /// Whether `password` matches `stored`. With `stored = None` it verifies against a dummy
    /// hash and answers `false`, taking as long as a real check, so unknown accounts cannot
    /// be told from wrong passwords by timing.
    async fn verify(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool, DomainError>;
}

/// Issuing credentials.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A signed, short-lived access token for `user_id`.
    fn access_token(&self, user_id: Uuid) -> Result<AccessToken, DomainError>;

    /// A new opaque refresh token (≥ 256 random bits) and the hash to store.
    fn refresh_token(&self) -> Result<(RefreshSecret, TokenHash), DomainError>;

    /// The hash of a refresh token a client presented.
    fn hash_refresh_token(&self, presented: &str) -> TokenHash;
}
