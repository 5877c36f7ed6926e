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
impl IssueRepository for SqliteStore {
    async fn create(
        &self,
        project_id: Uuid,
        issue: &NewIssue,
        reporter: Uuid,
    ) -> Result<CreateOutcome, RepoError> {
        stub()
    }

    async fn find(
        &self,
        project: &ProjectRef,
        number: i64,
        user: Uuid,
        deleted: Deleted,
    ) -> Result<Option<Scoped<Option<Issue>>>, RepoError> {
        stub()
    }

    async fn update(
        &self,
        issue_id: Uuid,
        project_id: Uuid,
        actor: Uuid,
        decide: &Decision<Issue, IssueEdit>,
    ) -> Result<UpdateOutcome, RepoError> {
        stub()
    }

    async fn set_deleted(
        &self,
        issue_id: Uuid,
        deleted: bool,
        actor: Uuid,
    ) -> Result<Option<Issue>, RepoError> {
        stub()
    }

    async fn list(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        sort: IssueSort,
        page: &PageRequest<IssueKey>,
    ) -> Result<Option<Scoped<Page<Issue, IssueKey>>>, RepoError> {
        stub()
    }

    async fn events(
        &self,
        issue_id: Uuid,
        page: &PageRequest<EventKey>,
    ) -> Result<Page<IssueEvent, EventKey>, RepoError> {
        stub()
    }

}
