//! `/api/v1/projects/{project}/issues`: create, read, update, delete, restore, history,
//! and the filtered listing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rhythm_domain::issue::{
    AssigneeFilter, EventKey, Issue, IssueEvent, IssueFilter, IssuePatch, IssueSort, NewIssue,
    SprintFilter, summarize_description,
};
use rhythm_domain::services::issues::Precondition;
use rhythm_domain::values::{
    IssueDescription, IssueStatus, IssueTitle, IssueType, Priority, ProjectRef, StoryPoints,
};
use rhythm_domain::{Invalid, Validator};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extract::CurrentUser;
use crate::dto::{EventKindDto, IssueStatusDto, IssueTypeDto, PriorityDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Integer, NoBody, double_option, present};
use crate::pagination::{PageDto, PageQuery, Scope};
use crate::routes::projects::project_ref;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct IssueDto {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Per-project number: `42` in `RHY-42`.
    pub number: i64,
    /// Project key and number, such as `RHY-42`.
    pub key: String,
    pub title: String,
    /// Markdown text. In listings (the issue list, boards, the backlog, search) at most
    /// the first 1 000 characters; `GET …/issues/{number}` has the whole text.
    pub description: String,
    /// Whether `description` was cut to the listing's 1 000 characters; always `false`
    /// on the issue itself.
    pub description_truncated: bool,
    pub status: IssueStatusDto,
    pub priority: PriorityDto,
    #[serde(rename = "type")]
    pub issue_type: IssueTypeDto,
    pub assignee_id: Option<Uuid>,
    pub reporter_id: Uuid,
    pub sprint_id: Option<Uuid>,
    pub story_points: Option<i32>,
    /// Position on boards; compare byte by byte.
    pub rank: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

impl From<Issue> for IssueDto {
    fn from(i: Issue) -> Self {
        Self {
            id: i.id,
            project_id: i.project_id,
            number: i.number,
            key: i.key,
            title: i.title,
            description: i.description,
            description_truncated: false,
            status: i.status.into(),
            priority: i.priority.into(),
            issue_type: i.issue_type.into(),
            assignee_id: i.assignee_id,
            reporter_id: i.reporter_id,
            sprint_id: i.sprint_id,
            story_points: i.story_points,
            rank: i.rank,
            version: i.version,
            created_at: i.created_at,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
        }
    }
}

impl IssueDto {
    /// The issue as listings show it: the description cut to its summary.
    pub fn listed(mut issue: Issue) -> Self {
        let truncated = summarize_description(&mut issue.description);
        Self { description_truncated: truncated, ..Self::from(issue) }
    }
}

/// An issue with its `ETag`.
pub fn issue_response(status: StatusCode, issue: Issue) -> Response {
    let etag = format!("\"{}\"", issue.version);
    let mut response = (status, Json(IssueDto::from(issue))).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// An issue number path segment; anything else names no issue (404).
fn issue_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(ApiError::not_found)
}

fn uuid_field(raw: String) -> Result<Uuid, Invalid> {
    Uuid::parse_str(&raw).map_err(|_| Invalid("must be a UUID"))
}

fn status_field(raw: String) -> Result<IssueStatus, Invalid> {
    IssueStatus::parse(&raw)
}

fn priority_field(raw: String) -> Result<Priority, Invalid> {
    Priority::parse(&raw)
}

fn type_field(raw: String) -> Result<IssueType, Invalid> {
    IssueType::parse(&raw)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIssueRequest {
    /// 1 to 255 characters once surrounding whitespace is trimmed; stored trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,253}[^\\s\\u0000])?\\s*$")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 100000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = IssueStatusDto)]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = PriorityDto)]
    priority: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(value_type = IssueTypeDto)]
    issue_type: Option<String>,
    /// A member of the project with role member or stronger.
    #[schema(value_type = Option<Uuid>)]
    assignee_id: Option<String>,
    /// A sprint of this project that is not closed.
    #[schema(value_type = Option<Uuid>)]
    sprint_id: Option<String>,
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000)]
    story_points: Option<Integer>,
}

