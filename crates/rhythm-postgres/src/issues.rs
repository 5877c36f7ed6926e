//! Issues (`issues`) and their history (`issue_events`).
//!
//! Writes are single statements (data-modifying CTEs): the number counter, the row, the
//! reference checks and the event land together in one round trip, or not at all. An
//! update reads the issue under a row lock first, so the domain decides on the current
//! version and concurrent updates queue instead of failing.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::issue::{
    AssigneeFilter, Changes, CreateOutcome, Deleted, EventKey, EventKind, InvalidRefs, Issue,
    IssueEdit, IssueEvent, IssueFilter, IssueKey, IssueSort, IssueSortField, NewIssue,
    SUMMARY_READ_CHARS, SortValue, SprintFilter, UpdateOutcome,
};
use rhythm_domain::pagination::{Page, PageRequest};
use rhythm_domain::policy;
use rhythm_domain::ports::{Decision, IssueRepository};
use rhythm_domain::project::{ProjectAccess, Scoped};
use rhythm_domain::values::{IssueStatus, IssueType, Priority, ProjectRef, SprintState};
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use crate::PgStore;
use crate::db::{self, Conn, Sql, SqlType, get};
use crate::error::map_pg;
use crate::projects::{parse_role, project_ref_binds};

/// The issue columns every read selects but the description (aliased `i`).
macro_rules! issue_columns_but_description {
    () => {
        "i.id, i.project_id, i.number, i.title, i.status, i.priority, i.type, \
         i.assignee_id, i.reporter_id, i.sprint_id, i.story_points, i.rank, i.version, \
         i.created_at, i.updated_at, i.resolved_at"
    };
}
pub(crate) use issue_columns_but_description;

/// The issue columns every read selects (aliased `i`), decoded by [`issue_from_row`].
macro_rules! issue_columns {
    () => {
        concat!(crate::issues::issue_columns_but_description!(), ", i.description")
    };
}
pub(crate) use issue_columns;

/// The issue columns of listings: as [`issue_columns`] with the description cut to the
/// domain's `SUMMARY_READ_CHARS` characters (`left` reads only that slice of a long,
/// TOASTed description).
pub(crate) fn push_summary_columns(qb: &mut Sql) {
    qb.push(issue_columns_but_description!());
    qb.push(", left(i.description, ");
    qb.bind(SUMMARY_READ_CHARS as i32);
    qb.push(") AS description");
}

/// Checks, under share locks, that the assignee ($a) is a member whose role is one of
/// the roles the domain lets be assigned ($r, a text array) and the sprint ($s) a sprint of
/// the project ($p) that is not closed ($c): a concurrent removal or sprint completion waits
/// for this statement instead of slipping past it.
macro_rules! reference_checks {
    ($p:literal, $a:literal, $s:literal, $r:literal, $c:literal) => {
        concat!(
            "refs AS (SELECT (",
            $a,
            "::uuid IS NULL OR EXISTS (
                 SELECT 1 FROM project_members
                 WHERE project_id = ",
            $p,
            " AND user_id = ",
            $a,
            " AND role = ANY(",
            $r,
            "::text[])
                 FOR SHARE)) AS assignee_ok,
             (",
            $s,
            "::uuid IS NULL OR EXISTS (
                 SELECT 1 FROM sprints WHERE project_id = ",
            $p,
            " AND id = ",
            $s,
            " AND state <> ",
            $c,
            "
                 FOR SHARE)) AS sprint_ok)"
        )
    };
}

/// A stored status, which the schema's CHECK keeps to the domain's names.
pub(crate) fn parse_status(raw: &str) -> Result<IssueStatus, RepoError> {
    decode("status", raw, |s| IssueStatus::parse(s).ok())
}

