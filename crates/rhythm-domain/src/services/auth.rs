//! Accounts and sessions: register, log in, rotate refresh tokens, log out, and manage one's
//! own account.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::error::DomainError;
use crate::ports::{Clock, PasswordHasher, SessionRepository, TokenIssuer, UserRepository};
use crate::user::{NewRefreshToken, NewUser, Replacement, Rotation, Session, User};
use crate::values::{Email, Password, UserName};

/// Settings of the account rules.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Whether anyone may register.
    pub allow_signup: bool,
    pub refresh_token_ttl: Duration,
    /// How long a session lasts from its login, however often it is refreshed.
    pub session_max_age: Duration,
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
}

pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
    ) -> Self {
        Self { users, sessions, hasher, tokens, clock, settings }
    }

    /// Whether registration is open; checked before the request is even validated.
    pub fn signup_allowed(&self) -> Result<(), DomainError> {
        if self.settings.allow_signup { Ok(()) } else { Err(DomainError::Forbidden) }
    }

    /// Creates an account and logs it in.
    pub async fn register(&self, input: Registration) -> Result<Session, DomainError> {
        self.signup_allowed()?;
        let Registration { email, name, password } = input;
        let password_hash = self.hasher.hash(&password).await?;
        let user =
            self.users.create(&NewUser { id: Uuid::now_v7(), email, name, password_hash }).await?;
        self.start_session(user).await
    }

    /// Logs in. Unknown email and wrong password are the same `Unauthorized`, in about the
    /// same time: an unknown email is verified against a dummy hash.
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, DomainError> {
        let password = Password::presented(password).map_err(|_| DomainError::Unauthorized)?;
        let found = self.users.find_credentials_by_email(email).await?;
        let (user, stored) = match found {
            Some(credentials) => (Some(credentials.user), Some(credentials.password_hash)),
            None => (None, None),
        };
        let matches = self.hasher.verify(&password, stored).await?;
        match user {
            Some(user) if matches => self.start_session(user).await,
            _ => Err(DomainError::Unauthorized),
        }
    }

    /// Exchanges a refresh token for a new pair. The presented token stops working; a
    /// token that was already exchanged revokes its whole chain.
    pub async fn refresh(&self, presented: &str) -> Result<Session, DomainError> {
        let presented_hash = self.tokens.hash_refresh_token(presented);
        let (secret, hash) = self.tokens.refresh_token()?;
        let now = self.clock.now();
        let replacement = Replacement {
            id: Uuid::now_v7(),
            hash,
            expires_at: now + self.settings.refresh_token_ttl,
        };
        match self.sessions.rotate(&presented_hash, &replacement, now).await? {
            Rotation::Rotated { user_id } => {
                let user = self.users.find(user_id).await?.ok_or(DomainError::Unauthorized)?;
                let access = self.tokens.access_token(user.id)?;
                Ok(Session { user, access, refresh: secret })
            }
            Rotation::Reused | Rotation::Refused => Err(DomainError::Unauthorized),
        }
    }

    /// Revokes a refresh token. Unknown and already revoked tokens are fine.
    pub async fn logout(&self, presented: &str) -> Result<(), DomainError> {
        let hash = self.tokens.hash_refresh_token(presented);
        self.sessions.revoke(&hash).await?;
        Ok(())
    }

    pub async fn me(&self, user_id: Uuid) -> Result<User, DomainError> {
        self.users.find(user_id).await?.ok_or(DomainError::Unauthorized)
    }

    /// Changes one's own profile; `None` changes nothing.
    pub async fn update_me(
        &self,
        user_id: Uuid,
        name: Option<UserName>,
    ) -> Result<User, DomainError> {
        match name {
            None => self.me(user_id).await,
            Some(name) => self.users.rename(user_id, &name).await?.ok_or(DomainError::Unauthorized),
        }
    }

    /// Changes one's password and revokes every session. The new password was validated by
    /// the caller (so an invalid one is reported before the current one is checked).
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current: &str,
        new: Password,
    ) -> Result<(), DomainError> {
        let current = Password::presented(current).map_err(|_| DomainError::Unauthorized)?;
        let credentials =
            self.users.find_credentials(user_id).await?.ok_or(DomainError::Unauthorized)?;
        if !self.hasher.verify(&current, Some(credentials.password_hash)).await? {
            return Err(DomainError::Unauthorized);
        }
        let hash = self.hasher.hash(&new).await?;
        self.users.replace_password(user_id, &hash).await?;
        Ok(())
    }

    /// Forgets sessions that are over; see [`SessionRepository::prune`].
    pub async fn prune_sessions(&self) -> Result<u64, DomainError> {
        Ok(self.sessions.prune().await?)
    }

    async fn start_session(&self, user: User) -> Result<Session, DomainError> {
        let (refresh, hash) = self.tokens.refresh_token()?;
        let now = self.clock.now();
        let session_expires_at = now + self.settings.session_max_age;
        let token = NewRefreshToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            hash,
            expires_at: (now + self.settings.refresh_token_ttl).min(session_expires_at),
            session_expires_at,
        };
        self.sessions.start(&token).await?;
        let access = self.tokens.access_token(user.id)?;
        Ok(Session { user, access, refresh })
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use time::OffsetDateTime;

    use super::*;
    use crate::error::{Conflict, RepoError};
    use crate::ports::{
        MockPasswordHasher, MockSessionRepository, MockTokenIssuer, MockUserRepository,
    };
    use crate::user::{AccessToken, RefreshSecret, TokenHash, UserCredentials};

    fn user() -> User {
        User {
            id: Uuid::now_v7(),
            email: "Ann@Example.com".into(),
            name: "Ann".into(),
            created_at: OffsetDateTime::now_utc(),
        }
    }

    fn tokens() -> MockTokenIssuer {
        let mut tokens = MockTokenIssuer::new();
        tokens
            .expect_access_token()
            .returning(|_| Ok(AccessToken { token: "access".into(), expires_in_secs: 900 }));
        tokens
            .expect_refresh_token()
            .returning(|| Ok((RefreshSecret("refresh".into()), TokenHash([7; 32]))));
        tokens.expect_hash_refresh_token().returning(|_| TokenHash([1; 32]));
        tokens
    }

    /// The moment every test of this module runs at.
    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    struct FixedClock(OffsetDateTime);

    impl Clock for FixedClock {
        fn now(&self) -> OffsetDateTime {
            self.0
        }
    }

    struct Mocks {
        users: MockUserRepository,
        sessions: MockSessionRepository,
        hasher: MockPasswordHasher,
        allow_signup: bool,
    }

    impl Mocks {
        fn new() -> Self {
            Self {
                users: MockUserRepository::new(),
                sessions: MockSessionRepository::new(),
                hasher: MockPasswordHasher::new(),
                allow_signup: true,
            }
        }

        fn service(self) -> AuthService {
            AuthService::new(
                Arc::new(self.users),
                Arc::new(self.sessions),
                Arc::new(self.hasher),
                Arc::new(tokens()),
                Arc::new(FixedClock(at())),
                AuthSettings {
                    allow_signup: self.allow_signup,
                    refresh_token_ttl: Duration::from_secs(3600),
                    session_max_age: Duration::from_secs(7200),
                },
            )
        }
    }

    fn registration(email: &str, name: &str, password: &str) -> Registration {
        Registration {
            email: Email::parse(email).unwrap(),
            name: UserName::new(name).unwrap(),
            password: Password::new(password).unwrap(),
        }
    }

    #[tokio::test]
    async fn register_is_forbidden_when_signup_is_off() {
        let mut mocks = Mocks::new();
        mocks.allow_signup = false;
        let err = mocks.service().register(registration("a@b.c", "A", "long enough")).await;
        assert!(matches!(err, Err(DomainError::Forbidden)));
    }

    #[tokio::test]
    async fn register_hashes_stores_and_starts_a_session() {
        let mut mocks = Mocks::new();
        mocks.hasher.expect_hash().times(1).returning(|_| Ok("$argon2id$hash".into()));
        mocks
            .users
            .expect_create()
            .withf(|u| {
                u.email.as_str() == "Ann@Example.com"
                    && u.name.as_str() == "Ann"
                    && u.password_hash == "$argon2id$hash"
            })
            .times(1)
            .returning(|u| {
                Ok(User {
                    id: u.id,
                    email: u.email.as_str().into(),
                    name: u.name.as_str().into(),
                    created_at: OffsetDateTime::now_utc(),
                })
            });
        mocks
            .sessions
            .expect_start()
            .withf(|t| t.hash == TokenHash([7; 32]))
            .times(1)
            .returning(|_| Ok(()));
        let session = mocks
            .service()
            .register(registration("Ann@Example.com", " Ann ", "long enough"))
            .await
            .unwrap();
        assert_eq!(session.user.name, "Ann");
        assert_eq!(session.access.token, "access");
        assert_eq!(session.refresh, RefreshSecret("refresh".into()));
    }

    #[tokio::test]
    async fn register_passes_on_email_taken() {
        let mut mocks = Mocks::new();
        mocks.hasher.expect_hash().returning(|_| Ok("h".into()));
        mocks.users.expect_create().returning(|_| Err(RepoError::Conflict(Conflict::EmailTaken)));
        let err =
            mocks.service().register(registration("a@b.c", "A", "long enough")).await.unwrap_err();
        assert!(matches!(err, DomainError::Conflict(Conflict::EmailTaken)));
    }

    #[tokio::test]
    async fn login_with_unknown_email_still_verifies_against_the_dummy() {
        let mut mocks = Mocks::new();
        mocks.users.expect_find_credentials_by_email().returning(|_| Ok(None));
        // The dummy verification must happen (same time as a real one).
        mocks
            .hasher
            .expect_verify()
            .with(mockall::predicate::always(), eq(None))
            .times(1)
            .returning(|_, _| Ok(false));
        let err = mocks.service().login("ghost@example.com", "whatever").await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn login_with_wrong_password_is_unauthorized() {
        let mut mocks = Mocks::new();
        let u = user();
        mocks.users.expect_find_credentials_by_email().returning(move |_| {
            Ok(Some(UserCredentials { user: u.clone(), password_hash: "stored".into() }))
        });
        mocks
            .hasher
            .expect_verify()
            .with(mockall::predicate::always(), eq(Some("stored".to_owned())))
            .returning(|_, _| Ok(false));
        let err = mocks.service().login("ann@example.com", "wrong password").await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn login_with_the_right_password_starts_a_session() {
        let mut mocks = Mocks::new();
        let u = user();
        let expected_id = u.id;
        mocks.users.expect_find_credentials_by_email().returning(move |_| {
            Ok(Some(UserCredentials { user: u.clone(), password_hash: "stored".into() }))
        });
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks
            .sessions
            .expect_start()
            .withf(move |t| {
                // The refresh token lives an hour, the session two, both from the clock.
                t.user_id == expected_id
                    && t.expires_at == at() + Duration::from_secs(3600)
                    && t.session_expires_at == at() + Duration::from_secs(7200)
            })
            .times(1)
            .returning(|_| Ok(()));
        let session = mocks.service().login("ann@example.com", "right password").await.unwrap();
        assert_eq!(session.user.id, expected_id);
    }

    #[tokio::test]
    async fn refresh_of_a_reused_token_is_unauthorized() {
        let mut mocks = Mocks::new();
        mocks.sessions.expect_rotate().returning(|_, _, _| Ok(Rotation::Reused));
        assert!(matches!(mocks.service().refresh("old").await, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn refresh_rotates_into_a_new_pair() {
        let mut mocks = Mocks::new();
        let u = user();
        let id = u.id;
        mocks
            .sessions
            .expect_rotate()
            .withf(|presented, replacement, now| {
                *presented == TokenHash([1; 32])
                    && replacement.hash == TokenHash([7; 32])
                    && *now == at()
                    && replacement.expires_at == at() + Duration::from_secs(3600)
            })
            .returning(move |_, _, _| Ok(Rotation::Rotated { user_id: id }));
        mocks.users.expect_find().with(eq(id)).returning(move |_| Ok(Some(u.clone())));
        let session = mocks.service().refresh("presented").await.unwrap();
        assert_eq!(session.user.id, id);
    }

    #[tokio::test]
    async fn change_password_with_wrong_current_password_changes_nothing() {
        let mut mocks = Mocks::new();
        let u = user();
        mocks.users.expect_find_credentials().returning(move |_| {
            Ok(Some(UserCredentials { user: u.clone(), password_hash: "stored".into() }))
        });
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        mocks.users.expect_replace_password().never();
        let err = mocks
            .service()
            .change_password(Uuid::now_v7(), "wrong", Password::new("new password").unwrap())
            .await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn update_me_without_a_name_changes_nothing() {
        let mut mocks = Mocks::new();
        let u = user();
        mocks.users.expect_find().returning(move |_| Ok(Some(u.clone())));
        mocks.users.expect_rename().never();
        assert_eq!(mocks.service().update_me(Uuid::now_v7(), None).await.unwrap().name, "Ann");
    }
}
