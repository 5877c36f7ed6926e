//! Boards: the Kanban query (one statement for all columns) and rank moves.
//!
//! Ranks are unique per project (not per column), so a status change never collides. A
//! move puts the issue between its new neighbours in the project-wide rank order, which is
//! also "directly above/below" within its column. Moves of one project take an advisory
//! lock, so two moves into one spot compute distinct ranks; the unique constraint is the
//! backstop.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::board::{Anchor, Board, Column, Move, MoveOutcome};
use rhythm_domain::issue::{Changes, FieldChange, IssueFilter, IssueKey, SortValue};
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

/// Namespace of the advisory locks that serialize rank moves per project.
const RANK_LOCK: i32 = 0x5248_524b; // "RHRK"

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
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(RANK_LOCK)
        .bind(mv.project_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
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
    let target = mv.status.map_or(current_status.clone(), |s| s.as_str().to_owned());
    let new_rank = match new_rank(&mut tx, mv, &target, &current_rank).await? {
        Placement::Rank(rank) => rank,
        Placement::Respace { lo, hi } => respace(&mut tx, mv, lo, hi).await?,
        Placement::AnchorMissing => return Ok(MoveOutcome::AnchorNotInColumn),
    };
    let row = sqlx::query(concat!(
            "UPDATE issues i SET status = $2, rank = $3,
                 resolved_at = CASE WHEN $2 IN ('done', 'cancelled') THEN COALESCE(i.resolved_at, now()) END,
                 version = i.version + 1, updated_at = now()
             WHERE i.id = $1
             RETURNING (SELECT p.key FROM projects p WHERE p.id = i.project_id) AS project_key, ",
            crate::issues::issue_columns!()
        ))
        .bind(mv.issue_id)
        .bind(&target)
        .bind(&new_rank)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let mut changes = Changes::new();
    if target != current_status {
        changes.insert(
            "status".to_owned(),
            FieldChange { from: current_status.as_str().into(), to: target.as_str().into() },
        );
    }
    changes.insert(
        "rank".to_owned(),
        FieldChange { from: current_rank.as_str().into(), to: new_rank.as_str().into() },
    );
    sqlx::query(
        "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes)
             VALUES ($1, $2, $3, $4, 'moved', $5)",
    )
    .bind(Uuid::now_v7())
    .bind(mv.project_id)
    .bind(mv.issue_id)
    .bind(mv.actor_id)
    .bind(encode_changes(&changes)?)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    let key: String = row.try_get("project_key").map_err(decode_err)?;
    let issue = issue_from_row(&row, &key)?.ok_or(RepoError::NotFound)?;
    Ok(MoveOutcome::Moved(Box::new(issue)))
}

enum Placement {
    Rank(String),
    /// The gap between these neighbours is too narrow: the issues around it need respacing.
    Respace {
        lo: Option<String>,
        hi: String,
    },
    AnchorMissing,
}

/// The rank of the anchor issue, if it is live in the target column.
async fn anchor_rank(
    conn: &mut PgConnection,
    project_id: Uuid,
    number: i64,
    status: &str,
) -> Result<Option<String>, RepoError> {
    sqlx::query_scalar(
        "SELECT rank FROM issues WHERE project_id = $1 AND number = $2 AND status = $3 AND deleted_at IS NULL",
    )
    .bind(project_id)
    .bind(number)
    .bind(status)
    .fetch_optional(conn)
    .await
    .map_err(map_err)
}

/// The nearest rank of the project below (or above) `rank`, the moved issue aside. Deleted
/// issues count: they keep their ranks, which stay unique.
async fn neighbour(
    conn: &mut PgConnection,
    mv: &Move,
    rank: &str,
    below: bool,
) -> Result<Option<String>, RepoError> {
    let sql = if below {
        "SELECT max(rank) FROM issues WHERE project_id = $1 AND rank < $2 AND id <> $3"
    } else {
        "SELECT min(rank) FROM issues WHERE project_id = $1 AND rank > $2 AND id <> $3"
    };
    sqlx::query_scalar(sql)
        .bind(mv.project_id)
        .bind(rank)
        .bind(mv.issue_id)
        .fetch_one(conn)
        .await
        .map_err(map_err)
}

/// The rank the next new issue of the project will get: every rank stays below it, so new
/// issues always land at the bottom.
async fn next_issue_rank(conn: &mut PgConnection, project_id: Uuid) -> Result<String, RepoError> {
    sqlx::query_scalar(
        "SELECT rhythm_rank_for_position(issue_counter + 1) FROM projects WHERE id = $1",
    )
    .bind(project_id)
    .fetch_one(conn)
    .await
    .map_err(map_err)
}