fn decode<T>(field: &str, raw: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, RepoError> {
    parse(raw)
        .ok_or_else(|| RepoError::Internal(format!("unexpected {field} in the database: {raw}")))
}

/// Decodes the issue columns of `row`; `None` when the (left-joined) issue is absent.
pub(crate) fn issue_from_row(row: &Row, project_key: &str) -> Result<Option<Issue>, RepoError> {
    let Some(id) = get::<Option<Uuid>>(row, "id")? else {
        return Ok(None);
    };
    let number: i64 = get(row, "number")?;
    let status: &str = get(row, "status")?;
    let priority: i16 = get(row, "priority")?;
    let issue_type: &str = get(row, "type")?;
    Ok(Some(Issue {
        id,
        project_id: get(row, "project_id")?,
        number,
        key: format!("{project_key}-{number}"),
        title: get(row, "title")?,
        description: get(row, "description")?,
        status: decode("status", status, |s| IssueStatus::parse(s).ok())?,
        priority: Priority::from_level(priority).ok_or_else(|| {
            RepoError::Internal(format!("unexpected priority in the database: {priority}"))
        })?,
        issue_type: decode("type", issue_type, |s| IssueType::parse(s).ok())?,
        assignee_id: get(row, "assignee_id")?,
        reporter_id: get(row, "reporter_id")?,
        sprint_id: get(row, "sprint_id")?,
        story_points: get(row, "story_points")?,
        rank: get(row, "rank")?,
        version: get(row, "version")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        resolved_at: get(row, "resolved_at")?,
    }))
}

fn project_key_of(row: &Row) -> Result<String, RepoError> {
    get(row, "project_key")
}

/// The caller's standing, from the `access_project_id` and `role` columns of a scoped read.
pub(crate) fn access_from_row(row: &Row) -> Result<ProjectAccess, RepoError> {
    Ok(ProjectAccess {
        project_id: get(row, "access_project_id")?,
        role: parse_role(get(row, "role")?)?,
    })
}

fn refs_of(row: &Row) -> Result<InvalidRefs, RepoError> {
    Ok(InvalidRefs {
        assignee: !get::<bool>(row, "assignee_ok")?,
        sprint: !get::<bool>(row, "sprint_ok")?,
    })
}

/// Records one event of `kind` with the same `changes` for each issue, in one statement.
pub(crate) async fn record_events(
    conn: &impl Conn,
    project_id: Uuid,
    actor: Uuid,
    kind: EventKind,
    issue_ids: &[Uuid],
    changes: &Changes,
) -> Result<(), RepoError> {
    if issue_ids.is_empty() {
        return Ok(());
    }
    let event_ids: Vec<Uuid> = issue_ids.iter().map(|_| Uuid::now_v7()).collect();
    db::execute(
        conn,
        "INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes)
         SELECT event_id, $3, issue_id, $4, $5, $6
         FROM unnest($1::uuid[], $2::uuid[]) AS e(event_id, issue_id)",
        &[&event_ids, &issue_ids, &project_id, &actor, &kind.as_str(), &encode_changes(changes)?],
    )
    .await?;
    Ok(())
}

pub(crate) fn encode_changes(changes: &Changes) -> Result<serde_json::Value, RepoError> {
    serde_json::to_value(changes)
        .map_err(|e| RepoError::Internal(format!("encoding event changes: {e}")))
}

/// The scoped-read prologue: the caller's standing in the project named by $1 (id) or $2
/// (key), for user $3. No row when the project is unknown or archived or the caller is no
/// member.
macro_rules! access_cte {
    () => {
        "access AS (
             SELECT p.id AS access_project_id, p.key AS project_key, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
             WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2)) AND p.archived_at IS NULL
         )"
    };
}

