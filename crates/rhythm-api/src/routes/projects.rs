//! `/api/v1/projects` and `/api/v1/projects/{project}/members`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use rhythm_domain::Validator;
use rhythm_domain::project::{
    Member, MemberKey, MemberTarget, NewProject, ProjectPatch, ProjectWithRole,
};
use rhythm_domain::values::{ProjectDescription, ProjectKey, ProjectName, ProjectRef, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::extract::CurrentUser;
use crate::dto::RoleDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, present};
use crate::pagination::{PageDto, PageQuery, Scope};
use crate::state::AppState;

/// A project path segment: its id or its key (any letter case). Anything else cannot name
/// a project, so it is a 404 like an unknown one.
pub fn project_ref(raw: &str) -> Result<ProjectRef, ApiError> {
    ProjectRef::parse(raw).ok_or_else(ApiError::not_found)
}

/// A UUID path segment; anything else names nothing (404).
pub fn uuid_segment(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDto {
    pub id: Uuid,
    /// Short, unique, immutable key such as `RHY`.
    #[schema(pattern = "^[A-Z][A-Z0-9]{1,9}$")]
    pub key: String,
    pub name: String,
    pub description: String,
    /// The caller's role in this project.
    pub my_role: RoleDto,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<ProjectWithRole> for ProjectDto {
    fn from(p: ProjectWithRole) -> Self {
        Self {
            id: p.project.id,
            key: p.project.key,
            name: p.project.name,
            description: p.project.description,
            my_role: p.my_role.into(),
            created_at: p.project.created_at,
            updated_at: p.project.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, pattern = "^[A-Z][A-Z0-9]{1,9}$")]
    key: Option<String>,
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 10000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
}

impl CreateProjectRequest {
    fn validate(self) -> Result<NewProject, ApiError> {
        let mut v = Validator::new();
        let key = v.required("key", self.key, |k| ProjectKey::parse(&k));
        let name = v.required("name", self.name, ProjectName::new);
        let description =
            v.field("description", ProjectDescription::new(self.description.unwrap_or_default()));
        match (key, name, description) {
            (Some(key), Some(name), Some(description)) => {
                Ok(NewProject { id: Uuid::now_v7(), key, name, description })
            }
            _ => Err(v.into_error().into()),
        }
    }
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectDto,
         headers(("location" = String, description = "The project's URL"))),
        (status = 409, description = "`project_key_taken`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_project(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateProjectRequest>,
) -> ApiResult<impl IntoResponse> {
    let project = state.projects.create(user.id, body.validate()?).await?;
    let location = HeaderValue::from_str(&format!("/api/v1/projects/{}", project.project.key))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(ProjectDto::from(project))))
}

/// The caller's projects, by key.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(PageQuery),
    responses((status = 200, description = "A page of projects", body = PageDto<ProjectDto>)))]
pub async fn list_projects(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageDto<ProjectDto>>> {
    // The listing is the caller's own.
    let scope = Scope::new("projects").with(&user.id);
    let page = state.projects.list(user.id, &query.into_request(&state.cursors, &scope)?).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, ProjectDto::from)))
}

/// A project, by id or key.
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id or key")),
    responses((status = 200, description = "The project", body = ProjectDto)))]
pub async fn get_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
) -> ApiResult<Json<ProjectDto>> {
    Ok(Json(state.projects.get(user.id, &project_ref(&project)?).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 10000, pattern = "^[^\\u0000]*$")]
    description: Option<String>,
}

/// Change a project's name or description (maintainer or owner).
#[utoipa::path(patch, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id or key")),
    request_body = UpdateProjectRequest,
    responses((status = 200, description = "The updated project", body = ProjectDto)))]
pub async fn update_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<UpdateProjectRequest>,
) -> ApiResult<Json<ProjectDto>> {
    let project = project_ref(&project)?;
    let mut v = Validator::new();
    let name = v.optional("name", body.name, ProjectName::new);
    let description = v.optional("description", body.description, ProjectDescription::new);
    let (Some(name), Some(description)) = (name, description) else {
        return Err(v.into_error().into());
    };
    let updated =
        state.projects.update(user.id, &project, ProjectPatch { name, description }).await?;
    Ok(Json(updated.into()))
}

