//! Issues and their history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened to an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Updated,
    Moved,
    Deleted,
    Restored,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Moved => "moved",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Moved, Self::Deleted, Self::Restored]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// A field's value in an event: text, a number, an id, or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Null,
    Int(i64),
    Text(String),
}

impl From<Option<Uuid>> for FieldValue {
    fn from(id: Option<Uuid>) -> Self {
        id.map_or(Self::Null, |id| Self::Text(id.to_string()))
    }
}

impl From<Option<i32>> for FieldValue {
    fn from(n: Option<i32>) -> Self {
        n.map_or(Self::Null, |n| Self::Int(i64::from(n)))
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

/// One field's change: `{from, to}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub from: FieldValue,
    pub to: FieldValue,
}

/// Every field an event changed, by field name (the API's names: `assignee_id`, `status`…).
pub type Changes = BTreeMap<String, FieldChange>;

/// One entry of an issue's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueEvent {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub kind: EventKind,
    pub changes: Changes,
    pub at: OffsetDateTime,
}

/// The change recorded when an issue loses its assignee because they left the project.
pub fn unassignment(assignee: Uuid) -> Changes {
    Changes::from([(
        "assignee_id".to_owned(),
        FieldChange { from: Some(assignee).into(), to: FieldValue::Null },
    )])
}
