//! Response bodies shared by several routes, and the wire form of the domain's enums.
//! Request bodies live with their routes.

use rhythm_domain::issue::EventKind;
use rhythm_domain::user::{Session, User};
use rhythm_domain::values::{IssueStatus, IssueType, Priority, Role, SprintState};
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

/// Declares the wire (and OpenAPI) form of a domain enum: the same variants, snake_case.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $dto:ident from $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $dto {
            $($variant),+
        }

        impl From<$domain> for $dto {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => Self::$variant),+
                }
            }
        }
    };
}

wire_enum!(
    /// A member's role. Strongest first: owner, maintainer, member, viewer.
    RoleDto from Role { Owner, Maintainer, Member, Viewer }
);
wire_enum!(
    /// Workflow state; also the order of the board's columns.
    IssueStatusDto from IssueStatus { Backlog, Todo, InProgress, InReview, Done, Cancelled }
);
wire_enum!(
    /// From `none` to `urgent`.
    PriorityDto from Priority { None, Low, Medium, High, Urgent }
);
wire_enum!(IssueTypeDto from IssueType { Task, Bug, Feature, Story });
wire_enum!(
    /// `planned` → `active` → `closed`.
    SprintStateDto from SprintState { Planned, Active, Closed }
);
wire_enum!(
    /// What happened to an issue.
    EventKindDto from EventKind { Created, Updated, Moved, Deleted, Restored }
);
