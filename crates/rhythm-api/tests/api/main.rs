//! API tests: the real router over a real PostgreSQL (a fresh migrated database per test,
//! from `#[sqlx::test]`; `cargo xtask test` points DATABASE_URL at the server).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod boards;
mod concurrency;
mod cursors;
mod foundation;
mod issues;
mod nulls;
mod openapi;
mod permissions;
mod projects;
mod search;
mod sprints;
mod summaries;
mod support;
