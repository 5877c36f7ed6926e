//! Boards: ranks of new issues, concurrent moves, respacing, the board's columns.

use rhythm_domain::board::{Anchor, Move, MoveOutcome};
use rhythm_domain::issue::{IssueFilter, IssueSortField};
use rhythm_domain::ports::{BoardRepository, Store};
use rhythm_domain::values::IssueStatus;

use crate::fixture::{Fixture, project_ref};

fn move_to(
    issue: &rhythm_domain::issue::Issue,
    anchor: Anchor,
    status: Option<IssueStatus>,
    actor: uuid::Uuid,
) -> Move {
    Move { issue_id: issue.id, project_id: issue.project_id, status, anchor, actor_id: actor }
}

pub async fn a_new_issue_ranks_above_every_existing_rank<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut issues = Vec::new();
    for n in 1..=4 {
        issues.push(f.issue(&project, &owner, &format!("Issue {n}")).await);
    }
    // Issue 1 to the bottom, issue 2 deleted: ranks stay unique, deleted issues included.
    let moved = f
        .board_repo()
        .move_issue(&move_to(&issues[0], Anchor::Bottom, None, owner.id))
        .await
        .unwrap();
    assert!(matches!(moved, MoveOutcome::Moved(_)));
    f.issue_repo().set_deleted(issues[1].id, true, owner.id).await.unwrap();
    let fifth = f.issue(&project, &owner, "Issue 5").await;
    let mut ranks = Vec::new();
    for n in 1..=4 {
        ranks.push(f.stored_issue(&project, &owner, n).await.rank);
    }
    assert!(
        ranks.iter().all(|r| r.as_bytes() < fifth.rank.as_bytes()),
        "{ranks:?} < {}",
        fifth.rank
    );
    ranks.push(fifth.rank);
    let mut unique = ranks.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ranks.len(), "ranks are unique per project: {ranks:?}");
    let order: Vec<i64> = f
        .all_issues(&project, &owner, IssueSortField::Rank)
        .await
        .iter()
        .map(|i| i.number)
        .collect();
    assert_eq!(order, [3, 4, 1, 5]);
}

pub async fn moves_land_directly_beside_their_anchor<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut issues = Vec::new();
    for n in 1..=6 {
        issues.push(f.issue(&project, &owner, &format!("Issue {n}")).await);
    }
    let order = async || -> Vec<i64> {
        f.all_issues(&project, &owner, IssueSortField::Rank)
            .await
            .iter()
            .map(|i| i.number)
            .collect()
    };
    let steps = [
        (5, Anchor::Before(3), [1, 2, 5, 3, 4, 6]),
        (1, Anchor::After(3), [2, 5, 3, 1, 4, 6]),
        (6, Anchor::Before(2), [6, 2, 5, 3, 1, 4]),
        (2, Anchor::After(4), [6, 5, 3, 1, 4, 2]),
        (6, Anchor::Bottom, [5, 3, 1, 4, 2, 6]),
        (4, Anchor::Before(5), [4, 5, 3, 1, 2, 6]),
    ];
    for (number, anchor, expected) in steps {
        let issue = &issues[usize::try_from(number - 1).unwrap()];
        let outcome = f.board_repo().move_issue(&move_to(issue, anchor, None, owner.id)).await;
        assert!(matches!(outcome, Ok(MoveOutcome::Moved(_))), "{outcome:?}");
        assert_eq!(order().await, expected, "after moving {number} to {anchor:?}");
    }
}

pub async fn concurrent_moves_into_one_spot_get_distinct_ordered_ranks<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut issues = Vec::new();
    for n in 1..=22 {
        issues.push(f.issue(&project, &owner, &format!("Issue {n}")).await);
    }
    // Half of them start in another column.
    for issue in issues[2..].iter().filter(|i| i.number % 2 == 0) {
        let mv = move_to(issue, Anchor::Bottom, Some(IssueStatus::InProgress), owner.id);
        assert!(matches!(f.board_repo().move_issue(&mv).await.unwrap(), MoveOutcome::Moved(_)));
    }
    // Issues 3..=22 all go directly below issue 1 at once.
    let mut moves = tokio::task::JoinSet::new();
    for issue in &issues[2..] {
        let store: std::sync::Arc<dyn BoardRepository> = f.store.clone();
        let status = (issue.number % 2 == 0).then_some(IssueStatus::Todo);
        let mv = move_to(issue, Anchor::After(1), status, owner.id);
        moves.spawn(async move { store.move_issue(&mv).await });
    }
    for outcome in moves.join_all().await {
        assert!(matches!(outcome, Ok(MoveOutcome::Moved(_))), "{outcome:?}");
    }
    let order = f.all_issues(&project, &owner, IssueSortField::Rank).await;
    let numbers: Vec<i64> = order.iter().map(|i| i.number).collect();
    assert_eq!(numbers.len(), 22);
    assert_eq!(numbers[0], 1, "issue 1 stays first");
    assert_eq!(*numbers.last().unwrap(), 2, "issue 2, not moved, is now last");
    let mut moved: Vec<i64> = numbers[1..21].to_vec();
    moved.sort_unstable();
    assert_eq!(moved, (3..=22).collect::<Vec<_>>(), "every moved issue is between 1 and 2");
    let ranks: Vec<&str> = order.iter().map(|i| i.rank.as_str()).collect();
    assert!(
        ranks.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "strictly ordered: {ranks:?}"
    );
}

