//! Gates that run inside [`crate::AirlockLayer`], on the routes that need them: a check on the
//! verified [`AuthUser`] that answers 401/403 or lets the request through. [`require_role`] and
//! [`require_resource`] are the two the contract asks for; both are a [`GuardLayer`].

use crate::responses;
use crate::user::AuthUser;
use futures::future::BoxFuture;
use http::{HeaderMap, Method, Request, Response};
use shared::AppRole;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// What a guard decides from the request's user: `None` lets the request through.
type Check = dyn Fn(Option<&AuthUser>, &Method, &HeaderMap) -> Option<Response<String>> + Send + Sync;

/// Answers 403 unless the verified user's app role is at least `role` (401 without a user).
///
/// ```
/// use axum::{Router, routing::get};
/// use edge_mw::{AppRole, require_role};
///
/// let operators_only: Router = Router::new()
///     .route("/admin", get(|| async { "for operators" }))
///     .route_layer(require_role(AppRole::Operator));
/// ```
pub fn require_role(role: AppRole) -> GuardLayer {
    GuardLayer::new(move |user, method, headers| match user {
        None => Some(responses::unauthenticated()),
        Some(user) if !user.has_role(role) => {
            Some(responses::forbidden(responses::wants_html(method, headers), role.as_str()))
        }
        Some(_) => None,
    })
}

/// Answers 403 unless the verified token's `resources` hold `urc-<id>` or `urc-*` (401 without
/// a user). For a repository id that comes from the path, call
/// [`AuthUser::can_access_resource`] in the handler instead.
///
/// ```
/// use axum::{Router, routing::get};
/// use edge_mw::require_resource;
///
/// let repo: Router = Router::new()
///     .route("/repos/42/blobs", get(|| async { "blobs" }))
///     .route_layer(require_resource("42"));
/// ```
pub fn require_resource(id: &str) -> GuardLayer {
    let id: Arc<str> = Arc::from(id.strip_prefix("urc-").unwrap_or(id));
    GuardLayer::new(move |user, _, _| match user {
        None => Some(responses::unauthenticated()),
        Some(user) if !user.can_access_resource(&id) => {
            Some(responses::forbidden_because(&format!("this token is not valid for urc-{id}")))
        }
        Some(_) => None,
    })
}

/// A gate on the verified user; see [`require_role`] and [`require_resource`].
#[derive(Clone)]
pub struct GuardLayer {
    check: Arc<Check>,
}

impl GuardLayer {
    /// A gate from any check on the user (`None` from the check lets the request through).
    pub fn new(
        check: impl Fn(Option<&AuthUser>, &Method, &HeaderMap) -> Option<Response<String>> + Send + Sync + 'static,
    ) -> Self {
        Self { check: Arc::new(check) }
    }
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard { inner, check: self.check.clone() }
    }
}

/// The service a [`GuardLayer`] builds.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    check: Arc<Check>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let user = request.extensions().get::<AuthUser>();
        if let Some(rejection) = (self.check)(user, request.method(), request.headers()) {
            return Box::pin(async move { Ok(rejection.map(ResBody::from)) });
        }
        // The ready inner service goes with this call; its clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}
