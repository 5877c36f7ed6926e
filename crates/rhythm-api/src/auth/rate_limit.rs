//! Sign-in rate limits: register and login attempts per client address and per email.
//!
//! The counters live in this process (GCRA via `governor`): with several replicas behind a
//! load balancer each enforces its own limit, so the effective limit is at most replicas ×
//! the configured rate. That is the one piece of per-process state in Rhythm.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct AuthRateLimiter {
    limits: Option<Limits>,
}

struct Limits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_email: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl AuthRateLimiter {
    /// `per_minute` attempts per address and per email, with bursts up to the same number;
    /// `0` turns limiting off.
    pub fn new(per_minute: u32) -> Self {
        let limits = NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n);
            Limits {
                by_address: RateLimiter::keyed(quota),
                by_email: RateLimiter::keyed(quota),
                clock: DefaultClock::default(),
            }
        });
        Self { limits }
    }

    /// Counts one attempt; `429` with the seconds to wait when a limit is exceeded.
    pub fn check(&self, address: IpAddr, email: &str) -> Result<(), ApiError> {
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        let email = email.trim().to_lowercase();
        let refused = limits
            .by_address
            .check_key(&address)
            .err()
            .or_else(|| limits.by_email.check_key(&email).err());
        match refused {
            None => Ok(()),
            Some(not_until) => {
                let wait = not_until.wait_time_from(limits.clock.now());
                Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64))
            }
        }
    }

    /// Forgets keys whose limit has fully recovered, so memory stays bounded.
    pub fn prune(&self) {
        if let Some(limits) = &self.limits {
            limits.by_address.retain_recent();
            limits.by_email.retain_recent();
            limits.by_address.shrink_to_fit();
            limits.by_email.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const OTHER_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn limits_per_email_regardless_of_case() {
        let limiter = AuthRateLimiter::new(2);
        assert!(limiter.check(ADDRESS, "a@x.io").is_ok());
        assert!(limiter.check(OTHER_ADDRESS, "A@X.io").is_ok());
        let err = limiter.check(IpAddr::from([10, 0, 0, 3]), "a@x.io").unwrap_err();
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        // Another account is unaffected.
        assert!(limiter.check(IpAddr::from([10, 0, 0, 4]), "b@x.io").is_ok());
    }

    #[test]
    fn limits_per_address() {
        let limiter = AuthRateLimiter::new(2);
        assert!(limiter.check(ADDRESS, "a@x.io").is_ok());
        assert!(limiter.check(ADDRESS, "b@x.io").is_ok());
        assert!(limiter.check(ADDRESS, "c@x.io").is_err());
        assert!(limiter.check(OTHER_ADDRESS, "d@x.io").is_ok());
    }

    #[test]
    fn zero_turns_limiting_off() {
        let limiter = AuthRateLimiter::new(0);
        for _ in 0..100 {
            assert!(limiter.check(ADDRESS, "a@x.io").is_ok());
        }
    }
}
