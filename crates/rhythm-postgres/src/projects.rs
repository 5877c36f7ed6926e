//! Projects (`projects`) and memberships (`project_members`).

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::{EventKind, unassignment};
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::ports::{Decision, MemberRepository, ProjectRepository};
use rhythm_domain::project::{
    Member, MemberKey, MemberUser, MembershipChange, MembershipState, NewProject, Project,
    ProjectAccess, ProjectPatch, ProjectWithRole,
};
use rhythm_domain::values::{IssueStatus, ProjectRef, Role};
use sqlx::{FromRow, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::map_err;
use crate::issues::record_events;
use crate::locks::{LockPurpose, lock_project};

/// The two bind values that name a project: by id, or (id NULL) by key. Queries resolve
/// them with `COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2))`, one plan for
/// both ways of naming a project.
pub(crate) fn project_ref_binds(project: &ProjectRef) -> (Option<Uuid>, Option<&str>) {
    match project {
        ProjectRef::Id(id) => (Some(*id), None),
        ProjectRef::Key(key) => (None, Some(key.as_str())),
    }
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, RepoError> {
    Role::parse(raw)
        .map_err(|_| RepoError::Internal(format!("unknown role in the database: {raw}")))
}

#[derive(FromRow)]
struct ProjectRow {
    id: Uuid,
    key: String,
    name: String,
    description: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Project {
            id: row.id,
            key: row.key,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(FromRow)]
struct ProjectWithRoleRow {
    #[sqlx(flatten)]
    project: ProjectRow,
    role: String,
}

impl TryFrom<ProjectWithRoleRow> for ProjectWithRole {
    type Error = RepoError;

    fn try_from(row: ProjectWithRoleRow) -> Result<Self, RepoError> {
        Ok(ProjectWithRole { my_role: parse_role(&row.role)?, project: row.project.into() })
    }
}

#[async_trait]
impl ProjectRepository for PgStore {
    #[tracing::instrument(skip_all, fields(project_id = %project.id))]
    async fn create(
        &self,
        project: &NewProject,
        owner: Uuid,
    ) -> Result<ProjectWithRole, RepoError> {
        // One statement: the project and its first owner exist together or not at all.
        let row: ProjectWithRoleRow = sqlx::query_as(
            "WITH p AS (
                 INSERT INTO projects (id, key, name, description) VALUES ($1, $2, $3, $4)
                 RETURNING id, key, name, description, created_at, updated_at
             ), m AS (
                 INSERT INTO project_members (project_id, user_id, role)
                 SELECT id, $5, $6 FROM p
                 RETURNING role
             )
             SELECT p.*, m.role FROM p, m",
        )
        .bind(project.id)
        .bind(project.key.as_str())
        .bind(project.name.as_str())
        .bind(project.description.as_str())
        .bind(owner)
        .bind(Role::Owner.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn access(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectAccess>, RepoError> {
        let (id, key) = project_ref_binds(project);
        let row: Option<(Uuid, String)> = sqlx::query_as(
            "SELECT p.id, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
        )
        .bind(id)
        .bind(key)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|(project_id, role)| Ok(ProjectAccess { project_id, role: parse_role(&role)? }))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn find_for_member(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectWithRole>, RepoError> {
        let (id, key) = project_ref_binds(project);
        let row: Option<ProjectWithRoleRow> = sqlx::query_as(
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
        )
        .bind(id)
        .bind(key)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(ProjectWithRole::try_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list_for_member(
        &self,
        user: Uuid,
        page: &PageRequest<String>,
    ) -> Result<Page<ProjectWithRole, String>, RepoError> {
        let rows: Vec<ProjectWithRoleRow> = sqlx::query_as(
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM project_members m JOIN projects p ON p.id = m.project_id
             WHERE m.user_id = $1 AND p.archived_at IS NULL AND ($2::text IS NULL OR p.key > $2)
             ORDER BY p.key
             LIMIT $3",
        )
        .bind(user)
        .bind(page.after.as_deref())
        .bind(page.limit.probe())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let projects =
            rows.into_iter().map(ProjectWithRole::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(projects, page.limit, |p| p.project.key.clone()))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn update(&self, project_id: Uuid, patch: &ProjectPatch) -> Result<Project, RepoError> {
        // updated_at moves only when a value really changes.
        let row: Option<ProjectRow> = sqlx::query_as(
            "UPDATE projects p SET
                 name = COALESCE($2, p.name),
                 description = COALESCE($3, p.description),
                 updated_at = CASE
                     WHEN (COALESCE($2, p.name), COALESCE($3, p.description)) IS DISTINCT FROM (p.name, p.description)
                     THEN now() ELSE p.updated_at END
             WHERE p.id = $1 AND p.archived_at IS NULL
             RETURNING p.id, p.key, p.name, p.description, p.created_at, p.updated_at",
        )
        .bind(project_id)
        .bind(patch.name.as_ref().map(|n| n.as_str()))
        .bind(patch.description.as_ref().map(|d| d.as_str()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Project::from).ok_or(RepoError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn archive(&self, project_id: Uuid) -> Result<(), RepoError> {
        let done = sqlx::query(
            "UPDATE projects SET archived_at = now() WHERE id = $1 AND archived_at IS NULL",
        )
        .bind(project_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 1 { Ok(()) } else { Err(RepoError::NotFound) }
    }
}

#[derive(FromRow)]
struct MemberRow {
    id: Uuid,
    name: String,
    email: String,
    role: String,
    added_at: OffsetDateTime,
}

impl TryFrom<MemberRow> for Member {
    type Error = RepoError;

    fn try_from(row: MemberRow) -> Result<Self, RepoError> {
        Ok(Member {
            user: MemberUser { id: row.id, name: row.name, email: row.email },
            role: parse_role(&row.role)?,
            added_at: row.added_at,
        })
    }
}

/// Starts a membership change: takes the project's membership lock, then reads the
/// actor's role, the target and the owner count for the domain to decide on. `NotFound`
/// when the target is no member of the live project.
async fn begin_membership_change(
    tx: &mut Transaction<'_, Postgres>,
    change: &MembershipChange,
) -> Result<MembershipState, RepoError> {
    lock_project(tx, change.project_id, LockPurpose::Members).await?;
    let target: Option<MemberRow> = sqlx::query_as(
        "SELECT u.id, u.name, u.email, m.role, m.added_at
         FROM project_members m JOIN users u ON u.id = m.user_id
         JOIN projects p ON p.id = m.project_id
         WHERE m.project_id = $1 AND m.user_id = $2 AND p.archived_at IS NULL",
    )
    .bind(change.project_id)
    .bind(change.target_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?;
    let target = Member::try_from(target.ok_or(RepoError::NotFound)?)?;
    let (actor_role, owners): (Option<String>, i64) = sqlx::query_as(
        "SELECT (SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2),
                (SELECT count(*) FROM project_members WHERE project_id = $1 AND role = $3)",
    )
    .bind(change.project_id)
    .bind(change.actor_id)
    .bind(Role::Owner.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(MembershipState {
        actor_role: actor_role.as_deref().map(parse_role).transpose()?,
        target,
        owners: u32::try_from(owners).unwrap_or(u32::MAX),
    })
}

/// Runs the domain's decision on the locked membership state.
fn decided<W>(
    decide: &Decision<MembershipState, W>,
    state: &MembershipState,
) -> Result<Option<W>, RepoError> {
    decide.decide(state).map_err(|refused| RepoError::Refused(Box::new(refused)))
}

#[async_trait]
impl MemberRepository for PgStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn list(
        &self,
        project_id: Uuid,
        page: &PageRequest<MemberKey>,
    ) -> Result<Page<Member, MemberKey>, RepoError> {
        let (after_at, after_id) = page.after.as_ref().map(|k| (k.added_at, k.user_id)).unzip();
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND ($2::timestamptz IS NULL OR (m.added_at, m.user_id) > ($2, $3))
             ORDER BY m.added_at, m.user_id
             LIMIT $4",
        )
        .bind(project_id)
        .bind(after_at)
        .bind(after_id)
        .bind(page.limit.probe())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let members = rows.into_iter().map(Member::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(members, page.limit, |m| MemberKey {
            added_at: m.added_at,
            user_id: m.user.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn find(&self, project_id: Uuid, user_id: Uuid) -> Result<Option<Member>, RepoError> {
        let row: Option<MemberRow> = sqlx::query_as(
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND m.user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Member::try_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn add(&self, project_id: Uuid, user_id: Uuid, role: Role) -> Result<Member, RepoError> {
        let row: MemberRow = sqlx::query_as(
            "WITH m AS (
                 INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
                 RETURNING user_id, role, added_at
             )
             SELECT u.id, u.name, u.email, m.role, m.added_at FROM m JOIN users u ON u.id = m.user_id",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn change_role(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, Role>,
    ) -> Result<Member, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let state = begin_membership_change(&mut tx, change).await?;
        let Some(role) = decided(decide, &state)? else {
            return Ok(state.target);
        };
        let row: MemberRow = sqlx::query_as(
            "WITH m AS (
                 UPDATE project_members SET role = $3 WHERE project_id = $1 AND user_id = $2
                 RETURNING user_id, role, added_at
             )
             SELECT u.id, u.name, u.email, m.role, m.added_at FROM m JOIN users u ON u.id = m.user_id",
        )
        .bind(change.project_id)
        .bind(change.target_id)
        .bind(role.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn remove(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, ()>,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let state = begin_membership_change(&mut tx, change).await?;
        if decided(decide, &state)?.is_none() {
            return Ok(());
        }
        sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(change.project_id)
            .bind(change.target_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let unassigned: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE issues SET assignee_id = NULL, version = version + 1, updated_at = now()
             WHERE project_id = $1 AND assignee_id = $2 AND status <> ALL($3)
             RETURNING id",
        )
        .bind(change.project_id)
        .bind(change.target_id)
        .bind(IssueStatus::resolved_names())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        record_events(
            &mut tx,
            change.project_id,
            change.actor_id,
            EventKind::Updated,
            &unassigned,
            &unassignment(change.target_id),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }
}
