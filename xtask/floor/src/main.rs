//! The floor of `cargo xtask bench`: W1 and W2 served by bare axum handlers, with the
//! statements Rhythm sends, on one PostgreSQL driver — no authentication (the caller's id
//! comes in the query string), no middleware, no domain, no metrics. Rhythm cannot be
//! faster than the floor of the driver it runs on, nor a floor faster than raw SQL, so
//! the bench reports raw SQL ÷ floor ÷ Rhythm from one run and shows where time goes:
//! in the driver, or in Rhythm's own request path.
//!
//! Usage: `rhythm-floor <sqlx|tokio-postgres> <bind address> <database url> <pool size>`

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

type BoxError = Box<dyn Error + Send + Sync>;

/// The statement of `IssueRepository::find` (W1), as `rhythm-postgres` sends it.
const W1: &str = "WITH access AS (
     SELECT p.id AS access_project_id, p.key AS project_key, m.role
     FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $3
     WHERE p.id = COALESCE($1::uuid, (SELECT id FROM projects WHERE key = $2)) AND p.archived_at IS NULL
 ) SELECT a.access_project_id, a.project_key, a.role, i.id, i.project_id, i.number, i.title, \
 i.status, i.priority, i.type, i.assignee_id, i.reporter_id, i.sprint_id, i.story_points, i.rank, \
 i.version, i.created_at, i.updated_at, i.resolved_at, i.description FROM access a
 LEFT JOIN issues i ON i.project_id = a.access_project_id AND i.number = $4
                   AND ($5 OR i.deleted_at IS NULL)";

/// The statement of `IssueRepository::list` (W2) for `status=…&assignee=…`, first page,
/// default order, as `rhythm-postgres` builds it.
const W2: &str = "WITH access AS (
     SELECT p.id AS access_project_id, p.key AS project_key, m.role
     FROM projects p JOIN project_members m ON m.project_id = p.id AND m.user_id = $1
     WHERE p.id = COALESCE($2::uuid, (SELECT id FROM projects WHERE key = $3)) AND p.archived_at IS NULL) \
 SELECT a.access_project_id, a.project_key, a.role, i.id, i.project_id, i.number, i.title, \
 i.status, i.priority, i.type, i.assignee_id, i.reporter_id, i.sprint_id, i.story_points, i.rank, \
 i.version, i.created_at, i.updated_at, i.resolved_at, left(i.description, $4) AS description \
 FROM access a LEFT JOIN LATERAL (SELECT * FROM issues i WHERE i.project_id = a.access_project_id \
 AND i.deleted_at IS NULL AND i.status = $5 AND i.assignee_id = $6 \
 ORDER BY i.created_at DESC, i.id DESC LIMIT $7) i ON true";

/// A page of W2 and the probe row that tells whether there is a next one.
const PAGE_PROBE: i64 = 51;

#[derive(Serialize)]
struct Issue {
    id: Uuid,
    key: String,
    project_id: Uuid,
    number: i64,
    title: String,
    description: String,
    status: String,
    priority: i16,
    #[serde(rename = "type")]
    issue_type: String,
    assignee_id: Option<Uuid>,
    reporter_id: Uuid,
    sprint_id: Option<Uuid>,
    story_points: Option<i32>,
    rank: String,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    resolved_at: Option<OffsetDateTime>,
}

/// Decodes the issue of a (left-joined) row; `None` when it is absent. The two drivers'
/// rows have the same `try_get(name)` shape, so one body serves both.
macro_rules! issue_of {
    ($row:expr) => {{
        let row = $row;
        let id: Option<Uuid> = row.try_get("id")?;
        match id {
            None => None,
            Some(id) => {
                let project_key: String = row.try_get("project_key")?;
                let number: i64 = row.try_get("number")?;
                Some(Issue {
                    id,
                    key: format!("{project_key}-{number}"),
                    project_id: row.try_get("project_id")?,
                    number,
                    title: row.try_get("title")?,
                    description: row.try_get("description")?,
                    status: row.try_get("status")?,
                    priority: row.try_get("priority")?,
                    issue_type: row.try_get("type")?,
                    assignee_id: row.try_get("assignee_id")?,
                    reporter_id: row.try_get("reporter_id")?,
                    sprint_id: row.try_get("sprint_id")?,
                    story_points: row.try_get("story_points")?,
                    rank: row.try_get("rank")?,
                    version: row.try_get("version")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                })
            }
        }
    }};
}

/// The issues of a W2 answer's rows; `None` when there are no rows (no access).
macro_rules! page_of {
    ($rows:expr) => {{
        let rows = $rows;
        if rows.is_empty() {
            None
        } else {
            let mut issues = Vec::with_capacity(rows.len());
            for row in &rows {
                issues.extend(issue_of!(row));
            }
            Some(issues)
        }
    }};
}

