//! The one error type of the airlock crate. Domain code and stores return it; `http::error`
//! turns it into a response in one place, the CLI into one line on stderr.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No, unknown, expired, revoked or malformed credentials, or a disabled user.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Sign-in failed. One message whether or not the email exists.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing browser request from an origin airlock does not trust (CSRF).
    #[error("request origin is not trusted")]
    InvalidOrigin,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The client stopped sending its request.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("too many failed attempts; retry later")]
    RateLimited { retry_after: Duration },
    /// The store did not answer in time or refused the connection. Always transient.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// Bad configuration: names the key and the problem.
    #[error("{key}: {problem}")]
    Config { key: &'static str, problem: String },
    /// An OAuth 2 error (RFC 6749 section 5.2): answered as `{"error","error_description"}`.
    #[error("{code}: {description}")]
    OAuth { status: u16, code: &'static str, description: String },
    /// A broken invariant (corrupt record, failed hash). Logged, answered as 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn config(key: &'static str, problem: impl Into<String>) -> Self {
        Error::Config { key, problem: problem.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }

    pub fn conflict(what: impl Into<String>) -> Self {
        Error::Conflict(what.into())
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(message.to_string())
    }

    /// What an OAuth error says (its `error_description`), or the message of any other error:
    /// for an error sent back to a client's redirect URI under a code of its own.
    pub fn oauth_description(&self) -> String {
        match self {
            Error::OAuth { description, .. } => description.clone(),
            other => other.to_string(),
        }
    }
}
