//! Projects and their memberships.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Conflict;
use crate::values::{ProjectDescription, ProjectKey, ProjectName, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A project as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectWithRole {
    pub project: Project,
    pub my_role: Role,
}

/// A caller's standing in a live project: enough to decide, and to scope further queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectAccess {
    pub project_id: Uuid,
    pub role: Role,
}

/// Something read from a project the caller belongs to, with the caller's standing, so a
/// read and its membership check share one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped<T> {
    pub access: ProjectAccess,
    pub value: T,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub id: Uuid,
    pub key: ProjectKey,
    pub name: ProjectName,
    pub description: ProjectDescription,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub description: Option<ProjectDescription>,
}

/// The user part of a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: MemberUser,
    pub role: Role,
    pub added_at: OffsetDateTime,
}

/// Continuation key of the member listing (ordered by when members were added).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberKey {
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
    pub user_id: Uuid,
}

/// Who is to become a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberTarget {
    User(Uuid),
    Email(String),
}

/// Who changes whose membership in which project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipChange {
    pub project_id: Uuid,
    pub actor_id: Uuid,
    pub target_id: Uuid,
}

/// A membership change's people as the store holds them under the project's membership
/// lock; the domain decides on this, so its rules hold however many changes run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipState {
    /// The actor's role now; `None` when they are no longer a member.
    pub actor_role: Option<Role>,
    pub target: Member,
    /// How many owners the project has now.
    pub owners: u32,
}

impl MembershipState {
    /// The last-owner rule: the target may stop being an owner (`new_role` is their next
    /// role, `None` when they leave) only while another owner remains.
    pub fn keeps_an_owner(&self, new_role: Option<Role>) -> Result<(), Conflict> {
        let demotes_an_owner = self.target.role == Role::Owner && new_role != Some(Role::Owner);
        if demotes_an_owner && self.owners <= 1 { Err(Conflict::LastOwner) } else { Ok(()) }
    }
}
