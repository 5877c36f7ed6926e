//! Scrum sprints.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::Invalid;
use crate::values::{SprintGoal, SprintName, SprintState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sprint {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub goal: String,
    pub starts_on: Option<Date>,
    pub ends_on: Option<Date>,
    pub state: SprintState,
    pub started_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// The dates rule: a sprint cannot end before it starts.
pub fn check_dates(starts_on: Option<Date>, ends_on: Option<Date>) -> Result<(), Invalid> {
    match (starts_on, ends_on) {
        (Some(start), Some(end)) if end < start => Err(Invalid("must not be before starts_on")),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone)]
pub struct NewSprint {
    pub id: Uuid,
    pub name: SprintName,
    pub goal: SprintGoal,
    pub starts_on: Option<Date>,
    pub ends_on: Option<Date>,
}

/// Changes to a sprint; for the dates `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct SprintPatch {
    pub name: Option<SprintName>,
    pub goal: Option<SprintGoal>,
    pub starts_on: Option<Option<Date>>,
    pub ends_on: Option<Option<Date>>,
}

/// Where a completed sprint's unfinished issues go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionTarget {
    Backlog,
    /// A planned sprint of the same project.
    Sprint(Uuid),
}

/// The outcome of completing a sprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub sprint: Sprint,
    /// Issues that were done or cancelled when the sprint closed.
    pub completed_issues: i64,
    /// Sum of their story points.
    pub completed_points: i64,
    /// Issues moved to the target.
    pub moved_issues: i64,
}

/// Continuation key of the sprint listing (newest first).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SprintKey {
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub id: Uuid,
}
