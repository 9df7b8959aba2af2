//! Every error becomes a response here, and only here: a status, a JSON body
//! `{"error","message"}` and, where it helps, a `Retry-After`.

use crate::error::Error;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::ErrorBody;

impl Error {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::InvalidOrigin => (StatusCode::FORBIDDEN, "invalid_origin"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Error::OAuth { status, code, .. } => {
                (StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST), code)
            }
            Error::Config { .. } | Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }
}

/// A JSON error response outside of [`Error`] (routing: 404, 405, 415).
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut response = (status, Json(ErrorBody::new(code, message))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::OAuth { status, code, description } = &self {
            // OAuth endpoints speak RFC 6749's error format.
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = serde_json::json!({"error": code, "error_description": description});
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if status == StatusCode::UNAUTHORIZED {
                // A failed client authentication names the scheme to retry with (RFC 6749 §5.2).
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"airlock\""));
            }
            return response;
        }
        let (status, code) = self.status_and_code();
        let message = match &self {
            Error::StoreUnavailable(detail) => {
                crate::telemetry::store_error();
                tracing::warn!(%detail, "store unavailable");
                "the session store is unavailable; retry shortly".to_owned()
            }
            Error::Internal(_) | Error::Config { .. } => {
                tracing::error!(error = %self, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = error_response(status, code, message);
        let retry_after = match &self {
            Error::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            Error::StoreUnavailable(_) => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
