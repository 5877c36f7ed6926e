//! The store's health probe.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{ConnectionStats, StoreHealth};

use crate::PgStore;
use crate::error::map_err;

#[async_trait]
impl StoreHealth for PgStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    fn connections(&self) -> ConnectionStats {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        ConnectionStats {
            open: self.pool.size(),
            idle,
            max: self.pool.options().get_max_connections(),
        }
    }
}
