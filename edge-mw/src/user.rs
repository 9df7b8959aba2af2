//! [`AuthUser`]: the verified caller, as a request extension (and an axum extractor).

use shared::{AppRole, AuthMethod, GlobalRole, OrgRole, RoleMapping, SessionView};
use std::sync::Arc;

/// Who is calling, as verified by airlock, with the app role computed by the layer's
/// [`RoleMapping`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthUser {
    view: Arc<SessionView>,
    role: AppRole,
    mapping: Arc<RoleMapping>,
}

impl AuthUser {
    pub fn new(view: Arc<SessionView>, mapping: Arc<RoleMapping>) -> Self {
        let role = mapping.role_of(&view);
        Self { view, role, mapping }
    }

    /// With the role already derived from `view` under `mapping`.
    pub(crate) fn with_role(view: Arc<SessionView>, role: AppRole, mapping: Arc<RoleMapping>) -> Self {
        Self { view, role, mapping }
    }

    pub fn id(&self) -> &str {
        &self.view.user.id
    }

    pub fn email(&self) -> &str {
        &self.view.user.email
    }

    pub fn name(&self) -> &str {
        &self.view.user.name
    }

    /// The app role: admin, operator or viewer.
    pub fn role(&self) -> AppRole {
        self.role
    }

    /// Whether the app role is at least `role`.
    pub fn has_role(&self, role: AppRole) -> bool {
        self.role >= role
    }

    /// The global role flags airlock reports (`admin`, `operator`, …).
    pub fn global_roles(&self) -> &[GlobalRole] {
        &self.view.user.roles
    }

    /// Slugs of the orgs the user is a member of.
    pub fn orgs(&self) -> Vec<&str> {
        self.view.orgs.iter().map(|o| o.slug.as_str()).collect()
    }

    /// The membership role in `slug`, if a member.
    pub fn membership(&self, slug: &str) -> Option<OrgRole> {
        self.view.orgs.iter().find(|o| o.slug == slug).map(|o| o.role)
    }

    /// Admins read every org; everyone else reads their own.
    pub fn can_read_org(&self, slug: &str) -> bool {
        self.role == AppRole::Admin || self.membership(slug).is_some()
    }

    /// Admins operate every org; operators the orgs where their membership operates; viewers none.
    pub fn can_operate_org(&self, slug: &str) -> bool {
        match self.role {
            AppRole::Admin => true,
            AppRole::Operator => self.membership(slug).is_some_and(|m| self.mapping.operates(m)),
            AppRole::Viewer => false,
        }
    }

    /// The repositories a repository-scoped or service token may access (`urc-<id>`, `urc-*`).
    pub fn resources(&self) -> &[String] {
        self.view.auth.resources.as_deref().unwrap_or_default()
    }

    /// Whether the token names repository `id` (as `urc-<id>`) or every repository (`urc-*`).
    pub fn can_access_resource(&self, id: &str) -> bool {
        let wanted = format!("urc-{}", id.strip_prefix("urc-").unwrap_or(id));
        self.resources().iter().any(|r| r == "urc-*" || *r == wanted)
    }

    /// How the caller authenticated (session cookie, API token, …) and with which scopes.
    pub fn auth_method(&self) -> AuthMethod {
        self.view.auth.method
    }

    pub fn scopes(&self) -> &[String] {
        &self.view.auth.scopes
    }

    /// Airlock's whole answer.
    pub fn session_view(&self) -> &SessionView {
        &self.view
    }
}

#[cfg(feature = "axum")]
mod extract {
    use super::AuthUser;
    use crate::responses::unauthenticated_json;
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::Response;
    use http::request::Parts;

    /// Takes the user the layer verified; 401 when there is none (a public path, or a
    /// handler outside the layer).
    impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
        type Rejection = Response;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
            parts.extensions.get::<AuthUser>().cloned().ok_or_else(unauthenticated_json)
        }
    }

    /// `Option<AuthUser>`: for pages that greet signed-in users but also serve others.
    impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AuthUser>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{AuthInfo, OrgView, UserView};

    fn user(roles: Vec<GlobalRole>, orgs: &[(&str, OrgRole)]) -> AuthUser {
        let view = SessionView {
            user: UserView { id: "usr_1".into(), email: "a@example.com".into(), name: "A".into(), roles },
            orgs: orgs
                .iter()
                .map(|(slug, role)| OrgView {
                    id: format!("org_{slug}"),
                    slug: (*slug).into(),
                    name: "N".into(),
                    role: *role,
                })
                .collect(),
            session: None,
            auth: AuthInfo::new(AuthMethod::Session, vec!["*".into()]),
        };
        AuthUser::new(Arc::new(view), Arc::new(RoleMapping::default()))
    }

    #[test]
    fn org_permissions_follow_the_role() {
        let admin = user(vec![GlobalRole::Admin], &[]);
        assert!(admin.can_read_org("any") && admin.can_operate_org("any"));

        let operator = user(vec![], &[("acme", OrgRole::Operator), ("beta", OrgRole::Viewer)]);
        assert_eq!(operator.role(), AppRole::Operator);
        assert!(operator.can_read_org("acme") && operator.can_operate_org("acme"));
        assert!(operator.can_read_org("beta") && !operator.can_operate_org("beta"));
        assert!(!operator.can_read_org("other") && !operator.can_operate_org("other"));

        let global_operator = user(vec![GlobalRole::Operator], &[("acme", OrgRole::Member)]);
        assert!(!global_operator.can_operate_org("acme"), "membership decides which orgs");

        let viewer = user(vec![], &[("acme", OrgRole::Member)]);
        assert_eq!(viewer.role(), AppRole::Viewer);
        assert!(viewer.can_read_org("acme") && !viewer.can_operate_org("acme"));
        assert_eq!(viewer.orgs(), ["acme"]);
    }
}
