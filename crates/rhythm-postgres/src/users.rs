//! Accounts (`users`) and refresh tokens (`refresh_tokens`).

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::{SessionRepository, UserRepository};
use rhythm_domain::user::{
    NewRefreshToken, NewUser, Replacement, Rotation, TokenHash, User, UserCredentials,
};
use rhythm_domain::values::UserName;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::PgStore;
use crate::db::{self, get};
use crate::error::map_pg;

/// A user from the columns `id, email, name, created_at`.
fn user_from_row(row: &Row) -> Result<User, RepoError> {
    Ok(User {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        created_at: get(row, "created_at")?,
    })
}

fn credentials_from_row(row: &Row) -> Result<UserCredentials, RepoError> {
    Ok(UserCredentials { user: user_from_row(row)?, password_hash: get(row, "password_hash")? })
}

#[async_trait]
impl UserRepository for PgStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create(&self, user: &NewUser) -> Result<User, RepoError> {
        let row = db::fetch_one(
            &self.conn().await?,
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
             RETURNING id, email, name, created_at",
            &[&user.id, &user.email.as_str(), &user.name.as_str(), &user.password_hash],
        )
        .await?;
        user_from_row(&row)
    }

    #[tracing::instrument(skip_all)]
    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "SELECT id, email, name, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await?
        .as_ref()
        .map(credentials_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "SELECT id, email, name, created_at, password_hash FROM users WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(credentials_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "SELECT id, email, name, created_at FROM users WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "SELECT id, email, name, created_at FROM users WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError> {
        db::fetch_optional(
            &self.conn().await?,
            "UPDATE users SET name = $2, updated_at = now() WHERE id = $1
             RETURNING id, email, name, created_at",
            &[&id, &name.as_str()],
        )
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError> {
        // One statement: the new hash and the revocation of every session land together.
        db::execute(
            &self.conn().await?,
            "WITH changed AS (
                 UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING id
             )
             UPDATE refresh_tokens SET revoked_at = now()
             WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL",
            &[&id, &password_hash],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for PgStore {
    #[tracing::instrument(skip_all, fields(user_id = %token.user_id))]
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError> {
        // The first token of a chain names the chain.
        db::execute(
            &self.conn().await?,
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, session_expires_at)
             VALUES ($1, $1, $2, $3, $4, $5)",
            &[
                &token.id,
                &token.user_id,
                &token.hash.0.as_slice(),
                &token.expires_at,
                &token.session_expires_at,
            ],
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &Replacement,
        now: OffsetDateTime,
    ) -> Result<Rotation, RepoError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(map_pg)?;
        // The row lock taken here serializes concurrent rotations of one token: the second
        // re-reads the row after the first commits, finds it rotated, and falls through.
        let rotated = db::fetch_optional(
            &tx,
            "UPDATE refresh_tokens SET rotated_at = $2
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL
               AND expires_at > $2 AND session_expires_at > $2
             RETURNING user_id, family_id, session_expires_at",
            &[&presented.0.as_slice(), &now],
        )
        .await?;

        let outcome = if let Some(row) = rotated {
            let user_id: Uuid = get(&row, "user_id")?;
            let family_id: Uuid = get(&row, "family_id")?;
            let session_expires_at: OffsetDateTime = get(&row, "session_expires_at")?;
            db::execute(
                &tx,
                "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at, session_expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &replacement.id,
                    &family_id,
                    &user_id,
                    &replacement.hash.0.as_slice(),
                    &replacement.expires_at.min(session_expires_at),
                    &session_expires_at,
                ],
            )
            .await?;
            Rotation::Rotated { user_id }
        } else {
            // Not live. If it was rotated, someone replays an old token: revoke the whole
            // chain, the newest token included.
            let row = db::fetch_one(
                &tx,
                "WITH replayed AS (
                     SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NOT NULL
                 ), revoked AS (
                     UPDATE refresh_tokens SET revoked_at = now()
                     WHERE family_id IN (SELECT family_id FROM replayed) AND revoked_at IS NULL
                     RETURNING 1
                 )
                 SELECT EXISTS (SELECT 1 FROM replayed) AS was_rotated",
                &[&presented.0.as_slice()],
            )
            .await?;
            if get::<bool>(&row, "was_rotated")? {
                tracing::warn!("refresh token replayed after rotation; its chain is revoked");
                Rotation::Reused
            } else {
                Rotation::Refused
            }
        };
        tx.commit().await.map_err(map_pg)?;
        Ok(outcome)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError> {
        db::execute(
            &self.conn().await?,
            "WITH target AS (
                 SELECT family_id, rotated_at IS NOT NULL AS rotated FROM refresh_tokens WHERE token_hash = $1
             )
             UPDATE refresh_tokens r SET revoked_at = now()
             FROM target
             WHERE r.revoked_at IS NULL
               AND (r.token_hash = $1 OR (target.rotated AND r.family_id = target.family_id))",
            &[&presented.0.as_slice()],
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn prune(&self) -> Result<u64, RepoError> {
        db::execute(
            &self.conn().await?,
            "DELETE FROM refresh_tokens WHERE family_id IN (
                 SELECT family_id FROM refresh_tokens
                 GROUP BY family_id
                 HAVING bool_and(revoked_at IS NOT NULL OR expires_at <= now()
                                 OR session_expires_at <= now() OR rotated_at IS NOT NULL))",
            &[],
        )
        .await
    }
}
