//! Issues: create, read, update with optimistic concurrency, soft delete and restore,
//! history, and filtered listing.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Conflict, DomainError, FieldError};
use crate::issue::{
    CreateOutcome, Deleted, EventKey, InvalidRefs, Issue, IssueEdit, IssueEvent, IssueFilter,
    IssueKey, IssuePatch, IssueSort, NewIssue, UpdateOutcome,
};
use crate::pagination::{Page, PageRequest};
use crate::policy::{Action, require};
use crate::ports::{IssueRepository, ProjectRepository};
use crate::project::Scoped;
use crate::values::ProjectRef;

/// An `If-Match` precondition on an issue's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: any current version.
    AnyVersion,
    /// One of these versions (an entry that is no version matches nothing).
    OneOf(Vec<i64>),
}

impl Precondition {
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Self::AnyVersion => true,
            Self::OneOf(versions) => versions.contains(&version),
        }
    }
}

pub struct IssueService {
    issues: Arc<dyn IssueRepository>,
    projects: Arc<dyn ProjectRepository>,
}

fn invalid_refs(refs: InvalidRefs) -> DomainError {
    let mut errors = Vec::new();
    if refs.assignee {
        errors.push(FieldError::new(
            "assignee_id",
            "must be a member of the project with role member or stronger",
        ));
    }
    if refs.sprint {
        errors.push(FieldError::new(
            "sprint_id",
            "must be a sprint of this project that is not closed",
        ));
    }
    DomainError::Validation(errors)
}

impl IssueService {
    pub fn new(issues: Arc<dyn IssueRepository>, projects: Arc<dyn ProjectRepository>) -> Self {
        Self { issues, projects }
    }

    pub async fn create(
        &self,
        user: Uuid,
        project: &ProjectRef,
        issue: NewIssue,
    ) -> Result<Issue, DomainError> {
        let access =
            super::authorize(self.projects.as_ref(), user, project, Action::CreateIssue).await?;
        match self.issues.create(access.project_id, &issue, user).await? {
            CreateOutcome::Created(issue) => Ok(*issue),
            CreateOutcome::InvalidRefs(refs) => Err(invalid_refs(refs)),
        }
    }

    /// The issue with the caller's standing, checked against `action`.
    async fn scoped(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
        deleted: Deleted,
        action: impl FnOnce(&Issue) -> Action,
    ) -> Result<Scoped<Issue>, DomainError> {
        let found = self.issues.find(project, number, user, deleted).await?;
        let Some(Scoped { access, value }) = found else {
            return Err(DomainError::NotFound);
        };
        // Reading is decided before the issue's existence is revealed.
        require(Some(access.role), Action::Read)?;
        let issue = value.ok_or(DomainError::NotFound)?;
        require(Some(access.role), action(&issue))?;
        Ok(Scoped { access, value: issue })
    }

    pub async fn get(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
    ) -> Result<Issue, DomainError> {
        Ok(self.scoped(user, project, number, Deleted::Exclude, |_| Action::Read).await?.value)
    }

    /// Applies `patch` to the issue as it is under the store's lock. With a precondition,
    /// a stale version is `VersionMismatch` and nothing changes; without one the write is
    /// last-write-wins and never fails because of a concurrent one. A patch that changes
    /// nothing bumps nothing.
    pub async fn update(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
        patch: &IssuePatch,
        precondition: Option<&Precondition>,
    ) -> Result<Issue, DomainError> {
        let Scoped { access, value: issue } =
            self.scoped(user, project, number, Deleted::Exclude, |_| Action::UpdateIssue).await?;
        let (precondition, patch) = (precondition.cloned(), patch.clone());
        let decide = move |locked: &Issue| {
            if precondition.as_ref().is_some_and(|p| !p.matches(locked.version)) {
                return Err(DomainError::VersionMismatch);
            }
            let edit = IssueEdit::apply(locked, &patch);
            Ok((!edit.is_noop()).then_some(edit))
        };
        match self.issues.update(issue.id, access.project_id, user, &decide).await? {
            UpdateOutcome::Updated(issue) | UpdateOutcome::Unchanged(issue) => Ok(*issue),
            UpdateOutcome::InvalidRefs(refs) => Err(invalid_refs(refs)),
            UpdateOutcome::Gone => Err(DomainError::NotFound),
        }
    }

