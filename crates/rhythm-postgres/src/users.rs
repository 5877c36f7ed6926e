//! Accounts (`users`) and refresh tokens (`refresh_tokens`).

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{SessionRepository, UserRepository};
use rhythm_domain::user::{
    NewRefreshToken, NewUser, Replacement, Rotation, TokenHash, User, UserCredentials,
};
use rhythm_domain::values::UserName;
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::error::map_err;

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User { id: row.id, email: row.email, name: row.name, created_at: row.created_at }
    }
}

#[derive(FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

impl From<CredentialsRow> for UserCredentials {
    fn from(row: CredentialsRow) -> Self {
        UserCredentials { user: row.user.into(), password_hash: row.password_hash }
    }
}

#[async_trait]
impl UserRepository for PgStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create(&self, user: &NewUser) -> Result<User, RepoError> {
        sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
             RETURNING id, email, name, created_at",
        )
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(user.name.as_str())
        .bind(&user.password_hash)
        .fetch_one(&self.pool)
        .await
        .map(User::from)
        .map_err(map_err)
    }

    #[tracing::instrument(skip_all)]
    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError> {
        sqlx::query_as::<_, CredentialsRow>(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.map(UserCredentials::from))
        .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError> {
        sqlx::query_as::<_, CredentialsRow>(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.map(UserCredentials::from))
        .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        sqlx::query_as::<_, UserRow>("SELECT id, email, name, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map(|row| row.map(User::from))
            .map_err(map_err)
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepoError> {
        sqlx::query_as::<_, UserRow>(
            "SELECT id, email, name, created_at FROM users WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.map(User::from))
        .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError> {
        sqlx::query_as::<_, UserRow>(
            "UPDATE users SET name = $2, updated_at = now() WHERE id = $1
             RETURNING id, email, name, created_at",
        )
        .bind(id)
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map(|row| row.map(User::from))
        .map_err(map_err)
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError> {
        // One statement: the new hash and the revocation of every session land together.
        sqlx::query(
            "WITH changed AS (
                 UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING id
             )
             UPDATE refresh_tokens SET revoked_at = now()
             WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(password_hash)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for PgStore {
    #[tracing::instrument(skip_all, fields(user_id = %token.user_id))]
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError> {
        // The first token of a chain names the chain.
        sqlx::query(
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, session_expires_at)
             VALUES ($1, $1, $2, $3, $4, $5)",
        )
        .bind(token.id)
        .bind(token.user_id)
        .bind(token.hash.0.as_slice())
        .bind(token.expires_at)
        .bind(token.session_expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &Replacement,
        now: OffsetDateTime,
    ) -> Result<Rotation, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // The row lock taken here serializes concurrent rotations of one token: the second
        // re-reads the row after the first commits, finds it rotated, and falls through.
        let rotated: Option<(Uuid, Uuid, OffsetDateTime)> = sqlx::query_as(
            "UPDATE refresh_tokens SET rotated_at = $2
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL
               AND expires_at > $2 AND session_expires_at > $2
             RETURNING user_id, family_id, session_expires_at",
        )
        .bind(presented.0.as_slice())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;

        let outcome = if let Some((user_id, family_id, session_expires_at)) = rotated {
            sqlx::query(
                "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, session_expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(replacement.id)
            .bind(family_id)
            .bind(user_id)
            .bind(replacement.hash.0.as_slice())
            .bind(replacement.expires_at.min(session_expires_at))
            .bind(session_expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            Rotation::Rotated { user_id }
        } else {
            // Not live. If it was rotated, someone replays an old token: revoke the whole
            // chain, the newest token included.
            let was_rotated: bool = sqlx::query_scalar(
                "WITH replayed AS (
                     SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NOT NULL
                 ), revoked AS (
                     UPDATE refresh_tokens SET revoked_at = now()
                     WHERE family_id IN (SELECT family_id FROM replayed) AND revoked_at IS NULL
                     RETURNING 1
                 )
                 SELECT EXISTS (SELECT 1 FROM replayed)",
            )
            .bind(presented.0.as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            if was_rotated {
                tracing::warn!("refresh token replayed after rotation; its chain is revoked");
                Rotation::Reused
            } else {
                Rotation::Refused
            }
        };
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError> {
        sqlx::query(
            "WITH target AS (
                 SELECT family_id, rotated_at IS NOT NULL AS rotated FROM refresh_tokens WHERE token_hash = $1
             )
             UPDATE refresh_tokens r SET revoked_at = now()
             FROM target
             WHERE r.revoked_at IS NULL
               AND (r.token_hash = $1 OR (target.rotated AND r.family_id = target.family_id))",
        )
        .bind(presented.0.as_slice())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn prune(&self) -> Result<u64, RepoError> {
        let deleted = sqlx::query(
            "DELETE FROM refresh_tokens WHERE family_id IN (
                 SELECT family_id FROM refresh_tokens
                 GROUP BY family_id
                 HAVING bool_and(revoked_at IS NOT NULL OR expires_at <= now()
                                 OR session_expires_at <= now() OR rotated_at IS NOT NULL))",
        )
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(deleted.rows_affected())
    }
}
