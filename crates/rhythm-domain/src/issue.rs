//! Issues and their history: the entity, what a change does to it, listing filters and
//! sorts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::values::{IssueDescription, IssueStatus, IssueTitle, IssueType, Priority, StoryPoints};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub id: Uuid,
    pub project_id: Uuid,
    pub number: i64,
    /// Project key and number: `RHY-42`.
    pub key: String,
    pub title: String,
    pub description: String,
    pub status: IssueStatus,
    pub priority: Priority,
    pub issue_type: IssueType,
    pub assignee_id: Option<Uuid>,
    pub reporter_id: Uuid,
    pub sprint_id: Option<Uuid>,
    pub story_points: Option<i32>,
    pub rank: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
}

/// Listings (the issue list, boards, the backlog, search hits) carry at most this many
/// characters of each description, so what one page costs is bounded whatever the issues
/// hold; the issue itself (`GET …/issues/{number}`) has the whole text.
pub const SUMMARY_DESCRIPTION_CHARS: usize = 1_000;

/// How many characters of a description a listing reads from the store: one more than it
/// shows, so a cut can be told from a description of exactly the summary's length.
pub const SUMMARY_READ_CHARS: usize = SUMMARY_DESCRIPTION_CHARS + 1;

/// Cuts a listed issue's description to [`SUMMARY_DESCRIPTION_CHARS`] characters; `true`
/// when something was cut.
pub fn summarize_description(description: &mut String) -> bool {
    match description.char_indices().nth(SUMMARY_DESCRIPTION_CHARS) {
        Some((end, _)) => {
            description.truncate(end);
            true
        }
        None => false,
    }
}

/// A validated new issue. The number, key, rank and reporter are the store's and the
/// caller's, never the client's.
#[derive(Debug, Clone)]
pub struct NewIssue {
    pub id: Uuid,
    pub title: IssueTitle,
    pub description: IssueDescription,
    pub status: IssueStatus,
    pub priority: Priority,
    pub issue_type: IssueType,
    pub assignee_id: Option<Uuid>,
    pub sprint_id: Option<Uuid>,
    pub story_points: Option<StoryPoints>,
}

/// A validated partial update: `None` leaves a field alone; for nullable fields
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct IssuePatch {
    pub title: Option<IssueTitle>,
    pub description: Option<IssueDescription>,
    pub status: Option<IssueStatus>,
    pub priority: Option<Priority>,
    pub issue_type: Option<IssueType>,
    pub assignee_id: Option<Option<Uuid>>,
    pub sprint_id: Option<Option<Uuid>>,
    pub story_points: Option<Option<StoryPoints>>,
}

/// The editable state of an issue after a change, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueEdit {
    pub title: String,
    pub description: String,
    pub status: IssueStatus,
    pub priority: Priority,
    pub issue_type: IssueType,
    pub assignee_id: Option<Uuid>,
    pub sprint_id: Option<Uuid>,
    pub story_points: Option<i32>,
    /// `{field: {from, to}}` for every field whose value differs.
    pub changes: Changes,
}

impl IssueEdit {
    /// Applies `patch` to `issue`. Fields set to their current value are no change.
    pub fn apply(issue: &Issue, patch: &IssuePatch) -> Self {
        let mut changes = Changes::new();
        let mut note = |field: &str, from: FieldValue, to: FieldValue| {
            if from != to {
                changes.insert(field.to_owned(), FieldChange { from, to });
            }
        };
        let title =
            patch.title.as_ref().map_or(issue.title.as_str(), IssueTitle::as_str).to_owned();
        note("title", issue.title.as_str().into(), title.as_str().into());
        let description = patch
            .description
            .as_ref()
            .map_or(issue.description.as_str(), IssueDescription::as_str)
            .to_owned();
        note("description", issue.description.as_str().into(), description.as_str().into());
        let status = patch.status.unwrap_or(issue.status);
        note("status", issue.status.as_str().into(), status.as_str().into());
        let priority = patch.priority.unwrap_or(issue.priority);
        note("priority", issue.priority.as_str().into(), priority.as_str().into());
        let issue_type = patch.issue_type.unwrap_or(issue.issue_type);
        note("type", issue.issue_type.as_str().into(), issue_type.as_str().into());
        let assignee_id = patch.assignee_id.unwrap_or(issue.assignee_id);
        note("assignee_id", issue.assignee_id.into(), assignee_id.into());
        let sprint_id = patch.sprint_id.unwrap_or(issue.sprint_id);
        note("sprint_id", issue.sprint_id.into(), sprint_id.into());
        let story_points =
            patch.story_points.map_or(issue.story_points, |p| p.map(StoryPoints::get));
        note("story_points", issue.story_points.into(), story_points.into());
        Self {
            title,
            description,
            status,
            priority,
            issue_type,
            assignee_id,
            sprint_id,
            story_points,
            changes,
        }
    }

    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// The assignee the store must check (a member with role member or stronger), set only
    /// when the edit changes it: an unchanged assignee who has since lost the role stays.
    pub fn assignee_to_check(&self) -> Option<Uuid> {
        self.assignee_id.filter(|_| self.changes.contains_key("assignee_id"))
    }

