//! Pagination on the wire: `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! A cursor is opaque to clients: base64url of the continuation key (JSON) followed by 8
//! bytes of SHA-256 over the listing's scope and that key. A cursor that was cut, edited or
//! made for another listing or sort fails the check and is answered 400 `invalid_cursor`.
//! (The digest is unkeyed: it catches garbage, not a determined forger — who could only
//! choose where to start reading rows they may already read.)

use base64::prelude::{BASE64_URL_SAFE_NO_PAD, Engine as _};
use rhythm_domain::pagination::{Limit, Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

const DIGEST_BYTES: usize = 8;

fn digest(scope: &str, payload: &[u8]) -> [u8; DIGEST_BYTES] {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0u8]);
    hasher.update(payload);
    let full: [u8; 32] = hasher.finalize().into();
    let mut short = [0u8; DIGEST_BYTES];
    short.copy_from_slice(&full[..DIGEST_BYTES]);
    short
}

/// Encodes `key` as a cursor valid only for `scope` (listing and sort).
pub fn encode_cursor<K: Serialize>(scope: &str, key: &K) -> String {
    let mut bytes = serde_json::to_vec(key).unwrap_or_default();
    let check = digest(scope, &bytes);
    bytes.extend_from_slice(&check);
    BASE64_URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a cursor made by [`encode_cursor`] for the same `scope`.
pub fn decode_cursor<K: DeserializeOwned>(scope: &str, cursor: &str) -> Result<K, ApiError> {
    let bytes = BASE64_URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ApiError::invalid_cursor())?;
    if bytes.len() <= DIGEST_BYTES {
        return Err(ApiError::invalid_cursor());
    }
    let (payload, check) = bytes.split_at(bytes.len() - DIGEST_BYTES);
    if digest(scope, payload) != check {
        return Err(ApiError::invalid_cursor());
    }
    serde_json::from_slice(payload).map_err(|_| ApiError::invalid_cursor())
}

/// `?limit=` and `?cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Parses `?limit=`: absent means the default, anything but 1..=200 is a 400.
pub fn parse_limit(raw: Option<&str>) -> Result<Limit, ApiError> {
    match raw {
        None => Ok(Limit::default()),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .and_then(|n| Limit::new(n).ok())
            .ok_or_else(|| ApiError::invalid_query("limit must be an integer from 1 to 200")),
    }
}

impl PageQuery {
    /// The page request, with the cursor checked against `scope`.
    pub fn into_request<K: DeserializeOwned>(
        self,
        scope: &str,
    ) -> Result<PageRequest<K>, ApiError> {
        let limit = parse_limit(self.limit.as_deref())?;
        let after = self.cursor.as_deref().map(|c| decode_cursor(scope, c)).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageDto<T> {
    pub fn from_page<U, K: Serialize>(
        page: Page<U, K>,
        scope: &str,
        f: impl FnMut(U) -> T,
    ) -> Self {
        let next_cursor = page.next.as_ref().map(|key| encode_cursor(scope, key));
        Self { items: page.items.into_iter().map(f).collect(), next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_within_their_scope_only() {
        let cursor = encode_cursor("issues:-created_at", &("2026-01-01", 42));
        let key: (String, i32) = decode_cursor("issues:-created_at", &cursor).unwrap();
        assert_eq!(key, ("2026-01-01".to_owned(), 42));
        assert!(decode_cursor::<(String, i32)>("issues:number", &cursor).is_err());
    }

    #[test]
    fn garbage_and_edited_cursors_are_refused() {
        let cursor = encode_cursor("projects", &"RHY");
        for bad in ["", "!!!", "abc", &cursor[..cursor.len() - 2]] {
            assert!(decode_cursor::<String>("projects", bad).is_err(), "{bad:?}");
        }
        let mut bytes = BASE64_URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[1] ^= 1;
        assert!(
            decode_cursor::<String>("projects", &BASE64_URL_SAFE_NO_PAD.encode(bytes)).is_err()
        );
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap().get(), 50);
        assert_eq!(parse_limit(Some("200")).unwrap().get(), 200);
        for bad in ["0", "201", "-1", "ten", "1.5", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
