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
use tokio_postgres::Row;
use uuid::Uuid;

use crate::PgStore;
use crate::db::{self, Conn, get};
use crate::error::map_pg;
use crate::issues::record_events;

/// A sprint from [`sprint_columns`].
fn sprint_from_row(row: &Row) -> Result<Sprint, RepoError> {
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
        started_at: get(row, "started_at")?,
        completed_at: get(row, "completed_at")?,
        created_at: get(row, "created_at")?,
    })
}

macro_rules! sprint_columns {
    () => {
        "id, project_id, name, goal, starts_on, ends_on, state, started_at, completed_at, created_at"
    };
}

/// Locks the sprint and lets the domain's state machine decide `transition` on its state:
/// the state it goes to (`None`: deleted), `Conflict(InvalidState)` when the transition is
/// refused, `NotFound` when the project has no such sprint.
async fn lock_for(
    tx: &impl Conn,
    project_id: Uuid,
    sprint_id: Uuid,
    transition: Transition,
) -> Result<Option<SprintState>, RepoError> {
    let row = db::fetch_optional(
        tx,
        "SELECT state FROM sprints WHERE project_id = $1 AND id = $2 FOR UPDATE",
        &[&project_id, &sprint_id],
    )
    .await?
    .ok_or(RepoError::NotFound)?;
    let state: &str = get(&row, "state")?;
    let state = SprintState::parse(state)
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
        let row = db::fetch_one(
            &self.conn().await?,
            concat!(
                "INSERT INTO sprints (id, project_id, name, goal, starts_on, ends_on) VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING ",
                sprint_columns!()
            ),
            &[
                &sprint.id,
                &project_id,
                &sprint.name.as_str(),
                &sprint.goal.as_str(),
                &sprint.starts_on,
                &sprint.ends_on,
            ],
        )
        .await?;
        sprint_from_row(&row)
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn list(
        &self,
        project_id: Uuid,
        state: Option<SprintState>,
        page: &PageRequest<SprintKey>,
    ) -> Result<Page<Sprint, SprintKey>, RepoError> {
        let (after_at, after_id) = page.after.as_ref().map(|k| (k.created_at, k.id)).unzip();
        let rows = db::fetch_all(
            &self.conn().await?,
            concat!(
                "SELECT ",
                sprint_columns!(),
                " FROM sprints
                 WHERE project_id = $1 AND ($2::text IS NULL OR state = $2)
                   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
                 ORDER BY created_at DESC, id DESC
                 LIMIT $5"
            ),
            &[
                &project_id,
                &state.map(SprintState::as_str),
                &after_at,
                &after_id,
                &page.limit.probe(),
            ],
        )
        .await?;
        let sprints = rows.iter().map(sprint_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(sprints, page.limit, |s| SprintKey {
            created_at: s.created_at,
            id: s.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn find(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Option<Sprint>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            concat!(
                "SELECT ",
                sprint_columns!(),
                " FROM sprints WHERE project_id = $1 AND id = $2"
            ),
            &[&project_id, &sprint_id],
        )
        .await?
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
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        let locked = db::fetch_optional(
            &tx,
            concat!(
                "SELECT ",
                sprint_columns!(),
                " FROM sprints WHERE project_id = $1 AND id = $2 FOR UPDATE"
            ),
            &[&project_id, &sprint_id],
        )
        .await?;
        let current = sprint_from_row(&locked.ok_or(RepoError::NotFound)?)?;
        let patch = match decide.decide(&current) {
            Ok(Some(patch)) => patch,
            Ok(None) => return Ok(current),
            Err(refused) => return Err(RepoError::Refused(Box::new(refused))),
        };
        let row = db::fetch_one(
            &tx,
            concat!(
                "UPDATE sprints SET
                     name = COALESCE($3::text, name),
                     goal = COALESCE($4::text, goal),
                     starts_on = CASE WHEN $5::bool THEN $6::date ELSE starts_on END,
                     ends_on = CASE WHEN $7::bool THEN $8::date ELSE ends_on END,
                     updated_at = now()
                 WHERE project_id = $1 AND id = $2
                 RETURNING ",
                sprint_columns!()
            ),
            &[
                &project_id,
                &sprint_id,
                &patch.name.as_ref().map(|n| n.as_str()),
                &patch.goal.as_ref().map(|g| g.as_str()),
                &patch.starts_on.is_some(),
                &patch.starts_on.flatten(),
                &patch.ends_on.is_some(),
                &patch.ends_on.flatten(),
            ],
        )
        .await?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_pg)?;
        Ok(sprint)
    }

    #[tracing::instrument(skip_all, fields(sprint_id = %sprint_id))]
    async fn start(&self, project_id: Uuid, sprint_id: Uuid) -> Result<Sprint, RepoError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        let next = lock_for(&tx, project_id, sprint_id, Transition::Start).await?;
        // The partial unique index refuses a second active sprint of the project.
        let row = db::fetch_one(
            &tx,
            concat!(
                "UPDATE sprints SET state = $2, started_at = now(), updated_at = now()
                 WHERE id = $1
                 RETURNING ",
                sprint_columns!()
            ),
            &[&sprint_id, &next.map(SprintState::as_str)],
        )
        .await?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_pg)?;
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
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        let next = lock_for(&tx, project_id, sprint_id, Transition::Complete).await?;
        let target_id = match target {
            CompletionTarget::Backlog => None,
            CompletionTarget::Sprint(id) => {
                // Held until commit: the target cannot start or go away meanwhile.
                let planned = db::fetch_optional(
                    &tx,
                    "SELECT id FROM sprints WHERE project_id = $1 AND id = $2 AND state = $3 FOR SHARE",
                    &[&project_id, &id, &COMPLETION_TARGET_STATE.as_str()],
                )
                .await?;
                Some(get::<Uuid>(&planned.ok_or(RepoError::NotFound)?, "id")?)
            }
        };
        let totals = db::fetch_one(
            &tx,
            "SELECT count(*) AS issues, COALESCE(sum(story_points), 0)::bigint AS points FROM issues
             WHERE sprint_id = $1 AND deleted_at IS NULL AND status = ANY($2)",
            &[&sprint_id, &IssueStatus::resolved_names()],
        )
        .await?;
        let completed_issues: i64 = get(&totals, "issues")?;
        let completed_points: i64 = get(&totals, "points")?;
        // Deleted issues move too, so none is left behind in a closed sprint if restored.
        let moved = db::fetch_all(
            &tx,
            "UPDATE issues SET sprint_id = $2, version = version + 1, updated_at = now()
             WHERE sprint_id = $1 AND status <> ALL($3)
             RETURNING id, deleted_at IS NULL AS live",
            &[&sprint_id, &target_id, &IssueStatus::resolved_names()],
        )
        .await?
        .iter()
        .map(|row| Ok((get::<Uuid>(row, "id")?, get::<bool>(row, "live")?)))
        .collect::<Result<Vec<_>, RepoError>>()?;
        let moved_ids: Vec<Uuid> = moved.iter().map(|(id, _)| *id).collect();
        record_events(
            &tx,
            project_id,
            actor,
            EventKind::Moved,
            &moved_ids,
            &sprint_change(sprint_id, target_id),
        )
        .await?;
        let row = db::fetch_one(
            &tx,
            concat!(
                "UPDATE sprints SET state = $2, completed_at = now(), updated_at = now() WHERE id = $1 RETURNING ",
                sprint_columns!()
            ),
            &[&sprint_id, &next.map(SprintState::as_str)],
        )
        .await?;
        let sprint = sprint_from_row(&row)?;
        tx.commit().await.map_err(map_pg)?;
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
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        // Deletion leaves no state behind; the decision is whether it may happen.
        lock_for(&tx, project_id, sprint_id, Transition::Delete).await?;
        let returned = db::fetch_all(
            &tx,
            "UPDATE issues SET sprint_id = NULL, version = version + 1, updated_at = now()
             WHERE sprint_id = $1 RETURNING id",
            &[&sprint_id],
        )
        .await?
        .iter()
        .map(|row| get::<Uuid>(row, "id"))
        .collect::<Result<Vec<_>, _>>()?;
        record_events(
            &tx,
            project_id,
            actor,
            EventKind::Updated,
            &returned,
            &sprint_change(sprint_id, None),
        )
        .await?;
        db::execute(&tx, "DELETE FROM sprints WHERE id = $1", &[&sprint_id]).await?;
        tx.commit().await.map_err(map_pg)?;
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
