//! Issues (`issues`) and their history (`issue_events`).
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction on the writer connection, so it
//! holds the database's write lock from its first read: the counter, the reference checks,
//! the row and the event land together or not at all, and an update decides on the issue as
//! it is, with no concurrent writer in between (they queue on the writer instead of failing).
//! The listing lives in [`list`].

mod list;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::{
    Changes, CreateOutcome, Deleted, EventKey, EventKind, InvalidRefs, Issue, IssueEdit,
    IssueEvent, IssueFilter, IssueKey, IssueSort, NewIssue, SUMMARY_READ_CHARS, UpdateOutcome,
};
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::policy;
use rhythm_domain::ports::{Decision, IssueRepository};
use rhythm_domain::project::{ProjectAccess, Scoped};
use rhythm_domain::values::{IssueStatus, IssueType, Priority, ProjectRef, SprintState};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get, get_time, get_time_opt};
use crate::error::map_sqlx;
use crate::projects::{parse_role, project_ref_binds};

pub(crate) use list::push_filters;

/// The issue columns every read selects but the description (aliased `i`), as a literal
/// for `concat!`.
macro_rules! issue_columns_but_description {
    () => {
        "i.id, i.project_id, i.number, i.title, i.status, i.priority, i.type, \
         i.assignee_id, i.reporter_id, i.sprint_id, i.story_points, i.rank, i.version, \
         i.created_at, i.updated_at, i.resolved_at"
    };
}
pub(crate) use issue_columns_but_description;

/// The issue columns every read selects (aliased `i`), as a literal for `concat!`.
macro_rules! issue_columns {
    () => {
        concat!(crate::issues::issue_columns_but_description!(), ", i.description")
    };
}
pub(crate) use issue_columns;

/// The issue columns every read selects (aliased `i`), decoded by [`issue_from_row`].
pub(crate) const ISSUE_COLUMNS: &str = issue_columns!();

/// The issue columns of listings: as [`ISSUE_COLUMNS`] with the description cut to the
/// domain's `SUMMARY_READ_CHARS` characters (`substr` counts characters in text).
pub(crate) fn push_summary_columns(qb: &mut QueryBuilder<Sqlite>) {
    qb.push(issue_columns_but_description!());
    qb.push(", substr(i.description, 1, ");
    qb.push_bind(i64::try_from(SUMMARY_READ_CHARS).unwrap_or(i64::MAX));
    qb.push(") AS description");
}

/// A stored status, which the schema's CHECK keeps to the domain's names.
pub(crate) fn parse_status(raw: &str) -> Result<IssueStatus, RepoError> {
    decode("status", raw, |s| IssueStatus::parse(s).ok())
}

