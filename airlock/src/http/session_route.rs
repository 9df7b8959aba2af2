//! `GET /api/auth/session` sent straight to its handler, ahead of the router.
//!
//! Every sibling app asks this on every request of its users, so it is nearly all of
//! airlock's traffic. Through the router it paid for the route lookup, the matched-path and
//! URL-parameter extensions, and a clone of the route's boxed service and of its metrics
//! layer: together about a sixth of the whole check. Here one comparison of method and path
//! decides, and the same handler, extractors and metrics run as behind the router. Every other
//! request, `HEAD` and wrong methods on this path included, goes to the router unchanged.
//!
//! ```
//! # use airlock::http::session_route::SessionRoute;
//! # fn example(state: airlock::http::AppState) {
//! let service = SessionRoute::new(airlock::http::router(state.clone()), state);
//! # let _ = service;
//! # }
//! ```

use super::AppState;
use super::auth;
use super::middleware::MetricsFuture;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Response;
use futures::FutureExt;
use futures::future::{BoxFuture, Either, Map};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::Service;

/// The path of the session check, as the router also knows it.
pub const SESSION_PATH: &str = "/api/auth/session";

/// Routes `GET` [`SESSION_PATH`] to its handler and everything else to `router`.
#[derive(Clone)]
pub struct SessionRoute<R> {
    router: R,
    state: AppState,
}

impl<R> SessionRoute<R> {
    pub fn new(router: R, state: AppState) -> Self {
        Self { router, state }
    }
}

impl<R> Service<Request> for SessionRoute<R>
where
    R: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<R::Future, MetricsFuture<SessionFuture>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.router.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() != Method::GET || request.uri().path() != SESSION_PATH {
            return Either::Left(self.router.call(request));
        }
        let answer = Handler::<_, AppState>::call(auth::session, request, self.state.clone());
        let answer: SessionFuture = answer.map(Ok);
        Either::Right(MetricsFuture::new(answer, SESSION_PATH, "GET"))
    }
}

/// The session handler's answer as a service's (infallible) result.
pub type SessionFuture = Map<BoxFuture<'static, Response>, fn(Response) -> Result<Response, Infallible>>;
