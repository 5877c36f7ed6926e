//! Accounts and sessions.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::values::{Email, UserName};

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    /// As typed at registration; unique regardless of case.
    pub email: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// A user with the stored password hash, for verifying a password.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// A new account, validated, with its password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub name: UserName,
    pub password_hash: String,
}

/// SHA-256 of a refresh token: all the store ever sees of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A refresh token in clear text, as handed to the client once. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSecret(pub String);

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshSecret(<redacted>)")
    }
}

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub hash: TokenHash,
    pub expires_at: OffsetDateTime,
    /// When the session (the chain this token starts) ends, however often it is rotated.
    /// Set by the first token of a chain; a replacement inherits its chain's.
    pub session_expires_at: OffsetDateTime,
}

/// The token that replaces a rotated one. Its chain, user and session end are the
/// presented token's, which only the store knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub id: Uuid,
    pub hash: TokenHash,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token for rotation led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now rotated and `replacement` stored in its chain.
    Rotated { user_id: Uuid },
    /// The token had already been rotated: possible theft. Its whole chain is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Refused,
}

/// A signed access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_secs: u64,
}

/// What a successful register, login or refresh hands the client.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub access: AccessToken,
    pub refresh: RefreshSecret,
}
