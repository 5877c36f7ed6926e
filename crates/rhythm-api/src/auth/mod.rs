//! Credentials: argon2id password hashing, JWT access tokens, opaque refresh tokens, the
//! extractors that authenticate a request, and the sign-in rate limits.

pub mod extract;
pub mod password;
pub mod rate_limit;
pub mod tokens;
