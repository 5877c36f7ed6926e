//! Request extractors whose every rejection is a problem+json [`ApiError`].
//!
//! [`ApiJson`] replaces axum's `Json`: wrong content type → 415, body over the limit → 413,
//! malformed JSON → 400, well-formed JSON that does not fit the shape (wrong type, missing
//! or unknown field) → 422 naming the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use rhythm_domain::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters of type `T`; anything that does not fit (an unknown parameter, a
/// malformed value) → 400 `invalid_query`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if query.contains("%00") {
            return Err(ApiError::invalid_query("query values must not contain NUL characters"));
        }
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid_query(format!("invalid query string: {e}")))
    }
}

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent altogether (no body and no content type).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

/// Action endpoints (`…/start`, `…/restore`): they take no body.
#[derive(Debug, Clone, Copy)]
pub struct NoBody;

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::payload_too_large()
        }
        other => {
            ApiError::bad_request(format!("could not read the request body: {}", other.body_text()))
        }
    })
}

/// Whether JSON text holds a NUL character (`\u0000` not itself escaped): the domain keeps
/// no such text ([`rhythm_domain::values::REFUSED_CHAR`]), so it is refused at the door.
fn contains_nul_escape(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && bytes[i..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Parses a JSON object, turning serde's complaint into a field error where it is about
/// one field. Every request body of the API is an object: serde would also fill a struct
/// from an array, which is refused here.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        let syntax_ok = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        return Err(if syntax_ok {
            ApiError::validation(vec![FieldError::new("body", "must be a JSON object")])
        } else {
            ApiError::bad_request("malformed JSON")
        });
    }
    if contains_nul_escape(bytes) {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "text must not contain NUL characters",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            ApiError::validation(vec![field_error(&path, &inner.to_string())])
        } else {
            ApiError::bad_request(format!("malformed JSON: {inner}"))
        }
    })?;
    de.end().map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
    Ok(value)
}

/// serde reports unknown and missing fields against the enclosing object; name the field.
fn field_error(path: &str, message: &str) -> FieldError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let parent = if path == "." { "" } else { path };
    // serde_path_to_error already ends the path with an unknown field's name, but not with a
    // missing one's.
    let join = |name: &str| match parent {
        "" => name.to_owned(),
        p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        p => format!("{p}.{name}"),
    };
    if let Some(name) = backticked_after(message, "unknown field `") {
        return FieldError::new(join(name), "is not a field of this request (or is read-only)");
    }
    if let Some(name) = backticked_after(message, "missing field `") {
        return FieldError::new(join(name), "is required");
    }
    let field = if parent.is_empty() { "body".to_owned() } else { parent.to_owned() };
    FieldError::new(field, message)
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix).and_then(|rest| rest.split('`').next())
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() && !has_type {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        // A JSON `null` body is no body, as the document's optional body allows.
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            Ok(NoBody)
        } else {
            Err(ApiError::bad_request("this endpoint takes no request body"))
        }
    }
}

/// Deserializes an optional field that cannot be `null`: absent is `None` (with
/// `#[serde(default)]`), `null` is refused ("must not be null", a 422 naming the field, by
/// [`parse_json`]). The one rule of every request body: `null` is accepted only where it
/// means something (clearing a value) and the field's docs say so.
pub fn present<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let value: Option<T> = serde::Deserialize::deserialize(de)?;
    value.map(Some).ok_or_else(|| serde::de::Error::custom(NOT_NULL))
}

/// The message of a `null` where a field cannot be null.
pub const NOT_NULL: &str = "must not be null";

/// A JSON integer as JSON Schema defines one: `7`, and also `7.0` (a number whose
/// fractional part is zero), which generated clients and some languages' encoders send for
/// integer fields. `7.5` and numbers beyond `i64` are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer(pub i64);

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Integer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Integer, E> {
                Ok(Integer(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Integer, E> {
                i64::try_from(v).map(Integer).map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Integer, E> {
                // i64::MIN is exactly representable; 2^63 is the first float beyond i64::MAX.
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(Integer(v as i64))
                } else {
                    Err(E::custom("must be an integer"))
                }
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// Deserializes a field that distinguishes "absent" (`None`, via `#[serde(default)]`) from
/// "null" (`Some(None)`), for PATCH bodies where `null` clears a value.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        #[serde(default, deserialize_with = "double_option")]
        assignee: Option<Option<u32>>,
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let parse = |raw: &str| serde_json::from_str::<Integer>(raw).ok();
        assert_eq!(parse("794"), Some(Integer(794)));
        assert_eq!(parse("794.0"), Some(Integer(794)));
        assert_eq!(parse("-3.0"), Some(Integer(-3)));
        assert_eq!(parse("7.5"), None);
        assert_eq!(parse("1e300"), None);
        assert_eq!(parse("18446744073709551615"), None);
        assert_eq!(parse("\"7\""), None);
    }

    fn errors_of(err: ApiError) -> (StatusCode, String) {
        (err.status(), err.code().to_owned())
    }

    #[test]
    fn malformed_json_is_400() {
        let err = parse_json::<Body>(b"{\"title\": ").unwrap_err();
        assert_eq!(errors_of(err), (StatusCode::BAD_REQUEST, "bad_request".into()));
        let err = parse_json::<Body>(b"{\"title\": \"x\"} trailing").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn shape_errors_are_422_naming_the_field() {
        assert_eq!(
            field_error("id", "unknown field `id`, expected `title` at line 1 column 5"),
            FieldError::new("id", "is not a field of this request (or is read-only)")
        );
        assert_eq!(field_error("filter.x", "unknown field `x`, expected `y`").field, "filter.x");
        assert_eq!(
            field_error(".", "missing field `title`"),
            FieldError::new("title", "is required")
        );
        assert_eq!(
            field_error(
                "title",
                "invalid type: integer `1`, expected a string at line 1 column 10"
            ),
            FieldError::new("title", "invalid type: integer `1`, expected a string")
        );
        let err = parse_json::<Body>(b"{\"title\": \"x\", \"version\": 3}").unwrap_err();
        assert_eq!(errors_of(err), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed".into()));
    }

    #[test]
    fn only_objects_are_bodies() {
        for body in [&b"[null, null]"[..], b"\"text\"", b"42", b"null", b" [1]"] {
            let err = parse_json::<Body>(body).unwrap_err();
            assert_eq!(
                err.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_json::<Body>(b"[").unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn nul_characters_are_refused_but_escaped_backslashes_are_text() {
        assert!(contains_nul_escape(b"{\"t\": \"\\u0000\"}"));
        assert!(!contains_nul_escape(b"{\"t\": \"\\\\u0000\"}"));
        assert!(contains_nul_escape(b"{\"t\": \"\\\\\\u0000\"}"));
        assert!(!contains_nul_escape(b"{\"t\": \"u0000\"}"));
        let err = parse_json::<Body>(b"{\"title\": \"x\\u0000\"}").unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn double_option_tells_absent_from_null() {
        let absent: Body = parse_json(b"{\"title\": \"x\"}").unwrap();
        let null: Body = parse_json(b"{\"title\": \"x\", \"assignee\": null}").unwrap();
        let set: Body = parse_json(b"{\"title\": \"x\", \"assignee\": 7}").unwrap();
        assert_eq!(
            (absent.assignee, null.assignee, set.assignee),
            (None, Some(None), Some(Some(7)))
        );
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "application/merge-patch+json".parse().unwrap());
        assert!(is_json(&headers));
    }
}
