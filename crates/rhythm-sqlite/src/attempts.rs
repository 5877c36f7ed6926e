//! Sign-in attempt counters in `sign_in_attempts`: fixed windows per key, each counted with
//! one upsert, all keys of an attempt in one write transaction.

use std::time::Duration;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{AttemptCount, AttemptCounter, AttemptKey};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::db::{self, get};
use crate::error::map_sqlx;

/// A window's length in the stored unit (microseconds).
fn window_micros(window: Duration) -> i64 {
    i64::try_from(window.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl AttemptCounter for SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn count_attempt(
        &self,
        keys: &[AttemptKey],
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<AttemptCount>, RepoError> {
        // Keys go in a fixed order (writes serialize anyway; the order keeps it a rule).
        let mut sorted: Vec<&AttemptKey> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let at = db::micros(now);
        let ended_by = at.saturating_sub(window_micros(window));
        let mut tx = self.write().await?;
        let mut counted: Vec<(&AttemptKey, i64, i64)> = Vec::with_capacity(sorted.len());
        for key in sorted {
            // Every SET expression reads the row as it was, so both see the old window.
            let row = sqlx::query(
                "INSERT INTO sign_in_attempts (key, window_started_at, attempts) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                     window_started_at = CASE WHEN window_started_at <= $3
                                              THEN $2 ELSE window_started_at END,
                     attempts = CASE WHEN window_started_at <= $3 THEN 1 ELSE attempts + 1 END
                 RETURNING attempts, window_started_at",
            )
            .bind(key.0.as_slice())
            .bind(at)
            .bind(ended_by)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            counted.push((key, get(&row, "attempts")?, get(&row, "window_started_at")?));
        }
        tx.commit().await.map_err(map_sqlx)?;
        keys.iter()
            .map(|key| {
                let (_, attempts, started) = counted
                    .iter()
                    .find(|(k, _, _)| *k == key)
                    .ok_or_else(|| RepoError::Internal("an attempt key was not counted".into()))?;
                let left = started.saturating_add(window_micros(window)).saturating_sub(at);
                Ok(AttemptCount {
                    attempts: u32::try_from(*attempts).unwrap_or(u32::MAX),
                    window_left: Duration::from_micros(u64::try_from(left).unwrap_or(0)),
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn forget_ended(&self, window: Duration, now: OffsetDateTime) -> Result<u64, RepoError> {
        // An attempt counting a key holds the write lock until it commits, so this runs
        // before or after it, never against a half-counted row.
        let ended_by = db::micros(now).saturating_sub(window_micros(window));
        let mut tx = self.write().await?;
        let forgotten = sqlx::query("DELETE FROM sign_in_attempts WHERE window_started_at <= $1")
            .bind(ended_by)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?
            .rows_affected();
        tx.commit().await.map_err(map_sqlx)?;
        Ok(forgotten)
    }
}
