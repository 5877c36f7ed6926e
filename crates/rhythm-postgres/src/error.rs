//! Maps sqlx/PostgreSQL errors onto the domain's [`RepoError`].
//!
//! Constraint violations are recognised by constraint name (the names in the migrations are
//! part of this adapter's contract), everything transient by SQLSTATE class, so the API can
//! answer 409 for a fight over state and 503 for a database that blinked — never a 500
//! for either.

use rhythm_domain::{Conflict, FieldError, RepoError};
use sqlx::error::{DatabaseError, ErrorKind};

/// Unique constraints whose violation means a specific, client-visible conflict.
const UNIQUE_CONFLICTS: &[(&str, Conflict)] = &[
    ("users_email_lower_key", Conflict::EmailTaken),
    ("projects_key_key", Conflict::ProjectKeyTaken),
    ("project_members_pkey", Conflict::AlreadyMember),
    ("sprints_one_active_per_project", Conflict::ActiveSprintExists),
    // Two writers raced for the same rank or number; the loser may retry.
    ("issues_project_rank_key", Conflict::Concurrent),
    ("issues_project_number_key", Conflict::Concurrent),
];

/// CHECK constraints on values a client sends, with the field and rule they guard. The
/// domain refuses all of these first; should one slip through (a concurrent path, a rule
/// the domain lost), the client still gets that field's 422, not a 500. Checks on values
/// only Rhythm writes (ranks, versions, counters, states) stay `Internal`: they mean a bug.
const CHECKED_FIELDS: &[(&str, &str, &str)] = &[
    ("users_email_format", "email", "must be a valid email address"),
    ("users_name_length", "name", "must be 1 to 100 characters"),
    ("projects_key_format", "key", "must be 2 to 10 characters A-Z 0-9, starting with a letter"),
    ("projects_name_length", "name", "must be 1 to 100 characters"),
    ("projects_description_length", "description", "must be at most 10000 characters"),
    ("sprints_name_length", "name", "must be 1 to 100 characters"),
    ("sprints_goal_length", "goal", "must be at most 10000 characters"),
    ("sprints_dates_ordered", "ends_on", "must not be before starts_on"),
    ("issues_title_length", "title", "must be 1 to 255 characters"),
    ("issues_description_length", "description", "must be at most 100000 characters"),
    ("issues_story_points_range", "story_points", "must be 0 to 1000"),
];

/// SQLSTATEs meaning "the database cannot serve this right now; try again later".
fn is_transient(code: &str) -> bool {
    matches!(
        code,
        // serialization_failure, deadlock_detected: the same request succeeds when retried
        "40001" | "40P01"
        // statement_timeout or cancel; lock_timeout
        | "57014" | "55P03"
        // admin_shutdown, crash_shutdown, cannot_connect_now
        | "57P01" | "57P02" | "57P03"
        // too_many_connections; out of memory/disk; read-only replica
        | "53300" | "53200" | "53100" | "25006"
    ) || code.starts_with("08") // connection exceptions
}

/// Maps a driver error; unknown cases become `Internal` with the message for the logs.
pub fn map_err(err: sqlx::Error) -> RepoError {
    match err {
        sqlx::Error::Database(db) => map_database_error(db.as_ref()),
        sqlx::Error::PoolTimedOut => {
            RepoError::Unavailable("no database connection free within the acquire timeout".into())
        }
        sqlx::Error::PoolClosed => RepoError::Unavailable("connection pool is closed".into()),
        sqlx::Error::Io(io) => RepoError::Unavailable(format!("database connection lost: {io}")),
        sqlx::Error::Tls(tls) => RepoError::Unavailable(format!("database TLS failure: {tls}")),
        sqlx::Error::WorkerCrashed => RepoError::Unavailable("database worker crashed".into()),
        sqlx::Error::Protocol(message) if looks_like_lost_connection(&message) => {
            RepoError::Unavailable(format!("database connection lost: {message}"))
        }
        sqlx::Error::RowNotFound => RepoError::NotFound,
        other => RepoError::Internal(other.to_string()),
    }
}

fn looks_like_lost_connection(message: &str) -> bool {
    // sqlx reports a server that hung up mid-conversation as a protocol error.
    message.contains("unexpected end of file") || message.contains("connection reset")
}

/// The field and rule of a client-facing CHECK constraint.
fn checked_field(constraint: Option<&str>) -> Option<(&'static str, &'static str)> {
    let name = constraint?;
    CHECKED_FIELDS.iter().find(|(n, _, _)| *n == name).map(|(_, field, rule)| (*field, *rule))
}

fn map_database_error(db: &dyn DatabaseError) -> RepoError {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    match db.kind() {
        ErrorKind::UniqueViolation => {
            let conflict = db.constraint().and_then(|name| {
                UNIQUE_CONFLICTS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
            });
            match conflict {
                Some(conflict) => RepoError::Conflict(conflict),
                None => {
                    RepoError::Internal(format!("unexpected unique violation: {}", db.message()))
                }
            }
        }
        ErrorKind::ForeignKeyViolation => RepoError::NotFound,
        ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
            match checked_field(db.constraint()) {
                Some((field, rule)) => RepoError::Invalid(FieldError::new(field, rule)),
                None => RepoError::Internal(format!(
                    "row refused by constraint {}: {}",
                    db.constraint().unwrap_or("?"),
                    db.message()
                )),
            }
        }
        _ if is_transient(&code) => RepoError::Unavailable(format!(
            "database refused the statement ({code}): {}",
            db.message()
        )),
        _ => RepoError::Internal(format!("database error {code}: {}", db.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes() {
        for code in ["40001", "40P01", "57014", "57P01", "08006", "08003", "53300", "25006"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42601", "22P02"] {
            assert!(!is_transient(code), "{code}");
        }
    }

    #[test]
    fn pool_errors_are_unavailable() {
        assert!(matches!(map_err(sqlx::Error::PoolTimedOut), RepoError::Unavailable(_)));
        assert!(matches!(map_err(sqlx::Error::PoolClosed), RepoError::Unavailable(_)));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(matches!(map_err(sqlx::Error::Io(io)), RepoError::Unavailable(_)));
    }
}
