//! PostgreSQL adapter: [`PgStore`] implements every port of `rhythm-domain` with sqlx.
//!
//! All SQL of Rhythm lives in this crate, in one module per aggregate. Driver errors never
//! leave it: [`error`] maps them (by constraint name and SQLSTATE) into the domain's
//! `RepoError`. The schema's migrations are embedded ([`MIGRATOR`]).

mod attempts;
mod boards;
pub mod error;
mod health;
mod issues;
mod locks;
mod pool;
mod projects;
mod search;
mod sprints;
mod users;

pub use pool::{PoolSettings, connect_lazy};
use sqlx::PgPool;

/// The embedded migrations of `migrations/` at the workspace root.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The PostgreSQL store: one connection pool, shared by every port implementation.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations. Safe with several replicas starting at once: the
    /// migrator holds an advisory lock while it runs.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }
}
