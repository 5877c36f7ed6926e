//! Sprints (`sprints`): the state machine and the transactions that move issues with it.
//!
//! Each write reads the sprint's state inside its `BEGIN IMMEDIATE` transaction and lets
//! the domain's state machine decide on it, so no concurrent write changes it in between.

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
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get, get_time, get_time_opt};
use crate::error::map_sqlx;
use crate::issues::record_events;

macro_rules! sprint_columns {
    () => {
        "id, project_id, name, goal, starts_on, ends_on, state, started_at, completed_at, created_at"
    };
}

/// A sprint from [`sprint_columns`].
fn sprint_from_row(row: &SqliteRow) -> Result<Sprint, RepoError> {
    let state: &str = get(row, "state")?;
    let state = SprintState::parse(state).map_err(|_| {
        RepoError::Internal(format!("unknown sprint state in the database: {state}"))
    })?;
    Ok(Sprint {
        id: get(row, "id")?,
        project_id: get(row, "project_id")?,
        name: get(row, "name")?,
        goal: get(row, "goal")?,
        starts_on: get(row, "starts_on")?,
        ends_on: get(row, "ends_on")?,
        state,
        started_at: get_time_opt(row, "started_at")?,
        completed_at: get_time_opt(row, "completed_at")?,
        created_at: get_time(row, "created_at")?,
    })
}

/// Reads the sprint's state in the write transaction and lets the domain's state machine
/// decide `transition` on it: the state it goes to (`None`: deleted),
/// `Conflict(InvalidState)` when the transition is refused, `NotFound` when the project has
/// no such sprint.
async fn decide_transition(
    conn: &mut SqliteConnection,
    project_id: Uuid,
    sprint_id: Uuid,
    transition: Transition,
) -> Result<Option<SprintState>, RepoError> {
    let state: String =
        sqlx::query_scalar("SELECT state FROM sprints WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(sprint_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_sqlx)?
            .ok_or(RepoError::NotFound)?;
    let state = SprintState::parse(&state)
        .map_err(|_| RepoError::Internal(format!("unexpected sprint state {state}")))?;
    transition.from(state).map_err(RepoError::Conflict)
}

fn state_name(next: Option<SprintState>) -> Result<&'static str, RepoError> {
    next.map(SprintState::as_str)
        .ok_or_else(|| RepoError::Internal("the transition leaves no state".into()))
}

fn sprint_change(from: Uuid, to: Option<Uuid>) -> Changes {
    Changes::from([(
        "sprint_id".to_owned(),
        FieldChange { from: Some(from).into(), to: to.into() },
    )])
}

/// The resolved statuses as a JSON array, for `IN (SELECT value FROM json_each(…))`.
fn resolved_names_json() -> Result<String, RepoError> {
    serde_json::to_string(&IssueStatus::resolved_names())
        .map_err(|e| RepoError::Internal(format!("encoding statuses: {e}")))
}