#[async_trait]
impl IssueRepository for PgStore {
    #[tracing::instrument(skip_all, fields(project_id = %project_id))]
    async fn create(
        &self,
        project_id: Uuid,
        issue: &NewIssue,
        reporter: Uuid,
    ) -> Result<CreateOutcome, RepoError> {
        // The counter update takes the project row's lock, so creates of one project are
        // serialized and numbers are gap-free; the guard keeps a refused create from taking
        // a number. Resolved issues are created with resolved_at set.
        let row = db::fetch_one(
&self.conn().await?,
concat!(
            "WITH ",
            reference_checks!("$1", "$9", "$10", "$13", "$14"),
            ", counter AS (
                 UPDATE projects SET issue_counter = issue_counter + 1
                 WHERE id = $1 AND archived_at IS NULL AND (SELECT assignee_ok AND sprint_ok FROM refs)
                 RETURNING key, issue_counter
             ), i AS (
                 INSERT INTO issues (id, project_id, number, title, description, status, priority, type,
                                     assignee_id, reporter_id, sprint_id, story_points, rank, resolved_at)
                 SELECT $2, $1, c.issue_counter, $3, $4, $5, $6, $7, $9, $8, $10, $11,
                        rhythm_rank_for_position(c.issue_counter),
                        CASE WHEN $15 THEN now() END
                 FROM counter c
                 RETURNING *
             ), event AS (
                 INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind)
                 SELECT $12, i.project_id, i.id, $8, $16 FROM i
             )
             SELECT refs.assignee_ok, refs.sprint_ok, counter.key AS project_key, ",
            issue_columns!(),
            " FROM refs LEFT JOIN counter ON true LEFT JOIN i ON true"
        ),
&[&project_id, &issue.id, &issue.title.as_str(), &issue.description.as_str(), &issue.status.as_str(), &issue.priority.level(), &issue.issue_type.as_str(), &reporter, &issue.assignee_id, &issue.sprint_id, &issue.story_points.map(|p| p.get()), &Uuid::now_v7(), &policy::assignable_role_names(), &SprintState::Closed.as_str(), &issue.status.is_resolved(), &EventKind::Created.as_str()],
)
.await?;
        let refs = refs_of(&row)?;
        if refs.assignee || refs.sprint {
            return Ok(CreateOutcome::InvalidRefs(refs));
        }
        let key: Option<String> = get(&row, "project_key")?;
        let key = key.ok_or(RepoError::NotFound)?;
        issue_from_row(&row, &key)?
            .map(|i| CreateOutcome::Created(Box::new(i)))
            .ok_or(RepoError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(number = number))]
    async fn find(
        &self,
        project: &ProjectRef,
        number: i64,
        user: Uuid,
        deleted: Deleted,
    ) -> Result<Option<Scoped<Option<Issue>>>, RepoError> {
        let (id, key) = project_ref_binds(project);
        let row = db::fetch_optional(
            &self.conn().await?,
            concat!(
                "WITH ",
                access_cte!(),
                " SELECT a.access_project_id, a.project_key, a.role, ",
                issue_columns!(),
                " FROM access a
              LEFT JOIN issues i ON i.project_id = a.access_project_id AND i.number = $4
                                AND ($5 OR i.deleted_at IS NULL)"
            ),
            &[&id, &key, &user, &number, &(deleted == Deleted::Include)],
        )
        .await?;
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
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        // The row lock queues concurrent writers of this issue behind this transaction;
        // each then decides on the version the one before it wrote.
        let locked = db::fetch_optional(
            &tx,
            concat!(
                "SELECT p.key AS project_key, ",
                issue_columns!(),
                " FROM issues i JOIN projects p ON p.id = i.project_id
              WHERE i.id = $1 AND i.project_id = $2 AND i.deleted_at IS NULL
              FOR UPDATE OF i"
            ),
            &[&issue_id, &project_id],
        )
        .await?;
        let Some(row) = locked else {
            return Ok(UpdateOutcome::Gone);
        };
        let project_key = project_key_of(&row)?;
        let current = issue_from_row(&row, &project_key)?.ok_or(RepoError::NotFound)?;
        let edit = match decide.decide(&current) {
            Ok(Some(edit)) => edit,
            Ok(None) => return Ok(UpdateOutcome::Unchanged(Box::new(current))),
            Err(refused) => return Err(RepoError::Refused(Box::new(refused))),
        };
        let row = db::fetch_one(
            &tx,
            concat!(
                "WITH ",
                reference_checks!("$2", "$10", "$11", "$16", "$17"),
                ", u AS (
                 UPDATE issues SET
                     title = $3, description = $4, status = $5, priority = $6, type = $7,
                     assignee_id = $8, sprint_id = $9, story_points = $12,
                     resolved_at = CASE WHEN $18 THEN COALESCE(resolved_at, now()) END,
                     version = version + 1, updated_at = now()
                 WHERE id = $1 AND (SELECT assignee_ok AND sprint_ok FROM refs)
                 RETURNING *
             ), event AS (
                 INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind, changes)
                 SELECT $13, u.project_id, u.id, $14, $19, $15 FROM u
             )
             SELECT refs.assignee_ok, refs.sprint_ok, ",
                issue_columns!(),
                " FROM refs LEFT JOIN u i ON true"
            ),
            &[
                &issue_id,
                &project_id,
                &edit.title,
                &edit.description,
                &edit.status.as_str(),
                &edit.priority.level(),
                &edit.issue_type.as_str(),
                &edit.assignee_id,
                &edit.sprint_id,
                &edit.assignee_to_check(),
                &edit.sprint_to_check(),
                &edit.story_points,
                &Uuid::now_v7(),
                &actor,
                &encode_changes(&edit.changes)?,
                &policy::assignable_role_names(),
                &SprintState::Closed.as_str(),
                &edit.status.is_resolved(),
                &EventKind::Updated.as_str(),
            ],
        )
        .await?;
        let refs = refs_of(&row)?;
        if refs.assignee || refs.sprint {
            return Ok(UpdateOutcome::InvalidRefs(refs));
        }
        let updated = issue_from_row(&row, &project_key)?
            .ok_or_else(|| RepoError::Internal("the locked issue was not updated".into()))?;
        tx.commit().await.map_err(map_pg)?;
        Ok(UpdateOutcome::Updated(Box::new(updated)))
    }

    #[tracing::instrument(skip_all, fields(issue_id = %issue_id, deleted = deleted))]
    async fn set_deleted(
        &self,
        issue_id: Uuid,
        deleted: bool,
        actor: Uuid,
    ) -> Result<Option<Issue>, RepoError> {
        let row = db::fetch_optional(
            &self.conn().await?,
            concat!(
                "WITH i AS (
                 UPDATE issues SET deleted_at = CASE WHEN $2 THEN now() END,
                                   version = version + 1, updated_at = now()
                 WHERE id = $1 AND (deleted_at IS NULL) = $2
                 RETURNING *
             ), event AS (
                 INSERT INTO issue_events (id, project_id, issue_id, actor_id, kind)
                 SELECT $3, i.project_id, i.id, $4, $5 FROM i
             )
             SELECT p.key AS project_key, ",
                issue_columns!(),
                " FROM i JOIN projects p ON p.id = i.project_id"
            ),
            &[
                &issue_id,
                &deleted,
                &Uuid::now_v7(),
                &actor,
                &(if deleted { EventKind::Deleted } else { EventKind::Restored }).as_str(),
            ],
        )
        .await?;
        match row {
            Some(row) => issue_from_row(&row, &project_key_of(&row)?),
            None => Ok(None),
        }
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
        qb.push(" SELECT a.access_project_id, a.project_key, a.role, ");
        push_summary_columns(&mut qb);
        qb.push(" FROM access a LEFT JOIN LATERAL (SELECT * FROM issues i WHERE i.project_id = a.access_project_id");
        push_filters(&mut qb, filter);
        push_keyset(&mut qb, sort, page.after.as_ref())?;
        push_order(&mut qb, sort);
        qb.push(" LIMIT ");
        qb.bind(page.limit.probe());
        qb.push(") i ON true");
        let rows = qb.fetch_all(&self.conn().await?).await?;
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
        let (after_at, after_id) = page.after.as_ref().map(|k| (k.at, k.id)).unzip();
        let rows = db::fetch_all(
            &self.conn().await?,
            "SELECT id, actor_id, kind, changes, at FROM issue_events
             WHERE issue_id = $1 AND ($2::timestamptz IS NULL OR (at, id) > ($2, $3))
             ORDER BY at, id
             LIMIT $4",
            &[&issue_id, &after_at, &after_id, &page.limit.probe()],
        )
        .await?;
        let events = rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_probe(events, page.limit, |e| EventKey { at: e.at, id: e.id }))
    }
}

