//! `/api/v1/auth/*` and `/api/v1/me`: accounts and sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rhythm_domain::Validator;
use rhythm_domain::services::auth::Registration;
use rhythm_domain::values::{Email, Password, UserName};
use serde::Deserialize;

use crate::auth::extract::{ClientIp, CurrentUser};
use crate::dto::{SessionDto, UserDto};
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: Option<String>,
    name: Option<String>,
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

pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    state.auth_limits.check(ip, body.email.as_deref().unwrap_or_default())?;
    state.auth.signup_allowed()?;
    let session = state.auth.register(body.validate()?).await?;
    Ok((StatusCode::CREATED, Json(SessionDto::from(session))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<SessionDto>> {
    state.auth_limits.check(ip, &body.email)?;
    let session = state.auth.login(&body.email, &body.password).await?;
    Ok(Json(session.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<SessionDto>> {
    Ok(Json(state.auth.refresh(&body.refresh_token).await?.into()))
}

pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.auth.me(user.id).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    name: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: Option<String>,
    new_password: Option<String>,
}

pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let mut v = Validator::new();
    let current = v.required("current_password", body.current_password, Ok);
    let new = v.required("new_password", body.new_password, Password::new);
    let (Some(current), Some(new)) = (current, new) else {
        return Err(v.into_error().into());
    };
    state.auth.change_password(user.id, &current, new).await?;
    Ok(StatusCode::NO_CONTENT)
}
