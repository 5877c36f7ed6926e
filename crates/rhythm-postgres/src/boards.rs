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
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::PgStore;
use crate::error::map_err;
use crate::issues::{
    access_from_row, access_prologue, encode_changes, issue_from_row, push_filters,
};
use crate::locks::{LockPurpose, lock_project};

fn decode_err(e: sqlx::Error) -> RepoError {
    RepoError::Internal(format!("decoding a board row: {e}"))
}

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
        move_issue(&self.pool, mv).await
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
        qb.push_bind(statuses);
        qb.push("::text[]) WITH ORDINALITY AS c(status, ord))");
        // Per column: its total and points (kept by triggers for the whole project, else
        // counted on an index-only range), then its first issues in rank order.
        qb.push(
            " SELECT a.access_project_id, a.project_key, a.role, c.column_status, c.ord, t.total, t.points, ",
        );
        match sprint {
            Some(sprint_id) => {
                qb.push("EXISTS (SELECT FROM sprints s WHERE s.id = ");
                qb.push_bind(sprint_id);
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
        qb.push_bind(i64::from(per_column) + 1);
        qb.push(") i ON true ORDER BY c.ord, i.rank");
        let rows = qb.build().persistent(false).fetch_all(&self.pool).await.map_err(map_err)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let access = access_from_row(first)?;
        if !first.try_get::<bool, _>("sprint_found").map_err(decode_err)? {
            return Ok(Some(Scoped { access, value: None }));
        }
        let project_key: String = first.try_get("project_key").map_err(decode_err)?;
        let mut columns: BTreeMap<i64, Column> = BTreeMap::new();
        for row in &rows {
            let ord: i64 = row.try_get("ord").map_err(decode_err)?;
            let status_name: String = row.try_get("column_status").map_err(decode_err)?;
            let status = IssueStatus::parse(&status_name)
                .map_err(|_| RepoError::Internal(format!("unknown column {status_name}")))?;
            let column = match columns.entry(ord) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => entry.insert(Column {
                    status,
                    total: row.try_get("total").map_err(decode_err)?,
                    points: row.try_get("points").map_err(decode_err)?,
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

async fn move_issue(pool: &sqlx::PgPool, mv: &Move) -> Result<MoveOutcome, RepoError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    lock_project(&mut tx, mv.project_id, LockPurpose::Ranks).await?;
    let current: Option<(String, String)> = sqlx::query_as(
            "SELECT status, rank FROM issues WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL FOR UPDATE",
        )
        .bind(mv.issue_id)
        .bind(mv.project_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some((current_status, current_rank)) = current else {
        return Ok(MoveOutcome::Gone);
    };
    let current_status = crate::issues::parse_status(&current_status)?;
    let target = mv.status.unwrap_or(current_status);
    let mut reader = PgRanks { conn: &mut tx, project_id: mv.project_id, moved: mv.issue_id };
    let new_rank = match placement::place(&mut reader, mv, current_status, &current_rank).await? {
        Placement::Rank(rank) => rank,
        Placement::Respaced { rank, rewrites } => {
            let (ids, ranks): (Vec<Uuid>, Vec<String>) = rewrites.into_iter().unzip();
            // One statement: the deferrable unique constraint is checked when it ends.
            sqlx::query(
                "UPDATE issues i SET rank = n.rank FROM unnest($1::uuid[], $2::text[]) AS n(id, rank)
                 WHERE i.id = n.id AND i.project_id = $3",
            )
            .bind(&ids)
            .bind(&ranks)
            .bind(mv.project_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tracing::info!(project_id = %mv.project_id, rewritten = ids.len(), "respaced ranks");
            rank
        }
        Placement::AnchorMissing => return Ok(MoveOutcome::AnchorNotInColumn),
    };
    let row = sqlx::query(concat!(
        "UPDATE issues i SET status = $2, rank = $3,
                 resolved_at = CASE WHEN $4 THEN COALESCE(i.resolved_at, now()) END,
                 version = i.version + 1, updated_at = now()
             WHERE i.id = $1
             RETURNING (SELECT p.key FROM projects p WHERE p.id = i.project_id) AS project_key, ",
        crate::issues::issue_columns!()
    ))
    .bind(mv.issue_id)
    .bind(target.as_str())
    .bind(&new_rank)
    .bind(target.is_resolved())
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    let changes = placement::move_changes(current_status, target, &current_rank, &new_rank);
    sqlx::query(
        "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes)
             VALUES ($1, $2, $3, $4, $6, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(mv.project_id)
    .bind(mv.issue_id)
    .bind(mv.actor_id)
    .bind(encode_changes(&changes)?)
    .bind(EventKind::Moved.as_str())
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    let key: String = row.try_get("project_key").map_err(decode_err)?;
    let issue = issue_from_row(&row, &key)?.ok_or(RepoError::NotFound)?;
    Ok(MoveOutcome::Moved(Box::new(issue)))
}

/// The rank reads placement makes, inside the move's transaction (after the project's rank
/// lock): each is one probe of the `(project_id, rank)` index.
struct PgRanks<'c> {
    conn: &'c mut PgConnection,
    project_id: Uuid,
    moved: Uuid,
}

#[async_trait]
impl RankReader for PgRanks<'_> {
    async fn anchor_rank(
        &mut self,
        number: i64,
        status: IssueStatus,
    ) -> Result<Option<String>, RepoError> {
        sqlx::query_scalar(
            "SELECT rank FROM issues
             WHERE project_id = $1 AND number = $2 AND status = $3 AND deleted_at IS NULL AND id <> $4",
        )
        .bind(self.project_id)
        .bind(number)
        .bind(status.as_str())
        .bind(self.moved)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(map_err)
    }

    async fn nearest(&mut self, rank: &str, side: Side) -> Result<Option<String>, RepoError> {
        let sql = match side {
            Side::Lower => {
                "SELECT max(rank) FROM issues WHERE project_id = $1 AND rank < $2 AND id <> $3"
            }
            Side::Higher => {
                "SELECT min(rank) FROM issues WHERE project_id = $1 AND rank > $2 AND id <> $3"
            }
        };
        sqlx::query_scalar(sql)
            .bind(self.project_id)
            .bind(rank)
            .bind(self.moved)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(map_err)
    }

    async fn column_last(&mut self, status: IssueStatus) -> Result<Option<String>, RepoError> {
        sqlx::query_scalar(
            "SELECT max(rank) FROM issues
             WHERE project_id = $1 AND status = $2 AND deleted_at IS NULL AND id <> $3",
        )
        .bind(self.project_id)
        .bind(status.as_str())
        .bind(self.moved)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(map_err)
    }

    async fn next_new_rank(&mut self) -> Result<String, RepoError> {
        let counter: i64 = sqlx::query_scalar("SELECT issue_counter FROM projects WHERE id = $1")
            .bind(self.project_id)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(map_err)?;
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
        sqlx::query_as(sql)
            .bind(self.project_id)
            .bind(from)
            .bind(self.moved)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(map_err)
    }
}
