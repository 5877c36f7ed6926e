//! `GET /api/v1/search`: full-text search across the caller's projects.

use axum::Json;
use axum::extract::State;
use rhythm_domain::issue::IssueFilter;
use rhythm_domain::search::{Hit, HitKey, SearchQuery};
use rhythm_domain::values::{IssueStatus, ProjectRef};
use rhythm_domain::{DomainError, Invalid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::pagination::{PageDto, Scope};
use crate::routes::issues::IssueDto;
use crate::routes::projects::project_ref;
use crate::state::AppState;

/// `?q=&project=&status=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words (all must match), `"quoted phrases"`, `or`, `-exclusion`; the last word also
    /// matches as a prefix. An issue key (`RHY-42`) finds that issue first. At most 256
    /// characters and 32 terms.
    #[param(required = true, max_length = 256, pattern = "^[^\\u0000]*$")]
    pub q: Option<String>,
    /// Only this project (id or key).
    #[param(pattern = "^[^\\u0000]*$")]
    pub project: Option<String>,
    /// Comma-separated statuses.
    #[param(
        pattern = "^(backlog|todo|in_progress|in_review|done|cancelled)(,(backlog|todo|in_progress|in_review|done|cancelled))*$"
    )]
    pub status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    pub cursor: Option<String>,
}

/// Parses `q`: over-long queries are refused with 422 naming the field.
pub fn parse_text(q: &str) -> Result<SearchQuery, ApiError> {
    SearchQuery::parse(q).map_err(|Invalid(message)| DomainError::invalid("q", message).into())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HighlightsDto {
    /// The title, HTML-escaped, with `<mark>` around matches.
    pub title: String,
    /// Fragments of the description, HTML-escaped, with `<mark>` around matches.
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HitDto {
    pub issue: IssueDto,
    pub project_key: String,
    /// Relevance; higher is better. An exact issue-key match scores 100.
    pub score: f32,
    pub highlights: HighlightsDto,
}

impl From<Hit> for HitDto {
    fn from(hit: Hit) -> Self {
        Self {
            issue: IssueDto::listed(hit.issue),
            project_key: hit.project_key,
            score: hit.score,
            highlights: HighlightsDto {
                title: hit.title_highlight,
                description: hit.description_highlight,
            },
        }
    }
}

/// Search every project the caller is a member of (or one), best match first.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses(
        (status = 200, description = "A page of hits (empty when the query has no searchable words)", body = PageDto<HitDto>),
        (status = 404, description = "`project` is unknown or the caller is not a member", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The query is too long", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<PageDto<HitDto>>> {
    let q = params.q.as_deref().ok_or_else(|| ApiError::invalid_query("q is required"))?;
    let text = parse_text(q)?;
    let project: Option<ProjectRef> = params.project.as_deref().map(project_ref).transpose()?;
    let statuses = match params.status.as_deref() {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .map(|s| {
                IssueStatus::parse(s.trim())
                    .map_err(|Invalid(m)| ApiError::invalid_query(format!("status: {m}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let filter = IssueFilter { statuses, text: Some(text), ..IssueFilter::default() };
    // Bound to the caller too: a walk's hits are those of the caller's projects.
    let scope = Scope::new("search").with(&user.id).with(&project).with(&filter);
    let request =
        state.cursors.page::<HitKey>(&scope, params.limit.as_deref(), params.cursor.as_deref())?;
    let page = state.search.search(user.id, project, &filter, &request).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, HitDto::from)))
}