    /// Soft-deletes: the issue vanishes from every read. Members may delete only issues
    /// they reported.
    pub async fn delete(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
    ) -> Result<(), DomainError> {
        let scoped = self
            .scoped(user, project, number, Deleted::Exclude, |issue| Action::DeleteIssue {
                is_reporter: issue.reporter_id == user,
            })
            .await?;
        self.issues.set_deleted(scoped.value.id, true, user).await?.ok_or(DomainError::NotFound)?;
        Ok(())
    }

    /// Restores a deleted issue; one that is not deleted is `InvalidState`.
    pub async fn restore(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
    ) -> Result<Issue, DomainError> {
        let scoped =
            self.scoped(user, project, number, Deleted::Include, |_| Action::RestoreIssue).await?;
        self.issues
            .set_deleted(scoped.value.id, false, user)
            .await?
            .ok_or(DomainError::Conflict(Conflict::InvalidState))
    }

    pub async fn events(
        &self,
        user: Uuid,
        project: &ProjectRef,
        number: i64,
        page: &PageRequest<EventKey>,
    ) -> Result<Page<IssueEvent, EventKey>, DomainError> {
        let scoped = self.scoped(user, project, number, Deleted::Exclude, |_| Action::Read).await?;
        Ok(self.issues.events(scoped.value.id, page).await?)
    }

