//! PostgreSQL adapter: [`PgStore`] implements every port of `rhythm-domain` on
//! tokio-postgres, through a deadpool connection pool.
//!
//! All SQL of Rhythm lives in this crate, in one module per aggregate; [`db`] runs it
//! (statements prepared once per connection, binary formats). Driver errors never leave
//! it: [`error`] maps them (by constraint name and SQLSTATE) into the domain's `RepoError`.
//! The schema's migrations are embedded ([`MIGRATOR`]) and applied with sqlx's migrator,
//! which keeps the checksums of every migration that has landed.

mod attempts;
mod boards;
mod db;
pub mod error;
mod health;
mod issues;
mod locks;
mod pool;
mod projects;
mod search;
mod sprints;
mod users;

use sqlx::Connection;

pub use pool::{PoolSettings, connect_pool};

/// The embedded migrations of `migrations/postgres/` at the workspace root.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL store: one connection pool, shared by every port implementation.
/// Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish()
    }
}

impl PgStore {
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// A store on the database a sqlx pool points at (the tests' per-test databases),
    /// with default settings. Passwords are not carried over: for trust or peer auth only.
    pub fn for_sqlx_pool(pool: &sqlx::PgPool) -> Result<Self, String> {
        let options = pool.connect_options();
        let mut config = tokio_postgres::Config::new();
        config.host(options.get_host()).port(options.get_port()).user(options.get_username());
        if let Some(database) = options.get_database() {
            config.dbname(database);
        }
        Ok(Self::new(pool::pool_from_config(config, &PoolSettings::default())?))
    }

    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }

    /// Applies pending migrations over a connection of its own. Safe with several replicas
    /// starting at once: the migrator holds an advisory lock while it runs.
    pub async fn migrate(database_url: &str) -> Result<(), sqlx::migrate::MigrateError> {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        MIGRATOR.run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// A pooled connection, or `Unavailable`.
    pub(crate) async fn conn(&self) -> Result<deadpool_postgres::Object, rhythm_domain::RepoError> {
        self.pool.get().await.map_err(error::map_pool)
    }
}
