//! `/api/v1/projects/{project}/sprints`: Scrum sprints and the sprint board.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rhythm_domain::issue::{IssueFilter, SprintFilter};
use rhythm_domain::sprint::{
    Completion, CompletionTarget, NewSprint, Sprint, SprintKey, SprintPatch, check_dates,
};
use rhythm_domain::values::{SprintGoal, SprintName, SprintState};
use rhythm_domain::{Invalid, Validator};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Iso8601;
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extract::CurrentUser;
use crate::dto::SprintStateDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, NoBody, OptionalJson, double_option, present};
use crate::pagination::{PageDto, Scope};
use crate::routes::boards::{BoardDto, BoardQuery, SprintBoardQuery};
use crate::routes::projects::{project_ref, uuid_segment};
use crate::state::AppState;

time::serde::format_description!(date_format, Date, "[year]-[month]-[day]");

#[derive(Debug, Serialize, ToSchema)]
pub struct SprintDto {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub goal: String,
    #[serde(with = "date_format::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub starts_on: Option<Date>,
    #[serde(with = "date_format::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub ends_on: Option<Date>,
    pub state: SprintStateDto,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Sprint> for SprintDto {
    fn from(s: Sprint) -> Self {
        Self {
            id: s.id,
            project_id: s.project_id,
            name: s.name,
            goal: s.goal,
            starts_on: s.starts_on,
            ends_on: s.ends_on,
            state: s.state.into(),
            started_at: s.started_at,
            completed_at: s.completed_at,
            created_at: s.created_at,
        }
    }
}

fn date_field(raw: String) -> Result<Date, Invalid> {
    Date::parse(&raw, &Iso8601::DATE).map_err(|_| Invalid("must be a date (YYYY-MM-DD)"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSprintRequest {
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 10000, pattern = "^[^\\u0000]*$")]
    goal: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    starts_on: Option<String>,
    /// Not before `starts_on`.
    #[schema(value_type = Option<String>, format = Date)]
    ends_on: Option<String>,
}

impl CreateSprintRequest {
    fn validate(self) -> Result<NewSprint, ApiError> {
        let mut v = Validator::new();
        let name = v.required("name", self.name, SprintName::new);
        let goal = v.field("goal", SprintGoal::new(self.goal.unwrap_or_default()));
        let starts_on = v.optional("starts_on", self.starts_on, date_field);
        let ends_on = v.optional("ends_on", self.ends_on, date_field);
        if let (Some(start), Some(end)) = (starts_on, ends_on) {
            v.field("ends_on", check_dates(start, end));
        }
        match (name, goal, starts_on, ends_on) {
            (Some(name), Some(goal), Some(starts_on), Some(ends_on)) if v.is_empty() => {
                Ok(NewSprint { id: Uuid::now_v7(), name, goal, starts_on, ends_on })
            }
            _ => Err(v.into_error().into()),
        }
    }
}

/// Plan a sprint (maintainer or owner).
#[utoipa::path(post, path = "/api/v1/projects/{project}/sprints", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key")),
    request_body = CreateSprintRequest,
    responses((status = 201, description = "Created (planned)", body = SprintDto)))]
pub async fn create_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CreateSprintRequest>,
) -> ApiResult<impl IntoResponse> {
    let project = project_ref(&project)?;
    let sprint = state.sprints.create(user.id, &project, body.validate()?).await?;
    Ok((StatusCode::CREATED, Json(SprintDto::from(sprint))))
}

/// `?state=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SprintListQuery {
    /// Only sprints in this state.
    #[param(value_type = Option<SprintStateDto>)]
    pub state: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    pub cursor: Option<String>,
}

/// The project's sprints, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sprints", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), SprintListQuery),
    responses((status = 200, description = "A page of sprints", body = PageDto<SprintDto>)))]
pub async fn list_sprints(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<SprintListQuery>,
) -> ApiResult<Json<PageDto<SprintDto>>> {
    let project = project_ref(&project)?;
    let sprint_state = query
        .state
        .as_deref()
        .map(|s| {
            SprintState::parse(s)
                .map_err(|Invalid(m)| ApiError::invalid_query(format!("state {m}")))
        })
        .transpose()?;
    let scope = Scope::new("sprints").with(&project).with(&sprint_state);
    let request =
        state.cursors.page::<SprintKey>(&scope, query.limit.as_deref(), query.cursor.as_deref())?;
    let page = state.sprints.list(user.id, &project, sprint_state, &request).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, SprintDto::from)))
}

/// A sprint.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sprints/{sprint_id}", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path)),
    responses((status = 200, description = "The sprint", body = SprintDto)))]
pub async fn get_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
) -> ApiResult<Json<SprintDto>> {
    let sprint =
        state.sprints.get(user.id, &project_ref(&project)?, uuid_segment(&sprint_id)?).await?;
    Ok(Json(sprint.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSprintRequest {
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 10000, pattern = "^[^\\u0000]*$")]
    goal: Option<String>,
    /// `null` clears.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    starts_on: Option<Option<String>>,
    /// `null` clears.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    ends_on: Option<Option<String>>,
}

fn nullable_date(
    v: &mut Validator,
    field: &str,
    raw: Option<Option<String>>,
) -> Option<Option<Option<Date>>> {
    match raw {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(raw)) => v.field(field, date_field(raw)).map(|d| Some(Some(d))),
    }
}

