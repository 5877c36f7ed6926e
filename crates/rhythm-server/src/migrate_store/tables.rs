//! What `migrate-store` copies: the base tables in foreign-key order, their columns with a
//! store-neutral kind each, and [`Val`], one value in transit between the two stores.
//!
//! The kinds say how each store spells a value: ids are `uuid` on PostgreSQL and 16-byte
//! BLOBs on SQLite, times `timestamptz` there and INTEGER microseconds here, JSON `jsonb`
//! there and TEXT here. Every value crosses as the exact same number of microseconds, the
//! same bytes, the same text.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// How a column's values are read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Uuid,
    Text,
    /// Any integer column (PostgreSQL `smallint`, `integer` and `bigint` alike).
    Int,
    /// A point in time, carried as microseconds since the Unix epoch, UTC.
    Time,
    Date,
    /// A JSON object, carried as its text.
    Json,
    Bytes,
}

/// One value of a row, store-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Null,
    Uuid(Uuid),
    Text(String),
    Int(i64),
    /// Microseconds since the Unix epoch, UTC; always a time `time` can represent (both
    /// readers check), so writing it cannot fail.
    Time(i64),
    Date(Date),
    Bytes(Vec<u8>),
}

/// A column SQLite has and PostgreSQL computes: its name and how to derive it from the row.
pub type Derived = (&'static str, fn(&[Val]) -> Val);

/// One base table.
pub struct Table {
    pub name: &'static str,
    /// The columns both stores hold, as stored (PostgreSQL's generated `search` vector and
    /// SQLite's `seq` row number are each store's own).
    pub columns: &'static [(&'static str, Kind)],
    /// Read order on each store: creation order for issues, so SQLite's `seq` (the search
    /// index's row id) numbers them as the store itself would have; the key elsewhere.
    pub postgres_order: &'static str,
    pub sqlite_order: &'static str,
    /// Columns only SQLite stores, derived from the row when writing there.
    pub sqlite_derived: &'static [Derived],
}

impl Table {
    /// Rows per multi-row INSERT: as many as keep the parameters under SQLite's limit of
    /// 32 766 (PostgreSQL allows 65 535), at most 1000.
    pub fn batch_rows(&self) -> usize {
        let per_row = self.columns.len() + self.sqlite_derived.len();
        (30_000 / per_row.max(1)).clamp(1, 1000)
    }
}

/// SQLite's `users.email_key`: the email in Unicode lower case, exactly as the SQLite
/// adapter writes it (its unique index is what makes emails case-insensitive there).
fn email_key(row: &[Val]) -> Val {
    match row.get(1) {
        Some(Val::Text(email)) => Val::Text(email.to_lowercase()),
        _ => Val::Null,
    }
}

use Kind::{Bytes, Date as D, Int, Json, Text, Time as T, Uuid as U};

/// The copied tables, parents before children. Not copied: `sign_in_attempts` (rate-limit
/// counters of the last minute) and what the target's triggers derive (`project_board_totals`,
/// PostgreSQL's `project_locks`, the search indexes).
pub const TABLES: [Table; 7] = [
    Table {
        name: "users",
        columns: &[
            ("id", U),
            ("email", Text),
            ("name", Text),
            ("password_hash", Text),
            ("created_at", T),
            ("updated_at", T),
        ],
        postgres_order: "id",
        sqlite_order: "id",
        sqlite_derived: &[("email_key", email_key)],
    },
    Table {
        name: "refresh_tokens",
        columns: &[
            ("id", U),
            ("family_id", U),
            ("user_id", U),
            ("token_hash", Bytes),
            ("created_at", T),
            ("expires_at", T),
            ("rotated_at", T),
            ("revoked_at", T),
            ("session_expires_at", T),
        ],
        postgres_order: "id",
        sqlite_order: "id",
        sqlite_derived: &[],
    },
    Table {
        name: "projects",
        columns: &[
            ("id", U),
            ("key", Text),
            ("name", Text),
            ("description", Text),
            ("issue_counter", Int),
            ("created_at", T),
            ("updated_at", T),
            ("archived_at", T),
        ],
        postgres_order: "id",
        sqlite_order: "id",
        sqlite_derived: &[],
    },
    Table {
        name: "project_members",
        columns: &[("project_id", U), ("user_id", U), ("role", Text), ("added_at", T)],
        postgres_order: "project_id, user_id",
        sqlite_order: "project_id, user_id",
        sqlite_derived: &[],
    },
    Table {
        name: "sprints",
        columns: &[
            ("id", U),
            ("project_id", U),
            ("name", Text),
            ("goal", Text),
            ("starts_on", D),
            ("ends_on", D),
            ("state", Text),
            ("started_at", T),
            ("completed_at", T),
            ("created_at", T),
            ("updated_at", T),
        ],
        postgres_order: "id",
        sqlite_order: "id",
        sqlite_derived: &[],
    },
    Table {
        name: "issues",
        columns: &[
            ("id", U),
            ("project_id", U),
            ("number", Int),
            ("title", Text),
            ("description", Text),
            ("status", Text),
            ("priority", Int),
            ("type", Text),
            ("assignee_id", U),
            ("reporter_id", U),
            ("sprint_id", U),
            ("story_points", Int),
            ("rank", Text),
            ("version", Int),
            ("created_at", T),
            ("updated_at", T),
            ("resolved_at", T),
            ("deleted_at", T),
        ],
        postgres_order: "created_at, id",
        sqlite_order: "seq",
        sqlite_derived: &[],
    },
    Table {
        name: "issue_events",
        columns: &[
            ("id", U),
            ("project_id", U),
            ("issue_id", U),
            ("actor_id", U),
            ("kind", Text),
            ("changes", Json),
            ("at", T),
        ],
        postgres_order: "id",
        sqlite_order: "id",
        sqlite_derived: &[],
    },
];

/// Microseconds since the epoch of a PostgreSQL time (which has microsecond precision).
pub fn micros(t: OffsetDateTime) -> Result<i64, String> {
    i64::try_from(t.unix_timestamp_nanos() / 1000).map_err(|_| format!("time {t} out of range"))
}

/// The time `micros` microseconds after the epoch, UTC.
pub fn from_micros(micros: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|_| format!("time of {micros} µs since the epoch out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_cross_as_exact_microseconds() {
        for m in [0, 1, -1, 1_764_000_000_123_456, -62_135_596_800_000_000] {
            assert_eq!(micros(from_micros(m).unwrap()).unwrap(), m);
        }
    }

    #[test]
    fn batches_stay_under_the_parameter_limits() {
        for table in &TABLES {
            let per_row = table.columns.len() + table.sqlite_derived.len();
            assert!(table.batch_rows() * per_row <= 32_766, "{}", table.name);
        }
        assert_eq!(
            email_key(&[Val::Null, Val::Text("Åsa@X.org".into())]),
            Val::Text("åsa@x.org".into())
        );
    }
}