impl CreateIssueRequest {
    fn validate(self) -> Result<NewIssue, ApiError> {
        let mut v = Validator::new();
        let title = v.required("title", self.title, IssueTitle::new);
        let description =
            v.field("description", IssueDescription::new(self.description.unwrap_or_default()));
        let status = v.optional("status", self.status, status_field);
        let priority = v.optional("priority", self.priority, priority_field);
        let issue_type = v.optional("type", self.issue_type, type_field);
        let assignee_id = v.optional("assignee_id", self.assignee_id, uuid_field);
        let sprint_id = v.optional("sprint_id", self.sprint_id, uuid_field);
        let story_points =
            v.optional("story_points", self.story_points, |Integer(n)| StoryPoints::new(n));
        match (
            title,
            description,
            status,
            priority,
            issue_type,
            assignee_id,
            sprint_id,
            story_points,
        ) {
            (
                Some(title),
                Some(description),
                Some(status),
                Some(priority),
                Some(issue_type),
                Some(assignee_id),
                Some(sprint_id),
                Some(story_points),
            ) => Ok(NewIssue {
                id: Uuid::now_v7(),
                title,
                description,
                status: status.unwrap_or_default(),
                priority: priority.unwrap_or_default(),
                issue_type: issue_type.unwrap_or_default(),
                assignee_id,
                sprint_id,
                story_points,
            }),
            _ => Err(v.into_error().into()),
        }
    }
}

/// File an issue (member or stronger).
#[utoipa::path(post, path = "/api/v1/projects/{project}/issues", tag = "issues",
    params(("project" = String, Path, description = "Project id or key")),
    request_body = CreateIssueRequest,
    responses((status = 201, description = "Created", body = IssueDto,
        headers(("location" = String, description = "The issue's URL"), ("etag" = String, description = "`\"1\"`")))))]
pub async fn create_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CreateIssueRequest>,
) -> ApiResult<Response> {
    let project = project_ref(&project)?;
    let issue = state.issues.create(user.id, &project, body.validate()?).await?;
    let project_key = issue.key.rsplit_once('-').map_or("", |(key, _)| key).to_owned();
    let location = format!("/api/v1/projects/{project_key}/issues/{}", issue.number);
    let mut response = issue_response(StatusCode::CREATED, issue);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// An issue by number.
#[utoipa::path(get, path = "/api/v1/projects/{project}/issues/{number}", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1)),
    responses((status = 200, description = "The issue", body = IssueDto,
        headers(("etag" = String, description = "The version, quoted")))))]
pub async fn get_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
) -> ApiResult<Response> {
    let issue = state.issues.get(user.id, &project_ref(&project)?, issue_number(&number)?).await?;
    Ok(issue_response(StatusCode::OK, issue))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIssueRequest {
    /// 1 to 255 characters once surrounding whitespace is trimmed; stored trimmed.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,253}[^\\s\\u0000])?\\s*$")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = String, max_length = 100000, pattern = "^[^\\u0000]*$")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = IssueStatusDto)]
    status: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = PriorityDto)]
    priority: Option<Option<String>>,
    #[serde(default, rename = "type", deserialize_with = "double_option")]
    #[schema(value_type = IssueTypeDto)]
    issue_type: Option<Option<String>>,
    /// `null` unassigns.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    assignee_id: Option<Option<String>>,
    /// `null` moves the issue to the backlog.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    sprint_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000)]
    story_points: Option<Option<Integer>>,
}

/// A field that may be absent but not `null`.
fn not_null<T>(
    v: &mut Validator,
    field: &str,
    raw: Option<Option<String>>,
    parse: impl FnOnce(String) -> Result<T, Invalid>,
) -> Option<Option<T>> {
    match raw {
        Some(None) => {
            v.reject(field, "must not be null");
            None
        }
        Some(Some(raw)) => v.field(field, parse(raw)).map(Some),
        None => Some(None),
    }
}

/// A field that may be absent, `null` (cleared) or a value.
fn nullable<R, T>(
    v: &mut Validator,
    field: &str,
    raw: Option<Option<R>>,
    parse: impl FnOnce(R) -> Result<T, Invalid>,
) -> Option<Option<Option<T>>> {
    match raw {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(raw)) => v.field(field, parse(raw)).map(|t| Some(Some(t))),
    }
}

impl UpdateIssueRequest {
    fn validate(self) -> Result<IssuePatch, ApiError> {
        let mut v = Validator::new();
        let title = not_null(&mut v, "title", self.title, IssueTitle::new);
        let description = not_null(&mut v, "description", self.description, IssueDescription::new);
        let status = not_null(&mut v, "status", self.status, status_field);
        let priority = not_null(&mut v, "priority", self.priority, priority_field);
        let issue_type = not_null(&mut v, "type", self.issue_type, type_field);
        let assignee_id = nullable(&mut v, "assignee_id", self.assignee_id, uuid_field);
        let sprint_id = nullable(&mut v, "sprint_id", self.sprint_id, uuid_field);
        let story_points =
            nullable(&mut v, "story_points", self.story_points, |Integer(n)| StoryPoints::new(n));
        match (
            title,
            description,
            status,
            priority,
            issue_type,
            assignee_id,
            sprint_id,
            story_points,
        ) {
            (
                Some(title),
                Some(description),
                Some(status),
                Some(priority),
                Some(issue_type),
                Some(assignee_id),
                Some(sprint_id),
                Some(story_points),
            ) if v.is_empty() => Ok(IssuePatch {
                title,
                description,
                status,
                priority,
                issue_type,
                assignee_id,
                sprint_id,
                story_points,
            }),
            _ => Err(v.into_error().into()),
        }
    }
}

