//! Placement against an in-memory project: the reader answers from a rank-ordered map, as
//! a store answers from its rank index.

use std::collections::BTreeMap;

use super::*;

struct Stored {
    id: Uuid,
    number: i64,
    status: IssueStatus,
    live: bool,
}

/// A project's issues by rank, and the moved issue the reader leaves out.
struct Memory {
    by_rank: BTreeMap<String, Stored>,
    moved: Uuid,
    next_number: i64,
}

impl Memory {
    fn new(issues: &[(&str, IssueStatus)]) -> Self {
        let mut by_rank = BTreeMap::new();
        for (n, (rank, status)) in issues.iter().enumerate() {
            let number = i64::try_from(n).unwrap() + 1;
            let stored = Stored { id: Uuid::now_v7(), number, status: *status, live: true };
            by_rank.insert((*rank).to_owned(), stored);
        }
        let next_number = i64::try_from(issues.len()).unwrap() + 1;
        Self { by_rank, moved: Uuid::nil(), next_number }
    }

    fn others(&self) -> impl DoubleEndedIterator<Item = (&String, &Stored)> {
        self.by_rank.iter().filter(|(_, s)| s.id != self.moved)
    }

    fn number_at(&self, rank: &str) -> i64 {
        self.by_rank[rank].number
    }

    /// Moves issue `number` as a store would: place, then write.
    async fn apply(
        &mut self,
        number: i64,
        anchor: Anchor,
        status: Option<IssueStatus>,
    ) -> Placement {
        let (rank, stored) = self
            .by_rank
            .iter()
            .find(|(_, s)| s.number == number)
            .map(|(r, s)| (r.clone(), s.id))
            .unwrap();
        self.moved = stored;
        let current_status = self.by_rank[&rank].status;
        let mv = Move {
            issue_id: stored,
            project_id: Uuid::nil(),
            status,
            anchor,
            actor_id: Uuid::nil(),
        };
        let placement = place(self, &mv, current_status, &rank).await.unwrap();
        let writes = match &placement {
            Placement::Rank(new) => vec![(stored, new.clone())],
            Placement::Respaced { rank, rewrites } => {
                assert!(rewrites.contains(&(stored, rank.clone())));
                rewrites.clone()
            }
            Placement::AnchorMissing => Vec::new(),
        };
        let mut taken: BTreeMap<Uuid, (String, Stored)> = BTreeMap::new();
        for (id, _) in &writes {
            let old =
                self.by_rank.iter().find(|(_, s)| s.id == *id).map(|(r, _)| r.clone()).unwrap();
            let stored = self.by_rank.remove(&old).unwrap();
            taken.insert(*id, (old, stored));
        }
        for (id, new_rank) in writes {
            let (_, mut stored) = taken.remove(&id).unwrap();
            if id == self.moved {
                stored.status = status.unwrap_or(stored.status);
            }
            assert!(self.by_rank.insert(new_rank, stored).is_none(), "ranks must stay unique");
        }
        self.moved = Uuid::nil();
        placement
    }

    fn column(&self, status: IssueStatus) -> Vec<i64> {
        self.by_rank.values().filter(|s| s.live && s.status == status).map(|s| s.number).collect()
    }
}

#[async_trait]
impl RankReader for Memory {
    async fn anchor_rank(
        &mut self,
        number: i64,
        status: IssueStatus,
    ) -> Result<Option<String>, RepoError> {
        Ok(self
            .others()
            .find(|(_, s)| s.number == number && s.status == status && s.live)
            .map(|(r, _)| r.clone()))
    }

    async fn nearest(&mut self, rank: &str, side: Side) -> Result<Option<String>, RepoError> {
        let found = match side {
            Side::Lower => self.others().rev().find(|(r, _)| r.as_str() < rank),
            Side::Higher => self.others().find(|(r, _)| r.as_str() > rank),
        };
        Ok(found.map(|(r, _)| r.clone()))
    }

    async fn column_last(&mut self, status: IssueStatus) -> Result<Option<String>, RepoError> {
        Ok(self.others().rev().find(|(_, s)| s.status == status && s.live).map(|(r, _)| r.clone()))
    }

    async fn next_new_rank(&mut self) -> Result<String, RepoError> {
        Ok(rank::for_position(self.next_number))
    }