    pub async fn list(
        &self,
        user: Uuid,
        project: &ProjectRef,
        filter: &IssueFilter,
        sort: IssueSort,
        page: &PageRequest<IssueKey>,
    ) -> Result<Page<Issue, IssueKey>, DomainError> {
        if page.after.as_ref().is_some_and(|key| !sort.accepts(key)) {
            return Err(DomainError::InvalidCursor);
        }
        let found = self.issues.list(project, user, filter, sort, page).await?;
        require(found.as_ref().map(|s| s.access.role), Action::Read)?;
        found.map(|s| s.value).ok_or(DomainError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::error::RepoError;
    use crate::ports::{MockIssueRepository, MockProjectRepository};
    use crate::project::ProjectAccess;
    use crate::values::{IssueStatus, IssueTitle, IssueType, Priority, ProjectKey, Role};

    fn key() -> ProjectRef {
        ProjectRef::Key(ProjectKey::parse("RHY").unwrap())
    }

    fn issue(reporter: Uuid, version: i64) -> Issue {
        let now = OffsetDateTime::now_utc();
        Issue {
            id: Uuid::now_v7(),
            project_id: Uuid::nil(),
            number: 1,
            key: "RHY-1".into(),
            title: "Old".into(),
            description: String::new(),
            status: IssueStatus::Todo,
            priority: Priority::None,
            issue_type: IssueType::Task,
            assignee_id: None,
            reporter_id: reporter,
            sprint_id: None,
            story_points: None,
            rank: "000000000001V".into(),
            version,
            created_at: now,
            updated_at: now,
            resolved_at: None,
        }
    }

    /// The caller has `role`; the issue exists with `version`, reported by `reporter`.
    fn found(issues: &mut MockIssueRepository, role: Role, reporter: Uuid, version: i64) {
        issues.expect_find().returning(move |_, _, _, _| {
            Ok(Some(Scoped {
                access: ProjectAccess { project_id: Uuid::nil(), role },
                value: Some(issue(reporter, version)),
            }))
        });
    }

    fn service(issues: MockIssueRepository) -> IssueService {
        IssueService::new(Arc::new(issues), Arc::new(MockProjectRepository::new()))
    }

    fn rename() -> IssuePatch {
        IssuePatch { title: Some(IssueTitle::new("New").unwrap()), ..IssuePatch::default() }
    }

    /// The store holds the issue at `version` locked and writes what the decision returns.
    fn locked(issues: &mut MockIssueRepository, version: i64) {
        issues.expect_update().times(1).returning(move |_, _, _, decide| {
            let current = issue(Uuid::nil(), version);
            match decide.decide(&current) {
                Err(refused) => Err(RepoError::Refused(Box::new(refused))),
                Ok(None) => Ok(UpdateOutcome::Unchanged(Box::new(current))),
                Ok(Some(edit)) => {
                    assert_eq!(edit.changes.len(), 1, "only the title changes: {edit:?}");
                    let mut next = current.clone();
                    next.title = edit.title;
                    next.version += 1;
                    Ok(UpdateOutcome::Updated(Box::new(next)))
                }
            }
        });
    }

    #[tokio::test]
    async fn the_precondition_is_checked_on_the_locked_version() {
        // Read at 5, but another write got in first: the lock holds version 6.
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, Uuid::now_v7(), 5);
        locked(&mut issues, 6);
        let err = service(issues)
            .update(Uuid::now_v7(), &key(), 1, &rename(), Some(&Precondition::OneOf(vec![5])))
            .await;
        assert!(matches!(err, Err(DomainError::VersionMismatch)), "{err:?}");
    }

    #[tokio::test]
    async fn without_a_precondition_the_patch_applies_to_the_locked_issue() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, Uuid::now_v7(), 5);
        locked(&mut issues, 6);
        let updated =
            service(issues).update(Uuid::now_v7(), &key(), 1, &rename(), None).await.unwrap();
        assert_eq!((updated.version, updated.title.as_str()), (7, "New"));
    }

    #[tokio::test]
    async fn a_matching_precondition_writes() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, Uuid::now_v7(), 5);
        locked(&mut issues, 5);
        let precondition = Precondition::OneOf(vec![4, 5]);
        let updated = service(issues)
            .update(Uuid::now_v7(), &key(), 1, &rename(), Some(&precondition))
            .await
            .unwrap();
        assert_eq!(updated.version, 6);
    }

    #[tokio::test]
    async fn a_no_op_patch_writes_nothing() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, Uuid::now_v7(), 5);
        locked(&mut issues, 5);
        let same = service(issues)
            .update(Uuid::now_v7(), &key(), 1, &IssuePatch::default(), None)
            .await
            .unwrap();
        assert_eq!(same.version, 5);
    }

    #[tokio::test]
    async fn viewers_cannot_update() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Viewer, Uuid::now_v7(), 5);
        issues.expect_update().never();
        let err = service(issues).update(Uuid::now_v7(), &key(), 1, &rename(), None).await;
        assert!(matches!(err, Err(DomainError::Forbidden)));
    }

    #[tokio::test]
    async fn members_delete_only_what_they_reported() {
        let me = Uuid::now_v7();
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, Uuid::now_v7(), 1);
        issues.expect_set_deleted().never();
        assert!(matches!(service(issues).delete(me, &key(), 1).await, Err(DomainError::Forbidden)));

        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Member, me, 1);
        issues.expect_set_deleted().times(1).returning(|_, _, _| Ok(Some(issue(Uuid::nil(), 2))));
        service(issues).delete(me, &key(), 1).await.unwrap();
    }

    #[tokio::test]
    async fn restoring_a_live_issue_is_invalid_state() {
        let mut issues = MockIssueRepository::new();
        found(&mut issues, Role::Maintainer, Uuid::now_v7(), 1);
        issues.expect_set_deleted().returning(|_, _, _| Ok(None));
        let err = service(issues).restore(Uuid::now_v7(), &key(), 1).await;
        assert!(matches!(err, Err(DomainError::Conflict(Conflict::InvalidState))));
    }

    #[tokio::test]
    async fn invalid_references_name_their_fields() {
        let mut projects = MockProjectRepository::new();
        projects.expect_access().returning(|_, _| {
            Ok(Some(ProjectAccess { project_id: Uuid::nil(), role: Role::Member }))
        });
        let mut issues = MockIssueRepository::new();
        issues.expect_create().returning(|_, _, _| {
            Ok(CreateOutcome::InvalidRefs(InvalidRefs { assignee: true, sprint: true }))
        });
        let service = IssueService::new(Arc::new(issues), Arc::new(projects));
        let new = NewIssue {
            id: Uuid::now_v7(),
            title: IssueTitle::new("T").unwrap(),
            description: Default::default(),
            status: IssueStatus::Todo,
            priority: Priority::None,
            issue_type: IssueType::Task,
            assignee_id: Some(Uuid::now_v7()),
            sprint_id: Some(Uuid::now_v7()),
            story_points: None,
        };
        let Err(DomainError::Validation(errors)) =
            service.create(Uuid::now_v7(), &key(), new).await
        else {
            panic!("expected a validation error")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["assignee_id", "sprint_id"]);
    }
}
