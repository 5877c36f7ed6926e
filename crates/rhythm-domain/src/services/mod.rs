//! Use cases. Each service loads what it needs through ports, asks the policy, checks the
//! rules that span entities, and calls the repositories; it never sees HTTP or SQL.

pub mod auth;
pub mod boards;
pub mod issues;
pub mod projects;
pub mod search;
pub mod sprints;

use uuid::Uuid;

use crate::error::DomainError;
use crate::policy::{Action, require};
use crate::ports::ProjectRepository;
use crate::project::ProjectAccess;
use crate::values::ProjectRef;

/// The caller's standing in a project, checked against `action`. Non-members and unknown
/// or archived projects are all `NotFound`.
pub(crate) async fn authorize(
    projects: &dyn ProjectRepository,
    user: Uuid,
    project: &ProjectRef,
    action: Action,
) -> Result<ProjectAccess, DomainError> {
    let access = projects.access(project, user).await?;
    require(access.map(|a| a.role), action)?;
    access.ok_or(DomainError::NotFound)
}
