//! The store's health probe.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{ConnectionStats, StoreHealth};

use crate::SqliteStore;
use crate::error::map_sqlx;

#[async_trait]
impl StoreHealth for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(self.readers()).await.map_err(map_sqlx)?;
        Ok(())
    }

    /// The readers and the writer together.
    fn connections(&self) -> ConnectionStats {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ConnectionStats {
            open: self.reader.size() + self.writer.size(),
            idle: clamp(self.reader.num_idle() + self.writer.num_idle()),
            max: self.reader.options().get_max_connections() + 1,
        }
    }
}
