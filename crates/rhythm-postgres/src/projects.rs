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
use tokio_postgres::Row;
use uuid::Uuid;

use crate::PgStore;
use crate::db::{self, Conn, get};
use crate::error::map_pg;
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

/// A project from the columns `id, key, name, description, created_at, updated_at`.
fn project_from_row(row: &Row) -> Result<Project, RepoError> {
    Ok(Project {
        id: get(row, "id")?,
        key: get(row, "key")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// A project and the caller's `role` column.
fn project_with_role_from_row(row: &Row) -> Result<ProjectWithRole, RepoError> {
    Ok(ProjectWithRole { my_role: parse_role(get(row, "role")?)?, project: project_from_row(row)? })
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
        let row = db::fetch_one(
            &self.conn().await?,
            "WITH p AS (
                 INSERT INTO projects (id, key, name, description) VALUES ($1, $2, $3, $4)
                 RETURNING id, key, name, description, created_at, updated_at
             ), m AS (
                 INSERT INTO project_members (project_id, user_id, role)
                 SELECT id, $5, $6 FROM p
                 RETURNING role
             )
             SELECT p.*, m.role FROM p, m",
            &[
                &project.id,
                &project.key.as_str(),
                &project.name.as_str(),
                &project.description.as_str(),
                &owner,
                &Role::Owner.as_str(),
            ],
        )
        .await?;
        project_with_role_from_row(&row)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn access(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectAccess>, RepoError> {
        let (id, key) = project_ref_binds(project);
        let row = db::fetch_optional(
            &self.conn().await?,
            "SELECT p.id, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
            &[&id, &key, &user],
        )
        .await?;
        row.map(|row| {
            Ok(ProjectAccess {
                project_id: get(&row, "id")?,
                role: parse_role(get(&row, "role")?)?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn find_for_member(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectWithRole>, RepoError> {
        let (id, key) = project_ref_binds(project);
        db::fetch_optional(
            &self.conn().await?,
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
            &[&id, &key, &user],
        )
        .await?
        .as_ref()
        .map(project_with_role_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list_for_member(
        &self,
        user: Uuid,
        page: &PageRequest<String>,
    ) -> Result<Page<ProjectWithRole, String>, RepoError> {
        let rows = db::fetch_all(
            &self.conn().await?,
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM project_members m JOIN projects p ON p.id = m.project_id
             WHERE m.user_id = $1 AND p.archived_at IS NULL AND ($2::text IS NULL OR p.key > $2)
             ORDER BY p.key
             LIMIT $3",
            &[&user, &page.after.as_deref(), &page.limit.probe()],
        )
        .await?;
        let projects =
            rows.iter().map(project_with_role_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(projects, page.limit, |p| p.project.key.clone()))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn update(&self, project_id: Uuid, patch: &ProjectPatch) -> Result<Project, RepoError> {
        // updated_at moves only when a value really changes.
        let row = db::fetch_optional(
            &self.conn().await?,
            "UPDATE projects p SET
                 name = COALESCE($2::text, p.name),
                 description = COALESCE($3::text, p.description),
                 updated_at = CASE
                     WHEN (COALESCE($2::text, p.name), COALESCE($3::text, p.description)) IS DISTINCT FROM (p.name, p.description)
                     THEN now() ELSE p.updated_at END
             WHERE p.id = $1 AND p.archived_at IS NULL
             RETURNING p.id, p.key, p.name, p.description, p.created_at, p.updated_at",
            &[
                &project_id,
                &patch.name.as_ref().map(|n| n.as_str()),
                &patch.description.as_ref().map(|d| d.as_str()),
            ],
        )
        .await?;
        row.as_ref().map(project_from_row).transpose()?.ok_or(RepoError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn archive(&self, project_id: Uuid) -> Result<(), RepoError> {
        let archived = db::execute(
            &self.conn().await?,
            "UPDATE projects SET archived_at = now() WHERE id = $1 AND archived_at IS NULL",
            &[&project_id],
        )
        .await?;
        if archived == 1 { Ok(()) } else { Err(RepoError::NotFound) }
    }
}

/// A member from the columns `id, name, email, role, added_at`.
fn member_from_row(row: &Row) -> Result<Member, RepoError> {
    Ok(Member {
        user: MemberUser {
            id: get(row, "id")?,
            name: get(row, "name")?,
            email: get(row, "email")?,
        },
        role: parse_role(get(row, "role")?)?,
        added_at: get(row, "added_at")?,
    })
}

/// Starts a membership change: takes the project's membership lock, then reads the
/// actor's role, the target and the owner count for the domain to decide on. `NotFound`
/// when the target is no member of the live project.
async fn begin_membership_change(
    tx: &impl Conn,
    change: &MembershipChange,
) -> Result<MembershipState, RepoError> {
    lock_project(tx, change.project_id, LockPurpose::Members).await?;
    let target = db::fetch_optional(
        tx,
        "SELECT u.id, u.name, u.email, m.role, m.added_at
         FROM project_members m JOIN users u ON u.id = m.user_id
         JOIN projects p ON p.id = m.project_id
         WHERE m.project_id = $1 AND m.user_id = $2 AND p.archived_at IS NULL",
        &[&change.project_id, &change.target_id],
    )
    .await?;
    let target = member_from_row(&target.ok_or(RepoError::NotFound)?)?;
    let row = db::fetch_one(
        tx,
        "SELECT (SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2) AS actor_role,
                (SELECT count(*) FROM project_members WHERE project_id = $1 AND role = $3) AS owners",
        &[&change.project_id, &change.actor_id, &Role::Owner.as_str()],
    )
    .await?;
    let actor_role: Option<&str> = get(&row, "actor_role")?;
    let owners: i64 = get(&row, "owners")?;
    Ok(MembershipState {
        actor_role: actor_role.map(parse_role).transpose()?,
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
        let rows = db::fetch_all(
            &self.conn().await?,
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND ($2::timestamptz IS NULL OR (m.added_at, m.user_id) > ($2, $3))
             ORDER BY m.added_at, m.user_id
             LIMIT $4",
            &[&project_id, &after_at, &after_id, &page.limit.probe()],
        )
        .await?;
        let members = rows.iter().map(member_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(members, page.limit, |m| MemberKey {
            added_at: m.added_at,
            user_id: m.user.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn find(&self, project_id: Uuid, user_id: Uuid) -> Result<Option<Member>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND m.user_id = $2",
            &[&project_id, &user_id],
        )
        .await?
        .as_ref()
        .map(member_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn add(&self, project_id: Uuid, user_id: Uuid, role: Role) -> Result<Member, RepoError> {
        let row = db::fetch_one(
            &self.conn().await?,
            "WITH m AS (
                 INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
                 RETURNING user_id, role, added_at
             )
             SELECT u.id, u.name, u.email, m.role, m.added_at FROM m JOIN users u ON u.id = m.user_id",
            &[&project_id, &user_id, &role.as_str()],
        )
        .await?;
        member_from_row(&row)
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn change_role(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, Role>,
    ) -> Result<Member, RepoError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        let state = begin_membership_change(&tx, change).await?;
        let Some(role) = decided(decide, &state)? else {
            return Ok(state.target);
        };
        let row = db::fetch_one(
            &tx,
            "WITH m AS (
                 UPDATE project_members SET role = $3 WHERE project_id = $1 AND user_id = $2
                 RETURNING user_id, role, added_at
             )
             SELECT u.id, u.name, u.email, m.role, m.added_at FROM m JOIN users u ON u.id = m.user_id",
            &[&change.project_id, &change.target_id, &role.as_str()],
        )
        .await?;
        let member = member_from_row(&row)?;
        tx.commit().await.map_err(map_pg)?;
        Ok(member)
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn remove(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, ()>,
    ) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        let state = begin_membership_change(&tx, change).await?;
        if decided(decide, &state)?.is_none() {
            return Ok(());
        }
        db::execute(
            &tx,
            "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
            &[&change.project_id, &change.target_id],
        )
        .await?;
        let unassigned = db::fetch_all(
            &tx,
            "UPDATE issues SET assignee_id = NULL, version = version + 1, updated_at = now()
             WHERE project_id = $1 AND assignee_id = $2 AND status <> ALL($3)
             RETURNING id",
            &[&change.project_id, &change.target_id, &IssueStatus::resolved_names()],
        )
        .await?
        .iter()
        .map(|row| get::<Uuid>(row, "id"))
        .collect::<Result<Vec<_>, _>>()?;
        record_events(
            &tx,
            change.project_id,
            change.actor_id,
            EventKind::Updated,
            &unassigned,
            &unassignment(change.target_id),
        )
        .await?;
        tx.commit().await.map_err(map_pg)?;
        Ok(())
    }
}
