//! Adapter tests on a real PostgreSQL: each `#[sqlx::test]` gets a fresh, migrated database
//! (DATABASE_URL names the server; `cargo xtask test` sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod schema;
mod search;
mod sessions;
