//! Sign-in rate limits: register and login attempts per client address and per email.
//!
//! The counters live in the store ([`AttemptCounter`]), not in this process, so a limit holds
//! for the whole deployment however many replicas serve it. Keys are HMAC-SHA-256 digests
//! under a key derived from the deployment's secret: without it, a stored key cannot be
//! traced back to an address or an email (a plain hash of every IPv4 address could be
//! computed in minutes).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rhythm_domain::DomainError;
use rhythm_domain::ports::{AttemptCount, AttemptCounter, AttemptKey, Clock};
use sha2::Sha256;

use crate::error::ApiError;

/// Length of a counting window: the limit is per minute.
pub const WINDOW: Duration = Duration::from_secs(60);

pub struct AuthRateLimiter {
    counter: Arc<dyn AttemptCounter>,
    /// The time windows are measured in.
    clock: Arc<dyn Clock>,
    per_minute: u32,
    /// HMAC keyed once with a key derived from the deployment's secret (shared by its
    /// replicas); each digest starts from a copy of it.
    keyed: Hmac<Sha256>,
}

impl AuthRateLimiter {
    /// `per_minute` attempts per address and per email in each one-minute window; `0` turns
    /// limiting off. `secret` is the deployment's token secret; the digest key is derived
    /// from it, so it is the same on every replica and says nothing about the secret.
    pub fn new(
        counter: Arc<dyn AttemptCounter>,
        clock: Arc<dyn Clock>,
        per_minute: u32,
        secret: &[u8],
    ) -> Result<Self, String> {
        let keyed = crate::secrets::keyed_hmac("rhythm sign-in attempt keys", secret)?;
        Ok(Self { counter, clock, per_minute, keyed })
    }

    /// Counts one attempt; `429` with the seconds to wait when a limit is exceeded, `503`
    /// when the counters cannot be reached (the sign-in could not proceed either).
    pub async fn check(&self, address: IpAddr, email: &str) -> Result<(), ApiError> {
        self.check_keys([self.address_key(address), self.email_key(email)]).await
    }

    /// As [`AuthRateLimiter::check`], for a password change by `user`: a stolen access
    /// token must not turn `current_password` into a guessing oracle at argon2 speed. The
    /// user's counter is its own, so guessing from many addresses is still limited.
    pub async fn check_password_change(
        &self,
        address: IpAddr,
        user: uuid::Uuid,
    ) -> Result<(), ApiError> {
        self.check_keys([self.address_key(address), self.digest(&format!("password:{user}"))]).await
    }

    async fn check_keys(&self, keys: [AttemptKey; 2]) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let counts = self
            .counter
            .count_attempt(&keys, WINDOW, self.clock.now())
            .await
            .map_err(DomainError::from)?;
        match refusal(&counts, self.per_minute) {
            None => Ok(()),
            Some(wait) => Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)),
        }
    }

    /// Drops the counters of ended windows, so the table stays as small as the last minute's
    /// traffic. Any replica may do it; doing it twice is harmless.
    pub async fn forget_ended(&self) -> Result<u64, ApiError> {
        if self.per_minute == 0 {
            return Ok(0);
        }
        Ok(self.counter.forget_ended(WINDOW, self.clock.now()).await.map_err(DomainError::from)?)
    }

    fn address_key(&self, address: IpAddr) -> AttemptKey {
        self.digest(&format!("address:{address}"))
    }

    /// Emails count regardless of letter case and surrounding blanks, like sign-in itself.
    fn email_key(&self, email: &str) -> AttemptKey {
        self.digest(&format!("email:{}", email.trim().to_lowercase()))
    }

    fn digest(&self, text: &str) -> AttemptKey {
        let mut mac = self.keyed.clone();
        mac.update(text.as_bytes());
        AttemptKey(mac.finalize().into_bytes().into())
    }
}

