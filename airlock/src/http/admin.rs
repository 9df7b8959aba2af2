//! The admin surface, `/api/admin/*`: users, orgs, members and sessions. Every handler takes
//! [`Admin`], so nothing here runs for anyone else.

use super::AppState;
use super::auth::SessionSummary;
use super::extract::{Admin, JsonBody, PathParam};
use crate::accounts::{NewUser, UserPatch};
use crate::audit::AuditEvent;
use crate::error::Error;
use crate::store::{OrgRecord, UserRecord};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::{GlobalRole, OrgRole};
use time::OffsetDateTime;

/// A user as the admin API shows it: never the password hash.
#[derive(Serialize)]
pub struct UserOut {
    id: String,
    email: String,
    name: String,
    roles: Vec<GlobalRole>,
    disabled: bool,
    has_password: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<UserRecord> for UserOut {
    fn from(u: UserRecord) -> Self {
        Self {
            has_password: u.password_hash.is_some(),
            id: u.id,
            email: u.email,
            name: u.name,
            roles: u.roles,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    roles: Vec<GlobalRole>,
}

pub async fn create_user(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<UserOut>), Error> {
    let user = state
        .airlock
        .add_user(NewUser { email: body.email, name: body.name, password: body.password, roles: body.roles })
        .await?;
    state.airlock.audit(AuditEvent::new("admin.user.create").actor(&actor).subject(&user.email)).await;
    Ok((StatusCode::CREATED, Json(user.into())))
}

pub async fn list_users(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<UserOut>>, Error> {
    Ok(Json(state.airlock.list_users().await?.into_iter().map(UserOut::from).collect()))
}

pub async fn get_user(
    State(state): State<AppState>,
    _: Admin,
    PathParam(user): PathParam<String>,
) -> Result<Json<Value>, Error> {
    let user = state.airlock.find_user(&user).await?;
    let orgs: Vec<Value> = state
        .airlock
        .memberships_of(&user)
        .await?
        .into_iter()
        .map(|m| json!({"id": m.org.id, "slug": m.org.slug, "name": m.org.name, "role": m.role}))
        .collect();
    let mut out = serde_json::to_value(UserOut::from(user)).map_err(Error::internal)?;
    out["orgs"] = Value::Array(orgs);
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles: Option<Vec<GlobalRole>>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    password: Option<String>,
}

pub async fn update_user(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(user): PathParam<String>,
    JsonBody(body): JsonBody<PatchUser>,
) -> Result<Json<UserOut>, Error> {
    let event = match body.disabled {
        Some(true) => "admin.user.disable",
        Some(false) => "admin.user.enable",
        None => "admin.user.update",
    };
    let patch = UserPatch { name: body.name, roles: body.roles, disabled: body.disabled, password: body.password };
    let updated = state.airlock.update_user(&user, patch).await?;
    state.airlock.audit(AuditEvent::new(event).actor(&actor).subject(&updated.email)).await;
    Ok(Json(updated.into()))
}

pub async fn user_sessions(
    State(state): State<AppState>,
    _: Admin,
    PathParam(user): PathParam<String>,
) -> Result<Json<Vec<SessionSummary>>, Error> {
    let user = state.airlock.find_user(&user).await?;
    let sessions = state.airlock.sessions_of(&user.id, crate::service::now()).await?;
    Ok(Json(sessions.into_iter().map(|s| SessionSummary::of(s, None)).collect()))
}

pub async fn revoke_user_sessions(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(user): PathParam<String>,
) -> Result<Json<Value>, Error> {
    let user = state.airlock.find_user(&user).await?;
    let count = state.airlock.revoke_sessions_of(&user, None, &actor).await?;
    Ok(Json(json!({"revoked": count})))
}

pub async fn revoke_session(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, Error> {
    let session = state.airlock.revoke_session(&id, None, &actor, crate::service::now()).await?;
    Ok(Json(json!({"revoked": session.id})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    slug: String,
    #[serde(default)]
    name: Option<String>,
}

pub async fn create_org(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    JsonBody(body): JsonBody<CreateOrg>,
) -> Result<(StatusCode, Json<OrgRecord>), Error> {
    let org = state.airlock.add_org(&body.slug, body.name.as_deref()).await?;
    state.airlock.audit(AuditEvent::new("admin.org.create").actor(&actor).subject(&org.slug)).await;
    Ok((StatusCode::CREATED, Json(org)))
}

pub async fn list_orgs(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<OrgRecord>>, Error> {
    Ok(Json(state.airlock.list_orgs().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    email: String,
    role: OrgRole,
}

pub async fn add_member(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(slug): PathParam<String>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let (org, user) = state.airlock.add_member(&slug, &body.email, body.role).await?;
    let subject = format!("{} in {} as {}", user.email, org.slug, body.role);
    state.airlock.audit(AuditEvent::new("admin.member.add").actor(&actor).subject(&subject)).await;
    Ok((StatusCode::CREATED, Json(json!({"org": org.slug, "email": user.email, "role": body.role}))))
}

pub async fn remove_member(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam((slug, email)): PathParam<(String, String)>,
) -> Result<Json<Value>, Error> {
    state.airlock.remove_member(&slug, &email).await?;
    let subject = format!("{email} in {slug}");
    state.airlock.audit(AuditEvent::new("admin.member.remove").actor(&actor).subject(&subject)).await;
    Ok(Json(json!({"removed": true, "org": slug, "email": email})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    org: Option<String>,
    resource: String,
    #[serde(default)]
    scopes: Vec<crate::tokens::scopes::Scope>,
}

/// `POST /api/admin/grants`: grants a user or an org `urc-<id>` or `urc-*`.
pub async fn create_grant(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    JsonBody(body): JsonBody<CreateGrant>,
) -> Result<(StatusCode, Json<crate::tokens::grants::GrantRecord>), Error> {
    let grant = state.airlock.add_grant(body.user.as_deref(), body.org.as_deref(), &body.resource, body.scopes).await?;
    let subject = format!("{} ({})", grant.resource, grant.id);
    state.airlock.audit(AuditEvent::new("admin.grant.add").actor(&actor).subject(&subject)).await;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `GET /api/admin/grants`.
pub async fn list_grants(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<crate::tokens::grants::GrantRecord>>, Error> {
    Ok(Json(state.airlock.list_grants().await?))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/admin/audit?event=auth.login.fail&actor=…&limit=50`: newest first. Needs the
/// `audit` scope (admins and auditors).
pub async fn audit(
    State(state): State<AppState>,
    caller: super::extract::Caller,
    super::extract::QueryParams(query): super::extract::QueryParams<AuditQuery>,
) -> Result<Json<Vec<crate::audit::AuditRecord>>, Error> {
    caller.require(crate::tokens::scopes::Scope::Audit)?;
    let filter = crate::audit::AuditFilter {
        event: query.event.filter(|e| !e.is_empty()),
        actor: query.actor.filter(|a| !a.is_empty()),
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(state.airlock.audit_log(&filter).await?))
}

/// An OAuth client as the admin API shows it: never its secret's hash.
#[derive(Serialize)]
pub struct ClientOut {
    client_id: String,
    name: String,
    public: bool,
    first_party: bool,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<crate::oauth::GrantType>,
    scopes: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Only in the answer that made or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ClientOut {
    pub fn of(client: crate::oauth::clients::ClientRecord, secret: Option<String>) -> Self {
        Self {
            public: client.is_public(),
            client_id: client.client_id,
            name: client.name,
            first_party: client.first_party,
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            grant_types: client.grant_types,
            scopes: client.scopes.to_text(),
            created_at: client.created_at,
            client_secret: secret,
        }
    }
}

/// `POST /api/admin/clients`: 201 with the secret, once.
pub async fn create_client(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    JsonBody(new): JsonBody<crate::oauth::clients::NewClient>,
) -> Result<(StatusCode, Json<ClientOut>), Error> {
    let registered = state.airlock.register_client(new, state.config.dev, crate::service::now()).await?;
    state
        .airlock
        .audit(AuditEvent::new("oauth.client.register").actor(&actor).subject(&registered.client.client_id))
        .await;
    Ok((StatusCode::CREATED, Json(ClientOut::of(registered.client, registered.secret))))
}

pub async fn list_clients(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<ClientOut>>, Error> {
    Ok(Json(state.airlock.clients().await?.into_iter().map(|c| ClientOut::of(c, None)).collect()))
}

pub async fn get_client(
    State(state): State<AppState>,
    _: Admin,
    PathParam(id): PathParam<String>,
) -> Result<Json<ClientOut>, Error> {
    let client = state.airlock.client(&id).await?.ok_or_else(|| Error::not_found(format!("client {id}")))?;
    Ok(Json(ClientOut::of(client, None)))
}

pub async fn remove_client(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, Error> {
    let client = state.airlock.remove_client(&id).await?;
    state.airlock.audit(AuditEvent::new("oauth.client.remove").actor(&actor).subject(&client.client_id)).await;
    Ok(Json(json!({"removed": client.client_id})))
}

pub async fn rotate_client_secret(
    State(state): State<AppState>,
    Admin { actor }: Admin,
    PathParam(id): PathParam<String>,
) -> Result<Json<ClientOut>, Error> {
    let rotated = state.airlock.rotate_client_secret(&id).await?;
    state.airlock.audit(AuditEvent::new("oauth.client.rotate").actor(&actor).subject(&id)).await;
    Ok(Json(ClientOut::of(rotated.client, rotated.secret)))
}
