//! Conversions between the domain's values and SQLite's storage classes, and the helpers
//! every module uses to run statements.
//!
//! Times are stored as INTEGER microseconds since the Unix epoch (UTC): PostgreSQL's
//! precision, and integer order is time order. The store's clock is read once per write
//! ([`now`]) and truncated to that precision, so a value written round-trips exactly.

use rhythm_domain::RepoError;
use time::OffsetDateTime;

/// Microseconds since the Unix epoch.
pub fn micros(at: OffsetDateTime) -> i64 {
    // i128 nanoseconds → i64 microseconds holds for ±292 000 years.
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time `micros` microseconds after the Unix epoch.
pub fn from_micros(micros: i64) -> Result<OffsetDateTime, RepoError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| RepoError::Internal(format!("stored time out of range: {e}")))
}

/// An optional stored time.
pub fn from_micros_opt(micros: Option<i64>) -> Result<Option<OffsetDateTime>, RepoError> {
    micros.map(from_micros).transpose()
}

/// The store's clock, at the store's precision.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    from_micros(micros(now)).unwrap_or(now)
}

/// A column of a row, mapped into a `RepoError` when it is missing or of the wrong type.
pub fn get<'r, T>(row: &'r sqlx::sqlite::SqliteRow, column: &str) -> Result<T, RepoError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    use sqlx::Row;
    row.try_get(column).map_err(|e| RepoError::Internal(format!("column {column}: {e}")))
}

/// A stored time column.
pub fn get_time(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<OffsetDateTime, RepoError> {
    from_micros(get(row, column)?)
}

/// An optional stored time column.
pub fn get_time_opt(
    row: &sqlx::sqlite::SqliteRow,
    column: &str,
) -> Result<Option<OffsetDateTime>, RepoError> {
    from_micros_opt(get(row, column)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let at = now();
        assert_eq!(from_micros(micros(at)).unwrap(), at);
        assert_eq!(at.nanosecond() % 1_000, 0);
        let later = at + time::Duration::microseconds(1);
        assert!(micros(later) > micros(at));
    }
}
