//! Sprints: one active per project, completion, the state machine.

use rhythm_domain::error::{Conflict, RepoError};
use rhythm_domain::issue::{IssuePatch, IssueSortField};
use rhythm_domain::ports::{SprintRepository, Store};
use rhythm_domain::sprint::{CompletionTarget, NewSprint, Sprint};
use rhythm_domain::values::{IssueStatus, SprintGoal, SprintName, SprintState};
use uuid::Uuid;

use crate::fixture::{Fixture, project_ref};

fn new_sprint(name: &str) -> NewSprint {
    NewSprint {
        id: Uuid::now_v7(),
        name: SprintName::new(name).unwrap(),
        goal: SprintGoal::new("").unwrap(),
        starts_on: None,
        ends_on: None,
    }
}

async fn sprint<S: Store>(f: &Fixture<S>, project_id: Uuid, name: &str) -> Sprint {
    f.sprint_repo().create(project_id, &new_sprint(name)).await.unwrap()
}

pub async fn of_concurrent_starts_exactly_one_wins<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..8 {
        let planned = sprint(&f, project.id, &format!("Sprint {n}")).await;
        let store: std::sync::Arc<dyn SprintRepository> = f.store.clone();
        starts.spawn(async move { store.start(planned.project_id, planned.id).await });
    }
    let outcomes = starts.join_all().await;
    let started = outcomes.iter().filter(|o| matches!(o, Ok(s) if s.state == SprintState::Active));
    assert_eq!(started.count(), 1, "{outcomes:?}");
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(RepoError::Conflict(Conflict::ActiveSprintExists))))
        .count();
    assert_eq!(refused, 7, "{outcomes:?}");
}

pub async fn completing_a_sprint_moves_only_unresolved_issues<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let current = sprint(&f, project.id, "Current").await;
    let next = sprint(&f, project.id, "Next").await;
    for n in 1..=3 {
        f.issue(&project, &owner, &format!("Issue {n}")).await;
        let patch = IssuePatch {
            sprint_id: Some(Some(current.id)),
            story_points: Some(Some(rhythm_domain::values::StoryPoints::new(n).unwrap())),
            status: (n == 3).then_some(IssueStatus::Done),
            ..IssuePatch::default()
        };
        f.issues.update(owner.id, &project_ref(&project), n, &patch, None).await.unwrap();
    }
    f.sprint_repo().start(project.id, current.id).await.unwrap();
    let completion = f
        .sprint_repo()
        .complete(project.id, current.id, CompletionTarget::Sprint(next.id), owner.id)
        .await
        .unwrap();
    assert_eq!(completion.sprint.state, SprintState::Closed);
    assert!(completion.sprint.completed_at.is_some());
    assert_eq!(
        (completion.completed_issues, completion.completed_points, completion.moved_issues),
        (1, 3, 2)
    );
    let sprints: Vec<Option<Uuid>> = f
        .all_issues(&project, &owner, IssueSortField::Number)
        .await
        .iter()
        .map(|i| i.sprint_id)
        .collect();
    assert_eq!(sprints, [Some(next.id), Some(next.id), Some(current.id)]);
    // The moved issues record it.
    let first = f.stored_issue(&project, &owner, 1).await;
    assert_eq!(
        *f.event_kinds(&first).await.last().unwrap(),
        rhythm_domain::issue::EventKind::Moved
    );
    // A closed sprint takes no issue.
    let into_closed = IssuePatch { sprint_id: Some(Some(current.id)), ..IssuePatch::default() };
    let refused = f.issues.update(owner.id, &project_ref(&project), 1, &into_closed, None).await;
    assert!(refused.is_err(), "{refused:?}");
}

pub async fn sprint_state_machine_refuses_what_it_must<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let planned = sprint(&f, project.id, "Planned").await;
    let invalid =
        |r: &Result<_, RepoError>| matches!(r, Err(RepoError::Conflict(Conflict::InvalidState)));
    let early =
        f.sprint_repo().complete(project.id, planned.id, CompletionTarget::Backlog, owner.id).await;
    assert!(invalid(&early.map(|_| ())), "only an active sprint completes");
    f.sprint_repo().start(project.id, planned.id).await.unwrap();
    let twice = f.sprint_repo().start(project.id, planned.id).await;
    assert!(invalid(&twice.map(|_| ())), "only a planned sprint starts");
    let delete_active = f.sprint_repo().delete(project.id, planned.id, owner.id).await;
    assert!(invalid(&delete_active), "only a planned sprint is deleted");
    let nowhere = f
        .sprint_repo()
        .complete(project.id, planned.id, CompletionTarget::Sprint(Uuid::now_v7()), owner.id)
        .await;
    assert!(matches!(nowhere, Err(RepoError::NotFound)), "the target must be a planned sprint");
    let unknown = f.sprint_repo().start(project.id, Uuid::now_v7()).await;
    assert!(matches!(unknown, Err(RepoError::NotFound)));
    f.sprint_repo()
        .complete(project.id, planned.id, CompletionTarget::Backlog, owner.id)
        .await
        .unwrap();
    // A planned sprint's deletion sends its issues back to the backlog.
    let later = sprint(&f, project.id, "Later").await;
    f.issue(&project, &owner, "Planned work").await;
    let into_later = IssuePatch { sprint_id: Some(Some(later.id)), ..IssuePatch::default() };
    f.issues.update(owner.id, &project_ref(&project), 1, &into_later, None).await.unwrap();
    f.sprint_repo().delete(project.id, later.id, owner.id).await.unwrap();
    assert_eq!(f.stored_issue(&project, &owner, 1).await.sprint_id, None);
    assert!(f.sprint_repo().find(project.id, later.id).await.unwrap().is_none());
}