/// The longest wait among the keys over the limit, if any is.
fn refusal(counts: &[AttemptCount], per_minute: u32) -> Option<Duration> {
    counts.iter().filter(|c| c.attempts > per_minute).map(|c| c.window_left).max()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use rhythm_domain::RepoError;
    use rhythm_domain::ports::{MockAttemptCounter, SystemClock};
    use sha2::Digest;

    use super::*;

    const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const SECRET: &[u8] = b"a deployment secret of 32 bytes!";

    fn counted(attempts: [u32; 2], left_secs: [u64; 2]) -> Vec<AttemptCount> {
        attempts
            .iter()
            .zip(left_secs)
            .map(|(&attempts, secs)| AttemptCount {
                attempts,
                window_left: Duration::from_secs(secs),
            })
            .collect()
    }

    fn limiter(counts: Vec<AttemptCount>) -> AuthRateLimiter {
        let mut counter = MockAttemptCounter::new();
        counter.expect_count_attempt().times(1).return_once(move |keys, window, _| {
            assert_eq!(keys.len(), 2);
            assert_ne!(keys[0], keys[1]);
            assert_eq!(window, WINDOW);
            Ok(counts)
        });
        AuthRateLimiter::new(Arc::new(counter), Arc::new(SystemClock), 2, SECRET).unwrap()
    }

    #[tokio::test]
    async fn up_to_the_limit_passes() {
        assert!(limiter(counted([2, 1], [30, 50])).check(ADDRESS, "a@x.io").await.is_ok());
    }

    #[tokio::test]
    async fn over_the_limit_waits_for_the_longest_window() {
        let err = limiter(counted([3, 5], [12, 40])).check(ADDRESS, "a@x.io").await.unwrap_err();
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after(), Some(40));
        // Only the key over the limit decides the wait.
        let err = limiter(counted([1, 3], [59, 7])).check(ADDRESS, "a@x.io").await.unwrap_err();
        assert_eq!(err.retry_after(), Some(7));
    }

    #[tokio::test]
    async fn an_unreachable_store_is_503() {
        let mut counter = MockAttemptCounter::new();
        counter
            .expect_count_attempt()
            .return_once(|_, _, _| Err(RepoError::Unavailable("down".into())));
        let err = AuthRateLimiter::new(Arc::new(counter), Arc::new(SystemClock), 2, SECRET)
            .unwrap()
            .check(ADDRESS, "a@x.io")
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn zero_turns_limiting_off_without_counting() {
        let counter = MockAttemptCounter::new();
        let limiter =
            AuthRateLimiter::new(Arc::new(counter), Arc::new(SystemClock), 0, SECRET).unwrap();
        for _ in 0..100 {
            assert!(limiter.check(ADDRESS, "a@x.io").await.is_ok());
        }
    }

    #[test]
    fn emails_count_regardless_of_case_and_blanks() {
        let limiter = AuthRateLimiter::new(
            Arc::new(MockAttemptCounter::new()),
            Arc::new(SystemClock),
            2,
            SECRET,
        )
        .unwrap();
        assert_eq!(limiter.email_key(" A@X.io"), limiter.email_key("a@x.io"));
        assert_ne!(limiter.email_key("a@x.io"), limiter.email_key("b@x.io"));
        assert_ne!(limiter.address_key(ADDRESS), limiter.address_key(IpAddr::from([10, 0, 0, 2])));
    }

    #[test]
    fn keys_are_keyed_by_the_deployment_secret() {
        let ours = AuthRateLimiter::new(
            Arc::new(MockAttemptCounter::new()),
            Arc::new(SystemClock),
            2,
            SECRET,
        )
        .unwrap();
        let replica = AuthRateLimiter::new(
            Arc::new(MockAttemptCounter::new()),
            Arc::new(SystemClock),
            2,
            SECRET,
        )
        .unwrap();
        let other = AuthRateLimiter::new(
            Arc::new(MockAttemptCounter::new()),
            Arc::new(SystemClock),
            2,
            b"another secret",
        )
        .unwrap();
        assert_eq!(ours.address_key(ADDRESS), replica.address_key(ADDRESS));
        assert_ne!(ours.address_key(ADDRESS), other.address_key(ADDRESS));
        // Not the plain hash anyone could compute for every address.
        let plain = AttemptKey(Sha256::digest(format!("address:{ADDRESS}").as_bytes()).into());
        assert_ne!(ours.address_key(ADDRESS), plain);
    }
}
