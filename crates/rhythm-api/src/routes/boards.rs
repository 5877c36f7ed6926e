//! `/api/v1/projects/{project}/board`, `…/backlog` and board moves.

use axum::Json;
use axum::extract::{Path, State};
use rhythm_domain::board::{Anchor, Board, Column, DEFAULT_PER_COLUMN, MAX_PER_COLUMN};
use rhythm_domain::issue::{IssueFilter, IssueKey};
use rhythm_domain::services::boards::RANK_ORDER;
use rhythm_domain::values::{IssueStatus, ProjectRef};
use rhythm_domain::{Invalid, Validator};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extract::CurrentUser;
use crate::dto::IssueStatusDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Integer, present};
use crate::pagination::{Cursors, PageDto, PageQuery, Scope};
use crate::routes::issues::{IssueDto, issues_scope};
use crate::routes::projects::project_ref;
use crate::state::AppState;

/// Filters of a board.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// A user id, `me` or `none`.
    #[param(
        pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub assignee: Option<String>,
    /// Comma-separated priorities.
    #[param(pattern = "^(none|low|medium|high|urgent)(,(none|low|medium|high|urgent))*$")]
    pub priority: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^(task|bug|feature|story)(,(task|bug|feature|story))*$")]
    pub issue_type: Option<String>,
    /// A sprint id, `none` or `active`.
    #[param(
        pattern = "^(none|active|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub sprint: Option<String>,
    /// Issues per column, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub per_column: Option<String>,
}

/// Filters of a sprint board: a board's, without `sprint` (the board is its sprint's).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SprintBoardQuery {
    /// A user id, `me` or `none`.
    #[param(
        pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub assignee: Option<String>,
    /// Comma-separated priorities.
    #[param(pattern = "^(none|low|medium|high|urgent)(,(none|low|medium|high|urgent))*$")]
    pub priority: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^(task|bug|feature|story)(,(task|bug|feature|story))*$")]
    pub issue_type: Option<String>,
    /// Issues per column, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub per_column: Option<String>,
}

impl From<SprintBoardQuery> for BoardQuery {
    fn from(q: SprintBoardQuery) -> Self {
        let SprintBoardQuery { assignee, priority, issue_type, per_column } = q;
        Self { assignee, priority, issue_type, sprint: None, per_column }
    }
}

impl BoardQuery {
    /// The filter and the column size; unknown values → 400 `invalid_query`.
    pub fn parse(&self, me: Uuid) -> Result<(IssueFilter, u32), ApiError> {
        let listing = crate::routes::issues::IssueListQuery {
            assignee: self.assignee.clone(),
            priority: self.priority.clone(),
            issue_type: self.issue_type.clone(),
            sprint: self.sprint.clone(),
            ..Default::default()
        };
        let filter = listing.filter(me)?;
        let per_column = match self.per_column.as_deref() {
            None => DEFAULT_PER_COLUMN,
            Some(raw) => {
                raw.parse::<u32>().ok().filter(|n| (1..=MAX_PER_COLUMN).contains(n)).ok_or_else(
                    || ApiError::invalid_query("per_column must be an integer from 1 to 100"),
                )?
            }
        };
        Ok((filter, per_column))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnDto {
    pub status: IssueStatusDto,
    /// Issues in the column (after filters).
    pub total: i64,
    /// Sum of their story points.
    pub points: i64,
    /// The first `per_column` issues in rank order.
    pub items: Vec<IssueDto>,
    /// Continue with `GET …/issues?status=<status>&sort=rank&cursor=<next_cursor>` (same
    /// filters); `null` when the column is complete.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardDto {
    /// Always all six statuses, in order.
    pub columns: Vec<ColumnDto>,
}

impl BoardDto {
    /// The board's wire form; each column's cursor continues the issue listing of
    /// `project` filtered by `filter` and the column's status, in rank order.
    pub fn new(
        board: Board,
        cursors: &Cursors,
        project: &ProjectRef,
        filter: &IssueFilter,
    ) -> Self {
        let columns = board
            .columns
            .into_iter()
            .map(|Column { status, total, points, items, next }| {
                let continued = IssueFilter { statuses: vec![status], ..filter.clone() };
                let scope = issues_scope(project, &continued, RANK_ORDER);
                ColumnDto {
                    status: status.into(),
                    total,
                    points,
                    items: items.into_iter().map(IssueDto::listed).collect(),
                    next_cursor: next.map(|key: IssueKey| cursors.encode(&scope, &key)),
                }
            })
            .collect();
        Self { columns }
    }
}

/// The project's Kanban board: one column per status.
#[utoipa::path(get, path = "/api/v1/projects/{project}/board", tag = "boards",
    params(("project" = String, Path, description = "Project id or key"), BoardQuery),
    responses((status = 200, description = "The board", body = BoardDto)))]
