//! Full-text search: what matches, in which order, and for whom. Scores may differ between
//! adapters; what every adapter must keep is the order the port documents.

use rhythm_domain::error::DomainError;
use rhythm_domain::issue::{IssueFilter, IssuePatch};
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::Store;
use rhythm_domain::search::{KEY_MATCH_SCORE, SearchQuery};
use rhythm_domain::values::{IssueDescription, ProjectRef};

use crate::fixture::{Fixture, project_ref};

fn text(query: &str) -> IssueFilter {
    IssueFilter { text: Some(SearchQuery::parse(query).unwrap()), ..IssueFilter::default() }
}

/// The keys of every hit of `query` for `user`, best first.
async fn hits<S: Store>(
    f: &Fixture<S>,
    user: uuid::Uuid,
    project: Option<ProjectRef>,
    query: &str,
) -> Vec<(String, f32)> {
    let page = PageRequest::first(Limit::new(50).unwrap());
    let found = f.search.search(user, project, &text(query), &page).await.unwrap();
    found.items.iter().map(|h| (h.issue.key.clone(), h.score)).collect()
}

fn keys(hits: &[(String, f32)]) -> Vec<&str> {
    hits.iter().map(|(k, _)| k.as_str()).collect()
}

pub async fn matches_rank_keys_first_and_leave_out_what_matches_nothing<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let key = project.key.clone();
    for title in
        ["Login page broken", "Logout fails on mobile", "Billing export", "Login login login"]
    {
        f.issue(&project, &owner, title).await;
    }
    let describe = IssuePatch {
        description: Some(IssueDescription::new("The login button does nothing").unwrap()),
        ..IssuePatch::default()
    };
    f.issues.update(owner.id, &project_ref(&project), 3, &describe, None).await.unwrap();
    let scope = Some(project_ref(&project));

    let login = hits(&f, owner.id, scope.clone(), "login").await;
    let mut found = keys(&login);
    found.sort_unstable();
    let mut expected = [format!("{key}-1"), format!("{key}-3"), format!("{key}-4")];
    expected.sort_unstable();
    assert_eq!(
        found,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "title and description match"
    );
    assert!(login.windows(2).all(|w| w[0].1 >= w[1].1), "best first: {login:?}");
    assert!(login.iter().all(|(_, s)| (0.0..KEY_MATCH_SCORE).contains(s)), "{login:?}");
    // A title match ranks above a description-only match.
    let position = |k: &str| keys(&login).iter().position(|x| *x == k).unwrap();
    assert!(position(&format!("{key}-1")) < position(&format!("{key}-3")));

    // The last word is a prefix.
    let mut prefix = keys(&hits(&f, owner.id, scope.clone(), "log").await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    prefix.sort_unstable();
    assert_eq!(prefix.len(), 4, "login in titles and a description, and logout: {prefix:?}");
    // Exclusion.
    let without = hits(&f, owner.id, scope.clone(), "login -broken").await;
    assert!(!keys(&without).contains(&format!("{key}-1").as_str()));
    assert!(keys(&without).contains(&format!("{key}-4").as_str()));
    // Nothing but exclusions, or nothing but stop words: nothing.
    assert!(hits(&f, owner.id, scope.clone(), "-login").await.is_empty());
    assert!(hits(&f, owner.id, scope.clone(), "the -login").await.is_empty());
    // The key of an issue puts that issue first, with the key-match score.
    let by_key = hits(&f, owner.id, scope.clone(), &format!("{}-2", key.to_lowercase())).await;
    assert_eq!(
        by_key.first().map(|(k, s)| (k.as_str(), *s)),
        Some((format!("{key}-2").as_str(), KEY_MATCH_SCORE))
    );
}

pub async fn a_walk_through_hits_is_stable_while_issues_are_created<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    for n in 0..15 {
        f.issue(&project, &owner, &format!("Deploy pipeline step {n}")).await;
    }
    let filter = text("pipeline");
    let mut page = PageRequest::first(Limit::new(4).unwrap());
    let mut seen = Vec::new();
    let mut inserted = false;
    loop {
        let found = f.search.search(owner.id, None, &filter, &page).await.unwrap();
        seen.extend(found.items.iter().map(|h| h.issue.number));
        if !inserted {
            for n in 0..3 {
                f.issue(&project, &owner, &format!("Pipeline added later {n}")).await;
            }
            inserted = true;
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=15).collect::<Vec<_>>(),
        "every issue once, none created later: {seen:?}"
    );
    // A new walk sees them.
    assert_eq!(hits(&f, owner.id, None, "pipeline").await.len(), 18);
}

pub async fn search_sees_only_the_callers_projects<S: Store>(store: S) {
    let f = Fixture::new(store);
    let ann = f.user("ann").await;
    let bob = f.user("bob").await;
    let ours = f.project(&ann).await;
    let theirs = f.project(&bob).await;
    f.issue(&ours, &ann, "Quarterly roadmap").await;
    f.issue(&theirs, &bob, "Quarterly roadmap").await;
    let everywhere = hits(&f, ann.id, None, "roadmap").await;
    assert_eq!(keys(&everywhere), [format!("{}-1", ours.key).as_str()]);
    let page = PageRequest::first(Limit::new(10).unwrap());
    let refused =
        f.search.search(ann.id, Some(project_ref(&theirs)), &text("roadmap"), &page).await;
    assert!(matches!(refused, Err(DomainError::NotFound)), "{refused:?}");
    // An archived project drops out of search.
    f.project_repo().archive(ours.id).await.unwrap();
    assert!(hits(&f, ann.id, None, "roadmap").await.is_empty());
}