    async fn run(
        &mut self,
        from: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<(Uuid, String)>, RepoError> {
        let pick = |(r, s): (&String, &Stored)| (s.id, r.clone());
        Ok(match side {
            Side::Lower => self
                .others()
                .rev()
                .filter(|(r, _)| r.as_str() <= from)
                .take(limit)
                .map(pick)
                .collect(),
            Side::Higher => {
                self.others().filter(|(r, _)| r.as_str() >= from).take(limit).map(pick).collect()
            }
        })
    }
}

fn todo_project(n: i64) -> Memory {
    let ranks: Vec<String> = (1..=n).map(rank::for_position).collect();
    let issues: Vec<(&str, IssueStatus)> =
        ranks.iter().map(|r| (r.as_str(), IssueStatus::Todo)).collect();
    Memory::new(&issues)
}

#[tokio::test]
async fn before_after_and_bottom_put_the_issue_where_asked() {
    let mut project = todo_project(4);
    project.apply(4, Anchor::Before(1), None).await;
    assert_eq!(project.column(IssueStatus::Todo), [4, 1, 2, 3]);
    project.apply(4, Anchor::After(2), None).await;
    assert_eq!(project.column(IssueStatus::Todo), [1, 2, 4, 3]);
    project.apply(1, Anchor::Bottom, None).await;
    assert_eq!(project.column(IssueStatus::Todo), [2, 4, 3, 1]);
    // Already at the bottom: the rank stays.
    let before = project.by_rank.keys().last().cloned().unwrap();
    assert_eq!(project.apply(1, Anchor::Bottom, None).await, Placement::Rank(before));
}

#[tokio::test]
async fn a_status_change_places_within_the_new_column() {
    let mut project = todo_project(3);
    project.apply(2, Anchor::Bottom, Some(IssueStatus::Done)).await;
    assert_eq!(project.column(IssueStatus::Todo), [1, 3]);
    assert_eq!(project.column(IssueStatus::Done), [2]);
    project.apply(3, Anchor::Before(2), Some(IssueStatus::Done)).await;
    assert_eq!(project.column(IssueStatus::Done), [3, 2]);
    // The anchor must be in the target column.
    assert_eq!(project.apply(1, Anchor::After(3), None).await, Placement::AnchorMissing);
    assert_eq!(project.column(IssueStatus::Todo), [1]);
}

#[tokio::test]
async fn moves_into_one_crowded_spot_respace_and_keep_every_other_issue_in_order() {
    let mut project = todo_project(40);
    let mut respaced = 0;
    // Move the last issue to just below issue 1 again and again: each move halves the gap.
    for round in 0..2000 {
        let moved = if round % 2 == 0 { 40 } else { 39 };
        match project.apply(moved, Anchor::After(1), None).await {
            Placement::Respaced { rewrites, .. } => {
                respaced += 1;
                assert!(rewrites.len() <= 2 * RESPACE_WINDOW + 1, "only a window is rewritten");
            }
            Placement::Rank(rank) => assert!(rank.len() <= rank::REBALANCE_ABOVE),
            Placement::AnchorMissing => panic!("the anchor is there"),
        }
        let column = project.column(IssueStatus::Todo);
        assert_eq!(column[0], 1);
        assert_eq!(column[1], moved);
        let rest: Vec<i64> = column.iter().copied().filter(|n| *n < 39 && *n > 1).collect();
        assert_eq!(rest, (2..39).collect::<Vec<_>>(), "the others keep their order");
    }
    assert!(respaced > 0, "a narrowing gap must be respaced");
    assert!(project.by_rank.keys().all(|r| r.len() <= rank::REBALANCE_ABOVE));
    // Every rank stays below the next new issue's.
    let top = rank::for_position(project.next_number);
    assert!(project.by_rank.keys().all(|r| r.as_str() < top.as_str()));
}

#[tokio::test]
async fn deleted_issues_keep_their_ranks_out_of_the_way() {
    let mut project = todo_project(3);
    let rank_of_2 =
        project.by_rank.iter().find(|(_, s)| s.number == 2).map(|(r, _)| r.clone()).unwrap();
    project.by_rank.get_mut(&rank_of_2).unwrap().live = false;
    // Below 1 is the deleted 2's rank: the new rank goes between 1 and 2, never onto 2's.
    project.apply(3, Anchor::After(1), None).await;
    assert!(project.by_rank.contains_key(&rank_of_2));
    assert_eq!(project.number_at(&rank_of_2), 2);
    assert_eq!(project.column(IssueStatus::Todo), [1, 3]);
    // A deleted issue is no anchor.
    assert_eq!(project.apply(3, Anchor::Before(2), None).await, Placement::AnchorMissing);
}

#[test]
fn a_move_records_its_rank_and_a_changed_status() {
    let same = move_changes(IssueStatus::Todo, IssueStatus::Todo, "a", "b");
    assert_eq!(same.keys().collect::<Vec<_>>(), ["rank"]);
    let changed = move_changes(IssueStatus::Todo, IssueStatus::Done, "a", "b");
    assert_eq!(changed.keys().collect::<Vec<_>>(), ["rank", "status"]);
}
