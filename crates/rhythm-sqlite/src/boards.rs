//! Boards: the Kanban query (one statement for all columns) and rank moves.
//!
//! Ranks are unique per project (not per column), so a status change never collides. The
//! domain's [`placement`] decides each move's rank from the reads of [`SqliteRanks`], made
//! inside the move's write transaction: writes are serialized on the writer connection, so
//! two moves into one spot are placed one after the other and get distinct ranks.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::board::{Board, Column, Move, MoveOutcome};
use rhythm_domain::issue::{EventKind, IssueFilter, IssueKey, SortValue};
use rhythm_domain::placement::{self, Placement, RankReader, Side};
use rhythm_domain::ports::BoardRepository;
use rhythm_domain::project::Scoped;
use rhythm_domain::rank;
use rhythm_domain::values::{IssueStatus, ProjectRef};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get};
use crate::error::map_sqlx;
use crate::issues::{
    ISSUE_COLUMNS, access_from_row, access_prologue, issue_from_row, parse_status, push_filters,
    push_summary_columns, record_events,
};

#[async_trait]
impl BoardRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(per_column = per_column))]
    async fn board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Board>>, RepoError> {
        let found = self.columns(project, user, None, filter, per_column).await?;
        Ok(found.map(|scoped| Scoped {
            access: scoped.access,
            value: scoped.value.unwrap_or(Board { columns: Vec::new() }),
        }))
    }

    #[tracing::instrument(skip_all, fields(per_column = per_column))]
    async fn sprint_board(
        &self,
        project: &ProjectRef,
        user: Uuid,
        sprint_id: Uuid,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Option<Board>>>, RepoError> {
        self.columns(project, user, Some(sprint_id), filter, per_column).await
    }

    #[tracing::instrument(skip_all, fields(issue_id = %mv.issue_id))]
    async fn move_issue(&self, mv: &Move) -> Result<MoveOutcome, RepoError> {
        move_issue(self, mv).await
    }
}