#[async_trait]
impl SprintRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn create(&self, project_id: Uuid, sprint: &NewSprint) -> Result<Sprint, RepoError> {
        let mut tx = self.write().await?;
        let now = db::micros(db::now());
        // The project's foreign key answers a gone project (`NotFound`).
        let row = sqlx::query(concat!(
            "INSERT INTO sprints (id, project_id, name, goal, starts_on, ends_on, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint.id)
        .bind(project_id)
        .bind(sprint.name.as_str())
        .bind(sprint.goal.as_str())
        .bind(sprint.starts_on)
        .bind(sprint.ends_on)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(sprint)
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn list(
        &self,
        project_id: Uuid,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, RepoError> {
        let (after_at, after_id) =
            page.after.as_ref().map(|k| (db::micros(k.created_at), k.id)).unzip();
        let rows = sqlx::query(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints
             WHERE project_id = $1 AND ($2 IS NULL OR state = $2)
               AND ($3 IS NULL OR (created_at, id) < ($3, $4))
             ORDER BY created_at DESC, id DESC
             LIMIT $5"
        ))
        .bind(project_id)
        .bind(state.map(SprintState::as_str))
        .bind(after_at)
        .bind(after_id)
        .bind(page.limit.probe())
        .fetch_all(&mut *self.read().await?)
        .await
        .map_err(map_sqlx)?;
        let sprints = rows.iter().map(sprint_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(sprints, page.limit, |s| SprintKey {
            created_at: s.created_at,
            id: s.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn find(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Option<Sprint>, RepoError> {
        sqlx::query(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(sprint_id)
        .fetch_optional(&mut *self.read().await?)
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(sprint_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn update(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        decide: &Decision<Sprint, SprintPatch>,
    ) -> Result<Sprint, RepoError> {
        let mut tx = self.write().await?;
        let now = db::micros(db::now());
        let row = sqlx::query(concat!(
            "SELECT ",
            sprint_columns!(),
            " FROM sprints WHERE project_id = $1 AND id = $2"
        ))
        .bind(project_id)
        .bind(sprint_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let current = sprint_from_row(&row.ok_or(RepoError::NotFound)?)?;
        let patch = match decide.decide(&current) {
            Ok(Some(patch)) => patch,
            Ok(None) => return Ok(current),
            Err(refused) => return Err(RepoError::Refused(Box::new(refused))),
        };
        let row = sqlx::query(concat!(
            "UPDATE sprints SET
                 name = coalesce($3, name),
                 goal = coalesce($4, goal),
                 starts_on = CASE WHEN $5 THEN $6 ELSE starts_on END,
                 ends_on = CASE WHEN $7 THEN $8 ELSE ends_on END,
                 updated_at = $9
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
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(sprint)
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn start(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Sprint, RepoError> {
        let mut tx = self.write().await?;
        let now = db::micros(db::now());
        let next = decide_transition(&mut tx, project_id, sprint_id, Transition::Start).await?;
        // The partial unique index `sprints_one_active_per_project` refuses a second active
        // sprint of the project (`Conflict(ActiveSprintExists)`).
        let row = sqlx::query(concat!(
            "UPDATE sprints SET state = $2, started_at = $3, updated_at = $3
             WHERE id = $1
             RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint_id)
        .bind(state_name(next)?)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(sprint)
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn complete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        target: CompletionTarget,
        actor: Uuid,
    ) -> Result<Completion, RepoError> {
        let mut tx = self.write().await?;
        let at = db::now();
        let now = db::micros(at);
        let next = decide_transition(&mut tx, project_id, sprint_id, Transition::Complete).await?;
        let target_id = match target {
            CompletionTarget::Backlog => None,
            CompletionTarget::Sprint(id) => {
                let planned: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM sprints WHERE project_id = $1 AND id = $2 AND state = $3",
                )
                .bind(project_id)
                .bind(id)
                .bind(COMPLETION_TARGET_STATE.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
                Some(planned.ok_or(RepoError::NotFound)?)
            }
        };
        let resolved = resolved_names_json()?;
        let totals = sqlx::query(
            "SELECT count(*) AS issues, coalesce(sum(story_points), 0) AS points FROM issues
             WHERE sprint_id = $1 AND deleted_at IS NULL
               AND status IN (SELECT value FROM json_each($2))",
        )
        .bind(sprint_id)
        .bind(resolved.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let completed_issues: i64 = get(&totals, "issues")?;
        let completed_points: i64 = get(&totals, "points")?;
        // Deleted issues move too, so none is left behind in a closed sprint if restored.
        let moved = sqlx::query(
            "UPDATE issues SET sprint_id = $2, version = version + 1, updated_at = $4
             WHERE sprint_id = $1 AND status NOT IN (SELECT value FROM json_each($3))
             RETURNING id, deleted_at IS NULL AS live",
        )
        .bind(sprint_id)
        .bind(target_id)
        .bind(resolved.as_str())
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .iter()
        .map(|row| Ok((get::<Uuid>(row, "id")?, get::<bool>(row, "live")?)))
        .collect::<Result<Vec<_>, RepoError>>()?;
        let moved_ids: Vec<Uuid> = moved.iter().map(|(id, _)| *id).collect();
        record_events(
            &mut tx,
            project_id,
            actor,
            EventKind::Moved,
            &moved_ids,
            &sprint_change(sprint_id, target_id),
            at,
        )
        .await?;
        let row = sqlx::query(concat!(
            "UPDATE sprints SET state = $2, completed_at = $3, updated_at = $3 WHERE id = $1
             RETURNING ",
            sprint_columns!()
        ))
        .bind(sprint_id)
        .bind(state_name(next)?)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        let moved_issues =
            i64::try_from(moved.iter().filter(|(_, live)| *live).count()).unwrap_or(i64::MAX);
        Ok(Completion { sprint, completed_issues, completed_points, moved_issues })
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn delete(
        &self,
        project_id: Uuid,
        sprint_id: Uuid,
        actor: Uuid,
    ) -> Result<(), RepoError> {
        let mut tx = self.write().await?;
        let at = db::now();
        // Deletion leaves no state behind; the decision is whether it may happen.
        decide_transition(&mut tx, project_id, sprint_id, Transition::Delete).await?;
        let returned: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE issues SET sprint_id = NULL, version = version + 1, updated_at = $2
             WHERE sprint_id = $1 RETURNING id",
        )
        .bind(sprint_id)
        .bind(db::micros(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        record_events(
            &mut tx,
            project_id,
            actor,
            EventKind::Updated,
            &returned,
            &sprint_change(sprint_id, None),
            at,
        )
        .await?;
        sqlx::query("DELETE FROM sprints WHERE id = $1")
            .bind(sprint_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
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
