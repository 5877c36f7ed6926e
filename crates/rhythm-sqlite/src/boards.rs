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
impl BoardRepository for SqliteStore {
    async fn board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Board>>, RepoError> {
        stub()
    }

    async fn sprint_board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        sprint_id: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Option<Board>>>, RepoError> {
        stub()
    }

    async fn move_issue(&self, mv: &Move) -> Result<MoveOutcome, RepoError> {
        stub()
    }

}
