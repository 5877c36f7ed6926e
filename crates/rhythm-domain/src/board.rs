//! Boards: Kanban columns over a project's issues (no board tables: boards are queries), and
//! moving issues between and within columns.

use uuid::Uuid;

use crate::issue::{Issue, IssueKey};
use crate::values::IssueStatus;

/// Issues shown per column: 1 to 100, 20 when unspecified.
pub const DEFAULT_PER_COLUMN: u32 = 20;
pub const MAX_PER_COLUMN: u32 = 100;

/// One column: every live issue with this status (that passes the filters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub status: IssueStatus,
    pub total: i64,
    /// Sum of story points over the whole column.
    pub points: i64,
    /// The first issues in rank order.
    pub items: Vec<Issue>,
    /// Continues the column with the issue listing (`status=…&sort=rank`).
    pub next: Option<IssueKey>,
}

/// All six columns, in the order of the statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub columns: Vec<Column>,
}

/// Where a moved issue goes within its (new) column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Directly above the issue with this number.
    Before(i64),
    /// Directly below the issue with this number.
    After(i64),
    /// At the bottom of the column.
    Bottom,
}

/// A board move: into column `status` (the current one when `None`), at `anchor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub issue_id: Uuid,
    pub project_id: Uuid,
    pub status: Option<IssueStatus>,
    pub anchor: Anchor,
    pub actor_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    Moved(Box<Issue>),
    /// The anchor issue does not exist or is not in the target column.
    AnchorNotInColumn,
    /// The moved issue was deleted meanwhile.
    Gone,
}
