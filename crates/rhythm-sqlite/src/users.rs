//! Accounts (`users`) and refresh tokens (`refresh_tokens`).
//!
//! Emails compare by `email_key`, the Unicode lower case of the email computed here:
//! SQLite's `lower()` folds ASCII only, and `Åsa@x` must meet `åsa@X`.

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{SessionRepository, UserRepository};
use rhythm_domain::user::{
    NewRefreshToken, NewUser, Replacement, Rotation, TokenHash, User, UserCredentials,
};
use rhythm_domain::values::UserName;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{self, get, get_time};
use crate::error::map_sqlx;

/// The key an email is unique and found by.
fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// A user from the columns `id, email, name, created_at`.
fn user_from_row(row: &SqliteRow) -> Result<User, RepoError> {
    Ok(User {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        created_at: get_time(row, "created_at")?,
    })
}

fn credentials_from_row(row: &SqliteRow) -> Result<UserCredentials, RepoError> {
    Ok(UserCredentials { user: user_from_row(row)?, password_hash: get(row, "password_hash")? })
}

#[async_trait]
impl UserRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create(&self, user: &NewUser) -> Result<User, RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO users (id, email, email_key, name, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             RETURNING id, email, name, created_at",
        )
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(email_key(user.email.as_str()))
        .bind(user.name.as_str())
        .bind(&user.password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        let user = user_from_row(&row)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(user)
    }

    #[tracing::instrument(skip_all)]
    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError> {
        sqlx::query(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE email_key = $1",
        )
        .bind(email_key(email))
        .fetch_optional(self.readers())
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(credentials_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError> {
        sqlx::query("SELECT id, email, name, created_at, password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.readers())
            .await
            .map_err(map_sqlx)?
            .as_ref()
            .map(credentials_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        sqlx::query("SELECT id, email, name, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.readers())
            .await
            .map_err(map_sqlx)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepoError> {
        sqlx::query("SELECT id, email, name, created_at FROM users WHERE email_key = $1")
            .bind(email_key(email))
            .fetch_optional(self.readers())
            .await
            .map_err(map_sqlx)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let user = sqlx::query(
            "UPDATE users SET name = $2, updated_at = $3 WHERE id = $1
             RETURNING id, email, name, created_at",
        )
        .bind(id)
        .bind(name.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(user_from_row)
        .transpose()?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError> {
        // One transaction: the new hash and the revocation of every session land together.
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .rows_affected();
        if changed > 0 {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(user_id = %token.user_id))]
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError> {
        // The first token of a chain names the chain.
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO refresh_tokens
                 (id, family_id, user_id, token_hash, created_at, expires_at, session_expires_at)
             VALUES ($1, $1, $2, $3, $4, $5, $6)",
        )
        .bind(token.id)
        .bind(token.user_id)
        .bind(token.hash.0.as_slice())
        .bind(now)
        .bind(db::micros(token.expires_at))
        .bind(db::micros(token.session_expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &Replacement,
        now: OffsetDateTime,
    ) -> Result<Rotation, RepoError> {
        let stored_now = db::micros(db::now());
        let at = db::micros(now);
        // The write transaction serializes concurrent rotations of one token: the second
        // reads the row after the first committed, finds it rotated, and falls through.
        let mut tx = self.write().await?;
        let rotated = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL
               AND expires_at > $2 AND session_expires_at > $2
             RETURNING user_id, family_id, session_expires_at",
        )
        .bind(presented.0.as_slice())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?;

        let outcome = if let Some(row) = rotated {
            let user_id: Uuid = get(&row, "user_id")?;
            let family_id: Uuid = get(&row, "family_id")?;
            let session_expires_at: i64 = get(&row, "session_expires_at")?;
            sqlx::query(
                "INSERT INTO refresh_tokens
                     (id, family_id, user_id, token_hash, created_at, expires_at, session_expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(replacement.id)
            .bind(family_id)
            .bind(user_id)
            .bind(replacement.hash.0.as_slice())
            .bind(stored_now)
            .bind(db::micros(replacement.expires_at).min(session_expires_at))
            .bind(session_expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            Rotation::Rotated { user_id }
        } else {
            // Not live. If it was rotated, someone replays an old token: revoke the whole
            // chain, the newest token included.
            let replayed: Option<Uuid> = sqlx::query_scalar(
                "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NOT NULL",
            )
            .bind(presented.0.as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            match replayed {
                Some(family_id) => {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2
                         WHERE family_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(family_id)
                    .bind(stored_now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                    tracing::warn!("refresh token replayed after rotation; its chain is revoked");
                    Rotation::Reused
                }
                None => Rotation::Refused,
            }
        };
        tx.commit().await.map_err(map_sqlx)?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError> {
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2
             WHERE revoked_at IS NULL
               AND (token_hash = $1 OR family_id IN (
                   SELECT family_id FROM refresh_tokens
                   WHERE token_hash = $1 AND rotated_at IS NOT NULL))",
        )
        .bind(presented.0.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn prune(&self) -> Result<u64, RepoError> {
        // A chain goes when every one of its tokens is dead (min over booleans: all true).
        let now = db::micros(db::now());
        let mut tx = self.write().await?;
        let pruned = sqlx::query(
            "DELETE FROM refresh_tokens WHERE family_id IN (
                 SELECT family_id FROM refresh_tokens
                 GROUP BY family_id
                 HAVING min(revoked_at IS NOT NULL OR expires_at <= $1
                            OR session_expires_at <= $1 OR rotated_at IS NOT NULL) = 1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .rows_affected();
        tx.commit().await.map_err(map_sqlx)?;
        Ok(pruned)
    }
}
