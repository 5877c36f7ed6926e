//! Scrum sprints.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::error::{Conflict, Invalid};
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

/// What can be done to a sprint as a whole: its state machine, `planned → active → closed`,
/// and the deletion of a sprint that never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Start,
    Complete,
    Delete,
}

impl Transition {
    /// The state a sprint in `state` goes to (`None`: it is gone), or `InvalidState`. The
    /// store decides this on the sprint as it holds it locked.
    pub fn from(self, state: SprintState) -> Result<Option<SprintState>, Conflict> {
        match (self, state) {
            (Self::Start, SprintState::Planned) => Ok(Some(SprintState::Active)),
            (Self::Complete, SprintState::Active) => Ok(Some(SprintState::Closed)),
            (Self::Delete, SprintState::Planned) => Ok(None),
            _ => Err(Conflict::InvalidState),
        }
    }
}

/// Where a completing sprint's unfinished issues may go: a sprint in this state.
pub const COMPLETION_TARGET_STATE: SprintState = SprintState::Planned;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_only_goes_forward() {
        use SprintState::{Active, Closed, Planned};
        assert_eq!(Transition::Start.from(Planned), Ok(Some(Active)));
        assert_eq!(Transition::Complete.from(Active), Ok(Some(Closed)));
        assert_eq!(Transition::Delete.from(Planned), Ok(None));
        for (transition, state) in [
            (Transition::Start, Active),
            (Transition::Start, Closed),
            (Transition::Complete, Planned),
            (Transition::Complete, Closed),
            (Transition::Delete, Active),
            (Transition::Delete, Closed),
        ] {
            assert_eq!(
                transition.from(state),
                Err(Conflict::InvalidState),
                "{transition:?} {state:?}"
            );
        }
    }
}