    /// The sprint the store must check (of this project, not closed), set only when the
    /// edit changes it.
    pub fn sprint_to_check(&self) -> Option<Uuid> {
        self.sprint_id.filter(|_| self.changes.contains_key("sprint_id"))
    }
}

/// Which references of a write the store found invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InvalidRefs {
    /// Not a current member with role member or stronger.
    pub assignee: bool,
    /// Not a sprint of this project, or closed.
    pub sprint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(Box<Issue>),
    InvalidRefs(InvalidRefs),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated(Box<Issue>),
    /// The decision wrote nothing; the issue as it was locked.
    Unchanged(Box<Issue>),
    InvalidRefs(InvalidRefs),
    /// Deleted (or gone) meanwhile.
    Gone,
}

/// Whether deleted issues count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Exclude,
    Include,
}

/// Who an issue is assigned to, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    User(Uuid),
    Nobody,
}

/// Which sprint an issue is in, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SprintFilter {
    Sprint(Uuid),
    /// In no sprint.
    Nobody,
    /// In the project's active sprint.
    Active,
}

/// Filters of the issue listing; empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilter {
    pub statuses: Vec<IssueStatus>,
    pub priorities: Vec<Priority>,
    pub types: Vec<IssueType>,
    pub assignee: Option<AssigneeFilter>,
    pub reporter: Option<Uuid>,
    pub sprint: Option<SprintFilter>,
    pub updated_since: Option<OffsetDateTime>,
    /// Full-text: only issues matching this query.
    pub text: Option<crate::search::SearchQuery>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSortField {
    CreatedAt,
    UpdatedAt,
    Priority,
    Number,
    Rank,
}

/// Sort of the issue listing; ties always break by id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueSort {
    pub field: IssueSortField,
    pub descending: bool,
}

impl Default for IssueSort {
    /// Newest first.
    fn default() -> Self {
        Self { field: IssueSortField::CreatedAt, descending: true }
    }
}

impl IssueSort {
    /// Parses `created_at`, `-priority`…
    pub fn parse(raw: &str) -> Option<Self> {
        let (descending, name) = raw.strip_prefix('-').map_or((false, raw), |rest| (true, rest));
        let field = match name {
            "created_at" => IssueSortField::CreatedAt,
            "updated_at" => IssueSortField::UpdatedAt,
            "priority" => IssueSortField::Priority,
            "number" => IssueSortField::Number,
            "rank" => IssueSortField::Rank,
            _ => return None,
        };
        Some(Self { field, descending })
    }

    pub fn name(self) -> String {
        let field = match self.field {
            IssueSortField::CreatedAt => "created_at",
            IssueSortField::UpdatedAt => "updated_at",
            IssueSortField::Priority => "priority",
            IssueSortField::Number => "number",
            IssueSortField::Rank => "rank",
        };
        if self.descending { format!("-{field}") } else { field.to_owned() }
    }

    /// Whether `key` can continue a listing in this sort: its value has the sort's type and
    /// is one an issue can hold (a client hands keys back in cursors, and a store must never
    /// see a priority of 40000).
    pub fn accepts(self, key: &IssueKey) -> bool {
        match (self.field, &key.value) {
            (IssueSortField::CreatedAt | IssueSortField::UpdatedAt, SortValue::Time(_)) => true,
            (IssueSortField::Priority, SortValue::Int(level)) => {
                i16::try_from(*level).ok().and_then(Priority::from_level).is_some()
            }
            (IssueSortField::Number, SortValue::Int(number)) => *number > 0,
            (IssueSortField::Rank, SortValue::Text(rank)) => crate::rank::is_valid(rank),
            _ => false,
        }
    }

