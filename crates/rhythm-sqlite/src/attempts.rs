//! STUB: replaced by the real implementation.
#![allow(unused_variables, unused_imports)]

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::*;
use rhythm_domain::board::*;
use rhythm_domain::issue::*;
use rhythm_domain::pagination::*;
use rhythm_domain::project::*;
use rhythm_domain::search::*;
use rhythm_domain::sprint::*;
use rhythm_domain::user::*;
use rhythm_domain::values::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;

fn stub<T>() -> Result<T, RepoError> {
    Err(RepoError::Internal("not implemented on SQLite yet".into()))
}

#[async_trait]
impl AttemptCounter for SqliteStore {
    async fn count_attempt(
        &self,
        keys: &[AttemptKey],
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<AttemptCount>, RepoError> {
        stub()
    }

    async fn forget_ended(
        &self,
        window: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<u64, RepoError> {
        stub()
    }

}
