//! Kanban boards, board moves and the backlog.

use std::sync::Arc;

use uuid::Uuid;

use crate::board::{Anchor, Board, Move, MoveOutcome};
use crate::error::DomainError;
use crate::issue::{
    Deleted, Issue, IssueFilter, IssueKey, IssueSort, IssueSortField, SprintFilter,
};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Action, require};
use crate::ports::{BoardRepository, IssueRepository};
use crate::project::Scoped;
use crate::values::{IssueStatus, ProjectRef};

pub struct BoardService {
    boards: Arc<dyn BoardRepository>,
    issues: Arc<dyn IssueRepository>,
}

/// The backlog: issues in no sprint that are not done or cancelled, in rank order.
pub fn backlog_filter() -> IssueFilter {
    IssueFilter {
        statuses: IssueStatus::ALL.iter().copied().filter(|s| !s.is_resolved()).collect(),
        sprint: Some(SprintFilter::Nobody),
        ..IssueFilter::default()
    }
}

pub const RANK_ORDER: IssueSort = IssueSort { field: IssueSortField::Rank, descending: false };

impl BoardService {
    pub fn new(boards: Arc<dyn BoardRepository>, issues: Arc<dyn IssueRepository>) -> Self {
        Self { boards, issues }
    }

    pub async fn board(
        &self,
        user: Uuid,
        project: &ProjectRef,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Board, DomainError> {
        let found = self.boards.board(project, user, filter, per_column).await?;
        require(found.as_ref().map(|s| s.access.role), Action::Read)?;
        found.map(|s| s.value).ok_or(DomainError::NotFound)
    }

    /// Moves issue `number` into column `status` (its own when `None`) at `anchor`.
    pub async fn move_issue(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
        status: Option<IssueStatus>,
        anchor: Anchor,
    ) -> Result<Issue, DomainError> {
        let Some(Scoped { access, value }) =
            self.issues.find(project, number, user, Deleted::Exclude).await?
        else {
            return Err(DomainError::NotFound);
        };
        require(Some(access.role), Action::Read)?;
        let issue = value.ok_or(DomainError::NotFound)?;
        require(Some(access.role), Action::UpdateIssue)?;
        if matches!(anchor, Anchor::Before(n) | Anchor::After(n) if n == number) {
            return Err(anchor_error(anchor, "must be another issue than the one moved"));
        }
        let mv = Move {
            issue_id: issue.id,
            project_id: access.project_id,
            status,
            anchor,
            actor_id: user,
        };
        match self.boards.move_issue(&mv).await? {
            MoveOutcome::Moved(issue) => Ok(*issue),
            MoveOutcome::AnchorNotInColumn => {
                Err(anchor_error(anchor, "must be an issue in the target column"))
            }
            MoveOutcome::Gone => Err(DomainError::NotFound),
        }
    }

    pub async fn backlog(
        &self,
        user: Uuid,
        project: &ProjectRef,
        page: &PageRequest<IssueKey>,
    ) -> Result<Page<Issue, IssueKey>, DomainError> {
        if page.after.as_ref().is_some_and(|key| !RANK_ORDER.accepts(key)) {
            return Err(DomainError::InvalidCursor);
        }
        let found = self.issues.list(project, user, &backlog_filter(), RANK_ORDER, page).await?;
        require(found.as_ref().map(|s| s.access.role), Action::Read)?;
        found.map(|s| s.value).ok_or(DomainError::NotFound)
    }
}

fn anchor_error(anchor: Anchor, message: &str) -> DomainError {
    let field = if matches!(anchor, Anchor::After(_)) { "after" } else { "before" };
    DomainError::invalid(field, message)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::ports::{MockBoardRepository, MockIssueRepository};
    use crate::project::ProjectAccess;
    use crate::values::{IssueType, Priority, ProjectKey, Role};

    fn found(issues: &mut MockIssueRepository, role: Role) {
        issues.expect_find().returning(move |_, number, _, _| {
            let now = OffsetDateTime::now_utc();
            Ok(Some(Scoped {
                access: ProjectAccess { project_id: Uuid::nil(), role },
                value: Some(Issue {
                    id: Uuid::nil(),
                    project_id: Uuid::nil(),
                    number,
                    key: format!("RHY-{number}"),
                    title: "T".into(),
                    description: String::new(),
                    status: IssueStatus::Todo,
                    priority: Priority::None,
                    issue_type: IssueType::Task,
                    assignee_id: None,
                    reporter_id: Uuid::nil(),
                    sprint_id: None,
                    story_points: None,
                    rank: "000000000001V".into(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    resolved_at: None,
                }),
            }))
        });
    }

    fn key() -> ProjectRef {
        ProjectRef::Key(ProjectKey::parse("RHY").unwrap())
    }

    #[tokio::test]
    async fn viewers_cannot_move() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Viewer);
        let mut boards = MockBoardRepository::new();
        boards.expect_move_issue().never();
        let service = BoardService::new(Arc::new(boards), Arc::new(issues));
        let err = service.move_issue(Uuid::now_v7(), &key(), 1, None, Anchor::Bottom).await;
        assert!(matches!(err, Err(DomainError::Forbidden)));
    }

    #[tokio::test]
    async fn an_anchor_outside_the_column_names_its_field() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member);
        let mut boards = MockBoardRepository::new();
        boards.expect_move_issue().returning(|_| Ok(MoveOutcome::AnchorNotInColumn));
        let service = BoardService::new(Arc::new(boards), Arc::new(issues));
        let Err(DomainError::Validation(errors)) = service
            .move_issue(Uuid::now_v7(), &key(), 1, Some(IssueStatus::Done), Anchor::After(2))
            .await
        else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "after");
    }

    #[tokio::test]
    async fn an_issue_cannot_anchor_on_itself() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member);
        let mut boards = MockBoardRepository::new();
        boards.expect_move_issue().never();
        let service = BoardService::new(Arc::new(boards), Arc::new(issues));
        let err = service.move_issue(Uuid::now_v7(), &key(), 3, None, Anchor::Before(3)).await;
        assert!(matches!(err, Err(DomainError::Validation(_))));
    }

    #[test]
    fn the_backlog_is_unsprinted_unresolved_work() {
        let filter = backlog_filter();
        assert_eq!(
            filter.statuses,
            [
                IssueStatus::Backlog,
                IssueStatus::Todo,
                IssueStatus::InProgress,
                IssueStatus::InReview
            ]
        );
        assert_eq!(filter.sprint, Some(SprintFilter::Nobody));
    }
}
