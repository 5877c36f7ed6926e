//! Argon2id password hashing on the blocking thread pool, with a bound on how many hashes
//! run at once (each takes tens of milliseconds and ~19 MiB).

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use rhythm_domain::DomainError;
use rhythm_domain::ports::PasswordHasher;
use rhythm_domain::values::Password;
use tokio::sync::Semaphore;

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// How long a request waits for a free hashing slot before it is answered 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Argon2Hasher {
    params: Params,
    slots: Arc<Semaphore>,
    /// A real hash of a random password: unknown accounts are verified against it so they
    /// take as long as known ones.
    dummy_hash: String,
}

impl Argon2Hasher {
    /// `concurrency` hashes may run at once; further callers queue. Computes the dummy hash,
    /// so call it once at startup.
    pub fn new(concurrency: usize) -> Result<Self, String> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| e.to_string())?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        let dummy_hash = argon2(&params)
            .hash_password(&random)
            .map_err(|e| format!("hashing the dummy password: {e}"))?
            .to_string();
        Ok(Self { params, slots: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        let _slot = tokio::time::timeout(QUEUE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| DomainError::Unavailable("too many password checks in progress".into()))?
            .map_err(|_| DomainError::Internal("password hashing slots closed".into()))?;
        let hasher = argon2(&self.params);
        tokio::task::spawn_blocking(move || work(hasher))
            .await
            .map_err(|e| DomainError::Internal(format!("password hashing task failed: {e}")))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, DomainError> {
        let password = password.expose().to_owned();
        self.run(move |hasher| hasher.hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(|e| DomainError::Internal(format!("hashing a password: {e}")))
    }

    async fn verify(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool, DomainError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.expose().to_owned();
        // The parameters stored in the hash are used, so raising ours later keeps old
        // hashes verifiable.
        let matches = self
            .run(move |hasher| hasher.verify_password(password.as_bytes(), hash.as_str()).is_ok())
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = Argon2Hasher::new(2).unwrap();
        let password = Password::new("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify(&password, Some(hash.clone())).await.unwrap());
        let wrong = Password::new("wrong horse").unwrap();
        assert!(!hasher.verify(&wrong, Some(hash)).await.unwrap());
        // Against the dummy: false, whatever the password.
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_garbled_stored_hash_is_a_mismatch_not_a_crash() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let password = Password::new("correct horse").unwrap();
        assert!(!hasher.verify(&password, Some("not a phc string".into())).await.unwrap());
    }
}
