//! Issues: numbering, writes under contention, history, listing walks, documented errors.

use rhythm_domain::error::{DomainError, RepoError};
use rhythm_domain::issue::{
    CreateOutcome, EventKind, Issue, IssueEdit, IssueFilter, IssuePatch, IssueSort, IssueSortField,
    UpdateOutcome,
};
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::{IssueRepository, Store};
use rhythm_domain::services::issues::Precondition;
use rhythm_domain::values::{IssueStatus, IssueTitle, Role};
use uuid::Uuid;

use crate::fixture::{Fixture, new_issue, project_ref};

pub async fn numbers_are_gap_free_under_concurrent_creates<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut creates = tokio::task::JoinSet::new();
    for n in 0..60 {
        let store: std::sync::Arc<dyn IssueRepository> = f.store.clone();
        let (project_id, reporter) = (project.id, owner.id);
        creates.spawn(async move {
            let mut issue = new_issue(&format!("Issue {n}"));
            // Every sixth create names an assignee who is no member: refused, no number taken.
            if n % 6 == 5 {
                issue.assignee_id = Some(Uuid::now_v7());
            }
            store.create(project_id, &issue, reporter).await.unwrap()
        });
    }
    let outcomes = creates.join_all().await;
    let refused = outcomes.iter().filter(|o| matches!(o, CreateOutcome::InvalidRefs(_))).count();
    assert_eq!(refused, 10);
    let numbers: Vec<i64> = f
        .all_issues(&project, &owner, IssueSortField::Number)
        .await
        .iter()
        .map(|i| i.number)
        .collect();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>(), "numbers 1..=50 with no gap");
    let next = f.issue(&project, &owner, "After").await;
    assert_eq!(next.number, 51);
}

fn retitle(title: &str) -> IssuePatch {
    IssuePatch { title: Some(IssueTitle::new(title).unwrap()), ..IssuePatch::default() }
}

pub async fn unconditional_updates_all_win_under_contention<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let issue = f.issue(&project, &owner, "Contended").await;
    let f = std::sync::Arc::new(f);
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (f, owner, project) = (f.clone(), owner.id, project.clone());
        writers.spawn(async move {
            f.issues
                .update(owner, &project_ref(&project), 1, &retitle(&format!("Title {n}")), None)
                .await
        });
    }
    for outcome in writers.join_all().await {
        assert!(outcome.is_ok(), "no unconditional write fails because of another: {outcome:?}");
    }
    let stored = f.stored_issue(&project, &owner, 1).await;
    assert_eq!(stored.version, issue.version + 20, "one version bump per write");
    let kinds = f.event_kinds(&issue).await;
    assert_eq!(kinds.len(), 21);
    assert_eq!(kinds[0], EventKind::Created);
    assert!(kinds[1..].iter().all(|k| *k == EventKind::Updated));
}

pub async fn a_refused_decision_writes_nothing<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let issue = f.issue(&project, &owner, "Guarded").await;
    let stale = Precondition::OneOf(vec![issue.version + 1]);
    let refused =
        f.issues.update(owner.id, &project_ref(&project), 1, &retitle("Lost"), Some(&stale)).await;
    assert!(matches!(refused, Err(DomainError::VersionMismatch)), "{refused:?}");
    // A decision that writes nothing leaves the issue as it is: no bump, no event.
    let unchanged = f
        .issue_repo()
        .update(
            issue.id,
            project.id,
            owner.id,
            &|_: &Issue| -> Result<Option<IssueEdit>, DomainError> { Ok(None) },
        )
        .await
        .unwrap();
    assert!(matches!(unchanged, UpdateOutcome::Unchanged(ref i) if i.version == issue.version));
    let stored = f.stored_issue(&project, &owner, 1).await;
    assert_eq!((stored.title.as_str(), stored.version), ("Guarded", issue.version));
    assert_eq!(f.event_kinds(&issue).await, [EventKind::Created]);
}

/// Walks `sort` in pages of 7, creating three issues after the first page; returns the
/// numbers seen.
async fn walk_with_inserts<S: Store>(
    f: &Fixture<S>,
    project: &rhythm_domain::project::Project,
    user: &rhythm_domain::user::User,
    sort: IssueSort,
) -> Vec<i64> {
    let mut page = PageRequest::first(Limit::new(7).unwrap());
    let mut seen = Vec::new();
    let mut inserted = false;
    loop {
        let found = f
            .issue_repo()
            .list(&project_ref(project), user.id, &IssueFilter::default(), sort, &page)
            .await
            .unwrap()
            .unwrap()
            .value;
        seen.extend(found.items.iter().map(|i| i.number));
        if !inserted {
            for n in 0..3 {
                f.issue(project, user, &format!("Inserted {n}")).await;
            }
            inserted = true;
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => return seen,
        }
    }
}

