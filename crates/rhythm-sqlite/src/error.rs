//! Maps SQLite's refusals onto the domain's [`RepoError`].
//!
//! SQLite names a violated UNIQUE constraint by its columns (`UNIQUE constraint failed:
//! users.email_key`) and a CHECK constraint by its name; both are part of this adapter's
//! contract with `migrations/sqlite/`. A database locked by another process (`SQLITE_BUSY`,
//! `SQLITE_LOCKED`) past the busy timeout, and a pool with no free connection, are
//! `Unavailable`: the API answers 503 with `Retry-After`, never 500.

use rhythm_domain::{Conflict, FieldError, RepoError};

/// Unique constraints whose violation means a specific, client-visible conflict, by the
/// columns SQLite reports.
const UNIQUE_CONFLICTS: &[(&str, Conflict)] = &[
    ("users.email_key", Conflict::EmailTaken),
    ("projects.key", Conflict::ProjectKeyTaken),
    ("project_members.project_id, project_members.user_id", Conflict::AlreadyMember),
    // The partial index `sprints_one_active_per_project`.
    ("sprints.project_id", Conflict::ActiveSprintExists),
    ("issues.project_id, issues.rank", Conflict::Concurrent),
    ("issues.project_id, issues.number", Conflict::Concurrent),
];

/// CHECK constraints on values a client sends, with the field and rule they guard (as in
/// `rhythm-postgres`: the domain refuses these first; this is the second line).
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

// Primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;
const SQLITE_CONSTRAINT: i64 = 19;

// Extended constraint codes.
const SQLITE_CONSTRAINT_CHECK: i64 = 275;
const SQLITE_CONSTRAINT_FOREIGNKEY: i64 = 787;
const SQLITE_CONSTRAINT_NOTNULL: i64 = 1299;
const SQLITE_CONSTRAINT_PRIMARYKEY: i64 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i64 = 2067;

/// Maps a refusal by its extended result code and message.
fn map_refusal(code: i64, message: &str) -> RepoError {
    match code {
        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
            let columns = message.split_once("constraint failed: ").map_or("", |(_, c)| c);
            match UNIQUE_CONFLICTS.iter().find(|(c, _)| *c == columns) {
                Some((_, conflict)) => RepoError::Conflict(*conflict),
                None => RepoError::Internal(format!("unexpected unique violation: {message}")),
            }
        }
        SQLITE_CONSTRAINT_FOREIGNKEY => RepoError::NotFound,
        SQLITE_CONSTRAINT_CHECK | SQLITE_CONSTRAINT_NOTNULL => {
            let name = message.split_once("constraint failed: ").map_or("", |(_, c)| c);
            match CHECKED_FIELDS.iter().find(|(n, _, _)| *n == name) {
                Some((_, field, rule)) => RepoError::Invalid(FieldError::new(*field, *rule)),
                None => RepoError::Internal(format!("row refused by a constraint: {message}")),
            }
        }
        _ if is_transient(code) => {
            RepoError::Unavailable(format!("database refused the statement ({code}): {message}"))
        }
        _ if code & 0xff == SQLITE_CONSTRAINT => {
            RepoError::Internal(format!("row refused by a constraint: {message}"))
        }
        _ => RepoError::Internal(format!("database error {code}: {message}")),
    }
}

/// Result codes meaning "the database cannot serve this right now; try again later".
fn is_transient(code: i64) -> bool {
    matches!(
        code & 0xff,
        SQLITE_BUSY
            | SQLITE_LOCKED
            | SQLITE_NOMEM
            | SQLITE_READONLY
            | SQLITE_IOERR
            | SQLITE_FULL
            | SQLITE_CANTOPEN
            | SQLITE_PROTOCOL
    )
}

/// Maps a sqlx error: refusals by result code, a pool with no connection free (or closed)
/// and I/O trouble as unavailable, the rest (encoding, decoding: bugs) as internal.
pub fn map_sqlx(err: sqlx::Error) -> RepoError {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
            map_refusal(code, db.message())
        }
        sqlx::Error::PoolTimedOut => {
            RepoError::Unavailable("no database connection free within the acquire timeout".into())
        }
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            RepoError::Unavailable("the database connections are closed".into())
        }
        sqlx::Error::Io(e) => RepoError::Unavailable(format!("database I/O failed: {e}")),
        other => RepoError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_by_columns_and_constraint_names() {
        assert!(matches!(
            map_refusal(SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: projects.key"),
            RepoError::Conflict(Conflict::ProjectKeyTaken)
        ));
        assert!(matches!(
            map_refusal(
                SQLITE_CONSTRAINT_PRIMARYKEY,
                "UNIQUE constraint failed: project_members.project_id, project_members.user_id"
            ),
            RepoError::Conflict(Conflict::AlreadyMember)
        ));
        assert!(matches!(
            map_refusal(SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: sprints_dates_ordered"),
            RepoError::Invalid(_)
        ));
        assert!(matches!(
            map_refusal(
                SQLITE_CONSTRAINT_CHECK,
                "CHECK constraint failed: issues_version_positive"
            ),
            RepoError::Internal(_)
        ));
        assert!(matches!(
            map_refusal(SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed"),
            RepoError::NotFound
        ));
    }

    #[test]
    fn locks_and_io_are_unavailable() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, SQLITE_IOERR_WRITE
        for code in [5, 517, 262, 778] {
            assert!(matches!(map_refusal(code, "busy"), RepoError::Unavailable(_)), "{code}");
        }
        assert!(matches!(map_sqlx(sqlx::Error::PoolTimedOut), RepoError::Unavailable(_)));
        assert!(matches!(map_refusal(1, "syntax error"), RepoError::Internal(_)));
    }
}
