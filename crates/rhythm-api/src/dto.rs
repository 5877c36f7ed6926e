//! Response bodies shared by several routes. Request bodies live with their routes.

use rhythm_domain::user::{Session, User};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        Self { id: user.id, email: user.email, name: user.name, created_at: user.created_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub user: UserDto,
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<Session> for SessionDto {
    fn from(session: Session) -> Self {
        Self {
            user: session.user.into(),
            access_token: session.access.token,
            refresh_token: session.refresh.0,
            token_type: "Bearer",
            expires_in: session.access.expires_in_secs,
        }
    }
}
