//! Projects (`projects`) and memberships (`project_members`).
//!
//! Membership changes read actor, target and owner count inside their write transaction:
//! writes are serialized, so the state the domain decides on stays true until commit.

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
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get, get_time};
use crate::error::map_sqlx;

/// The two bind values that name a project: by id, or (id NULL) by key. Queries resolve
/// them with `COALESCE($1, (SELECT id FROM projects WHERE key = $2))`, one statement for
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
fn project_from_row(row: &SqliteRow) -> Result<Project, RepoError> {
    Ok(Project {
        id: get(row, "id")?,
        key: get(row, "key")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// A project and the caller's `role` column.
fn project_with_role_from_row(row: &SqliteRow) -> Result<ProjectWithRole, RepoError> {
    Ok(ProjectWithRole { my_role: parse_role(get(row, "role")?)?, project: project_from_row(row)? })
}

#[async_trait]
impl ProjectRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(project_id = %project.id))]
    async fn create(
        &self,
        project: &NewProject,
        owner: Uuid,
    ) -> Result<ProjectWithRole, RepoError> {
        // One transaction: the project and its first owner exist together or not at all.
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO projects (id, key, name, description, issue_counter, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 0, $5, $5)
             RETURNING id, key, name, description, created_at, updated_at",
        )
        .bind(project.id)
        .bind(project.key.as_str())
        .bind(project.name.as_str())
        .bind(project.description.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let created = project_from_row(&row)?;
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(project.id)
        .bind(owner)
        .bind(Role::Owner.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(ProjectWithRole { project: created, my_role: Role::Owner })
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn access(
        &self,
        project: &ProjectRef,
        user: Uuid,
    ) -> Result<Option<ProjectAccess>, RepoError> {
        let (id, key) = project_ref_binds(project);
        let row = sqlx::query(
            "SELECT p.id, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
        )
        .bind(id)
        .bind(key)
        .bind(user)
        .fetch_optional(self.readers())
        .await
        .map_err(map_sqlx)?;
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
        sqlx::query(
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1, (SELECT id FROM projects WHERE key = $2))
               AND p.archived_at IS NULL",
        )
        .bind(id)
        .bind(key)
        .bind(user)
        .fetch_optional(self.readers())
        .await
        .map_err(map_sqlx)?
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
        let rows = sqlx::query(
            "SELECT p.id, p.key, p.name, p.description, p.created_at, p.updated_at, m.role
             FROM project_members m JOIN projects p ON p.id = m.project_id
             WHERE m.user_id = $1 AND p.archived_at IS NULL AND ($2 IS NULL OR p.key > $2)
             ORDER BY p.key
             LIMIT $3",
        )
        .bind(user)
        .bind(page.after.as_deref())
        .bind(page.limit.probe())
        .fetch_all(self.readers())
        .await
        .map_err(map_sqlx)?;
        let projects =
            rows.iter().map(project_with_role_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(projects, page.limit, |p| p.project.key.clone()))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn update(&self, project_id: Uuid, patch: &ProjectPatch) -> Result<Project, RepoError> {
        // updated_at moves only when a value really changes.
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE projects SET
                 name = COALESCE($2, name),
                 description = COALESCE($3, description),
                 updated_at = CASE
                     WHEN COALESCE($2, name) IS NOT name OR COALESCE($3, description) IS NOT description
                     THEN $4 ELSE updated_at END
             WHERE id = $1 AND archived_at IS NULL
             RETURNING id, key, name, description, created_at, updated_at",
        )
        .bind(project_id)
        .bind(patch.name.as_ref().map(|n| n.as_str()))
        .bind(patch.description.as_ref().map(|d| d.as_str()))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let project = row.as_ref().map(project_from_row).transpose()?.ok_or(RepoError::NotFound)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(project)
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn archive(&self, project_id: Uuid) -> Result<(), RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let archived = sqlx::query(
            "UPDATE projects SET archived_at = $2 WHERE id = $1 AND archived_at IS NULL",
        )
        .bind(project_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .rows_affected();
        if archived != 1 {
            return Err(RepoError::NotFound);
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(())
    }
}

/// A member from the columns `id, name, email, role, added_at`.
fn member_from_row(row: &SqliteRow) -> Result<Member, RepoError> {
    Ok(Member {
        user: MemberUser {
            id: get(row, "id")?,
            name: get(row, "name")?,
            email: get(row, "email")?,
        },
        role: parse_role(get(row, "role")?)?,
        added_at: get_time(row, "added_at")?,
    })
}

/// The member `user_id` of the project, with their account's name and email.
async fn member_in(
    conn: &mut sqlx::SqliteConnection,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Member>, RepoError> {
    sqlx::query(
        "SELECT u.id, u.name, u.email, m.role, m.added_at
         FROM project_members m JOIN users u ON u.id = m.user_id
         WHERE m.project_id = $1 AND m.user_id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
    .map_err(map_sqlx)?
    .as_ref()
    .map(member_from_row)
    .transpose()
}

/// Reads, inside the write transaction, the actor's role, the target and the owner count
/// for the domain to decide on. `NotFound` when the target is no member of the live project.
async fn membership_state(
    tx: &mut sqlx::SqliteConnection,
    change: &MembershipChange,
) -> Result<MembershipState, RepoError> {
    let target = sqlx::query(
        "SELECT u.id, u.name, u.email, m.role, m.added_at
         FROM project_members m JOIN users u ON u.id = m.user_id
         JOIN projects p ON p.id = m.project_id
         WHERE m.project_id = $1 AND m.user_id = $2 AND p.archived_at IS NULL",
    )
    .bind(change.project_id)
    .bind(change.target_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_sqlx)?;
    let target = member_from_row(&target.ok_or(RepoError::NotFound)?)?;
    let row = sqlx::query(
        "SELECT (SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2) AS actor_role,
                (SELECT count(*) FROM project_members WHERE project_id = $1 AND role = $3) AS owners",
    )
    .bind(change.project_id)
    .bind(change.actor_id)
    .bind(Role::Owner.as_str())
    .fetch_one(&mut *tx)
    .await
    .map_err(map_sqlx)?;
    let actor_role: Option<String> = get(&row, "actor_role")?;
    let owners: i64 = get(&row, "owners")?;
    Ok(MembershipState {
        actor_role: actor_role.as_deref().map(parse_role).transpose()?,
        target,
        owners: u32::try_from(owners).unwrap_or(u32::MAX),
    })
}

/// Runs the domain's decision on the membership state read in the transaction.
fn decided<W>(
    decide: &Decision<MembershipState, W>,
    state: &MembershipState,
) -> Result<Option<W>, RepoError> {
    decide.decide(state).map_err(|refused| RepoError::Refused(Box::new(refused)))
}

/// The statuses whose issues keep their assignee when the assignee leaves, as a JSON array
/// for `json_each`.
fn resolved_statuses() -> Result<String, RepoError> {
    serde_json::to_string(&IssueStatus::resolved_names())
        .map_err(|e| RepoError::Internal(format!("encoding statuses: {e}")))
}

#[async_trait]
impl MemberRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn list(
        &self,
        project_id: Uuid,
        page: &PageRequest<MemberKey>,
    ) -> Result<Page<Member, MemberKey>, RepoError> {
        let (after_at, after_id) =
            page.after.as_ref().map(|k| (db::micros(k.added_at), k.user_id)).unzip();
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.email, m.role, m.added_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND ($2 IS NULL OR (m.added_at, m.user_id) > ($2, $3))
             ORDER BY m.added_at, m.user_id
             LIMIT $4",
        )
        .bind(project_id)
        .bind(after_at)
        .bind(after_id)
        .bind(page.limit.probe())
        .fetch_all(self.readers())
        .await
        .map_err(map_sqlx)?;
        let members = rows.iter().map(member_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(members, page.limit, |m| MemberKey {
            added_at: m.added_at,
            user_id: m.user.id,
        }))
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn find(&self, project_id: Uuid, user_id: Uuid) -> Result<Option<Member>, RepoError> {
        let mut conn = self.read().await?;
        member_in(&mut conn, project_id, user_id).await
    }

    #[tracing::instrument(skip_all, fields(project_id = %project_id, user_id = %user_id))]
    async fn add(&self, project_id: Uuid, user_id: Uuid, role: Role) -> Result<Member, RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        // An unknown user or project fails the foreign key: NotFound.
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let member = member_in(&mut tx, project_id, user_id).await?.ok_or_else(|| {
            RepoError::Internal("a membership just added cannot be read back".into())
        })?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(member)
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn change_role(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, Role>,
    ) -> Result<Member, RepoError> {
        let mut tx = self.write().await?;
        let state = membership_state(&mut tx, change).await?;
        let Some(role) = decided(decide, &state)? else {
            return Ok(state.target);
        };
        sqlx::query("UPDATE project_members SET role = $3 WHERE project_id = $1 AND user_id = $2")
            .bind(change.project_id)
            .bind(change.target_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(Member { role, ..state.target })
    }

    #[tracing::instrument(skip_all, fields(project_id = %change.project_id, target = %change.target_id))]
    async fn remove(
        &self,
        change: &MembershipChange,
        decide: &Decision<MembershipState, ()>,
    ) -> Result<(), RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let state = membership_state(&mut tx, change).await?;
        if decided(decide, &state)?.is_none() {
            return Ok(());
        }
        sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(change.project_id)
            .bind(change.target_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        // Open issues lose the leaver as assignee; resolved ones keep their history's owner.
        let unassigned: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE issues SET assignee_id = NULL, version = version + 1, updated_at = $3
             WHERE project_id = $1 AND assignee_id = $2
               AND status NOT IN (SELECT value FROM json_each($4))
             RETURNING id",
        )
        .bind(change.project_id)
        .bind(change.target_id)
        .bind(now)
        .bind(resolved_statuses()?)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        if !unassigned.is_empty() {
            let changes = serde_json::to_string(&unassignment(change.target_id))
                .map_err(|e| RepoError::Internal(format!("encoding event changes: {e}")))?;
            for issue_id in unassigned {
                sqlx::query(
                    "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(Uuid::now_v7())
                .bind(change.project_id)
                .bind(issue_id)
                .bind(change.actor_id)
                .bind(EventKind::Updated.as_str())
                .bind(&changes)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            }
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(())
    }
}
