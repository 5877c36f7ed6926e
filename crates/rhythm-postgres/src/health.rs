//! The store's health probe.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{ConnectionStats, StoreHealth};

use crate::PgStore;
use crate::db;

#[async_trait]
impl StoreHealth for PgStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> Result<(), RepoError> {
        db::execute(&self.conn().await?, "SELECT 1", &[]).await?;
        Ok(())
    }

    fn connections(&self) -> ConnectionStats {
        let status = self.pool.status();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ConnectionStats {
            open: clamp(status.size),
            idle: clamp(status.available),
            max: clamp(status.max_size),
        }
    }
}
