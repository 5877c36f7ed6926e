//! The errors of the domain: what a use case can answer instead of a result, and what a
//! storage adapter may report. Adapters map their driver's errors into [`RepoError`]; the
//! HTTP adapter maps [`DomainError`] onto status codes.

use std::fmt;

/// One invalid input field, phrased for the client ("must be 1 to 255 characters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A value that broke its rule. The message never names the field: the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The request fights the current state. Each kind has a stable code clients can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    EmailTaken,
    ProjectKeyTaken,
    AlreadyMember,
    LastOwner,
    ActiveSprintExists,
    /// A state machine refused the transition (start a closed sprint, restore a live issue…).
    InvalidState,
    /// Concurrent change of the same thing; retrying may succeed.
    Concurrent,
}

impl Conflict {
    pub fn code(self) -> &'static str {
        match self {
            Self::EmailTaken => "email_taken",
            Self::ProjectKeyTaken => "project_key_taken",
            Self::AlreadyMember => "already_member",
            Self::LastOwner => "last_owner",
            Self::ActiveSprintExists => "active_sprint_exists",
            Self::InvalidState => "invalid_state",
            Self::Concurrent => "conflict",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::EmailTaken => "an account with this email already exists",
            Self::ProjectKeyTaken => "a project with this key already exists",
            Self::AlreadyMember => "the user is already a member of this project",
            Self::LastOwner => "a project must keep at least one owner",
            Self::ActiveSprintExists => "the project already has an active sprint",
            Self::InvalidState => "the resource is not in a state that allows this",
            Self::Concurrent => "the resource was changed concurrently; retry",
        }
    }
}

/// What a storage port reports besides success. Port docs say which variant means what.
/// Whatever a port method fails with, it wrote nothing: every write is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A uniqueness or state rule of the store refused the change.
    #[error("conflict: {}", .0.code())]
    Conflict(Conflict),
    /// A row the change refers to does not exist (a foreign key found nothing).
    #[error("referenced row not found")]
    NotFound,
    /// The store cannot serve this right now and a retry may succeed: it is down or
    /// unreachable, no connection came free in time, a statement timed out, or the store
    /// gave up on a transaction because of others (PostgreSQL's serialization failures and
    /// deadlocks, SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED`). Answered as 503 with
    /// `Retry-After`, never as a server error.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A rule of the store's schema refused a value (a CHECK constraint): the domain should
    /// have refused it first, so this is a second line of defence, answered as the field's 422.
    #[error("value refused for {}", .0.field)]
    Invalid(FieldError),
    /// The domain's decision, taken on state the store held locked, refused the change
    /// (see [`crate::ports::Decide`]); nothing was written.
    #[error("refused: {0}")]
    Refused(Box<DomainError>),
    /// Anything else: a bug or a broken invariant. The message is for logs only.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// What a use case answers instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// Missing or bad credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// A member whose role does not allow the action.
    #[error("forbidden")]
    Forbidden,
    /// No such thing, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    #[error("conflict: {}", .0.code())]
    Conflict(Conflict),
    /// An `If-Match` precondition named a version that is no longer current.
    #[error("version mismatch")]
    VersionMismatch,
    /// A pagination cursor that does not decode or belongs to another listing.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<RepoError> for DomainError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::Conflict(c) => Self::Conflict(c),
            RepoError::NotFound => Self::NotFound,
            RepoError::Unavailable(m) => Self::Unavailable(m),
            RepoError::Invalid(field) => Self::Validation(vec![field]),
            RepoError::Refused(err) => *err,
            RepoError::Internal(m) => Self::Internal(m),
        }
    }
}

/// Collects every invalid field of one request, so the client sees them all at once.
///
/// `field` returns `None` exactly when it recorded an error, so after destructuring all
/// results as `Some`, `finish` only has errors recorded with [`Validator::reject`].
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn field<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Invalid(message)) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// Validates a required input: absent is "is required", present must be valid.
    pub fn required<R, T>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, Invalid>,
    ) -> Option<T> {
        let result = raw.ok_or(Invalid("is required")).and_then(parse);
        self.field(field, result)
    }

    /// Validates an optional input: absent stays absent, present must be valid.
    pub fn optional<R, T>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match raw {
            None => Some(None),
            Some(raw) => self.field(field, parse(raw)).map(Some),
        }
    }

    pub fn reject(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_error(self) -> DomainError {
        DomainError::Validation(self.errors)
    }

    pub fn finish(self) -> Result<(), DomainError> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.into_error()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_collects_every_error() {
        let mut v = Validator::new();
        let a: Option<u8> = v.field("a", Err(Invalid("bad a")));
        let b = v.field("b", Ok(2));
        let c: Option<Option<u8>> = v.optional("c", Some(1), |_| Err(Invalid("bad c")));
        let d: Option<Option<u8>> = v.optional::<u8, u8>("d", None, |_| Err(Invalid("never")));
        assert_eq!((a, b, c, d), (None, Some(2), None, Some(None)));
        match v.finish() {
            Err(DomainError::Validation(errors)) => {
                assert_eq!(
                    errors,
                    vec![FieldError::new("a", "bad a"), FieldError::new("c", "bad c")]
                );
            }
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn required_fields_must_be_present_and_valid() {
        let mut v = Validator::new();
        let missing: Option<u8> = v.required::<u8, u8>("a", None, Ok);
        let bad: Option<u8> = v.required("b", Some(1u8), |_| Err(Invalid("bad b")));
        let good = v.required("c", Some(3u8), Ok);
        assert_eq!((missing, bad, good), (None, None, Some(3)));
        let Err(DomainError::Validation(errors)) = v.finish() else { panic!("expected errors") };
        assert_eq!(
            errors,
            vec![FieldError::new("a", "is required"), FieldError::new("b", "bad b")]
        );
    }

    #[test]
    fn empty_validator_finishes_ok() {
        assert!(Validator::new().finish().is_ok());
    }

    #[test]
    fn repo_errors_map_onto_domain_errors() {
        assert!(matches!(
            DomainError::from(RepoError::Conflict(Conflict::LastOwner)),
            DomainError::Conflict(Conflict::LastOwner)
        ));
        assert!(matches!(DomainError::from(RepoError::NotFound), DomainError::NotFound));
        assert!(matches!(
            DomainError::from(RepoError::Unavailable("down".into())),
            DomainError::Unavailable(_)
        ));
    }
}