/// Starts a query with the CTE `access`: the caller's standing in the project (columns
/// `access_project_id`, `project_key`, `role`), no row when the project is unknown or
/// archived or the caller is no member. Reads join their data to it, so the membership
/// check and the read share one round trip.
pub(crate) fn access_prologue(project: &ProjectRef, user: Uuid) -> Sql {
    let (id, key) = project_ref_binds(project);
    let mut qb = Sql::new(
        "WITH access AS (
             SELECT p.id AS access_project_id, p.key AS project_key, m.role
             FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = ",
    );
    qb.bind(user);
    qb.push(" WHERE p.id = COALESCE(");
    qb.bind(id);
    qb.push("::uuid, (SELECT id FROM projects WHERE key = ");
    qb.bind(key.map(str::to_owned));
    qb.push(")) AND p.archived_at IS NULL)");
    qb
}

/// `AND column = value` for one value (so an index on the column can also give the sort
/// order: `= ANY` does not, and a board column sorted by rank would sort every issue of the
/// column), `AND column = ANY(values)` for several, nothing for none.
fn push_one_of<T>(qb: &mut Sql, column: &str, mut values: Vec<T>)
where
    T: ToSql + SqlType + Sync + Send + 'static,
    Vec<T>: ToSql + SqlType + Sync + Send + 'static,
{
    if values.len() > 1 {
        qb.push(" AND ");
        qb.push(column);
        qb.push(" = ANY(");
        qb.bind(values);
        qb.push(")");
    } else if let Some(value) = values.pop() {
        qb.push(" AND ");
        qb.push(column);
        qb.push(" = ");
        qb.bind(value);
    }
}