impl SqliteStore {
    /// The board statement; with `sprint`, also whether the project has that sprint (the
    /// board is `None` if not). The sprint's issues are the filter's business, as on
    /// PostgreSQL (the sprint service sets it).
    async fn columns(
        &self,
        project: &ProjectRef,
        user: Uuid,
        sprint: Option<Uuid>,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Option<Board>>>, RepoError> {
        let mut qb = access_prologue(project, user);
        qb.push(", cols (column_status, ord) AS (VALUES ");
        for (n, status) in IssueStatus::ALL.iter().enumerate() {
            if n > 0 {
                qb.push(", ");
            }
            qb.push("(");
            qb.push_bind(status.as_str());
            qb.push(format!(", {n})"));
        }
        qb.push(")");
        // Per column: its total and points, kept by triggers for the whole project, else
        // counted on the board index (index-only: status, story points).
        qb.push(", totals AS (");
        if sprint.is_none() && *filter == IssueFilter::default() {
            qb.push(
                "SELECT t.status AS total_status, t.issues AS total, t.points AS points
                 FROM project_board_totals t
                 WHERE t.project_id = (SELECT access_project_id FROM access)",
            );
        } else {
            qb.push(
                "SELECT i.status AS total_status, count(*) AS total,
                        coalesce(sum(i.story_points), 0) AS points
                 FROM issues i WHERE i.project_id = (SELECT access_project_id FROM access)",
            );
            push_filters(&mut qb, filter);
            qb.push(" GROUP BY i.status");
        }
        // Then each column's first issues: one range of the board index each, in rank
        // order, stopping after one more than the column shows.
        qb.push("), items AS (");
        for (n, status) in IssueStatus::ALL.iter().enumerate() {
            if n > 0 {
                qb.push(" UNION ALL ");
            }
            qb.push("SELECT * FROM (SELECT ");
            push_summary_columns(&mut qb);
            qb.push(
                " FROM issues i WHERE i.project_id = (SELECT access_project_id FROM access)
                  AND i.status = ",
            );
            qb.push_bind(status.as_str());
            push_filters(&mut qb, filter);
            qb.push(" ORDER BY i.rank LIMIT ");
            qb.push_bind(i64::from(per_column) + 1);
            qb.push(")");
        }
        // One row per column (its total, no issue), then one per issue (no total): a
        // union, not a join of the two, which would scan the issues once per column and
        // sort them again.
        qb.push(") SELECT a.access_project_id, a.project_key, a.role, ");
        match sprint {
            Some(sprint_id) => {
                qb.push("EXISTS (SELECT 1 FROM sprints s WHERE s.id = ");
                qb.push_bind(sprint_id);
                qb.push(" AND s.project_id = a.access_project_id) AS sprint_found, ");
            }
            None => {
                qb.push("1 AS sprint_found, ");
            }
        }
        qb.push(
            "c.column_status, c.ord, coalesce(t.total, 0) AS total,
                      coalesce(t.points, 0) AS points",
        );
        for column in ISSUE_COLUMNS.split(", ") {
            let name = column.trim_start_matches("i.");
            qb.push(format!(", NULL AS {name}"));
        }
        qb.push(
            " FROM access a CROSS JOIN cols c
              LEFT JOIN totals t ON t.total_status = c.column_status
             UNION ALL
             SELECT a.access_project_id, a.project_key, a.role, 1, i.status, NULL, NULL, NULL, i.*
             FROM access a CROSS JOIN items i",
        );
        let rows = qb.build().fetch_all(&mut *self.read().await?).await.map_err(map_sqlx)?;
        // A column row, which every answer with access has.
        let mut headers =
            rows.iter().filter(|row| matches!(get::<Option<i64>>(row, "ord"), Ok(Some(_))));
        let Some(first) = headers.next() else {
            return Ok(None);
        };
        let access = access_from_row(first)?;
        if !get::<bool>(first, "sprint_found")? {
            return Ok(Some(Scoped { access, value: None }));
        }
        let project_key: String = get(first, "project_key")?;
        let mut columns: Vec<(i64, Column)> = Vec::with_capacity(IssueStatus::ALL.len());
        let mut items = Vec::new();
        for row in &rows {
            match get::<Option<i64>>(row, "ord")? {
                Some(ord) => columns.push((
                    ord,
                    Column {
                        status: parse_status(get(row, "column_status")?)?,
                        total: get(row, "total")?,
                        points: get(row, "points")?,
                        items: Vec::new(),
                        next: None,
                    },
                )),
                None => items.extend(issue_from_row(row, &project_key)?),
            }
        }
        columns.sort_by_key(|(ord, _)| *ord);
        // Ranks compare byte by byte, as the index orders them.
        items.sort_by(|a, b| a.rank.as_bytes().cmp(b.rank.as_bytes()));
        for issue in items {
            if let Some((_, column)) = columns.iter_mut().find(|(_, c)| c.status == issue.status) {
                column.items.push(issue);
            }
        }
        let per_column = usize::try_from(per_column).unwrap_or(usize::MAX);
        let columns = columns
            .into_iter()
            .map(|(_, mut column)| {
                if column.items.len() > per_column {
                    column.items.truncate(per_column);
                    column.next = column
                        .items
                        .last()
                        .map(|i| IssueKey { value: SortValue::Text(i.rank.clone()), id: i.id });
                }
                column
            })
            .collect();
        Ok(Some(Scoped { access, value: Some(Board { columns }) }))
    }
}

async fn move_issue(store: &SqliteStore, mv: &Move) -> Result<MoveOutcome, RepoError> {
    let mut tx = store.write().await?;
    let now = db::now();
    // The project (`NotFound` when gone; an archived one still has its issues) and the
    // moved issue, if live.
    let current = sqlx::query(
        "SELECT p.key AS project_key, i.status, i.rank
         FROM projects p LEFT JOIN issues i
              ON i.id = $1 AND i.project_id = p.id AND i.deleted_at IS NULL
         WHERE p.id = $2",
    )
    .bind(mv.issue_id)
    .bind(mv.project_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_sqlx)?
    .ok_or(RepoError::NotFound)?;
    let project_key: String = get(&current, "project_key")?;
    let Some(current_status) = get::<Option<&str>>(&current, "status")? else {
        return Ok(MoveOutcome::Gone);
    };
    let current_status = parse_status(current_status)?;
    let current_rank: String = get(&current, "rank")?;
    let target = mv.status.unwrap_or(current_status);
    let mut reader = SqliteRanks { conn: &mut tx, project_id: mv.project_id, moved: mv.issue_id };
    let new_rank = match placement::place(&mut reader, mv, current_status, &current_rank).await? {
        Placement::Rank(rank) => rank,
        Placement::Respaced { rank, rewrites } => {
            respace(&mut tx, mv.project_id, &rewrites).await?;
            tracing::info!(project_id = %mv.project_id, rewritten = rewrites.len(), "respaced ranks");
            rank
        }
        Placement::AnchorMissing => return Ok(MoveOutcome::AnchorNotInColumn),
    };
    let row = sqlx::query(
        "UPDATE issues SET status = $2, rank = $3,
             resolved_at = CASE WHEN $4 THEN coalesce(resolved_at, $5) END,
             version = version + 1, updated_at = $5
         WHERE id = $1
         RETURNING *",
    )
    .bind(mv.issue_id)
    .bind(target.as_str())
    .bind(&new_rank)
    .bind(target.is_resolved())
    .bind(db::micros(now))
    .fetch_one(&mut *tx)
    .await
    .map_err(map_sqlx)?;
    let issue = issue_from_row(&row, &project_key)?
        .ok_or_else(|| RepoError::Internal("the moved issue was not returned".into()))?;
    let changes = placement::move_changes(current_status, target, &current_rank, &new_rank);
    record_events(
        &mut tx,
        mv.project_id,
        mv.actor_id,
        EventKind::Moved,
        &[mv.issue_id],
        &changes,
        now,
    )
    .await?;
    tx.commit().await.map_err(map_sqlx)?;
    Ok(MoveOutcome::Moved(Box::new(issue)))
}

/// Writes the respaced ranks. The `(project_id, rank)` constraint is checked row by row
/// (SQLite cannot defer it), while placement's ranks are unique only as a whole: the new
/// rank of one issue may be the old rank of another in the window. So the window first
/// moves to temporary ranks — the issue's id in hex and a final `0`, unique, and unlike any
/// real rank (which never ends in `0`) — then to its new ranks.
async fn respace(
    conn: &mut SqliteConnection,
    project_id: Uuid,
    rewrites: &[(Uuid, String)],
) -> Result<(), RepoError> {
    let pairs: Vec<(String, &str)> =
        rewrites.iter().map(|(id, rank)| (id.simple().to_string(), rank.as_str())).collect();
    let pairs = serde_json::to_string(&pairs)
        .map_err(|e| RepoError::Internal(format!("encoding respaced ranks: {e}")))?;
    // `$1`: the JSON array of [id in hex, new rank] pairs.
    macro_rules! rewritten {
        () => {
            "(SELECT unhex(value ->> 0) AS id, value ->> 1 AS rank FROM json_each($1))"
        };
    }
    sqlx::query(concat!(
        "UPDATE issues SET rank = lower(hex(id)) || '0'
         WHERE project_id = $2 AND id IN (SELECT id FROM ",
        rewritten!(),
        ")"
    ))
    .bind(&pairs)
    .bind(project_id)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    let written = sqlx::query(concat!(
        "UPDATE issues SET rank = n.rank FROM ",
        rewritten!(),
        " AS n WHERE issues.id = n.id AND issues.project_id = $2"
    ))
    .bind(&pairs)
    .bind(project_id)
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?
    .rows_affected();
    if written != rewrites.len() as u64 {
        return Err(RepoError::Internal(format!(
            "respacing wrote {written} of {} ranks",
            rewrites.len()
        )));
    }
    Ok(())
}

/// The rank reads placement makes, inside the move's write transaction: each is one probe
/// of the `(project_id, rank)` index (or the board index for a column).
struct SqliteRanks<'c> {
    conn: &'c mut SqliteConnection,
    project_id: Uuid,
    moved: Uuid,
}

#[async_trait]
impl RankReader for SqliteRanks<'_> {
    async fn anchor_rank(
        &mut self,
        number: i64,
        status: IssueStatus,
    ) -> Result<Option<String>, RepoError> {
        sqlx::query_scalar(
            "SELECT rank FROM issues
             WHERE project_id = $1 AND number = $2 AND status = $3 AND deleted_at IS NULL
               AND id <> $4",
        )
        .bind(self.project_id)
        .bind(number)
        .bind(status.as_str())
        .bind(self.moved)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(map_sqlx)
    }