#[derive(Clone)]
enum Driver {
    Sqlx(sqlx::PgPool),
    TokioPostgres(deadpool_postgres::Pool),
}

#[derive(Deserialize)]
struct Caller {
    user: Uuid,
}

#[derive(Deserialize)]
struct ListQuery {
    user: Uuid,
    status: String,
    assignee: Uuid,
}

async fn one_issue(
    State(driver): State<Arc<Driver>>,
    Path((key, number)): Path<(String, i64)>,
    Query(caller): Query<Caller>,
) -> Response {
    let found = match &*driver {
        Driver::Sqlx(pool) => one_issue_sqlx(pool, key, number, caller.user).await,
        Driver::TokioPostgres(pool) => one_issue_tokio(pool, key, number, caller.user).await,
    };
    match found {
        Ok(Some(Some(issue))) => Json(issue).into_response(),
        Ok(_) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn one_issue_sqlx(
    pool: &sqlx::PgPool,
    key: String,
    number: i64,
    user: Uuid,
) -> Result<Option<Option<Issue>>, BoxError> {
    use sqlx::Row;
    let row = sqlx::query(W1)
        .bind(None::<Uuid>)
        .bind(Some(key))
        .bind(user)
        .bind(number)
        .bind(false)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(row) => Some(issue_of!(&row)),
        None => None,
    })
}

async fn one_issue_tokio(
    pool: &deadpool_postgres::Pool,
    key: String,
    number: i64,
    user: Uuid,
) -> Result<Option<Option<Issue>>, BoxError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(W1).await?;
    let row =
        client.query_opt(&statement, &[&None::<Uuid>, &Some(key), &user, &number, &false]).await?;
    Ok(match row {
        Some(row) => Some(issue_of!(&row)),
        None => None,
    })
}

async fn list(
    State(driver): State<Arc<Driver>>,
    Path(key): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let listed = match &*driver {
        Driver::Sqlx(pool) => list_sqlx(pool, key, query).await,
        Driver::TokioPostgres(pool) => list_tokio(pool, key, query).await,
    };
    match listed {
        Ok(Some(issues)) => Json(issues).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn summary_chars() -> i32 {
    i32::try_from(rhythm_domain::issue::SUMMARY_READ_CHARS).unwrap_or(i32::MAX)
}

async fn list_sqlx(
    pool: &sqlx::PgPool,
    key: String,
    query: ListQuery,
) -> Result<Option<Vec<Issue>>, BoxError> {
    use sqlx::Row;
    let rows = sqlx::query(W2)
        .bind(query.user)
        .bind(None::<Uuid>)
        .bind(Some(key))
        .bind(summary_chars())
        .bind(query.status)
        .bind(query.assignee)
        .bind(PAGE_PROBE)
        .fetch_all(pool)
        .await?;
    Ok(page_of!(rows))
}

async fn list_tokio(
    pool: &deadpool_postgres::Pool,
    key: String,
    query: ListQuery,
) -> Result<Option<Vec<Issue>>, BoxError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(W2).await?;
    let rows = client
        .query(
            &statement,
            &[
                &query.user,
                &None::<Uuid>,
                &Some(key),
                &summary_chars(),
                &query.status,
                &query.assignee,
                &PAGE_PROBE,
            ],
        )
        .await?;
    Ok(page_of!(rows))
}

fn connect(driver: &str, url: &str, size: usize) -> Result<Driver, BoxError> {
    match driver {
        "sqlx" => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(u32::try_from(size)?)
                .acquire_timeout(Duration::from_secs(3))
                // As Rhythm under load: no ping per checkout.
                .test_before_acquire(false)
                .connect_lazy(url)?;
            Ok(Driver::Sqlx(pool))
        }
        "tokio-postgres" => {
            let config: tokio_postgres::Config = url.parse()?;
            let manager = deadpool_postgres::Manager::from_config(
                config,
                tokio_postgres::NoTls,
                deadpool_postgres::ManagerConfig {
                    recycling_method: deadpool_postgres::RecyclingMethod::Fast,
                },
            );
            let pool = deadpool_postgres::Pool::builder(manager)
                .max_size(size)
                .wait_timeout(Some(Duration::from_secs(3)))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()?;
            Ok(Driver::TokioPostgres(pool))
        }
        other => Err(format!("unknown driver {other}: sqlx or tokio-postgres").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [driver, bind, url, size] = args.as_slice() else {
        return Err("usage: rhythm-floor <sqlx|tokio-postgres> <bind> <database url> <pool>".into());
    };
    let driver = Arc::new(connect(driver, url, size.parse()?)?);
    let app = Router::new()
        .route("/projects/{key}/issues/{number}", get(one_issue))
        .route("/projects/{key}/issues", get(list))
        .with_state(driver);
    let listener = tokio::net::TcpListener::bind(bind.as_str()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
