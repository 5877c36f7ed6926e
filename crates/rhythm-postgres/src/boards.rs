//! Boards: the Kanban query (one statement for all columns) and rank moves.
//!
//! Ranks are unique per project (not per column), so a status change never collides. The
//! domain's [`placement`] decides each move's rank from the reads of [`PgRanks`]; moves of
//! one project hold the project's rank lock row, so two moves into one spot are placed one
//! after the other and get distinct ranks; the unique constraint is the backstop.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::board::{Board, Column, Move, MoveOutcome};
use rhythm_domain::issue::{EventKind, IssueFilter, IssueKey, SortValue};
use rhythm_domain::placement::{self, Placement, RankReader, Side};
use rhythm_domain::ports::BoardRepository;
use rhythm_domain::project::Scoped;
use rhythm_domain::rank;
use rhythm_domain::values::{IssueStatus, ProjectRef};
use uuid::Uuid;

use crate::PgStore;
use crate::db::{self, get};
use crate::error::map_pg;
use crate::issues::{
    access_from_row, access_prologue, encode_changes, issue_from_row, push_filters,
};
use crate::locks::{LockPurpose, lock_project};

#[async_trait]
impl BoardRepository for PgStore {
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

impl PgStore {
    /// The board query; with `sprint`, also whether the project has that sprint (the board
    /// is `None` if not).
    async fn columns(
        &self,
        project: &ProjectRef,
        user: Uuid,
        sprint: Option<Uuid>,
        filter: &IssueFilter,
        per_column: u32,
    ) -> Result<Option<Scoped<Option<Board>>>, RepoError> {
        let statuses: Vec<String> =
            IssueStatus::ALL.iter().map(|s| s.as_str().to_owned()).collect();
        let mut qb = access_prologue(project, user);
        qb.push(", cols AS (SELECT status AS column_status, ord FROM unnest(");
        qb.bind(statuses);
        qb.push("::text[]) WITH ORDINALITY AS c(status, ord))");
        // Per column: its total and points (kept by triggers for the whole project, else
        // counted on an index-only range), then its first issues in rank order.
        qb.push(
            " SELECT a.access_project_id, a.project_key, a.role, c.column_status, c.ord, t.total, t.points, ",
        );
        match sprint {
            Some(sprint_id) => {
                qb.push("EXISTS (SELECT FROM sprints s WHERE s.id = ");
                qb.bind(sprint_id);
                qb.push(" AND s.project_id = a.access_project_id) AS sprint_found, ");
            }
            None => {
                qb.push("true AS sprint_found, ");
            }
        }
        crate::issues::push_summary_columns(&mut qb);
        qb.push(" FROM access a CROSS JOIN cols c CROSS JOIN LATERAL (");
        if sprint.is_none() && *filter == IssueFilter::default() {
            // The whole project: the totals the triggers keep (migration 0004).
            qb.push(
                "SELECT bt.issues[c.ord::int] AS total, bt.points[c.ord::int] AS points
                 FROM project_board_totals bt WHERE bt.project_id = a.access_project_id",
            );
        } else {
            qb.push(
                "SELECT count(*) AS total, COALESCE(sum(i.story_points), 0)::bigint AS points
                 FROM issues i WHERE i.project_id = a.access_project_id AND i.status = c.column_status",
            );
            push_filters(&mut qb, filter);
        }
        qb.push(
            ") t
              LEFT JOIN LATERAL (
                  SELECT * FROM issues i WHERE i.project_id = a.access_project_id AND i.status = c.column_status",
        );
        push_filters(&mut qb, filter);
        qb.push(" ORDER BY i.rank LIMIT ");
        qb.bind(i64::from(per_column) + 1);
        qb.push(") i ON true ORDER BY c.ord, i.rank");
        let rows = qb.fetch_all_unprepared(&self.conn().await?).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let access = access_from_row(first)?;
        if !get::<bool>(first, "sprint_found")? {
            return Ok(Some(Scoped { access, value: None }));
        }
        let project_key: String = get(first, "project_key")?;
        let mut columns: BTreeMap<i64, Column> = BTreeMap::new();
        for row in &rows {
            let ord: i64 = get(row, "ord")?;
            let status_name: &str = get(row, "column_status")?;
            let status = IssueStatus::parse(status_name)
                .map_err(|_| RepoError::Internal(format!("unknown column {status_name}")))?;
            let column = match columns.entry(ord) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => entry.insert(Column {
                    status,
                    total: get(row, "total")?,
                    points: get(row, "points")?,
                    items: Vec::new(),
                    next: None,
                }),
            };
            if let Some(issue) = issue_from_row(row, &project_key)? {
                column.items.push(issue);
            }
        }
        let per_column = usize::try_from(per_column).unwrap_or(usize::MAX);
        let columns = columns
            .into_values()
            .map(|mut column| {
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

async fn move_issue(store: &PgStore, mv: &Move) -> Result<MoveOutcome, RepoError> {
    let mut conn = store.conn().await?;
    let tx = conn.transaction().await.map_err(map_pg)?;
    lock_project(&tx, mv.project_id, LockPurpose::Ranks).await?;
    let current = db::fetch_optional(
        &tx,
        "SELECT status, rank FROM issues WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL FOR UPDATE",
        &[&mv.issue_id, &mv.project_id],
    )
    .await?;
    let Some(current) = current else {
        return Ok(MoveOutcome::Gone);
    };
    let current_status = crate::issues::parse_status(get(&current, "status")?)?;
    let current_rank: String = get(&current, "rank")?;
    let target = mv.status.unwrap_or(current_status);
    let mut reader = PgRanks { tx: &tx, project_id: mv.project_id, moved: mv.issue_id };
    let new_rank = match placement::place(&mut reader, mv, current_status, &current_rank).await? {
        Placement::Rank(rank) => rank,
        Placement::Respaced { rank, rewrites } => {
            let (ids, ranks): (Vec<Uuid>, Vec<String>) = rewrites.into_iter().unzip();
            // One statement: the deferrable unique constraint is checked when it ends.
            db::execute(
                &tx,
                "UPDATE issues i SET rank = n.rank FROM unnest($1::uuid[], $2::text[]) AS n(id, rank)
                 WHERE i.id = n.id AND i.project_id = $3",
                &[&ids, &ranks, &mv.project_id],
            )
            .await?;
            tracing::info!(project_id = %mv.project_id, rewritten = ids.len(), "respaced ranks");
            rank
        }
        Placement::AnchorMissing => return Ok(MoveOutcome::AnchorNotInColumn),
    };
    let row = db::fetch_one(
        &tx,
        concat!(
            "UPDATE issues i SET status = $2, rank = $3,
                 resolved_at = CASE WHEN $4::bool THEN COALESCE(i.resolved_at, now()) END,
                 version = i.version + 1, updated_at = now()
             WHERE i.id = $1
             RETURNING (SELECT p.key FROM projects p WHERE p.id = i.project_id) AS project_key, ",
            crate::issues::issue_columns!()
        ),
        &[&mv.issue_id, &target.as_str(), &new_rank, &target.is_resolved()],
    )
    .await?;
    let changes = placement::move_changes(current_status, target, &current_rank, &new_rank);
    db::execute(
        &tx,
        "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes)
         VALUES ($1, $2, $3, $4, $6, $5)",
        &[
            &Uuid::now_v7(),
            &mv.project_id,
            &mv.issue_id,
            &mv.actor_id,
            &encode_changes(&changes)?,
            &EventKind::Moved.as_str(),
        ],
    )
    .await?;
    let key: String = get(&row, "project_key")?;
    let issue = issue_from_row(&row, &key)?.ok_or(RepoError::NotFound)?;
    tx.commit().await.map_err(map_pg)?;
    Ok(MoveOutcome::Moved(Box::new(issue)))
}

/// The rank reads placement makes, inside the move's transaction (after the project's rank
/// lock): each is one probe of the `(project_id, rank)` index.
struct PgRanks<'c, 't> {
    tx: &'c deadpool_postgres::Transaction<'t>,
    project_id: Uuid,
    moved: Uuid,
}

/// The `rank` column of `row`, which may be NULL (an aggregate over no rows).
fn rank_of(row: &tokio_postgres::Row) -> Result<Option<String>, RepoError> {
    get(row, "rank")
}

#[async_trait]
impl RankReader for PgRanks<'_, '_> {
    async fn anchor_rank(
        &mut self,
        number: i64,
        status: IssueStatus,
    ) -> Result<Option<String>, RepoError> {
        let row = db::fetch_optional(
            self.tx,
            "SELECT rank FROM issues
             WHERE project_id = $1 AND number = $2 AND status = $3 AND deleted_at IS NULL AND id <> $4",
            &[&self.project_id, &number, &status.as_str(), &self.moved],
        )
        .await?;
        Ok(row.as_ref().map(rank_of).transpose()?.flatten())
    }

    async fn nearest(&mut self, rank: &str, side: Side) -> Result<Option<String>, RepoError> {
        let sql = match side {
            Side::Lower => {
                "SELECT max(rank) AS rank FROM issues WHERE project_id = $1 AND rank < $2 AND id <> $3"
            }
            Side::Higher => {
                "SELECT min(rank) AS rank FROM issues WHERE project_id = $1 AND rank > $2 AND id <> $3"
            }
        };
        rank_of(&db::fetch_one(self.tx, sql, &[&self.project_id, &rank, &self.moved]).await?)
    }

    async fn column_last(&mut self, status: IssueStatus) -> Result<Option<String>, RepoError> {
        let row = db::fetch_one(
            self.tx,
            "SELECT max(rank) AS rank FROM issues
             WHERE project_id = $1 AND status = $2 AND deleted_at IS NULL AND id <> $3",
            &[&self.project_id, &status.as_str(), &self.moved],
        )
        .await?;
        rank_of(&row)
    }

    async fn next_new_rank(&mut self) -> Result<String, RepoError> {
        let row = db::fetch_one(
            self.tx,
            "SELECT issue_counter FROM projects WHERE id = $1",
            &[&self.project_id],
        )
        .await?;
        let counter: i64 = get(&row, "issue_counter")?;
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        db::fetch_all(self.tx, sql, &[&self.project_id, &from, &self.moved, &limit])
            .await?
            .iter()
            .map(|row| Ok((get(row, "id")?, get(row, "rank")?)))
            .collect()
    }
}
