//! Sprints (`sprints`): the state machine and the transactions that move issues with it.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::{Changes, EventKind, FieldChange};
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::ports::{Decision, SprintRepository};
use rhythm_domain::sprint::{
    COMPLETION_TARGET_STATE, Completion, CompletionTarget, NewSprint, Sprint, SprintKey,
    SprintPatch, Transition,
};
use rhythm_domain::values::{IssueStatus, SprintState};
use sqlx::{FromRow, Postgres, Transaction};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::PgStore;
use crate::error::map_err;
use crate::issues::record_events;

#[derive(FromRow)]
struct SprintRow {
    id: Uuid,
    project_id: Uuid,
    name: String,
    goal: String,
    starts_on: Option<Date>,
    ends_on: Option<Date>,
    state: String,
    started_at: Option<OffsetDateTime>,
    completed_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl TryFrom<SprintRow> for Sprint {
    type Error = RepoError;

    fn try_from(row: SprintRow) -> Result<Self, RepoError> {
        let state = SprintState::parse(&row.state).map_err(|_| {
            RepoError::Internal(format!("unknown sprint state in the database: {}", row.state))
        })?;
        Ok(Sprint {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            goal: row.goal,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            state,
            started_at: row.started_at,
            completed_at: row.completed_at,
            created_at: row.created_at,
        })
    }
}

macro_rules! sprint_columns {
    () => {
        "id, project_id, name, goal, starts_on, ends_on, state, started_at, completed_at, created_at"
    };
}

/// Locks the sprint for a state change and returns its state; `NotFound` without it.
/// Locks the sprint and lets the domain's state machine decide `transition` on its state:
/// the state it goes to (`None`: deleted), `Conflict(InvalidState)` when the transition is
/// refused, `NotFound` when the project has no such sprint.
async fn lock_for(
    tx: &mut Transaction<'_, Postgres>,
    project_id: Uuid,
    sprint_id: Uuid,
    transition: Transition,
) -> Result<Option<SprintState>, RepoError> {
    let state: String = sqlx::query_scalar(
        "SELECT state FROM sprints WHERE project_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(project_id)
    .bind(sprint_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?
    .ok_or(RepoError::NotFound)?;
    let state = SprintState::parse(&state)
        .map_err(|_| RepoError::Internal(format!("unexpected sprint state {state}")))?;
    transition.from(state).map_err(RepoError::Conflict)
}

fn sprint_change(from: Uuid, to: Option<Uuid>) -> Changes {
    Changes::from([(
        "sprint_id".to_owned(),
        FieldChange { from: Some(from).into(), to: to.into() },
    )])
}

#[async_trait]
impl SprintRepository for PgStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn create(&self, project_id: Uuid, sprint: &NewSprint) -> Result<Sprint, RepoError> {
        let row: SprintRow = sqlx::query_as(concat!(
            "INSERT INTO sprints (id, project_id, name, goal, starts_on, ends_on) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint.id)
        .bind(project_id)
        .bind(sprint.name.as_str())
        .bind(sprint.goal.as_str())
        .bind(sprint.starts_on)
        .bind(sprint.ends_on)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn list(
        &self,
        project_id: Uuid,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, RepoError> {
        let (after_at, after_id) = page.after.as_ref().map(|k| (k.created_at, k.id)).unzip();
        let rows: Vec<SprintRow> = sqlx::query_as(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints
             WHERE project_id = $1 AND ($2::text IS NULL OR state = $2)
               AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
             ORDER BY created_at DESC, id DESC
             LIMIT $5"
        ))
        .bind(project_id)
        .bind(state.map(SprintState::as_str))
        .bind(after_at)
        .bind(after_id)
        .bind(page.limit.probe())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let sprints = rows.into_iter().map(Sprint::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(sprints, page.limit, |s| SprintKey {
            created_at: s.created_at,
            id: s.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn find(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Option<Sprint>, RepoError> {
        let row: Option<SprintRow> = sqlx::query_as(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(sprint_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Sprint::try_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn update(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        decide: &Decision<Sprint, SprintPatch>,
    ) -> Result<Sprint, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let locked: Option<SprintRow> = sqlx::query_as(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints WHERE project_id = $1 AND id = $2 FOR UPDATE"
        ))
        .bind(project_id)
        .bind(sprint_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let current: Sprint = locked.ok_or(RepoError::NotFound)?.try_into()?;
        let patch = match decide.decide(&current) {
            Ok(Some(patch)) => patch,
            Ok(None) => return Ok(current),
            Err(refused) => return Err(RepoError::Refused(Box::new(refused))),
        };
        let row: SprintRow = sqlx::query_as(concat!(
            "UPDATE sprints SET
                 name = COALESCE($3, name),
                 goal = COALESCE($4, goal),
                 starts_on = CASE WHEN $5 THEN $6 ELSE starts_on END,
                 ends_on = CASE WHEN $7 THEN $8 ELSE ends_on END,
                 updated_at = now()
             WHERE project_id = $1 AND id = $2
             RETURNING ",
            sprint_columns!()
        ))
        .bind(project_id)
        .bind(sprint_id)
        .bind(patch.name.as_ref().map(|n| n.as_str()))
        .bind(patch.goal.as_ref().map(|g| g.as_str()))
        .bind(patch.starts_on.is_some())
        .bind(patch.starts_on.flatten())
        .bind(patch.ends_on.is_some())
        .bind(patch.ends_on.flatten())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn start(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Sprint, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let next = lock_for(&mut tx, project_id, sprint_id, Transition::Start).await?;
        // The partial unique index refuses a second active sprint of the project.
        let row: SprintRow = sqlx::query_as(concat!(
            "UPDATE sprints SET state = $2, started_at = now(), updated_at = now()
             WHERE id = $1
             RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint_id)
        .bind(next.map(SprintState::as_str))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn complete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        target: CompletionTarget,
        actor: Uuid,
    ) -> Result<Completion, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let next = lock_for(&mut tx, project_id, sprint_id, Transition::Complete).await?;
        let target_id = match target {
            CompletionTarget::Backlog => None,
            CompletionTarget::Sprint(id) => {
                // Held until commit: the target cannot start or go away meanwhile.
                let planned: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM sprints WHERE project_id = $1 AND id = $2 AND state = $3 FOR SHARE",
                )
                .bind(project_id)
                .bind(id)
                .bind(COMPLETION_TARGET_STATE.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                Some(planned.ok_or(RepoError::NotFound)?)
            }
        };
        let (completed_issues, completed_points): (i64, i64) = sqlx::query_as(
            "SELECT count(*), COALESCE(sum(story_points), 0)::bigint FROM issues
             WHERE sprint_id = $1 AND deleted_at IS NULL AND status = ANY($2)",
        )
        .bind(sprint_id)
        .bind(IssueStatus::resolved_names())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        // Deleted issues move too, so none is left behind in a closed sprint if restored.
        let moved: Vec<(Uuid, bool)> = sqlx::query_as(
            "UPDATE issues SET sprint_id = $2, version = version + 1, updated_at = now()
             WHERE sprint_id = $1 AND status <> ALL($3)
             RETURNING id, deleted_at IS NULL",
        )
        .bind(sprint_id)
        .bind(target_id)
        .bind(IssueStatus::resolved_names())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let moved_ids: Vec<Uuid> = moved.iter().map(|(id, _)| *id).collect();
        record_events(
            &mut tx,
            project_id,
            actor,
            EventKind::Moved,
            &moved_ids,
            &sprint_change(sprint_id, target_id),
        )
        .await?;
        let row: SprintRow = sqlx::query_as(concat!(
            "UPDATE sprints SET state = $2, completed_at = now(), updated_at = now() WHERE id = $1 RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint_id)
        .bind(next.map(SprintState::as_str))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let moved_issues =
            i64::try_from(moved.iter().filter(|(_, live)| *live).count()).unwrap_or(i64::MAX);
        Ok(Completion { sprint: row.try_into()?, completed_issues, completed_points, moved_issues })
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn delete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        actor: Uuid,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Deletion leaves no state behind; the decision is whether it may happen.
        lock_for(&mut tx, project_id, sprint_id, Transition::Delete).await?;
        let returned: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE issues SET sprint_id = NULL, version = version + 1, updated_at = now()
             WHERE sprint_id = $1 RETURNING id",
        )
        .bind(sprint_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        record_events(
            &mut tx,
            project_id,
            actor,
            EventKind::Updated,
            &returned,
            &sprint_change(sprint_id, None),
        )
        .await?;
        sqlx::query("DELETE FROM sprints WHERE id = $1")
            .bind(sprint_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rhythm_domain::issue::FieldValue;

    use super::*;

    #[test]
    fn sprint_changes_record_from_and_to() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let change = &sprint_change(a, Some(b))["sprint_id"];
        assert_eq!(change.from, FieldValue::Text(a.to_string()));
        assert_eq!(change.to, FieldValue::Text(b.to_string()));
        assert_eq!(sprint_change(a, None)["sprint_id"].to, FieldValue::Null);
    }
}