async fn new_rank(
    conn: &mut PgConnection,
    mv: &Move,
    target: &str,
    current: &str,
) -> Result<Placement, RepoError> {
    let (lo, hi) = match mv.anchor {
        Anchor::Before(number) => {
            let Some(hi) = anchor_rank(conn, mv.project_id, number, target).await? else {
                return Ok(Placement::AnchorMissing);
            };
            (neighbour(conn, mv, &hi, true).await?, Some(hi))
        }
        Anchor::After(number) => {
            let Some(lo) = anchor_rank(conn, mv.project_id, number, target).await? else {
                return Ok(Placement::AnchorMissing);
            };
            let hi = neighbour(conn, mv, &lo, false).await?;
            (Some(lo), hi)
        }
        Anchor::Bottom => {
            let last: Option<String> = sqlx::query_scalar(
                "SELECT max(rank) FROM issues
                 WHERE project_id = $1 AND status = $2 AND deleted_at IS NULL AND id <> $3",
            )
            .bind(mv.project_id)
            .bind(target)
            .bind(mv.issue_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
            match last {
                // An empty column: any rank is its bottom; keep the issue's.
                None => return Ok(Placement::Rank(current.to_owned())),
                // Already below the column's last issue: nothing to change.
                Some(last) if current > last.as_str() => {
                    return Ok(Placement::Rank(current.to_owned()));
                }
                Some(last) => {
                    let hi = neighbour(conn, mv, &last, false).await?;
                    (Some(last), hi)
                }
            }
        }
    };
    let hi = match hi {
        Some(hi) => hi,
        None => next_issue_rank(conn, mv.project_id).await?,
    };
    let rank = rank::between(lo.as_deref(), Some(&hi)).map_err(|e| {
        RepoError::Internal(format!("ranks out of order between {lo:?} and {hi}: {e}"))
    })?;
    if rank.len() > rank::REBALANCE_ABOVE {
        return Ok(Placement::Respace { lo, hi });
    }
    Ok(Placement::Rank(rank))
}

/// Issues on each side of the gap that respacing rewrites at first; the window grows
/// fourfold until the ranks fit, at worst to the whole project.
const RESPACE_WINDOW: i64 = 16;

/// Gives the issues around the gap `(lo, hi)` evenly spaced ranks, with the moved issue in
/// the gap, and returns the moved issue's new rank. Only a window of neighbours is
/// rewritten, so a crowded spot in a large project costs a few rows rather than the whole
/// project. The order of every other issue stays as it was; `hi` is either an issue's rank
/// or the rank the next new issue will get, which stays above everything.
async fn respace(
    conn: &mut PgConnection,
    mv: &Move,
    lo: Option<String>,
    hi: String,
) -> Result<String, RepoError> {
    let mut window = RESPACE_WINDOW;
    loop {
        let below: Vec<(Uuid, String)> = match &lo {
            Some(lo) => sqlx::query_as(
                "SELECT id, rank FROM issues WHERE project_id = $1 AND rank <= $2 AND id <> $3
                 ORDER BY rank DESC LIMIT $4",
            )
            .bind(mv.project_id)
            .bind(lo)
            .bind(mv.issue_id)
            .bind(window + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?,
            None => Vec::new(),
        };
        let above: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, rank FROM issues WHERE project_id = $1 AND rank >= $2 AND id <> $3
             ORDER BY rank LIMIT $4",
        )
        .bind(mv.project_id)
        .bind(&hi)
        .bind(mv.issue_id)
        .bind(window + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
        let window_len = usize::try_from(window).unwrap_or(usize::MAX);
        // The row just outside the window on each side is the fixed bound; without one the
        // bound is the bottom of all ranks, or the next new issue's rank.
        let floor_bound = below.get(window_len).map(|(_, rank)| rank.clone());
        let ceiling_bound = above.get(window_len).map(|(_, rank)| rank.clone());
        let exhausted = floor_bound.is_none() && ceiling_bound.is_none();
        let mut ids: Vec<Uuid> = below.iter().take(window_len).map(|(id, _)| *id).collect();
        ids.reverse();
        let moved_at = ids.len();
        ids.push(mv.issue_id);
        ids.extend(above.iter().take(window_len).map(|(id, _)| *id));
        let ceiling = match ceiling_bound {
            Some(rank) => rank,
            None => next_issue_rank(conn, mv.project_id).await?,
        };
        let floor = floor_bound;
        let ranks = rank::spread(floor.as_deref(), Some(&ceiling), ids.len()).map_err(|e| {
            RepoError::Internal(format!("ranks out of order between {floor:?} and {ceiling}: {e}"))
        })?;
        let longest = ranks.iter().map(String::len).max().unwrap_or(0);
        if exhausted && longest > rank::MAX_LEN {
            return Err(RepoError::Internal("ranks still too long after respacing".into()));
        }
        if longest <= rank::RESPACED_MAX || exhausted {
            // One statement: the deferrable unique constraint is checked when it ends.
            sqlx::query(
                "UPDATE issues i SET rank = n.rank FROM unnest($1::uuid[], $2::text[]) AS n(id, rank)
                 WHERE i.id = n.id AND i.project_id = $3",
            )
            .bind(&ids)
            .bind(&ranks)
            .bind(mv.project_id)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            tracing::info!(project_id = %mv.project_id, rewritten = ids.len(), "respaced ranks");
            return Ok(ranks[moved_at].clone());
        }
        window = window.saturating_mul(4);
    }
}
