//! Sign-in attempt counters in `sign_in_attempts`: fixed windows per key, counted with one
//! upsert, so every replica enforces the same limit.

use std::time::Duration;

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{AttemptCount, AttemptCounter, AttemptKey};
use time::OffsetDateTime;

use crate::PgStore;
use crate::db::{self, get};

#[async_trait]
impl AttemptCounter for PgStore {
    #[tracing::instrument(skip_all)]
    async fn count_attempt(
        &self,
        keys: &[AttemptKey],
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<AttemptCount>, RepoError> {
        // Rows are locked in key order, so two attempts with the same keys never deadlock.
        let mut sorted: Vec<&AttemptKey> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let digests: Vec<Vec<u8>> = sorted.iter().map(|k| k.0.to_vec()).collect();
        let rows = db::fetch_all(
            &self.conn().await?,
            "INSERT INTO sign_in_attempts AS a (key, window_started_at, attempts)
             SELECT k, $3, 1 FROM unnest($1::bytea[]) WITH ORDINALITY AS u(k, o) ORDER BY o
             ON CONFLICT (key) DO UPDATE SET
                 window_started_at = CASE WHEN a.window_started_at <= $3::timestamptz - $2::float8 * interval '1 second'
                                          THEN $3 ELSE a.window_started_at END,
                 attempts = CASE WHEN a.window_started_at <= $3::timestamptz - $2::float8 * interval '1 second'
                                 THEN 1 ELSE a.attempts + 1 END
             RETURNING a.key, a.attempts,
                       extract(epoch FROM a.window_started_at + $2::float8 * interval '1 second' - $3::timestamptz)::float8 AS left",
            &[&digests, &window.as_secs_f64(), &now],
        )
        .await?
        .iter()
        .map(|row| Ok((get::<Vec<u8>>(row, "key")?, get::<i32>(row, "attempts")?, get::<f64>(row, "left")?)))
        .collect::<Result<Vec<_>, RepoError>>()?;
        keys.iter()
            .map(|key| {
                let (_, attempts, left) = rows
                    .iter()
                    .find(|(digest, _, _)| digest.as_slice() == key.0.as_slice())
                    .ok_or_else(|| RepoError::Internal("an attempt key was not counted".into()))?;
                Ok(AttemptCount {
                    attempts: u32::try_from(*attempts).unwrap_or(u32::MAX),
                    window_left: Duration::try_from_secs_f64(left.max(0.0)).unwrap_or_default(),
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn forget_ended(&self, window: Duration, now: OffsetDateTime) -> Result<u64, RepoError> {
        // Rows an attempt holds are skipped (their window restarts anyway), so pruning never
        // waits on, or deadlocks with, a sign-in.
        db::execute(
            &self.conn().await?,
            "DELETE FROM sign_in_attempts WHERE key IN (
                 SELECT key FROM sign_in_attempts
                 WHERE window_started_at <= $2::timestamptz - $1::float8 * interval '1 second'
                 FOR UPDATE SKIP LOCKED)",
            &[&window.as_secs_f64(), &now],
        )
        .await
    }
}
