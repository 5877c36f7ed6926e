//! API tests: the real router over each storage adapter, every test once per adapter on a
//! fresh database of its own (see `support::api_tests!`): `<module>::postgres::<test>` on
//! PostgreSQL (a migrated database from `#[sqlx::test]`; `cargo xtask test` points
//! DATABASE_URL at the server) and `<module>::sqlite::<test>` on a new SQLite file under
//! the target directory.

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