fn decode<T>(field: &str, raw: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, RepoError> {
    parse(raw)
        .ok_or_else(|| RepoError::Internal(format!("unexpected {field} in the database: {raw}")))
}

/// Decodes the issue columns of `row` (by name: `RETURNING *` works too); `None` when the
/// (left-joined) issue is absent.
pub(crate) fn issue_from_row(
    row: &SqliteRow,
    project_key: &str,
) -> Result<Option<Issue>, RepoError> {
    let Some(id) = get::<Option<Uuid>>(row, "id")? else {
        return Ok(None);
    };
    let number: i64 = get(row, "number")?;
    let priority: i64 = get(row, "priority")?;
    Ok(Some(Issue {
        id,
        project_id: get(row, "project_id")?,
        number,
        key: format!("{project_key}-{number}"),
        title: get(row, "title")?,
        description: get(row, "description")?,
        status: parse_status(get(row, "status")?)?,
        priority: i16::try_from(priority).ok().and_then(Priority::from_level).ok_or_else(|| {
            RepoError::Internal(format!("unexpected priority in the database: {priority}"))
        })?,
        issue_type: decode("type", get(row, "type")?, |s| IssueType::parse(s).ok())?,
        assignee_id: get(row, "assignee_id")?,
        reporter_id: get(row, "reporter_id")?,
        sprint_id: get(row, "sprint_id")?,
        story_points: get(row, "story_points")?,
        rank: get(row, "rank")?,
        version: get(row, "version")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
        resolved_at: get_time_opt(row, "resolved_at")?,
    }))
}

fn project_key_of(row: &SqliteRow) -> Result<String, RepoError> {
    get(row, "project_key")
}

/// The caller's standing, from the `access_project_id` and `role` columns of a scoped read
/// (see [`access_prologue`]).
pub(crate) fn access_from_row(row: &SqliteRow) -> Result<ProjectAccess, RepoError> {
    Ok(ProjectAccess {
        project_id: get(row, "access_project_id")?,
        role: parse_role(get(row, "role")?)?,
    })
}

/// Starts a query with the CTE `access`: the caller's standing in the project, in the
/// columns `access_project_id` (BLOB id), `project_key` (TEXT) and `role` (TEXT, decoded
/// by [`access_from_row`]); no row when the project is unknown or archived or the caller is
/// no member. Reads join their data to it (`FROM access a LEFT JOIN …`, or `WHERE
/// i.project_id = (SELECT access_project_id FROM access)`), so the membership check and the
/// read are one statement and see one snapshot. Continue with `, next_cte AS (…)` or with
/// ` SELECT …`.
pub(crate) fn access_prologue(project: &ProjectRef, user: Uuid) -> QueryBuilder<Sqlite> {
    let (id, key) = project_ref_binds(project);
    let mut qb = QueryBuilder::new(
        "WITH access AS (
             SELECT p.id AS access_project_id, p.key AS project_key, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = ",
    );
    qb.push_bind(user);
    qb.push(" WHERE p.id = coalesce(");
    qb.push_bind(id);
    qb.push(", (SELECT id FROM projects WHERE key = ");
    qb.push_bind(key.map(str::to_owned));
    qb.push(")) AND p.archived_at IS NULL)");
    qb
}

/// The JSON text of an event's changes: `{field: {from, to}}`, as PostgreSQL stores it.
pub(crate) fn encode_changes(changes: &Changes) -> Result<String, RepoError> {
    serde_json::to_string(changes)
        .map_err(|e| RepoError::Internal(format!("encoding event changes: {e}")))
}

fn decode_changes(raw: &str) -> Result<Changes, RepoError> {
    serde_json::from_str(raw)
        .map_err(|e| RepoError::Internal(format!("unexpected event changes in the database: {e}")))
}

/// Records one event of `kind` with the same `changes` for each issue, at `at` (the write's
/// time), inside the caller's write transaction.
pub(crate) async fn record_events(
    conn: &mut SqliteConnection,
    project_id: Uuid,
    actor: Uuid,
    kind: EventKind,
    issue_ids: &[Uuid],
    changes: &Changes,
    at: OffsetDateTime,
) -> Result<(), RepoError> {
    if issue_ids.is_empty() {
        return Ok(());
    }
    let changes = encode_changes(changes)?;
    // One prepared statement (sqlx caches it) per issue: in-process, a statement costs
    // microseconds, and no batch can exceed SQLite's bound-parameter limit.
    for issue_id in issue_ids {
        sqlx::query(
            "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(project_id)
        .bind(issue_id)
        .bind(actor)
        .bind(kind.as_str())
        .bind(changes.as_str())
        .bind(db::micros(at))
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    }
    Ok(())
}

/// Checks, inside the write transaction (which no removal or completion can interleave
/// with), that the assignee is a member whose role the domain lets be assigned and the
/// sprint a sprint of the project that is not closed. `None`s are not checked.
async fn check_refs(
    conn: &mut SqliteConnection,
    project_id: Uuid,
    assignee: Option<Uuid>,
    sprint: Option<Uuid>,
) -> Result<InvalidRefs, RepoError> {
    let mut refs = InvalidRefs::default();
    if let Some(assignee) = assignee {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(assignee)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
        refs.assignee = match role {
            Some(role) => !policy::may_be_assigned(parse_role(&role)?),
            None => true,
        };
    }
    if let Some(sprint) = sprint {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM sprints WHERE project_id = $1 AND id = $2")
                .bind(project_id)
                .bind(sprint)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_sqlx)?;
        refs.sprint = state.is_none_or(|s| s == SprintState::Closed.as_str());
    }
    Ok(refs)
}

/// Records the single event of one issue's write.
async fn record_event(
    conn: &mut SqliteConnection,
    issue: &Issue,
    actor: Uuid,
    kind: EventKind,
    changes: &Changes,
    at: OffsetDateTime,
) -> Result<(), RepoError> {
    record_events(conn, issue.project_id, actor, kind, &[issue.id], changes, at).await
}

fn event_from_row(row: &SqliteRow) -> Result<IssueEvent, RepoError> {
    Ok(IssueEvent {
        id: get(row, "id")?,
        actor_id: get(row, "actor_id")?,
        kind: decode("event kind", get(row, "kind")?, EventKind::parse)?,
        changes: decode_changes(get(row, "changes")?)?,
        at: get_time(row, "at")?,
    })
}

#[async_trait]
impl IssueRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn create(
        &self,
        project_id: Uuid,
        issue: &NewIssue,
        reporter: Uuid,
    ) -> Result<CreateOutcome, RepoError> {
        let mut tx = self.write().await?;
        let now = db::now();
        // References first: a refused create takes no number.
        let refs = check_refs(&mut tx, project_id, issue.assignee_id, issue.sprint_id).await?;
        if refs.assignee || refs.sprint {
            return Ok(CreateOutcome::InvalidRefs(refs));
        }
        // Writes are serialized, so the counter is gap-free: a number is only taken by a
        // transaction that goes on to insert the issue and commit.
        let counter = sqlx::query(
            "UPDATE projects SET issue_counter = issue_counter + 1
             WHERE id = $1 AND archived_at IS NULL
             RETURNING key, issue_counter",
        )
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .ok_or(RepoError::NotFound)?;
        let project_key: String = get(&counter, "key")?;
        let number: i64 = get(&counter, "issue_counter")?;
        let row = sqlx::query(
            "INSERT INTO issues (id, project_id, number, title, description, status, priority,
                                 type, assignee_id, reporter_id, sprint_id, story_points, rank,
                                 created_at, updated_at, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
             RETURNING *",
        )
        .bind(issue.id)
        .bind(project_id)
        .bind(number)
        .bind(issue.title.as_str())
        .bind(issue.description.as_str())
        .bind(issue.status.as_str())
        .bind(i64::from(issue.priority.level()))
        .bind(issue.issue_type.as_str())
        .bind(issue.assignee_id)
        .bind(reporter)
        .bind(issue.sprint_id)
        .bind(issue.story_points.map(|p| p.get()))
        .bind(rhythm_domain::rank::for_position(number))
        .bind(db::micros(now))
        .bind(issue.status.is_resolved().then(|| db::micros(now)))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let created = issue_from_row(&row, &project_key)?
            .ok_or_else(|| RepoError::Internal("the inserted issue was not returned".into()))?;
        record_event(&mut tx, &created, reporter, EventKind::Created, &Changes::new(), now).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(CreateOutcome::Created(Box::new(created)))
    }

    #[tracing::instrument(skip_all, fields(number = number))]
    async fn find(
        &self,
        project: &ProjectRef,
        number: i64,
        user: Uuid,
        deleted: Deleted,
    ) -> Result<Option<Scoped<Option<Issue>>>, RepoError> {
        let mut qb = access_prologue(project, user);
        qb.push(" SELECT a.access_project_id, a.project_key, a.role, ");
        qb.push(ISSUE_COLUMNS);
        qb.push(
            " FROM access a
              LEFT JOIN issues i ON i.project_id = a.access_project_id AND i.number = ",
        );
        qb.push_bind(number);
        if deleted == Deleted::Exclude {
            qb.push(" AND i.deleted_at IS NULL");
        }
        let row = qb.build().fetch_optional(&mut *self.read().await?).await.map_err(map_sqlx)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let project_key = project_key_of(&row)?;
        Ok(Some(Scoped {
            access: access_from_row(&row)?,
            value: issue_from_row(&row, &project_key)?,
        }))
    }

    #[tracing::instrument(skip_all, fields(issue_id = %issue_id))]
    async fn update(
        &self,
        issue_id: Uuid,
        project_id: Uuid,
        actor: Uuid,
        decide: &Decision<Issue, IssueEdit>,
    ) -> Result<UpdateOutcome, RepoError> {
        let mut tx = self.write().await?;
        let now = db::now();
        // Read under the write lock: the decision is made on the version this write replaces.
        let row = sqlx::query(concat!(
            "SELECT p.key AS project_key, ",
            crate::issues::issue_columns!(),
            " FROM issues i JOIN projects p ON p.id = i.project_id
              WHERE i.id = $1 AND i.project_id = $2 AND i.deleted_at IS NULL"
        ))
        .bind(issue_id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let Some(row) = row else {
            return Ok(UpdateOutcome::Gone);
        };
        let project_key = project_key_of(&row)?;
        let current = issue_from_row(&row, &project_key)?.ok_or(RepoError::NotFound)?;
        let edit = match decide.decide(&current) {
            Ok(Some(edit)) => edit,
            Ok(None) => return Ok(UpdateOutcome::Unchanged(Box::new(current))),
            Err(refused) => return Err(RepoError::Refused(Box::new(refused))),
        };
        let refs =
            check_refs(&mut tx, project_id, edit.assignee_to_check(), edit.sprint_to_check())
                .await?;
        if refs.assignee || refs.sprint {
            return Ok(UpdateOutcome::InvalidRefs(refs));
        }
        let row = sqlx::query(
            "UPDATE issues SET
                 title = $2, description = $3, status = $4, priority = $5, type = $6,
                 assignee_id = $7, sprint_id = $8, story_points = $9,
                 resolved_at = CASE WHEN $10 THEN coalesce(resolved_at, $11) END,
                 version = version + 1, updated_at = $11
             WHERE id = $1
             RETURNING *",
        )
        .bind(issue_id)
        .bind(edit.title.as_str())
        .bind(edit.description.as_str())
        .bind(edit.status.as_str())
        .bind(i64::from(edit.priority.level()))
        .bind(edit.issue_type.as_str())
        .bind(edit.assignee_id)
        .bind(edit.sprint_id)
        .bind(edit.story_points)
        .bind(edit.status.is_resolved())
        .bind(db::micros(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let updated = issue_from_row(&row, &project_key)?
            .ok_or_else(|| RepoError::Internal("the updated issue was not returned".into()))?;
        record_event(&mut tx, &updated, actor, EventKind::Updated, &edit.changes, now).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(UpdateOutcome::Updated(Box::new(updated)))
    }

    #[tracing::instrument(skip_all, fields(issue_id = %issue_id, deleted = deleted))]
    async fn set_deleted(
        &self,
        issue_id: Uuid,
        deleted: bool,
        actor: Uuid,
    ) -> Result<Option<Issue>, RepoError> {
        let mut tx = self.write().await?;
        let now = db::now();
        let row = sqlx::query(
            "UPDATE issues SET deleted_at = CASE WHEN $2 THEN $3 END,
                               version = version + 1, updated_at = $3
             WHERE id = $1 AND (deleted_at IS NULL) = $2
             RETURNING *",
        )
        .bind(issue_id)
        .bind(deleted)
        .bind(db::micros(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let project_id: Uuid = get(&row, "project_id")?;
        let project_key: String = sqlx::query_scalar("SELECT key FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let issue = issue_from_row(&row, &project_key)?
            .ok_or_else(|| RepoError::Internal("the updated issue was not returned".into()))?;
        let kind = if deleted { EventKind::Deleted } else { EventKind::Restored };
        record_event(&mut tx, &issue, actor, kind, &Changes::new(), now).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(Some(issue))
    }

    #[tracing::instrument(skip_all, fields(sort = %sort.name()))]
    async fn list(
        &self,
        project: &ProjectRef,
        user: Uuid,
        filter: &IssueFilter,
        sort: IssueSort,
        page: &PageRequest<IssueKey>,
    ) -> Result<Option<Scoped<Page<Issue, IssueKey>>>, RepoError> {
        let mut qb = access_prologue(project, user);
        list::push_page(&mut qb, filter, sort, page)?;
        let rows = qb.build().fetch_all(&mut *self.read().await?).await.map_err(map_sqlx)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let access = access_from_row(first)?;
        let project_key = project_key_of(first)?;
        let mut issues = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(issue) = issue_from_row(row, &project_key)? {
                issues.push(issue);
            }
        }
        Ok(Some(Scoped { access, value: Page::from_probe(issues, page.limit, |i| sort.key_of(i)) }))
    }

    #[tracing::instrument(skip_all, fields(issue_id = %issue_id))]
    async fn events(
        &self,
        issue_id: Uuid,
        page: &PageRequest<EventKey>,
    ) -> Result<Page<IssueEvent, EventKey>, RepoError> {
        let (after_at, after_id) = page.after.as_ref().map(|k| (db::micros(k.at), k.id)).unzip();
        let rows = sqlx::query(
            "SELECT id, actor_id, kind, changes, at FROM issue_events
             WHERE issue_id = $1 AND ($2 IS NULL OR (at, id) > ($2, $3))
             ORDER BY at, id
             LIMIT $4",
        )
        .bind(issue_id)
        .bind(after_at)
        .bind(after_id)
        .bind(page.limit.probe())
        .fetch_all(&mut *self.read().await?)
        .await
        .map_err(map_sqlx)?;
        let events = rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(events, page.limit, |e| EventKey { at: e.at, id: e.id }))
    }
}