/// Appends the listing filters to a query over `issues i`.
pub(crate) fn push_filters(qb: &mut Sql, filter: &IssueFilter) {
    qb.push(" AND i.deleted_at IS NULL");
    push_one_of(qb, "i.status", filter.statuses.iter().map(|s| s.as_str().to_owned()).collect());
    push_one_of(qb, "i.priority", filter.priorities.iter().map(|p| p.level()).collect());
    push_one_of(qb, "i.type", filter.types.iter().map(|t| t.as_str().to_owned()).collect());
    match filter.assignee {
        Some(AssigneeFilter::User(user)) => {
            qb.push(" AND i.assignee_id = ");
            qb.bind(user);
        }
        Some(AssigneeFilter::Nobody) => {
            qb.push(" AND i.assignee_id IS NULL");
        }
        None => {}
    }
    if let Some(reporter) = filter.reporter {
        qb.push(" AND i.reporter_id = ");
        qb.bind(reporter);
    }
    match filter.sprint {
        Some(SprintFilter::Sprint(sprint)) => {
            qb.push(" AND i.sprint_id = ");
            qb.bind(sprint);
        }
        Some(SprintFilter::Nobody) => {
            qb.push(" AND i.sprint_id IS NULL");
        }
        Some(SprintFilter::Active) => {
            qb.push(" AND i.sprint_id = (SELECT s.id FROM sprints s WHERE s.project_id = i.project_id AND s.state = ");
            qb.bind(SprintState::Active.as_str());
            qb.push(")");
        }
        None => {}
    }
    if let Some(since) = filter.updated_since {
        qb.push(" AND i.updated_at >= ");
        qb.bind(since);
    }
    if let Some(text) = &filter.text {
        qb.push(" AND ");
        crate::search::push_text_match(qb, "i.search", text);
    }
}

fn sort_column(field: IssueSortField) -> &'static str {
    match field {
        IssueSortField::CreatedAt => "i.created_at",
        IssueSortField::UpdatedAt => "i.updated_at",
        IssueSortField::Priority => "i.priority",
        IssueSortField::Number => "i.number",
        IssueSortField::Rank => "i.rank",
    }
}

/// `AND (sort column, id) > (after)` (or `<` descending): the page starts right after the
/// previous one, on the index, however deep.
fn push_keyset(qb: &mut Sql, sort: IssueSort, after: Option<&IssueKey>) -> Result<(), RepoError> {
    let Some(after) = after else {
        return Ok(());
    };
    let unique = is_unique_in_project(sort.field);
    qb.push(" AND (");
    qb.push(sort_column(sort.field));
    qb.push(if unique { ") " } else { ", i.id) " });
    qb.push(if sort.descending { "< (" } else { "> (" });
    match (sort.field, &after.value) {
        (IssueSortField::CreatedAt | IssueSortField::UpdatedAt, SortValue::Time(t)) => {
            qb.bind(*t);
        }
        (IssueSortField::Priority, SortValue::Int(n)) => {
            let level = i16::try_from(*n)
                .map_err(|_| RepoError::Internal("priority cursor out of range".into()))?;
            qb.bind(level);
        }
        (IssueSortField::Number, SortValue::Int(n)) => {
            qb.bind(*n);
        }
        (IssueSortField::Rank, SortValue::Text(s)) => {
            qb.bind(s.clone());
        }
        _ => return Err(RepoError::Internal("cursor value does not fit the sort".into())),
    }
    if !unique {
        qb.push(", ");
        qb.bind(after.id);
    }
    qb.push(")");
    Ok(())
}

/// Ranks and numbers are unique within a project (constraints `issues_project_rank_key` and
/// `issues_project_number_key`), so they need no id to break ties, and without one the
/// (project, …, rank) and (project, number) indexes give the order by themselves.
fn is_unique_in_project(field: IssueSortField) -> bool {
    matches!(field, IssueSortField::Rank | IssueSortField::Number)
}

fn push_order(qb: &mut Sql, sort: IssueSort) {
    let direction = if sort.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    qb.push(sort_column(sort.field));
    qb.push(direction);
    if !is_unique_in_project(sort.field) {
        qb.push(", i.id");
        qb.push(direction);
    }
}

fn event_from_row(row: &Row) -> Result<IssueEvent, RepoError> {
    let kind: &str = get(row, "kind")?;
    let Json(changes): Json<Changes> = get(row, "changes")?;
    Ok(IssueEvent {
        id: get(row, "id")?,
        actor_id: get(row, "actor_id")?,
        kind: decode("event kind", kind, EventKind::parse)?,
        changes,
        at: get(row, "at")?,
    })
}