    async fn nearest(&mut self, rank: &str, side: Side) -> Result<Option<String>, RepoError> {
        let sql = match side {
            Side::Lower => {
                "SELECT rank FROM issues WHERE project_id = $1 AND rank < $2 AND id <> $3
                 ORDER BY rank DESC LIMIT 1"
            }
            Side::Higher => {
                "SELECT rank FROM issues WHERE project_id = $1 AND rank > $2 AND id <> $3
                 ORDER BY rank LIMIT 1"
            }
        };
        sqlx::query_scalar(sql)
            .bind(self.project_id)
            .bind(rank)
            .bind(self.moved)
            .fetch_optional(&mut *self.conn)
            .await
            .map_err(map_sqlx)
    }

    async fn column_last(&mut self, status: IssueStatus) -> Result<Option<String>, RepoError> {
        sqlx::query_scalar(
            "SELECT rank FROM issues
             WHERE project_id = $1 AND status = $2 AND deleted_at IS NULL AND id <> $3
             ORDER BY rank DESC LIMIT 1",
        )
        .bind(self.project_id)
        .bind(status.as_str())
        .bind(self.moved)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(map_sqlx)
    }

    async fn next_new_rank(&mut self) -> Result<String, RepoError> {
        let counter: i64 = sqlx::query_scalar("SELECT issue_counter FROM projects WHERE id = $1")
            .bind(self.project_id)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(map_sqlx)?;
        Ok(rank::for_position(counter.saturating_add(1)))
    }

