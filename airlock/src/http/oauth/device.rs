//! The device authorization grant over HTTP (RFC 8628): `POST /oauth/device_authorization`,
//! which a device calls with its client credentials, and the page `GET|POST /device`, where a
//! signed-in person types the code the device shows.
//!
//! The page has three steps, each a plain form: type the code; see the client and its scopes,
//! then Approve or Deny; done. `?user_code=` (the `verification_uri_complete`) only fills in the
//! first step: a link can never approve anything (section 5.4). The forms post to airlock itself
//! and pass the request guard's CSRF origin rule like every other page's.

use super::authorize::MaybeSession;
use super::{client_of, no_store, policy};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::QueryParams;
use crate::oauth::invalid_request;
use crate::oauth::scopes;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

const DEVICE_PATH: &str = "/device";

#[derive(Deserialize, Default)]
pub struct DeviceAuthorizationForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// `POST /oauth/device_authorization` (RFC 8628 section 3.1).
pub async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<DeviceAuthorizationForm>, FormRejection>,
) -> Result<Response, Error> {
    let Form(form) = form.map_err(|e| invalid_request(format!("expected a form body: {}", e.body_text())))?;
    let client = client_of(&state, &headers, form.client_id.as_deref(), form.client_secret.as_deref()).await?;
    let policy = policy(&state)?;
    let answer = state
        .airlock
        .authorize_device(&client, form.scope.as_deref(), form.resource.as_deref(), &policy, crate::service::now())
        .await?;
    Ok(no_store(serde_json::to_value(answer).map_err(Error::internal)?))
}

/// `templates/device.html`: one of its three steps.
#[derive(Template, Default)]
#[template(path = "device.html")]
struct DeviceView {
    user_email: String,
    /// The code, as typed or as it will be shown again.
    user_code: String,
    error: Option<String>,
    /// The confirm step: the client's name.
    confirm: Option<String>,
    scopes: Vec<(String, &'static str)>,
    /// The last step: a heading and what happened.
    done: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct DeviceQuery {
    #[serde(default)]
    user_code: Option<String>,
}

/// To the sign-in page, and back to this page with the code still filled in.
fn to_login(user_code: Option<&str>) -> Response {
    let mut back = DEVICE_PATH.to_owned();
    if let Some(code) = user_code.filter(|c| !c.is_empty()) {
        back = format!(
            "{back}?{}",
            url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", code).finish()
        );
    }
    let login = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect", &back).finish()
    );
    Redirect::to(&login).into_response()
}

/// A typed code comes back as typed; a pasted megabyte does not.
fn as_typed(code: &str) -> String {
    code.chars().take(32).collect()
}

/// `GET /device[?user_code=…]`: the form to type the code in, filled in from the link.
pub async fn page(
    QueryParams(query): QueryParams<DeviceQuery>,
    MaybeSession(session): MaybeSession,
) -> Result<Response, Error> {
    let Some(session) = session else { return Ok(to_login(query.user_code.as_deref())) };
    let view = DeviceView {
        user_email: session.user().email.clone(),
        user_code: as_typed(query.user_code.as_deref().unwrap_or_default()),
        ..DeviceView::default()
    };
    crate::http::pages::render_page(StatusCode::OK, &view, &[])
}

#[derive(Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    user_code: String,
    /// `approve` or `deny` on the confirm step; absent on the first.
    #[serde(default)]
    decision: Option<String>,
}

/// `POST /device`: a typed code (answered with the confirm step), or the answer to it.
pub async fn submit(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    form: Result<Form<DeviceForm>, FormRejection>,
) -> Result<Response, Error> {
    let Form(form) = form?;
    let Some(session) = session else { return Ok(to_login(Some(&form.user_code))) };
    let user = session.user();
    let now = crate::service::now();
    let mut view =
        DeviceView { user_email: user.email.clone(), user_code: as_typed(&form.user_code), ..DeviceView::default() };
    let outcome = match form.decision.as_deref() {
        None => state.airlock.pending_device(&form.user_code, &user.id, now).await.map(|pending| {
            pending.map(|pending| {
                view.user_code = pending.user_code;
                view.confirm = Some(pending.client.name);
                view.scopes = pending.scopes.iter().map(|s| (s.to_owned(), scopes::in_words(s))).collect();
            })
        }),
        Some(decision @ ("approve" | "deny")) => {
            let approve = decision == "approve";
            let auth_time = session.session.created_at;
            state.airlock.decide_device(&form.user_code, &user.id, &user.email, auth_time, approve, now).await.map(
                |decided| {
                    decided.map(|client| {
                        view.done = Some(if approve {
                            (
                                format!("{} is connected", client.name),
                                "Done: you can close this page and go back to your device.".to_owned(),
                            )
                        } else {
                            (
                                "Request denied".to_owned(),
                                format!("Nothing was shared with {}. You can close this page.", client.name),
                            )
                        });
                    })
                },
            )
        }
        Some(_) => return Err(Error::bad_request("decision must be approve or deny")),
    };
    let status = match outcome {
        Ok(Some(())) => StatusCode::OK,
        Ok(None) => {
            view.error = Some(
                "That code is wrong, has expired or was already used. Check the code on your device and try again."
                    .to_owned(),
            );
            StatusCode::BAD_REQUEST
        }
        Err(Error::RateLimited { retry_after }) => {
            view.error = Some(format!(
                "Too many wrong codes. For your safety, codes are not checked for now: try again in {}.",
                crate::http::pages::wait_in_words(retry_after)
            ));
            StatusCode::TOO_MANY_REQUESTS
        }
        Err(e) => return Err(e),
    };
    crate::http::pages::render_page(status, &view, &[])
}
