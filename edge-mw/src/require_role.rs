//! [`require_role`]: a small layer that answers 403 below a role, placed inside
//! [`crate::AirlockLayer`] on the routes that need it.

use crate::responses;
use crate::user::AuthUser;
use futures::future::BoxFuture;
use http::{Request, Response};
use shared::AppRole;
use std::task::{Context, Poll};
use tower::{Layer, Service};

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
pub fn require_role(role: AppRole) -> RequireRoleLayer {
    RequireRoleLayer { role }
}

#[derive(Debug, Clone, Copy)]
pub struct RequireRoleLayer {
    role: AppRole,
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireRole<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRole { inner, role: self.role }
    }
}

#[derive(Debug, Clone)]
pub struct RequireRole<S> {
    inner: S,
    role: AppRole,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireRole<S>
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
        let verdict = match request.extensions().get::<AuthUser>() {
            None => Some(responses::unauthenticated()),
            Some(user) if !user.has_role(self.role) => Some(responses::forbidden(
                responses::wants_html(request.method(), request.headers()),
                self.role.as_str(),
            )),
            Some(_) => None,
        };
        match verdict {
            Some(rejection) => Box::pin(async move { Ok(rejection.map(ResBody::from)) }),
            None => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
        }
    }
}
