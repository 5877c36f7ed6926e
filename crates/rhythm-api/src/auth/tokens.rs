//! Access tokens (JWT, HS256 only) and refresh tokens (opaque, 256 random bits, stored as
//! SHA-256).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::prelude::{BASE64_URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rhythm_domain::DomainError;
use rhythm_domain::ports::TokenIssuer;
use rhythm_domain::user::{AccessToken, RefreshSecret, TokenHash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const ISSUER: &str = "rhythm";
pub const AUDIENCE: &str = "rhythm-api";
/// The `typ` claim of access tokens: no other kind of token can pass as one.
pub const ACCESS_TOKEN_TYPE: &str = "access";
/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;
const REFRESH_TOKEN_BYTES: usize = 32;
/// Access tokens remembered as verified; past this many the memory starts over.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub typ: String,
}

pub struct JwtTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Token → (user, expiry) of tokens whose signature and claims checked out. A client
    /// sends the same token on every request for its lifetime; this spares the signature
    /// check and the claims parsing (a tenth of a cheap request's CPU) after the first.
    /// Expiry is still checked on every request. Per process, and only ever a cache of a
    /// pure function of the token and the secret, so replicas cannot disagree.
    verified: RwLock<HashMap<Box<str>, (Uuid, u64)>>,
}

impl JwtTokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// The user an access token speaks for, if the token is genuine, current and of the
    /// access kind.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let now = now_secs();
        let remembered = self.verified.read().ok().and_then(|cache| cache.get(token).copied());
        if let Some((user, exp)) = remembered {
            return (now <= exp + LEEWAY_SECS).then_some(user);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.typ != ACCESS_TOKEN_TYPE {
            return None;
        }
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() >= VERIFIED_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(token.into(), (data.claims.sub, data.claims.exp));
        }
        Some(data.claims.sub)
    }
}

fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl TokenIssuer for JwtTokens {
    fn access_token(&self, user_id: Uuid) -> Result<AccessToken, DomainError> {
        let iat = now_secs();
        let claims = Claims {
            sub: user_id,
            iat,
            exp: iat + self.ttl.as_secs(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            typ: ACCESS_TOKEN_TYPE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| DomainError::Internal(format!("signing an access token: {e}")))?;
        Ok(AccessToken { token, expires_in_secs: self.ttl.as_secs() })
    }

    fn refresh_token(&self) -> Result<(RefreshSecret, TokenHash), DomainError> {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| DomainError::Internal(format!("no randomness: {e}")))?;
        let secret = BASE64_URL_SAFE_NO_PAD.encode(bytes);
        let hash = self.hash_refresh_token(&secret);
        Ok((RefreshSecret(secret), hash))
    }

    fn hash_refresh_token(&self, presented: &str) -> TokenHash {
        TokenHash(Sha256::digest(presented.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_refuse_the_rest() {
        let tokens = JwtTokens::new(&[7u8; 32], Duration::from_secs(60));
        let user = Uuid::now_v7();
        let token = tokens.access_token(user).unwrap().token;
        assert_eq!(tokens.verify(&token), Some(user));
        // Again, from the cache of verified tokens.
        assert_eq!(tokens.verify(&token), Some(user));
        let other_key = JwtTokens::new(&[8u8; 32], Duration::from_secs(60));
        assert_eq!(other_key.verify(&token), None);
        let (refresh, _) = tokens.refresh_token().unwrap();
        assert_eq!(tokens.verify(&refresh.0), None);
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let tokens = JwtTokens::new(&[7u8; 32], Duration::from_secs(60));
        let user = Uuid::now_v7();
        let token = tokens.access_token(user).unwrap().token;
        assert_eq!(tokens.verify(&token), Some(user));
        // As if its lifetime had passed: the remembered expiry is what is checked.
        tokens.verified.write().unwrap().insert(token.as_str().into(), (user, now_secs() - 60));
        assert_eq!(tokens.verify(&token), None);
        // A token signed with another secret is never remembered, however often it is sent.
        let forged =
            JwtTokens::new(&[8u8; 32], Duration::from_secs(60)).access_token(user).unwrap().token;
        assert_eq!(tokens.verify(&forged), None);
        assert_eq!(tokens.verify(&forged), None);
        assert!(!tokens.verified.read().unwrap().contains_key(forged.as_str()));
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let tokens = JwtTokens::new(&[7u8; 32], Duration::from_secs(60));
        let (a, hash_a) = tokens.refresh_token().unwrap();
        let (b, _) = tokens.refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(BASE64_URL_SAFE_NO_PAD.decode(&a.0).unwrap().len(), 32);
        assert_eq!(tokens.hash_refresh_token(&a.0), hash_a);
    }
}
