//! Per-project write locks: one row of `project_locks` per project and purpose, locked
//! `FOR UPDATE` for the rest of a transaction. A row lock travels with the data (replicas
//! after failover, shards by project), which advisory locks do not.

use rhythm_domain::RepoError;
use uuid::Uuid;

use crate::db::{self, Conn};

/// What a lock serializes within one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockPurpose {
    /// Rank moves, so that two moves into one spot are placed one after the other.
    Ranks,
    /// Membership changes, so that the owner count a decision reads stays true until commit.
    Members,
}

impl LockPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ranks => "ranks",
            Self::Members => "members",
        }
    }
}

/// Takes the project's `purpose` lock until the transaction ends. `NotFound` when the
/// project does not exist (its lock rows go with it).
pub(crate) async fn lock_project(
    tx: &impl Conn,
    project_id: Uuid,
    purpose: LockPurpose,
) -> Result<(), RepoError> {
    db::fetch_optional(
        tx,
        "SELECT 1 FROM project_locks WHERE project_id = $1 AND purpose = $2 FOR UPDATE",
        &[&project_id, &purpose.as_str()],
    )
    .await?
    .map(|_| ())
    .ok_or(RepoError::NotFound)
}
