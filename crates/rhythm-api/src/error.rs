//! `ApiError`: every error Rhythm answers, rendered as RFC 9457 `application/problem+json`
//! in one shape. 5xx bodies say nothing internal; the cause goes to the log, inside the
//! request's span (which carries the request id).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rhythm_domain::{Conflict, DomainError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 1;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    /// The cause, for the log only.
    cause: Option<String>,
}

/// RFC 9457 problem details, the body of every error response.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Unprocessable Entity", "status": 422,
    "code": "validation_failed", "detail": "1 field is invalid",
    "errors": [{"field": "title", "message": "must be 1 to 255 characters"}]
}))]
pub struct Problem {
    /// Always `about:blank`: `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status code's reason phrase.
    pub title: &'static str,
    pub status: u16,
    /// Stable, machine-readable: `validation_failed`, `not_found`, `email_taken`, …
    pub code: &'static str,
    /// Human-readable explanation.
    pub detail: String,
    /// With `validation_failed`: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field of a request.
#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    /// The field's name (dotted for nested fields).
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            cause: None,
        }
    }

    /// Seconds a client is told to wait (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
    }

    pub fn invalid_cursor() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "the cursor is malformed or belongs to another listing",
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role in this project does not allow this",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "the requested resource does not exist")
    }

    pub fn conflict(conflict: Conflict) -> Self {
        Self::new(StatusCode::CONFLICT, conflict.code(), conflict.message())
    }

    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
            "If-Match does not match the current version",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body exceeds 1 MiB")
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be application/json",
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts; slow down",
            )
        }
    }

    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_UNAVAILABLE_SECS),
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable; retry shortly",
            )
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred")
        }
    }

    /// A bare error status produced below the handlers (405 from the router, …), in our shape.
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            412 => "version_mismatch",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            429 => "rate_limited",
            503 => return Self::unavailable(format!("bare {status} from a lower layer")),
            s if s >= 500 => return Self::internal(format!("bare {status} from a lower layer")),
            _ => "bad_request",
        };
        Self::new(status, code, status.canonical_reason().unwrap_or("error"))
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Validation(errors) => Self::validation(errors),
            DomainError::Unauthorized => Self::unauthorized("invalid credentials"),
            DomainError::Forbidden => Self::forbidden(),
            DomainError::NotFound => Self::not_found(),
            DomainError::Conflict(c) => Self::conflict(c),
            DomainError::VersionMismatch => Self::version_mismatch(),
            DomainError::InvalidCursor => Self::invalid_cursor(),
            DomainError::Unavailable(cause) => Self::unavailable(cause),
            DomainError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(%cause, "answered 503");
            } else {
                tracing::error!(%cause, status = self.status.as_u16(), "request failed");
            }
        }
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail,
            errors: self
                .errors
                .into_iter()
                .map(|e| ProblemField { field: e.field, message: e.message })
                .collect(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
