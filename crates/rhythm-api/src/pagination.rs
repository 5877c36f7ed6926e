//! Pagination on the wire: `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! A cursor is opaque to clients: base64url of the continuation key (JSON) followed by a
//! 16-byte HMAC-SHA256 tag over the listing's [`Scope`] and that key, keyed from the
//! deployment's secret (so every replica accepts every replica's cursors). A cursor that was
//! cut, edited, forged, or made for another listing, project, filter or sort fails the check
//! and is answered 400 `invalid_cursor`; the services range-check what a valid one holds.

use std::fmt::Debug;

use base64::prelude::{BASE64_URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac};
use rhythm_domain::pagination::{Limit, Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

const TAG_BYTES: usize = 16;

/// What a cursor is bound to: the listing and everything that selects or orders its rows
/// (project, caller where the listing is theirs, filters, sort). Parts are the parsed
/// values, so `?status=todo` and `?status=%74odo` share cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    pub fn new(listing: &str) -> Self {
        Self(listing.to_owned())
    }

    /// Adds a part; its `Debug` form is what binds.
    pub fn with(mut self, part: &impl Debug) -> Self {
        self.0.push('\u{1f}');
        self.0.push_str(&format!("{part:?}"));
        self
    }
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct Cursors {
    keyed: Hmac<Sha256>,
}

impl Cursors {
    /// Keyed from the deployment's `secret`.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        Ok(Self { keyed: crate::secrets::keyed_hmac("rhythm cursors", secret)? })
    }

    fn mac(&self, scope: &Scope, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(scope.0.as_bytes());
        mac.update(&[0u8]);
        mac.update(payload);
        mac
    }

    /// Encodes `key` as a cursor valid only for `scope`.
    pub fn encode<K: Serialize>(&self, scope: &Scope, key: &K) -> String {
        let mut bytes = serde_json::to_vec(key).unwrap_or_default();
        let tag = self.mac(scope, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        BASE64_URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a cursor made by [`Cursors::encode`] for the same `scope`.
    pub fn decode<K: DeserializeOwned>(&self, scope: &Scope, cursor: &str) -> Result<K, ApiError> {
        let bytes =
            BASE64_URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ApiError::invalid_cursor())?;
        if bytes.len() <= TAG_BYTES {
            return Err(ApiError::invalid_cursor());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        // Constant time, so the tag cannot be guessed byte by byte from response times.
        self.mac(scope, payload)
            .verify_truncated_left(tag)
            .map_err(|_| ApiError::invalid_cursor())?;
        serde_json::from_slice(payload).map_err(|_| ApiError::invalid_cursor())
    }

    /// The page request of `?limit=&cursor=` for `scope`.
    pub fn page<K: DeserializeOwned>(
        &self,
        scope: &Scope,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<PageRequest<K>, ApiError> {
        let limit = parse_limit(limit)?;
        let after = cursor.map(|c| self.decode(scope, c)).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// The wire form of `page`, its next cursor bound to `scope`.
    pub fn page_dto<U, K: Serialize, T>(
        &self,
        page: Page<U, K>,
        scope: &Scope,
        f: impl FnMut(U) -> T,
    ) -> PageDto<T> {
        let next_cursor = page.next.as_ref().map(|key| self.encode(scope, key));
        PageDto { items: page.items.into_iter().map(f).collect(), next_cursor }
    }
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
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
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
        cursors: &Cursors,
        scope: &Scope,
    ) -> Result<PageRequest<K>, ApiError> {
        cursors.page(scope, self.limit.as_deref(), self.cursor.as_deref())
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursors() -> Cursors {
        Cursors::new(b"a deployment secret of 32 bytes!").unwrap()
    }

    #[test]
    fn cursors_round_trip_within_their_scope_only() {
        let scope = Scope::new("issues").with(&"RHY").with(&"-created_at");
        let cursor = cursors().encode(&scope, &("2026-01-01", 42));
        let key: (String, i32) = cursors().decode(&scope, &cursor).unwrap();
        assert_eq!(key, ("2026-01-01".to_owned(), 42));
        for other in [
            Scope::new("issues").with(&"RHY").with(&"number"),
            Scope::new("issues").with(&"ABC").with(&"-created_at"),
            Scope::new("issues").with(&"RHY"),
        ] {
            assert!(cursors().decode::<(String, i32)>(&other, &cursor).is_err(), "{other:?}");
        }
    }

    #[test]
    fn garbage_edited_and_foreign_cursors_are_refused() {
        let scope = Scope::new("projects");
        let cursor = cursors().encode(&scope, &"RHY");
        for bad in ["", "!!!", "abc", &cursor[..cursor.len() - 2]] {
            assert!(cursors().decode::<String>(&scope, bad).is_err(), "{bad:?}");
        }
        let mut bytes = BASE64_URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[1] ^= 1;
        let edited = BASE64_URL_SAFE_NO_PAD.encode(bytes);
        assert!(cursors().decode::<String>(&scope, &edited).is_err());
        // Made with another deployment's secret.
        let foreign = Cursors::new(b"another deployment's secret").unwrap().encode(&scope, &"RHY");
        assert!(cursors().decode::<String>(&scope, &foreign).is_err());
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