/// Change a sprint's name, goal or dates (maintainer or owner).
#[utoipa::path(patch, path = "/api/v1/projects/{project}/sprints/{sprint_id}", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path)),
    request_body = UpdateSprintRequest,
    responses((status = 200, description = "The sprint", body = SprintDto)))]
pub async fn update_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateSprintRequest>,
) -> ApiResult<Json<SprintDto>> {
    let project = project_ref(&project)?;
    let sprint_id = uuid_segment(&sprint_id)?;
    let mut v = Validator::new();
    let name = v.optional("name", body.name, SprintName::new);
    let goal = v.optional("goal", body.goal, SprintGoal::new);
    let starts_on = nullable_date(&mut v, "starts_on", body.starts_on);
    let ends_on = nullable_date(&mut v, "ends_on", body.ends_on);
    let (Some(name), Some(goal), Some(starts_on), Some(ends_on)) = (name, goal, starts_on, ends_on)
    else {
        return Err(v.into_error().into());
    };
    let patch = SprintPatch { name, goal, starts_on, ends_on };
    Ok(Json(state.sprints.update(user.id, &project, sprint_id, patch).await?.into()))
}

/// Delete a planned sprint (maintainer or owner); its issues return to the backlog.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/sprints/{sprint_id}", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`invalid_state`: only planned sprints can be deleted", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.sprints.delete(user.id, &project_ref(&project)?, uuid_segment(&sprint_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a planned sprint; a project has at most one active sprint.
#[utoipa::path(post, path = "/api/v1/projects/{project}/sprints/{sprint_id}/start", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The started sprint", body = SprintDto),
        (status = 409, description = "`invalid_state` (not planned) or `active_sprint_exists`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
    _: NoBody,
) -> ApiResult<Json<SprintDto>> {
    let sprint =
        state.sprints.start(user.id, &project_ref(&project)?, uuid_segment(&sprint_id)?).await?;
    Ok(Json(sprint.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSprintRequest {
    /// `backlog` (the default) or the id of a planned sprint of this project.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, pattern = "^(backlog|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
    move_open_issues_to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionDto {
    pub sprint: SprintDto,
    /// Issues done or cancelled in the sprint.
    pub completed_issues: i64,
    /// Their story points.
    pub completed_points: i64,
    /// Unfinished issues moved to the target.
    pub moved_issues: i64,
}

impl From<Completion> for CompletionDto {
    fn from(c: Completion) -> Self {
        Self {
            sprint: c.sprint.into(),
            completed_issues: c.completed_issues,
            completed_points: c.completed_points,
            moved_issues: c.moved_issues,
        }
    }
}

/// Complete the active sprint; every issue not done or cancelled moves to the backlog or to
/// a planned sprint, in one transaction, with a `moved` event each.
#[utoipa::path(post, path = "/api/v1/projects/{project}/sprints/{sprint_id}/complete", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path)),
    request_body(content = Option<CompleteSprintRequest>, description = "Optional: no body means `backlog`"),
    responses(
        (status = 200, description = "The closed sprint and what happened to its issues", body = CompletionDto),
        (status = 409, description = "`invalid_state`: only an active sprint completes", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete_sprint(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<CompleteSprintRequest>,
) -> ApiResult<Json<CompletionDto>> {
    let project = project_ref(&project)?;
    let sprint_id = uuid_segment(&sprint_id)?;
    let target = match body.and_then(|b| b.move_open_issues_to).as_deref() {
        None | Some("backlog") => CompletionTarget::Backlog,
        Some(raw) => CompletionTarget::Sprint(Uuid::parse_str(raw).map_err(|_| {
            ApiError::from(rhythm_domain::DomainError::invalid(
                "move_open_issues_to",
                "must be `backlog` or a planned sprint of this project",
            ))
        })?),
    };
    let completion = state.sprints.complete(user.id, &project, sprint_id, target).await?;
    Ok(Json(completion.into()))
}

/// The sprint's board: its issues in Kanban columns, with story points per column.
#[utoipa::path(get, path = "/api/v1/projects/{project}/sprints/{sprint_id}/board", tag = "sprints",
    params(("project" = String, Path, description = "Project id or key"), ("sprint_id" = Uuid, Path), SprintBoardQuery),
    responses((status = 200, description = "The sprint board", body = BoardDto)))]
pub async fn sprint_board(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, sprint_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<SprintBoardQuery>,
) -> ApiResult<Json<BoardDto>> {
    let project = project_ref(&project)?;
    let sprint_id = uuid_segment(&sprint_id)?;
    let (filter, per_column) = BoardQuery::from(query).parse(user.id)?;
    let board =
        state.sprints.board(user.id, &project, sprint_id, filter.clone(), per_column).await?;
    // Columns continue on the issue listing filtered by the sprint.
    let continued = IssueFilter { sprint: Some(SprintFilter::Sprint(sprint_id)), ..filter };
    Ok(Json(BoardDto::new(board, &state.cursors, &project, &continued)))
}
