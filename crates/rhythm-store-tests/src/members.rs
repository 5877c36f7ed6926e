//! Memberships: the last-owner rule under concurrency, leaving, documented errors.

use std::sync::Arc;

use rhythm_domain::error::{Conflict, DomainError, RepoError};
use rhythm_domain::issue::{EventKind, IssuePatch};
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::Store;
use rhythm_domain::values::{IssueStatus, Role};
use uuid::Uuid;

use crate::fixture::{Fixture, project_ref};

pub async fn two_owners_demoting_each_other_leave_one_owner<S: Store>(store: S) {
    let f = Arc::new(Fixture::new(store));
    for _ in 0..10 {
        let ann = f.user("ann").await;
        let bob = f.user("bob").await;
        let project = f.project(&ann).await;
        f.member(&project, &bob, Role::Owner).await;
        let (f1, f2) = (f.clone(), f.clone());
        let (p1, p2) = (project_ref(&project), project_ref(&project));
        let (a, b) = (ann.id, bob.id);
        let (first, second) = tokio::join!(
            tokio::spawn(async move { f1.projects.change_role(a, &p1, b, Role::Member).await }),
            tokio::spawn(async move { f2.projects.change_role(b, &p2, a, Role::Member).await }),
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "exactly one demotion goes through: {outcomes:?}");
        // The other was decided after it: its actor is no owner any more.
        assert!(outcomes.iter().any(|o| matches!(o, Err(DomainError::Forbidden))), "{outcomes:?}");
        let members =
            f.member_repo().list(project.id, &PageRequest::first(Limit::new(10).unwrap())).await;
        let owners = members.unwrap().items.iter().filter(|m| m.role == Role::Owner).count();
        assert_eq!(owners, 1);
    }
}

pub async fn a_removed_member_loses_open_issues_but_keeps_resolved_ones<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let dev = f.user("dev").await;
    let project = f.project(&owner).await;
    f.member(&project, &dev, Role::Member).await;
    let open = f.issue(&project, &owner, "Open").await;
    let done = f.issue(&project, &owner, "Done").await;
    let assign = IssuePatch { assignee_id: Some(Some(dev.id)), ..IssuePatch::default() };
    for number in [1, 2] {
        f.issues.update(owner.id, &project_ref(&project), number, &assign, None).await.unwrap();
    }
    let resolve = IssuePatch { status: Some(IssueStatus::Done), ..IssuePatch::default() };
    f.issues.update(owner.id, &project_ref(&project), 2, &resolve, None).await.unwrap();
    f.projects.remove_member(owner.id, &project_ref(&project), dev.id).await.unwrap();
    let open_now = f.stored_issue(&project, &owner, 1).await;
    assert_eq!((open_now.assignee_id, open_now.version), (None, open.version + 2));
    assert_eq!(*f.event_kinds(&open).await.last().unwrap(), EventKind::Updated);
    let done_now = f.stored_issue(&project, &owner, 2).await;
    assert_eq!((done_now.assignee_id, done_now.version), (Some(dev.id), done.version + 2));
    assert!(f.member_repo().find(project.id, dev.id).await.unwrap().is_none());
    // The last owner cannot leave.
    let refused = f.projects.remove_member(owner.id, &project_ref(&project), owner.id).await;
    assert!(matches!(refused, Err(DomainError::Conflict(Conflict::LastOwner))), "{refused:?}");
}

pub async fn membership_errors_are_the_documented_ones<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let again = f.member_repo().add(project.id, owner.id, Role::Member).await;
    assert!(matches!(again, Err(RepoError::Conflict(Conflict::AlreadyMember))), "{again:?}");
    let nobody = f.member_repo().add(project.id, Uuid::now_v7(), Role::Member).await;
    assert!(matches!(nobody, Err(RepoError::NotFound)), "{nobody:?}");
    let taken = f
        .project_repo()
        .create(
            &rhythm_domain::project::NewProject {
                id: Uuid::now_v7(),
                key: rhythm_domain::values::ProjectKey::parse(&project.key).unwrap(),
                name: rhythm_domain::values::ProjectName::new("Again").unwrap(),
                description: rhythm_domain::values::ProjectDescription::new("").unwrap(),
            },
            owner.id,
        )
        .await;
    assert!(matches!(taken, Err(RepoError::Conflict(Conflict::ProjectKeyTaken))), "{taken:?}");
    // Members come in the order they were added, and the walk pages through them.
    let mut added = vec![owner.id];
    for n in 0..4 {
        let user = f.user(&format!("m{n}")).await;
        f.member(&project, &user, Role::Viewer).await;
        added.push(user.id);
    }
    let mut page = PageRequest::first(Limit::new(2).unwrap());
    let mut seen = Vec::new();
    loop {
        let found = f.member_repo().list(project.id, &page).await.unwrap();
        seen.extend(found.items.iter().map(|m| m.user.id));
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, added);
    // An archived project is gone for everyone, its key still reserved.
    f.project_repo().archive(project.id).await.unwrap();
    let scope = project_ref(&project);
    assert!(f.project_repo().access(&scope, owner.id).await.unwrap().is_none());
}