pub async fn board(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<BoardQuery>,
) -> ApiResult<Json<BoardDto>> {
    let project = project_ref(&project)?;
    let (filter, per_column) = query.parse(user.id)?;
    let board = state.boards.board(user.id, &project, &filter, per_column).await?;
    Ok(Json(BoardDto::new(board, &state.cursors, &project, &filter)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The target column; the issue's own when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = IssueStatusDto)]
    status: Option<String>,
    /// Place directly above this issue (its number; it must be in the target column).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 1)]
    before: Option<Integer>,
    /// Place directly below this issue. Give at most one of `before` and `after`; with
    /// neither, the issue goes to the bottom of the column.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 1)]
    after: Option<Integer>,
}

impl MoveRequest {
    fn validate(self) -> Result<(Option<IssueStatus>, Anchor), ApiError> {
        let mut v = Validator::new();
        let status = v.optional("status", self.status, |s| IssueStatus::parse(&s));
        let positive =
            |Integer(n)| if n > 0 { Ok(n) } else { Err(Invalid("must be an issue number")) };
        let before = v.optional("before", self.before, positive);
        let after = v.optional("after", self.after, positive);
        let anchor = match (before, after) {
            (Some(Some(_)), Some(Some(_))) => {
                v.reject("after", "give at most one of before and after");
                None
            }
            (Some(Some(n)), Some(None)) => Some(Anchor::Before(n)),
            (Some(None), Some(Some(n))) => Some(Anchor::After(n)),
            (Some(None), Some(None)) => Some(Anchor::Bottom),
            _ => None,
        };
        match (status, anchor) {
            (Some(status), Some(anchor)) if v.is_empty() => Ok((status, anchor)),
            _ => Err(v.into_error().into()),
        }
    }
}

/// Move an issue on the board: into a column, above or below another issue, or to the
/// bottom. Only the moved issue's rank changes.
#[utoipa::path(post, path = "/api/v1/projects/{project}/issues/{number}/move", tag = "boards",
    params(("project" = String, Path, description = "Project id or key"), ("number" = i64, Path, minimum = 1)),
    request_body = MoveRequest,
    responses((status = 200, description = "The moved issue", body = IssueDto)))]
pub async fn move_issue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, number)): Path<(String, String)>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> ApiResult<axum::response::Response> {
    let project = project_ref(&project)?;
    let number = number.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(ApiError::not_found)?;
    let (status, anchor) = body.validate()?;
    let issue = state.boards.move_issue(user.id, &project, number, status, anchor).await?;
    Ok(crate::routes::issues::issue_response(axum::http::StatusCode::OK, issue))
}

/// The backlog: issues in no sprint that are not done or cancelled, in rank order.
#[utoipa::path(get, path = "/api/v1/projects/{project}/backlog", tag = "boards",
    params(("project" = String, Path, description = "Project id or key"), PageQuery),
    responses((status = 200, description = "A page of the backlog", body = PageDto<IssueDto>)))]
pub async fn backlog(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageDto<IssueDto>>> {
    let project = project_ref(&project)?;
    let scope = Scope::new("backlog").with(&project);
    let request = query.into_request::<IssueKey>(&state.cursors, &scope)?;
    let page = state.boards.backlog(user.id, &project, &request).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, IssueDto::listed)))
}
