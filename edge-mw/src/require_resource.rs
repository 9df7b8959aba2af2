//! [`require_resource`]: 403 unless the caller's token names a repository (`urc-<id>`) or every
//! repository (`urc-*`), as repository-scoped and service tokens do.

use crate::responses;
use crate::user::AuthUser;
use futures::future::BoxFuture;
use http::{Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

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
pub fn require_resource(id: &str) -> RequireResourceLayer {
    RequireResourceLayer { id: Arc::from(id.strip_prefix("urc-").unwrap_or(id)) }
}

#[derive(Debug, Clone)]
pub struct RequireResourceLayer {
    id: Arc<str>,
}

impl<S> Layer<S> for RequireResourceLayer {
    type Service = RequireResource<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireResource { inner, id: self.id.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct RequireResource<S> {
    inner: S,
    id: Arc<str>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireResource<S>
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
        let rejection = match request.extensions().get::<AuthUser>() {
            None => Some(responses::unauthenticated()),
            Some(user) if !user.can_access_resource(&self.id) => {
                Some(responses::forbidden_because(&format!("this token is not valid for urc-{}", self.id)))
            }
            Some(_) => None,
        };
        match rejection {
            Some(rejection) => Box::pin(async move { Ok(rejection.map(ResBody::from)) }),
            None => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
        }
    }
}
