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
impl ProjectRepository for SqliteStore {
    async fn create(&self, project: &NewProject, owner: Uuid)
    -> Result<ProjectWithRole, RepoError> {
        stub()
    }

    async fn access(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectAccess>, RepoError> {
        stub()
    }

    async fn find_for_member(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectWithRole>, RepoError> {
        stub()
    }

    async fn list_for_member(
        &self,
        user: Uuid,
        page: &PageRequest<String>,
    ) -> Result<Page<ProjectWithRole, String>, RepoError> {
        stub()
    }

    async fn update(&self, project_id: Uuid, patch: &ProjectPatch) -> Result<Project, RepoError> {
        stub()
    }

    async fn archive(&self, project_id: Uuid) -> Result<(), RepoError> {
        stub()
    }

}

#[async_trait]
impl MemberRepository for SqliteStore {
    async fn list(
        &self,
        project_id: Uuid,
        page: &PageRequest<MemberKey>,
    ) -> Result<Page<Member, MemberKey>, RepoError> {
        stub()
    }

    async fn find(&self, project_id: Uuid, user_id: Uuid) -> Result<Option<Member>, RepoError> {
        stub()
    }

    async fn add(&self, project_id: Uuid, user_id: Uuid, role: Role) -> Result<Member, RepoError> {
        stub()
    }

    async fn change_role(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, Role>,
    ) -> Result<Member, RepoError> {
        stub()
    }

    async fn remove(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, ()>,
    ) -> Result<(), RepoError> {
        stub()
    }

}
