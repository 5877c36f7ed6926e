//! `/api/v1/auth/*` and `/api/v1/me`: accounts and sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rhythm_domain::Validator;
use rhythm_domain::services::auth::Registration;
use rhythm_domain::values::{Email, Password, UserName};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::extract::{ClientIp, CurrentUser};
use crate::dto::{SessionDto, UserDto};
use crate::error::ApiResult;
use crate::extract::{ApiJson, present};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 254 characters with one `@`; unique regardless of case, stored as given.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 3, max_length = 254, pattern = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$")]
    email: Option<String>,
    /// 1 to 100 characters once surrounding whitespace is trimmed (the schema gives no
    /// `maxLength` because the limit applies after trimming).
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
    /// 8 to 128 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128, pattern = "^[^\\u0000]*$")]
    password: Option<String>,
}

impl RegisterRequest {
    fn validate(self) -> Result<Registration, rhythm_domain::DomainError> {
        let mut v = Validator::new();
        let email = v.required("email", self.email, Email::parse);
        let name = v.required("name", self.name, UserName::new);
        let password = v.required("password", self.password, Password::new);
        match (email, name, password) {
            (Some(email), Some(name), Some(password)) => Ok(Registration { email, name, password }),
            _ => Err(v.into_error()),
        }
    }
}

/// Create an account and log in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and logged in", body = SessionDto),
        (status = 403, description = "Signup is turned off", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this email", body = crate::error::Problem, content_type = "application/problem+json",
         headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    state.auth_limits.check(ip, body.email.as_deref().unwrap_or_default()).await?;
    state.auth.signup_allowed()?;
    let session = state.auth.register(body.validate()?).await?;
    Ok((StatusCode::CREATED, Json(SessionDto::from(session))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(pattern = "^[^\\u0000]*$")]
    email: String,
    #[schema(pattern = "^[^\\u0000]*$")]
    password: String,
}

/// Log in with email (any letter case) and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = SessionDto),
        (status = 401, description = "Unknown email or wrong password (indistinguishable)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this email", body = crate::error::Problem, content_type = "application/problem+json",
         headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<SessionDto>> {
    state.auth_limits.check(ip, &body.email).await?;
    let session = state.auth.login(&body.email, &body.password).await?;
    Ok(Json(session.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(pattern = "^[^\\u0000]*$")]
    refresh_token: String,
}

/// Exchange a refresh token for a new pair; the old one stops working. Presenting an
/// already-exchanged token revokes its whole chain.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = SessionDto),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<SessionDto>> {
    Ok(Json(state.auth.refresh(&body.refresh_token).await?.into()))
}

/// Revoke a refresh token (idempotent).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Revoked (also for unknown or already revoked tokens)")))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "The caller", body = UserDto)))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.auth.me(user.id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// 1 to 100 characters once surrounding whitespace is trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, pattern = "^\\s*[^\\s\\u0000]([^\\u0000]{0,98}[^\\s\\u0000])?\\s*$")]
    name: Option<String>,
}

/// Change the caller's name; `{}` changes nothing.
#[utoipa::path(patch, path = "/api/v1/me", tag = "auth",
    request_body = UpdateMeRequest,
    responses((status = 200, description = "The caller", body = UserDto)))]
pub async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> ApiResult<Json<UserDto>> {
    let mut v = Validator::new();
    let name = v.optional("name", body.name, UserName::new);
    let Some(name) = name else {
        return Err(v.into_error().into());
    };
    Ok(Json(state.auth.update_me(user.id, name).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, pattern = "^[^\\u0000]*$")]
    current_password: Option<String>,
    /// 8 to 128 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128, pattern = "^[^\\u0000]*$")]
    new_password: Option<String>,
}

/// Change the caller's password; every refresh token of the caller is revoked.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 429, description = "Too many attempts from this address or for this account", body = crate::error::Problem, content_type = "application/problem+json",
         headers(("retry-after" = u64, description = "Seconds to wait"))),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state.auth_limits.check_password_change(ip, user.id).await?;
    let mut v = Validator::new();
    let current = v.required("current_password", body.current_password, Ok);
    let new = v.required("new_password", body.new_password, Password::new);
    let (Some(current), Some(new)) = (current, new) else {
        return Err(v.into_error().into());
    };
    state.auth.change_password(user.id, &current, new).await?;
    Ok(StatusCode::NO_CONTENT)
}