/// Archive a project (owner): it disappears for everyone; its key stays reserved.
#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "Project id or key")),
    responses((status = 204, description = "Archived")))]
pub async fn archive_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    state.projects.archive(user.id, &project_ref(&project)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberUserDto {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user: MemberUserDto,
    pub role: RoleDto,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user: MemberUserDto { id: m.user.id, name: m.user.name, email: m.user.email },
            role: m.role.into(),
            added_at: m.added_at,
        }
    }
}

/// Members of a project, in the order they joined.
#[utoipa::path(get, path = "/api/v1/projects/{project}/members", tag = "projects",
    params(("project" = String, Path, description = "Project id or key"), PageQuery),
    responses((status = 200, description = "A page of members", body = PageDto<MemberDto>)))]
pub async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageDto<MemberDto>>> {
    let project = project_ref(&project)?;
    let scope = Scope::new("members").with(&project);
    let request = query.into_request::<MemberKey>(&state.cursors, &scope)?;
    let page = state.projects.members(user.id, &project, &request).await?;
    Ok(Json(state.cursors.page_dto(page, &scope, MemberDto::from)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add; give this or `email`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Uuid)]
    user_id: Option<String>,
    /// The user to add, by email (any letter case); give this or `user_id`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 3, max_length = 254, pattern = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$")]
    email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = RoleDto)]
    role: Option<String>,
}

fn parse_role(raw: String) -> Result<Role, rhythm_domain::Invalid> {
    Role::parse(&raw)
}

impl AddMemberRequest {
    fn validate(self) -> Result<(MemberTarget, Role), ApiError> {
        let mut v = Validator::new();
        let target = match (self.user_id, self.email) {
            (Some(id), None) => v.field(
                "user_id",
                Uuid::parse_str(&id)
                    .map(MemberTarget::User)
                    .map_err(|_| rhythm_domain::Invalid("must be a UUID")),
            ),
            (None, Some(email)) => Some(MemberTarget::Email(email)),
            (Some(_), Some(_)) => {
                v.reject("user_id", "give either user_id or email, not both");
                None
            }
            (None, None) => {
                v.reject("user_id", "is required (or give email)");
                None
            }
        };
        let role = v.required("role", self.role, parse_role);
        match (target, role) {
            (Some(target), Some(role)) => Ok((target, role)),
            _ => Err(v.into_error().into()),
        }
    }
}

/// Add a member (maintainers may add `member` and `viewer`; owners any role).
#[utoipa::path(post, path = "/api/v1/projects/{project}/members", tag = "projects",
    params(("project" = String, Path, description = "Project id or key")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Added", body = MemberDto),
        (status = 409, description = "`already_member`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<AddMemberRequest>,
) -> ApiResult<impl IntoResponse> {
    let project = project_ref(&project)?;
    let (target, role) = body.validate()?;
    let member = state.projects.add_member(user.id, &project, target, role).await?;
    Ok((StatusCode::CREATED, Json(MemberDto::from(member))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = RoleDto)]
    role: Option<String>,
}

/// Change a member's role.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/members/{user_id}", tag = "projects",
    params(("project" = String, Path, description = "Project id or key"), ("user_id" = Uuid, Path)),
    request_body = ChangeRoleRequest,
    responses(
        (status = 200, description = "The membership", body = MemberDto),
        (status = 409, description = "`last_owner`, or `conflict` when changed concurrently", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRoleRequest>,
) -> ApiResult<Json<MemberDto>> {
    let project = project_ref(&project)?;
    let target = uuid_segment(&user_id)?;
    let mut v = Validator::new();
    let Some(role) = v.required("role", body.role, parse_role) else {
        return Err(v.into_error().into());
    };
    Ok(Json(state.projects.change_role(user.id, &project, target, role).await?.into()))
}

/// Remove a member, or leave (your own user id). Their open issues become unassigned.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/members/{user_id}", tag = "projects",
    params(("project" = String, Path, description = "Project id or key"), ("user_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "`last_owner`, or `conflict` when changed concurrently", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((project, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let project = project_ref(&project)?;
    let target = uuid_segment(&user_id)?;
    state.projects.remove_member(user.id, &project, target).await?;
    Ok(StatusCode::NO_CONTENT)
}