/// Parses `If-Match`: `*`, or one or more quoted versions (`"3"`, `W/"3"`). Entries that
/// are no version match nothing. A header that is not visible ASCII is 400: taking it for
/// "no precondition" would turn a conditional write into an unconditional one.
fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let mut values: Vec<&str> = Vec::new();
    for header in headers.get_all(header::IF_MATCH) {
        let text = header.to_str().map_err(|_| {
            ApiError::bad_request("If-Match must be visible ASCII: `*` or quoted versions")
        })?;
        values.extend(text.split(',').map(str::trim).filter(|v| !v.is_empty()));
    }
    if values.is_empty() {
        return Ok(None);
    }
    if values.contains(&"*") {
        return Ok(Some(Precondition::AnyVersion));
    }
    let versions = values
        .iter()
        .filter_map(|v| v.trim_start_matches("W/").trim_matches('"').parse::<i64>().ok())
        .collect();
    Ok(Some(Precondition::OneOf(versions)))
}

/// Change the fields present in the body (`null` clears a nullable one). With
/// `If-Match: "<version>"` a stale version is refused with 412 and nothing changes.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/issues/{number}", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1),
        ("if-match" = Option<String>, Header, description = "Expected version, as returned in `ETag`")),
    request_body = UpdateIssueRequest,
    responses(
        (status = 200, description = "The issue", body = IssueDto, headers(("etag" = String, description = "The new version"))),
        (status = 400, description = "`bad_request`: an `If-Match` header that is not visible ASCII", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: `If-Match` names a stale version", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateIssueRequest>,
) -> ApiResult<Response> {
    let project = project_ref(&project)?;
    let number = issue_number(&number)?;
    let patch = body.validate()?;
    let precondition = precondition(&headers)?;
    let issue =
        state.issues.update(user.id, &project, number, &patch, precondition.as_ref()).await?;
    Ok(issue_response(StatusCode::OK, issue))
}

/// Delete an issue (soft): it disappears from every read. Members may delete only issues
/// they reported.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/issues/{number}", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.issues.delete(user.id, &project_ref(&project)?, issue_number(&number)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a deleted issue (maintainer or owner).
#[utoipa::path(post, path = "/api/v1/projects/{project}/issues/{number}/restore", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The restored issue", body = IssueDto),
        (status = 409, description = "`invalid_state`: the issue is not deleted", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
    _: NoBody,
) -> ApiResult<Response> {
    let issue =
        state.issues.restore(user.id, &project_ref(&project)?, issue_number(&number)?).await?;
    Ok(issue_response(StatusCode::OK, issue))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssueEventDto {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub kind: EventKindDto,
    /// `{field: {from, to}}` for every field the event changed.
    #[schema(value_type = Object, example = json!({"status": {"from": "todo", "to": "done"}}))]
    pub changes: rhythm_domain::issue::Changes,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl From<IssueEvent> for IssueEventDto {
    fn from(e: IssueEvent) -> Self {
        Self { id: e.id, actor_id: e.actor_id, kind: e.kind.into(), changes: e.changes, at: e.at }
    }
}

/// An issue's history, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/issues/{number}/events", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1), PageQuery),
    responses((status = 200, description = "A page of events", body = PageDto<IssueEventDto>)))]
pub async fn issue_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageDto<IssueEventDto>>> {
    let project = project_ref(&project)?;
    let number = issue_number(&number)?;
    let scope = Scope::new("events").with(&project).with(&number);
    let request = query.into_request::<EventKey>(&state.cursors, &scope)?;
    let page = state.issues.events(user.id, &project, number, &request).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, IssueEventDto::from)))
}

/// Filters and sort of the issue listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueListQuery {
    /// Comma-separated statuses.
    #[param(
        example = "todo,in_progress",
        pattern = "^(backlog|todo|in_progress|in_review|done|cancelled)(,(backlog|todo|in_progress|in_review|done|cancelled))*$"
    )]
    pub status: Option<String>,
    /// Comma-separated priorities.
    #[param(pattern = "^(none|low|medium|high|urgent)(,(none|low|medium|high|urgent))*$")]
    pub priority: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^(task|bug|feature|story)(,(task|bug|feature|story))*$")]
    pub issue_type: Option<String>,
    /// A user id, `me` or `none`.
    #[param(
        pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub assignee: Option<String>,
    /// A user id or `me`.
    #[param(
        pattern = "^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub reporter: Option<String>,
    /// A sprint id, `none` (backlog) or `active`.
    #[param(
        pattern = "^(none|active|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub sprint: Option<String>,
    /// Full-text search within the project (syntax as on `/api/v1/search`); without `sort`
    /// the best matches come first.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub q: Option<String>,
    /// Only issues updated at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
    /// `created_at`, `updated_at`, `priority`, `number` or `rank`; `-` for descending.
    /// Default `-created_at`.
    #[param(pattern = "^-?(created_at|updated_at|priority|number|rank)$")]
    pub sort: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    pub cursor: Option<String>,
}

