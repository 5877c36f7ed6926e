//! Maps tokio-postgres and pool errors onto the domain's [`RepoError`].
//!
//! Constraint violations are recognised by constraint name (the names in the migrations are
//! part of this adapter's contract), everything transient by SQLSTATE class, so the API can
//! answer 409 for a fight over state and 503 for a database that blinked — never a 500
//! for either.

use rhythm_domain::{Conflict, FieldError, RepoError};

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

/// The field and rule of a client-facing CHECK constraint.
fn checked_field(constraint: Option<&str>) -> Option<(&'static str, &'static str)> {
    let name = constraint?;
    CHECKED_FIELDS.iter().find(|(n, _, _)| *n == name).map(|(_, field, rule)| (*field, *rule))
}

const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";
const NOT_NULL_VIOLATION: &str = "23502";

/// Maps a statement the database refused, by SQLSTATE and constraint name.
fn map_refusal(code: &str, constraint: Option<&str>, message: &str) -> RepoError {
    match code {
        UNIQUE_VIOLATION => {
            let conflict = constraint.and_then(|name| {
                UNIQUE_CONFLICTS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
            });
            match conflict {
                Some(conflict) => RepoError::Conflict(conflict),
                None => RepoError::Internal(format!("unexpected unique violation: {message}")),
            }
        }
        FOREIGN_KEY_VIOLATION => RepoError::NotFound,
        CHECK_VIOLATION | NOT_NULL_VIOLATION => match checked_field(constraint) {
            Some((field, rule)) => RepoError::Invalid(FieldError::new(field, rule)),
            None => RepoError::Internal(format!(
                "row refused by constraint {}: {message}",
                constraint.unwrap_or("?"),
            )),
        },
        _ if is_transient(code) => {
            RepoError::Unavailable(format!("database refused the statement ({code}): {message}"))
        }
        _ => RepoError::Internal(format!("database error {code}: {message}")),
    }
}

/// Maps a tokio-postgres error: refusals by SQLSTATE and constraint, a connection that is
/// gone or cannot be made as unavailable, the rest (encoding, decoding: bugs) as internal.
pub fn map_pg(err: tokio_postgres::Error) -> RepoError {
    if let Some(db) = err.as_db_error() {
        return map_refusal(db.code().code(), db.constraint(), db.message());
    }
    if err.is_closed() || io_cause(&err).is_some() {
        return RepoError::Unavailable(format!("database connection lost: {err}"));
    }
    RepoError::Internal(err.to_string())
}

fn io_cause<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    let mut cause = err.source();
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = current.source();
    }
    None
}

/// Maps a failure to get a pooled connection: always "try again later", since the pool
/// timed out, is closed, or could not open a connection to a database that is down.
pub fn map_pool(err: deadpool_postgres::PoolError) -> RepoError {
    use deadpool_postgres::PoolError;
    match err {
        PoolError::Backend(e) => match map_pg(e) {
            RepoError::Internal(message) => {
                RepoError::Unavailable(format!("cannot open a database connection: {message}"))
            }
            other => other,
        },
        PoolError::Timeout(_) => {
            RepoError::Unavailable("no database connection free within the acquire timeout".into())
        }
        PoolError::Closed => RepoError::Unavailable("connection pool is closed".into()),
        other => RepoError::Unavailable(format!("database connection pool: {other}")),
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
        use deadpool_postgres::{PoolError, TimeoutType};
        assert!(matches!(
            map_pool(PoolError::Timeout(TimeoutType::Wait)),
            RepoError::Unavailable(_)
        ));
        assert!(matches!(map_pool(PoolError::Closed), RepoError::Unavailable(_)));
    }

    #[test]
    fn refusals_map_by_constraint() {
        assert!(matches!(
            map_refusal(UNIQUE_VIOLATION, Some("projects_key_key"), "dup"),
            RepoError::Conflict(Conflict::ProjectKeyTaken)
        ));
        assert!(matches!(
            map_refusal(CHECK_VIOLATION, Some("sprints_dates_ordered"), "bad"),
            RepoError::Invalid(_)
        ));
        assert!(matches!(map_refusal(CHECK_VIOLATION, Some("other"), "x"), RepoError::Internal(_)));
        assert!(matches!(map_refusal(FOREIGN_KEY_VIOLATION, None, "x"), RepoError::NotFound));
        assert!(matches!(map_refusal("57014", None, "timeout"), RepoError::Unavailable(_)));
    }
}