    async fn run(
        &mut self,
        from: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<(Uuid, String)>, RepoError> {
        let sql = match side {
            Side::Lower => {
                "SELECT id, rank FROM issues WHERE project_id = $1 AND rank <= $2 AND id <> $3
                 ORDER BY rank DESC LIMIT $4"
            }
            Side::Higher => {
                "SELECT id, rank FROM issues WHERE project_id = $1 AND rank >= $2 AND id <> $3
                 ORDER BY rank LIMIT $4"
            }
        };
        let rows = sqlx::query(sql)
            .bind(self.project_id)
            .bind(from)
            .bind(self.moved)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(|row| Ok((get(row, "id")?, get(row, "rank")?))).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rhythm_domain::DomainError;
    use rhythm_domain::issue::{IssueFilter, IssuePatch};
    use rhythm_domain::sprint::NewSprint;
    use rhythm_domain::values::{IssueStatus, Priority, SprintGoal, SprintName, StoryPoints};
    use rhythm_store_tests::fixture::{Fixture, project_ref};

    async fn store() -> crate::SqliteStore {
        let dir = std::env::temp_dir().join("rhythm-sqlite-board-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
        crate::SqliteStore::open(&path, &crate::SqliteSettings::default()).await.unwrap()
    }

    /// The contract suite covers the project board; these are the sprint board and the
    /// filtered board, whose totals are counted rather than read from the trigger totals.
    #[tokio::test]
    async fn sprint_and_filtered_boards_count_only_their_issues() {
        let f = Fixture::new(store().await);
        let owner = f.user("owner").await;
        let project = f.project(&owner).await;
        let pref = project_ref(&project);
        let all = IssueFilter::default();
        let sprint = NewSprint {
            id: uuid::Uuid::now_v7(),
            name: SprintName::new("One").unwrap(),
            goal: SprintGoal::new("").unwrap(),
            starts_on: None,
            ends_on: None,
        };
        let sprint = f.sprints.create(owner.id, &pref, sprint).await.unwrap();
        for n in 1..=4 {
            f.issue(&project, &owner, &format!("Issue {n}")).await;
        }
        for (number, points, status) in
            [(1, 3, IssueStatus::Todo), (2, 5, IssueStatus::Todo), (3, 8, IssueStatus::Done)]
        {
            let patch = IssuePatch {
                sprint_id: Some(Some(sprint.id)),
                story_points: Some(Some(StoryPoints::new(points).unwrap())),
                status: Some(status),
                priority: (number == 2).then_some(Priority::from_level(4).unwrap()),
                ..IssuePatch::default()
            };
            f.issues.update(owner.id, &pref, number, &patch, None).await.unwrap();
        }
        let board = f.sprints.board(owner.id, &pref, sprint.id, IssueFilter::default(), 1).await;
        let board = board.unwrap();
        let column = |status| board.columns.iter().find(|c| c.status == status).unwrap();
        let todo = column(IssueStatus::Todo);
        assert_eq!((todo.total, todo.points, todo.items.len()), (2, 8, 1));
        assert_eq!(todo.items[0].number, 1);
        assert!(todo.next.is_some());
        assert_eq!((column(IssueStatus::Done).total, column(IssueStatus::Done).points), (1, 8));
        assert_eq!(board.columns.len(), IssueStatus::ALL.len());

        let unknown =
            f.sprints.board(owner.id, &pref, uuid::Uuid::now_v7(), IssueFilter::default(), 5);
        assert!(matches!(unknown.await, Err(DomainError::NotFound)));
        let raw = f.board_repo().sprint_board(&pref, owner.id, uuid::Uuid::now_v7(), &all, 5);
        assert!(raw.await.unwrap().unwrap().value.is_none(), "access, but no such sprint");

        let urgent = IssueFilter {
            priorities: vec![Priority::from_level(4).unwrap()],
            ..IssueFilter::default()
        };
        let filtered =
            f.board_repo().board(&pref, owner.id, &urgent, 10).await.unwrap().unwrap().value;
        let totals: Vec<(IssueStatus, i64, i64)> =
            filtered.columns.iter().map(|c| (c.status, c.total, c.points)).collect();
        assert!(totals.contains(&(IssueStatus::Todo, 1, 5)), "{totals:?}");
        assert_eq!(totals.iter().map(|t| t.1).sum::<i64>(), 1);
        // The whole project, from the trigger totals: issue 4 is in todo too.
        let whole = f.board_repo().board(&pref, owner.id, &all, 10).await;
        let whole = whole.unwrap().unwrap().value;
        let todo = whole.columns.iter().find(|c| c.status == IssueStatus::Todo).unwrap();
        assert_eq!((todo.total, todo.points, todo.items.len()), (3, 8, 3));
        let stranger = f.user("stranger").await;
        let hidden = f.board_repo().board(&pref, stranger.id, &all, 10).await;
        assert!(hidden.unwrap().is_none());
    }
}
