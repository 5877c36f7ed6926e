//! STUB: replaced by the real implementation.
#![allow(unused_variables, unused_imports)]

use async_trait::async_trait;
use rhythm_domain::RepoError;
use rhythm_domain::ports::*;
use rhythm_domain::board::*;
use rhythm_domain::issue::*;
use rhythm_domain::pagination::*;
use rhythm_domain::project::*;
use rhythm_domain::search::*;
use rhythm_domain::sprint::*;
use rhythm_domain::user::*;
use rhythm_domain::values::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;

fn stub<T>() -> Result<T, RepoError> {
    Err(RepoError::Internal("not implemented on SQLite yet".into()))
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create(&self, user: &NewUser) -> Result<User, RepoError> {
        stub()
    }

    async fn find_credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, RepoError> {
        stub()
    }

    async fn find_credentials(&self, id: Uuid) -> Result<Option<UserCredentials>, RepoError> {
        stub()
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        stub()
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepoError> {
        stub()
    }

    async fn rename(&self, id: Uuid, name: &UserName) -> Result<Option<User>, RepoError> {
        stub()
    }

    async fn replace_password(&self, id: Uuid, password_hash: &str) -> Result<(), RepoError> {
        stub()
    }

}

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn start(&self, token: &NewRefreshToken) -> Result<(), RepoError> {
        stub()
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        replacement: &Replacement,
        now: OffsetDateTime,
    ) -> Result<Rotation, RepoError> {
        stub()
    }

    async fn revoke(&self, presented: &TokenHash) -> Result<(), RepoError> {
        stub()
    }

    async fn prune(&self) -> Result<u64, RepoError> {
        stub()
    }

}
