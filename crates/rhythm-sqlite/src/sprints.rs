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
impl SprintRepository for SqliteStore {
    async fn create(&self, project_id: Uuid, sprint: &NewSprint) -> Result<Sprint, RepoError> {
        stub()
    }

    async fn list(
        &self,
        project_id: Uuid,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, RepoError> {
        stub()
    }

    async fn find(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Option<Sprint>, RepoError> {
        stub()
    }

    async fn update(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        decide: &Decision<Sprint, SprintPatch>,
    ) -> Result<Sprint, RepoError> {
        stub()
    }

    async fn start(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Sprint, RepoError> {
        stub()
    }

    async fn complete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        target: CompletionTarget,
        actor: Uuid,
    ) -> Result<Completion, RepoError> {
        stub()
    }

    async fn delete(&self, project_id: Uuid, sprint_id: Uuid, actor: Uuid)
    -> Result<(), RepoError> {
        stub()
    }

}