fn comma_list<T>(
    name: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Vec<T>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|item| {
            parse(item.trim())
                .map_err(|Invalid(msg)| ApiError::invalid_query(format!("{name}: {msg}")))
        })
        .collect()
}

fn user_filter(name: &str, raw: &str, me: Uuid) -> Result<Uuid, ApiError> {
    if raw == "me" {
        return Ok(me);
    }
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::invalid_query(format!("{name} must be a user id or `me`")))
}

impl IssueListQuery {
    /// The domain filter; unknown values → 400 `invalid_query`.
    pub fn filter(&self, me: Uuid) -> Result<IssueFilter, ApiError> {
        let assignee = match self.assignee.as_deref() {
            None => None,
            Some("none") => Some(AssigneeFilter::Nobody),
            Some(raw) => Some(AssigneeFilter::User(user_filter("assignee", raw, me)?)),
        };
        let reporter =
            self.reporter.as_deref().map(|raw| user_filter("reporter", raw, me)).transpose()?;
        let sprint = match self.sprint.as_deref() {
            None => None,
            Some("none") => Some(SprintFilter::Nobody),
            Some("active") => Some(SprintFilter::Active),
            Some(raw) => Some(SprintFilter::Sprint(Uuid::parse_str(raw).map_err(|_| {
                ApiError::invalid_query("sprint must be a sprint id, `none` or `active`")
            })?)),
        };
        let updated_since = self
            .updated_since
            .as_deref()
            .map(|raw| {
                OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
                    ApiError::invalid_query("updated_since must be an RFC 3339 timestamp")
                })
            })
            .transpose()?;
        Ok(IssueFilter {
            statuses: comma_list("status", self.status.as_deref(), IssueStatus::parse)?,
            priorities: comma_list("priority", self.priority.as_deref(), Priority::parse)?,
            types: comma_list("type", self.issue_type.as_deref(), IssueType::parse)?,
            assignee,
            reporter,
            sprint,
            updated_since,
            text: self.q.as_deref().map(crate::routes::search::parse_text).transpose()?,
        })
    }

    pub fn sort(&self) -> Result<IssueSort, ApiError> {
        match self.sort.as_deref() {
            None => Ok(IssueSort::default()),
            Some(raw) => IssueSort::parse(raw).ok_or_else(|| {
                ApiError::invalid_query("sort must be one of created_at, updated_at, priority, number, rank, optionally with a leading -")
            }),
        }
    }
}

/// The scope of the issue listing's cursors (board columns make theirs with it too, so
/// they continue on the listing with the same filters).
pub fn issues_scope(project: &ProjectRef, filter: &IssueFilter, sort: IssueSort) -> Scope {
    Scope::new("issues").with(project).with(filter).with(&sort)
}

/// Issues of a project, filtered and sorted, keyset-paginated.
#[utoipa::path(get, path = "/api/v1/projects/{project}/issues", tag = "issues",
    params(("project" = String, Path, description = "Project id or key"), IssueListQuery),
    responses(
        (status = 200, description = "A page of issues", body = PageDto<IssueDto>),
        (status = 422, description = "`q` is too long", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_issues(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<IssueListQuery>,
) -> ApiResult<Json<PageDto<IssueDto>>> {
    let project = project_ref(&project)?;
    let filter = query.filter(user.id)?;
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    // With `q` and no sort: best match first, a walk over ranked results.
    if query.q.is_some() && query.sort.is_none() {
        let scope = Scope::new("issues:relevance").with(&project).with(&filter);
        let request = state.cursors.page(&scope, limit, cursor)?;
        let hits = state.search.search(user.id, Some(project), &filter, &request).await?;
        return Ok(Json(state.cursors.page_dto(hits, &scope, |hit| IssueDto::listed(hit.issue))));
    }
    let sort = query.sort()?;
    let scope = issues_scope(&project, &filter, sort);
    let request = state.cursors.page(&scope, limit, cursor)?;
    let issues = state.issues.list(user.id, &project, &filter, sort, &request).await?;
    Ok(Json(state.cursors.page_dto(issues, &scope, IssueDto::listed)))
}