pub async fn respacing_keeps_the_order_and_bumps_no_neighbour<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut issues = Vec::new();
    for n in 1..=40 {
        issues.push(f.issue(&project, &owner, &format!("Issue {n}")).await);
    }
    let rank_of = |n: usize| issues[n - 1].rank.clone();
    // Issues 39 and 40 take turns directly below issue 20: each move halves the gap there,
    // until the ranks grow long enough to be respaced.
    let mut respaced = false;
    for round in 0..3000 {
        let moved = &issues[38 + round % 2];
        let outcome =
            f.board_repo().move_issue(&move_to(moved, Anchor::After(20), None, owner.id)).await;
        assert!(matches!(outcome, Ok(MoveOutcome::Moved(_))), "{outcome:?}");
        if f.stored_issue(&project, &owner, 21).await.rank != rank_of(21) {
            respaced = true;
            break;
        }
    }
    assert!(respaced, "a gap narrowed this far must have been respaced");
    let order = f.all_issues(&project, &owner, IssueSortField::Rank).await;
    let numbers: Vec<i64> = order.iter().map(|i| i.number).collect();
    let mut expected: Vec<i64> = (1..=20).collect();
    expected.extend(numbers[20..22].iter());
    expected.extend(21..=38);
    assert_eq!(numbers, expected, "the issues around the gap keep their order");
    let mut moved_pair = numbers[20..22].to_vec();
    moved_pair.sort_unstable();
    assert_eq!(moved_pair, [39, 40]);
    for issue in &order {
        assert!(issue.rank.len() <= rhythm_domain::rank::REBALANCE_ABOVE, "{}", issue.rank);
        if issue.number <= 38 {
            assert_eq!(issue.version, 1, "respacing bumps no version (issue {})", issue.number);
        }
    }
    // Only a window around the spot is rewritten: the far ends keep their ranks.
    let by_number = |n: i64| order.iter().find(|i| i.number == n).unwrap().rank.clone();
    assert_eq!(by_number(1), rank_of(1));
    assert_eq!(by_number(38), rank_of(38));
    // And a new issue still goes below them all.
    let next = f.issue(&project, &owner, "Issue 41").await;
    assert!(order.iter().all(|i| i.rank < next.rank));
}

pub async fn board_columns_count_and_order_their_issues<S: Store>(store: S) {
    let f = Fixture::new(store);
    let owner = f.user("owner").await;
    let project = f.project(&owner).await;
    let mut issues = Vec::new();
    for n in 1..=5 {
        issues.push(f.issue(&project, &owner, &format!("Issue {n}")).await);
    }
    for issue in &issues[..3] {
        let mv = move_to(issue, Anchor::Bottom, Some(IssueStatus::Done), owner.id);
        assert!(matches!(f.board_repo().move_issue(&mv).await.unwrap(), MoveOutcome::Moved(_)));
    }
    // Issue 3 to the top of done, before issue 1.
    let mv = move_to(&issues[2], Anchor::Before(1), None, owner.id);
    assert!(matches!(f.board_repo().move_issue(&mv).await.unwrap(), MoveOutcome::Moved(_)));
    // An anchor in another column is refused.
    let mv = move_to(&issues[3], Anchor::After(1), None, owner.id);
    assert_eq!(f.board_repo().move_issue(&mv).await.unwrap(), MoveOutcome::AnchorNotInColumn);
    let board = f
        .store
        .board(&project_ref(&project), owner.id, &IssueFilter::default(), 2)
        .await
        .unwrap()
        .unwrap()
        .value;
    let statuses: Vec<IssueStatus> = board.columns.iter().map(|c| c.status).collect();
    assert_eq!(statuses, IssueStatus::ALL);
    let done = board.columns.iter().find(|c| c.status == IssueStatus::Done).unwrap();
    assert_eq!(done.total, 3);
    let numbers: Vec<i64> = done.items.iter().map(|i| i.number).collect();
    assert_eq!(numbers, [3, 1], "the first two in rank order");
    assert!(done.next.is_some(), "a third one continues the column");
    let todo = board.columns.iter().find(|c| c.status == IssueStatus::Todo).unwrap();
    assert_eq!((todo.total, todo.items.len(), todo.next.is_none()), (2, 2, true));
    // Moving into done resolves; the version went up once per move.
    let third = f.stored_issue(&project, &owner, 3).await;
    assert!(third.resolved_at.is_some());
    assert_eq!(third.version, 3);
}
