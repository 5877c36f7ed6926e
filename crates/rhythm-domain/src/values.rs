//! Validated value objects. Once one exists it is valid: services never check again.
//!
//! Lengths count Unicode scalar values (what a person calls characters), not bytes.

use std::fmt;

use uuid::Uuid;

use crate::error::Invalid;

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// No text Rhythm keeps may hold a NUL character: no client means to send one, and some
/// stores cannot hold it (PostgreSQL's `text`). Adapters may rely on never being given
/// one; the HTTP adapter refuses it in every query string and body, before parsing.
pub const REFUSED_CHAR: char = '\0';

/// Declares a trimmed, length-bounded text value (`min..=max` characters after trimming).
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $min:literal, $max:literal, $message:literal, trim = $trim:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn new(raw: impl Into<String>) -> Result<Self, Invalid> {
                let raw: String = raw.into();
                let value = if $trim { raw.trim().to_owned() } else { raw };
                let len = char_len(&value);
                if ($min..=$max).contains(&len) { Ok(Self(value)) } else { Err(Invalid($message)) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

bounded_text!(
    /// A person's display name: 1 to 100 characters after trimming.
    UserName, 1, 100, "must be 1 to 100 characters", trim = true
);
bounded_text!(
    /// 1 to 100 characters after trimming.
    ProjectName, 1, 100, "must be 1 to 100 characters", trim = true
);
bounded_text!(
    /// Up to 10 000 characters, kept as written.
    ProjectDescription, 0, 10000, "must be at most 10000 characters", trim = false
);
bounded_text!(
    /// 1 to 255 characters, stored trimmed.
    IssueTitle, 1, 255, "must be 1 to 255 characters", trim = true
);
bounded_text!(
    /// Up to 100 000 characters, kept as written.
    #[derive(Default)]
    IssueDescription, 0, 100000, "must be at most 100000 characters", trim = false
);
bounded_text!(
    /// 1 to 100 characters after trimming.
    SprintName, 1, 100, "must be 1 to 100 characters", trim = true
);
bounded_text!(
    /// Up to 10 000 characters, kept as written.
    SprintGoal, 0, 10000, "must be at most 10000 characters", trim = false
);

/// An email address as the person typed it. Compared case-insensitively by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    const RULE: Invalid = Invalid("must be an email address of 3 to 254 characters with one @");

    pub fn parse(raw: impl Into<String>) -> Result<Self, Invalid> {
        let value: String = raw.into();
        let len = char_len(&value);
        let mut parts = value.split('@');
        let well_formed = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
        );
        let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if (3..=254).contains(&len) && well_formed && clean {
            Ok(Self(value))
        } else {
            Err(Self::RULE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password in clear text, only ever held long enough to hash or verify it.
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks the rules for a new password (8 to 128 characters).
    pub fn new(raw: impl Into<String>) -> Result<Self, Invalid> {
        let value: String = raw.into();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&char_len(&value)) {
            Ok(Self(value))
        } else {
            Err(Invalid("must be 8 to 128 characters"))
        }
    }

    /// A password presented to log in. Not checked against today's rules (an account may
    /// predate them), only bounded so nobody can make the server hash megabytes.
    pub fn presented(raw: impl Into<String>) -> Result<Self, Invalid> {
        let value: String = raw.into();
        if char_len(&value) <= Self::MAX_CHARS * 8 {
            Ok(Self(value))
        } else {
            Err(Invalid("is too long"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A project's short key, such as `RHY`: an uppercase letter, then 1 to 9 uppercase letters
/// or digits. Immutable once the project exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectKey(String);

impl ProjectKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bytes = raw.as_bytes();
        let valid = (2..=10).contains(&bytes.len())
            && bytes[0].is_ascii_uppercase()
            && bytes[1..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid("must match ^[A-Z][A-Z0-9]{1,9}$"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a request names a project: by id or by key. Keys in paths match in any letter case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(Uuid),
    Key(ProjectKey),
}

impl ProjectRef {
    /// `None` when the text is neither a UUID nor a possible key: such a project cannot exist.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(id) = Uuid::parse_str(raw) {
            return Some(Self::Id(id));
        }
        ProjectKey::parse(&raw.to_ascii_uppercase()).ok().map(Self::Key)
    }
}

/// Story points: an integer from 0 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoryPoints(i32);

impl StoryPoints {
    pub fn new(raw: i64) -> Result<Self, Invalid> {
        match i32::try_from(raw) {
            Ok(points) if (0..=1000).contains(&points) => Ok(Self(points)),
            _ => Err(Invalid("must be an integer from 0 to 1000")),
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// Declares a closed set of named values with their wire names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $message:literal {
        $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Invalid($message)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// A member's role. Ordered weakest first, so `role >= Role::Member` reads naturally.
    Role, "must be one of owner, maintainer, member, viewer" {
        Viewer => "viewer",
        Member => "member",
        Maintainer => "maintainer",
        Owner => "owner",
    }
);

named_enum!(
    /// Workflow state of an issue; the declaration order is the board's column order.
    #[derive(Default)]
    IssueStatus, "must be one of backlog, todo, in_progress, in_review, done, cancelled" {
        Backlog => "backlog",
        #[default]
        Todo => "todo",
        InProgress => "in_progress",
        InReview => "in_review",
        Done => "done",
        Cancelled => "cancelled",
    }
);

impl IssueStatus {
    /// The resolved statuses: their issues carry `resolved_at`, leave the backlog, keep
    /// their assignee when the assignee leaves and stay behind when a sprint completes.
    pub const RESOLVED: &'static [IssueStatus] = &[Self::Done, Self::Cancelled];

    /// Done and cancelled issues are resolved: they carry `resolved_at` and leave the backlog.
    pub fn is_resolved(self) -> bool {
        Self::RESOLVED.contains(&self)
    }

    /// The wire names of [`IssueStatus::RESOLVED`], for stores that filter on the set.
    pub fn resolved_names() -> Vec<&'static str> {
        Self::RESOLVED.iter().map(|s| s.as_str()).collect()
    }
}

named_enum!(
    /// Ordered from `none` to `urgent`, which is also the sort order.
    #[derive(Default)]
    Priority, "must be one of none, low, medium, high, urgent" {
        #[default]
        None => "none",
        Low => "low",
        Medium => "medium",
        High => "high",
        Urgent => "urgent",
    }
);

impl Priority {
    /// The stored form: 0 for `none` up to 4 for `urgent`.
    pub fn level(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Urgent => 4,
        }
    }

    pub fn from_level(level: i16) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.level() == level)
    }
}

named_enum!(
    #[derive(Default)]
    IssueType, "must be one of task, bug, feature, story" {
        #[default]
        Task => "task",
        Bug => "bug",
        Feature => "feature",
        Story => "story",
    }
);

named_enum!(
    /// `planned → active → closed`, never backwards.
    SprintState, "must be one of planned, active, closed" {
        Planned => "planned",
        Active => "active",
        Closed => "closed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        for ok in ["a@b", "Ann.Lee@Example.COM", "x+tag@sub.domain.io"] {
            assert_eq!(Email::parse(ok).map(|e| e.as_str().to_owned()), Ok(ok.to_owned()));
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "ab", "@b.c", "a@", "a@b@c", "no-at-sign", "a b@c.d", "a@b\n", &long] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::new("  Ada  ").map(UserName::into_inner), Ok("Ada".to_owned()));
        assert!(UserName::new("   ").is_err());
        assert!(UserName::new("x".repeat(100)).is_ok());
        assert!(UserName::new("x".repeat(101)).is_err());
        // Characters, not bytes: 100 multi-byte characters are fine.
        assert!(UserName::new("é".repeat(100)).is_ok());
    }

    #[test]
    fn title_and_description_bounds() {
        assert_eq!(IssueTitle::new(" Fix it ").map(IssueTitle::into_inner), Ok("Fix it".into()));
        assert!(IssueTitle::new("").is_err());
        assert!(IssueTitle::new("t".repeat(255)).is_ok());
        assert!(IssueTitle::new("t".repeat(256)).is_err());
        assert!(IssueDescription::new("").is_ok());
        assert!(
            IssueDescription::new(" keeps spaces ")
                .map(|d| d.as_str() == " keeps spaces ")
                .unwrap()
        );
        assert!(IssueDescription::new("d".repeat(100_000)).is_ok());
        assert!(IssueDescription::new("d".repeat(100_001)).is_err());
        assert!(ProjectDescription::new("d".repeat(10_001)).is_err());
    }

    #[test]
    fn password_rules() {
        assert!(Password::new("1234567").is_err());
        assert!(Password::new("12345678").is_ok());
        assert!(Password::new("p".repeat(128)).is_ok());
        assert!(Password::new("p".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::new("secret-pass").unwrap()), "Password(<redacted>)");
        // A presented password is not held to the creation rules.
        assert!(Password::presented("short").is_ok());
    }

    #[test]
    fn project_key_pattern() {
        for ok in ["RH", "RHY", "A1", "ABCDEFGHIJ", "X123456789"] {
            assert!(ProjectKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "R", "rhy", "1AB", "ABCDEFGHIJK", "RH-Y", "ÄB", "R Y"] {
            assert!(ProjectKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_ref_accepts_id_or_key_in_any_case() {
        let id = Uuid::now_v7();
        assert_eq!(ProjectRef::parse(&id.to_string()), Some(ProjectRef::Id(id)));
        assert_eq!(
            ProjectRef::parse("rhy"),
            Some(ProjectRef::Key(ProjectKey::parse("RHY").unwrap()))
        );
        assert_eq!(ProjectRef::parse("not a key"), None);
    }

    #[test]
    fn story_points_range() {
        assert!(StoryPoints::new(0).is_ok());
        assert!(StoryPoints::new(1000).is_ok());
        assert!(StoryPoints::new(-1).is_err());
        assert!(StoryPoints::new(1001).is_err());
        assert!(StoryPoints::new(i64::MAX).is_err());
    }

    #[test]
    fn enums_round_trip_their_wire_names() {
        for s in IssueStatus::ALL {
            assert_eq!(IssueStatus::parse(s.as_str()), Ok(*s));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Ok(*p));
            assert_eq!(Priority::from_level(p.level()), Some(*p));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(*r));
        }
        assert!(IssueType::parse("epic").is_err());
        assert!(SprintState::parse("Active").is_err());
    }

    #[test]
    fn orderings_match_the_contract() {
        assert!(Role::Owner > Role::Maintainer && Role::Maintainer > Role::Member);
        assert!(Role::Member > Role::Viewer);
        assert!(Priority::Urgent > Priority::High && Priority::Low > Priority::None);
        assert_eq!(
            IssueStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"]
        );
        assert!(IssueStatus::Done.is_resolved() && IssueStatus::Cancelled.is_resolved());
        assert!(!IssueStatus::InReview.is_resolved());
    }
}
