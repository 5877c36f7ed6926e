//! Scrum: sprints and their state machine `planned → active → closed`.

use std::sync::Arc;

use uuid::Uuid;

use crate::board::Board;
use crate::error::{DomainError, RepoError};
use crate::issue::{IssueFilter, SprintFilter};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Action, require};
use crate::ports::{BoardRepository, ProjectRepository, SprintRepository};
use crate::project::ProjectAccess;
use crate::sprint::{
    Completion, CompletionTarget, NewSprint, Sprint, SprintKey, SprintPatch, check_dates,
};
use crate::values::{ProjectRef, SprintState};

pub struct SprintService {
    sprints: Arc<dyn SprintRepository>,
    projects: Arc<dyn ProjectRepository>,
    boards: Arc<dyn BoardRepository>,
}

impl SprintService {
    pub fn new(
        sprints: Arc<dyn SprintRepository>,
        projects: Arc<dyn ProjectRepository>,
        boards: Arc<dyn BoardRepository>,
    ) -> Self {
        Self { sprints, projects, boards }
    }

    async fn authorize(
        &self,
        user: Uuid,
        project: &ProjectRef,
        action: Action,
    ) -> Result<ProjectAccess, DomainError> {
        super::authorize(self.projects.as_ref(), user, project, action).await
    }

    /// The sprint, checked against `action`.
    async fn sprint(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
        action: Action,
    ) -> Result<Sprint, DomainError> {
        let access = self.authorize(user, project, action).await?;
        self.sprints.find(access.project_id, sprint_id).await?.ok_or(DomainError::NotFound)
    }

    pub async fn create(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint: NewSprint,
    ) -> Result<Sprint, DomainError> {
        let access = self.authorize(user, project, Action::ManageSprints).await?;
        Ok(self.sprints.create(access.project_id, &sprint).await?)
    }

    pub async fn list(
        &self,
        user: Uuid,
        project: &ProjectRef,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, DomainError> {
        let access = self.authorize(user, project, Action::Read).await?;
        Ok(self.sprints.list(access.project_id, state, page).await?)
    }

    pub async fn get(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
    ) -> Result<Sprint, DomainError> {
        self.sprint(user, project, sprint_id, Action::Read).await
    }

    /// Applies `patch`; the resulting dates must be in order. The rule is checked on the
    /// sprint as the store holds it locked, so concurrent edits cannot combine into dates
    /// out of order.
    pub async fn update(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
        patch: SprintPatch,
    ) -> Result<Sprint, DomainError> {
        let access = self.authorize(user, project, Action::ManageSprints).await?;
        let decide = move |current: &Sprint| {
            let starts_on = patch.starts_on.unwrap_or(current.starts_on);
            let ends_on = patch.ends_on.unwrap_or(current.ends_on);
            check_dates(starts_on, ends_on).map_err(|e| DomainError::invalid("ends_on", e.0))?;
            Ok(Some(patch.clone()))
        };
        Ok(self.sprints.update(access.project_id, sprint_id, &decide).await?)
    }

    pub async fn start(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
    ) -> Result<Sprint, DomainError> {
        let sprint = self.sprint(user, project, sprint_id, Action::ManageSprints).await?;
        Ok(self.sprints.start(sprint.project_id, sprint_id).await?)
    }

    /// Closes the active sprint; its unfinished issues go to `target`.
    pub async fn complete(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
        target: CompletionTarget,
    ) -> Result<Completion, DomainError> {
        let sprint = self.sprint(user, project, sprint_id, Action::ManageSprints).await?;
        match self.sprints.complete(sprint.project_id, sprint_id, target, user).await {
            // The sprint exists, so a missing row is the target.
            Err(RepoError::NotFound) => Err(DomainError::invalid(
                "move_open_issues_to",
                "must be `backlog` or a planned sprint of this project",
            )),
            other => Ok(other?),
        }
    }

    pub async fn delete(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
    ) -> Result<(), DomainError> {
        let sprint = self.sprint(user, project, sprint_id, Action::ManageSprints).await?;
        Ok(self.sprints.delete(sprint.project_id, sprint_id, user).await?)
    }

    /// The Kanban board of the sprint's issues.
    pub async fn board(
        &self,
        user: Uuid,
        project: &ProjectRef,
        sprint_id: Uuid,
        mut filter: IssueFilter,
        per_column: u32,
    ) -> Result<Board, DomainError> {
        filter.sprint = Some(SprintFilter::Sprint(sprint_id));
        let found = self.boards.sprint_board(project, user, sprint_id, &filter, per_column).await?;
        require(found.as_ref().map(|s| s.access.role), Action::Read)?;
        found.and_then(|s| s.value).ok_or(DomainError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockBoardRepository, MockProjectRepository, MockSprintRepository};
    use crate::project::Scoped;
    use crate::values::{ProjectKey, Role};

    fn service(boards: MockBoardRepository) -> SprintService {
        SprintService::new(
            Arc::new(MockSprintRepository::new()),
            Arc::new(MockProjectRepository::new()),
            Arc::new(boards),
        )
    }

    fn key() -> ProjectRef {
        ProjectRef::Key(ProjectKey::parse("RHY").unwrap())
    }

    fn access(role: Role) -> ProjectAccess {
        ProjectAccess { project_id: Uuid::nil(), role }
    }

    #[tokio::test]
    async fn a_sprint_board_is_one_call_filtered_to_the_sprint() {
        let sprint_id = Uuid::now_v7();
        let mut boards = MockBoardRepository::new();
        boards
            .expect_sprint_board()
            .withf(move |_, _, id, filter, per_column| {
                *id == sprint_id
                    && filter.sprint == Some(SprintFilter::Sprint(sprint_id))
                    && *per_column == 20
            })
            .times(1)
            .returning(|_, _, _, _, _| {
                Ok(Some(Scoped {
                    access: access(Role::Viewer),
                    value: Some(Board { columns: vec![] }),
                }))
            });
        let board = service(boards)
            .board(Uuid::now_v7(), &key(), sprint_id, IssueFilter::default(), 20)
            .await;
        assert!(board.is_ok(), "viewers may read a sprint board: {board:?}");
    }

    #[tokio::test]
    async fn an_unknown_sprint_or_project_is_not_found() {
        let mut boards = MockBoardRepository::new();
        let mut calls = 0;
        boards.expect_sprint_board().times(2).returning(move |_, _, _, _, _| {
            calls += 1;
            Ok(if calls == 1 {
                // A member, but the project has no such sprint.
                Some(Scoped { access: access(Role::Member), value: None })
            } else {
                // Not a member.
                None
            })
        });
        let service = service(boards);
        for _ in 0..2 {
            let err = service
                .board(Uuid::now_v7(), &key(), Uuid::now_v7(), IssueFilter::default(), 20)
                .await;
            assert!(matches!(err, Err(DomainError::NotFound)), "{err:?}");
        }
    }
}