pub async fn keyset_walks_neither_repeat_nor_skip_with_inserts_between_pages<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    for n in 0..20 {
        f.issue(&project, &owner, &format!("Issue {n}")).await;
    }
    // Newest first: the inserts are newer than the cursor, so the walk goes on with the
    // issues that were there; timestamps must round-trip through the cursor exactly.
    let newest_first = IssueSort { field: IssueSortField::CreatedAt, descending: true };
    let seen = walk_with_inserts(&f, &project, &owner, newest_first).await;
    assert_eq!(seen, (1..=20).rev().collect::<Vec<_>>());
    // Oldest first: the inserts come after everything, so the walk reaches them too.
    let oldest_first = IssueSort { field: IssueSortField::CreatedAt, descending: false };
    let seen = walk_with_inserts(&f, &project, &owner, oldest_first).await;
    assert_eq!(seen, (1..=26).collect::<Vec<_>>());
    // Rank order: new issues land at the bottom.
    let by_rank = IssueSort { field: IssueSortField::Rank, descending: false };
    let seen = walk_with_inserts(&f, &project, &owner, by_rank).await;
    assert_eq!(seen, (1..=29).collect::<Vec<_>>());
}

pub async fn delete_and_restore_bump_the_version_and_record_events<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let issue = f.issue(&project, &owner, "Short-lived").await;
    let deleted = f.issue_repo().set_deleted(issue.id, true, owner.id).await.unwrap().unwrap();
    assert_eq!(deleted.version, issue.version + 1);
    assert!(
        f.issue_repo().set_deleted(issue.id, true, owner.id).await.unwrap().is_none(),
        "already deleted"
    );
    assert!(f.all_issues(&project, &owner, IssueSortField::Number).await.is_empty());
    let gone = f
        .issue_repo()
        .update(
            issue.id,
            project.id,
            owner.id,
            &|i: &Issue| -> Result<Option<IssueEdit>, DomainError> {
                Ok(Some(IssueEdit::apply(i, &retitle("X"))))
            },
        )
        .await
        .unwrap();
    assert_eq!(gone, UpdateOutcome::Gone, "a deleted issue takes no update");
    let restored = f.issue_repo().set_deleted(issue.id, false, owner.id).await.unwrap().unwrap();
    assert_eq!(
        (restored.version, restored.rank.as_str()),
        (issue.version + 2, issue.rank.as_str())
    );
    assert_eq!(
        f.event_kinds(&issue).await,
        [EventKind::Created, EventKind::Deleted, EventKind::Restored]
    );
}

pub async fn refused_references_and_missing_rows_give_the_documented_errors<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let viewer = f.user("viewer").await;
    let project = f.project(&owner).await;
    f.member(&project, &viewer, Role::Viewer).await;
    // A viewer cannot be assigned; a sprint of no project is no sprint.
    let mut issue = new_issue("Refs");
    issue.assignee_id = Some(viewer.id);
    issue.sprint_id = Some(Uuid::now_v7());
    match f.issue_repo().create(project.id, &issue, owner.id).await.unwrap() {
        CreateOutcome::InvalidRefs(refs) => assert!(refs.assignee && refs.sprint, "{refs:?}"),
        other => panic!("expected invalid references, got {other:?}"),
    }
    // The same check on update, under the issue's lock.
    let created = f.issue(&project, &owner, "Plain").await;
    assert_eq!(created.number, 1, "the refused create took no number");
    let assign_viewer = IssuePatch { assignee_id: Some(Some(viewer.id)), ..IssuePatch::default() };
    let outcome = f
        .issue_repo()
        .update(created.id, project.id, owner.id, &move |i: &Issue| -> Result<
            Option<IssueEdit>,
            DomainError,
        > {
            Ok(Some(IssueEdit::apply(i, &assign_viewer)))
        })
        .await
        .unwrap();
    assert!(matches!(outcome, UpdateOutcome::InvalidRefs(r) if r.assignee && !r.sprint));
    // A project that does not exist.
    let missing = f.issue_repo().create(Uuid::now_v7(), &new_issue("Nowhere"), owner.id).await;
    assert!(matches!(missing, Err(RepoError::NotFound)), "{missing:?}");
    // Outsiders see no project; members see no issue that is not there.
    let outsider = f.user("outsider").await;
    let scope = project_ref(&project);
    let live = rhythm_domain::issue::Deleted::Exclude;
    assert!(f.issue_repo().find(&scope, 1, outsider.id, live).await.unwrap().is_none());
    let absent = f.issue_repo().find(&scope, 99, owner.id, live).await.unwrap();
    assert!(absent.unwrap().value.is_none());
    // Resolving sets resolved_at, reopening clears it.
    let done = IssuePatch { status: Some(IssueStatus::Done), ..IssuePatch::default() };
    let resolved = f.issues.update(owner.id, &project_ref(&project), 1, &done, None).await.unwrap();
    assert!(resolved.resolved_at.is_some());
    let reopen = IssuePatch { status: Some(IssueStatus::Todo), ..IssuePatch::default() };
    let reopened =
        f.issues.update(owner.id, &project_ref(&project), 1, &reopen, None).await.unwrap();
    assert!(reopened.resolved_at.is_none());
}