    /// The continuation key of `issue` under this sort.
    pub fn key_of(self, issue: &Issue) -> IssueKey {
        let value = match self.field {
            IssueSortField::CreatedAt => SortValue::Time(issue.created_at),
            IssueSortField::UpdatedAt => SortValue::Time(issue.updated_at),
            IssueSortField::Priority => SortValue::Int(i64::from(issue.priority.level())),
            IssueSortField::Number => SortValue::Int(issue.number),
            IssueSortField::Rank => SortValue::Text(issue.rank.clone()),
        };
        IssueKey { value, id: issue.id }
    }
}

/// A sort key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortValue {
    #[serde(rename = "t", with = "time::serde::rfc3339")]
    Time(OffsetDateTime),
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "s")]
    Text(String),
}

/// Continuation key of the issue listing: the last item's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueKey {
    #[serde(rename = "v")]
    pub value: SortValue,
    pub id: Uuid,
}

/// Continuation key of an issue's history (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventKey {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub id: Uuid,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> Issue {
        let now = OffsetDateTime::now_utc();
        Issue {
            id: Uuid::now_v7(),
            project_id: Uuid::now_v7(),
            number: 7,
            key: "RHY-7".into(),
            title: "Fix login".into(),
            description: "".into(),
            status: IssueStatus::Todo,
            priority: Priority::None,
            issue_type: IssueType::Bug,
            assignee_id: None,
            reporter_id: Uuid::now_v7(),
            sprint_id: None,
            story_points: Some(3),
            rank: "000000000007V".into(),
            version: 4,
            created_at: now,
            updated_at: now,
            resolved_at: None,
        }
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let edit = IssueEdit::apply(&issue(), &IssuePatch::default());
        assert!(edit.is_noop());
        assert_eq!(edit.title, "Fix login");
    }

    #[test]
    fn setting_a_field_to_its_value_is_no_change() {
        let patch = IssuePatch {
            title: Some(IssueTitle::new("Fix login").unwrap()),
            status: Some(IssueStatus::Todo),
            story_points: Some(Some(StoryPoints::new(3).unwrap())),
            ..IssuePatch::default()
        };
        assert!(IssueEdit::apply(&issue(), &patch).is_noop());
    }

    #[test]
    fn changes_record_from_and_to_per_field() {
        let assignee = Uuid::now_v7();
        let patch = IssuePatch {
            status: Some(IssueStatus::Done),
            assignee_id: Some(Some(assignee)),
            story_points: Some(None),
            priority: Some(Priority::Urgent),
            ..IssuePatch::default()
        };
        let edit = IssueEdit::apply(&issue(), &patch);
        let expected = Changes::from([
            (
                "assignee_id".into(),
                FieldChange { from: FieldValue::Null, to: FieldValue::Text(assignee.to_string()) },
            ),
            ("priority".into(), FieldChange { from: "none".into(), to: "urgent".into() }),
            ("status".into(), FieldChange { from: "todo".into(), to: "done".into() }),
            ("story_points".into(), FieldChange { from: FieldValue::Int(3), to: FieldValue::Null }),
        ]);
        assert_eq!(edit.changes, expected);
        assert_eq!(
            (edit.status, edit.assignee_id, edit.story_points),
            (IssueStatus::Done, Some(assignee), None)
        );
    }

    #[test]
    fn sorts_parse_and_name_themselves() {
        for name in [
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "priority",
            "-priority",
            "number",
            "-number",
            "rank",
            "-rank",
        ] {
            assert_eq!(IssueSort::parse(name).map(IssueSort::name).as_deref(), Some(name));
        }
        assert_eq!(IssueSort::parse("title"), None);
        assert_eq!(IssueSort::parse("--number"), None);
        assert_eq!(IssueSort::default().name(), "-created_at");
    }

    #[test]
    fn descriptions_are_cut_at_the_summary_length_in_characters() {
        let mut short = "é".repeat(SUMMARY_DESCRIPTION_CHARS);
        assert!(!summarize_description(&mut short));
        assert_eq!(short.chars().count(), SUMMARY_DESCRIPTION_CHARS);

        let mut long = "é".repeat(SUMMARY_READ_CHARS);
        assert!(summarize_description(&mut long));
        assert_eq!(long, "é".repeat(SUMMARY_DESCRIPTION_CHARS));

        let mut empty = String::new();
        assert!(!summarize_description(&mut empty));
    }
}
