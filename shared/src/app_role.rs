//! The role a sibling app sees (`x-<slug>-user-role`), computed from the session view. Shared
//! so that edge-mw and airlock's forward-auth endpoint always agree.

use crate::roles::{GlobalRole, OrgRole};
use crate::session::SessionView;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An app role, weakest first: `Viewer < Operator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppRole {
    Viewer,
    Operator,
    Admin,
}

impl AppRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AppRole::Viewer => "viewer",
            AppRole::Operator => "operator",
            AppRole::Admin => "admin",
        }
    }
}

impl fmt::Display for AppRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppRole {
    type Err = crate::roles::UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(AppRole::Viewer),
            "operator" => Ok(AppRole::Operator),
            "admin" => Ok(AppRole::Admin),
            _ => Err(crate::roles::UnknownRole(s.to_owned())),
        }
    }
}

/// Which global roles and membership roles make an app admin or operator. The default is the
/// contract's: `admin` if `user.roles` has `admin`; else `operator` if `user.roles` has
/// `operator` or any membership is `owner`, `admin` or `operator`; else `viewer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    pub admin_global: Vec<GlobalRole>,
    pub operator_global: Vec<GlobalRole>,
    pub operator_memberships: Vec<OrgRole>,
}

impl Default for RoleMapping {
    fn default() -> Self {
        Self {
            admin_global: vec![GlobalRole::Admin],
            operator_global: vec![GlobalRole::Operator],
            operator_memberships: vec![OrgRole::Owner, OrgRole::Admin, OrgRole::Operator],
        }
    }
}

impl RoleMapping {
    pub fn role_of(&self, view: &SessionView) -> AppRole {
        let global = |set: &[GlobalRole]| view.user.roles.iter().any(|r| set.contains(r));
        if global(&self.admin_global) {
            AppRole::Admin
        } else if global(&self.operator_global) || view.orgs.iter().any(|o| self.operator_memberships.contains(&o.role))
        {
            AppRole::Operator
        } else {
            AppRole::Viewer
        }
    }

    /// Whether this membership role lets an operator operate that org.
    pub fn operates(&self, membership: OrgRole) -> bool {
        self.operator_memberships.contains(&membership)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{AuthInfo, AuthMethod, OrgView, UserView};

    fn view(roles: &[GlobalRole], orgs: &[OrgRole]) -> SessionView {
        SessionView {
            user: UserView {
                id: "usr_1".into(),
                email: "a@example.com".into(),
                name: "A".into(),
                roles: roles.to_vec(),
            },
            orgs: orgs
                .iter()
                .enumerate()
                .map(|(i, role)| OrgView {
                    id: format!("org_{i}"),
                    slug: format!("o{i}"),
                    name: "O".into(),
                    role: *role,
                })
                .collect(),
            session: None,
            auth: AuthInfo::new(AuthMethod::Session, vec!["*".into()]),
        }
    }

    /// The contract's table, row by row.
    #[test]
    fn default_mapping_follows_the_contract() {
        use GlobalRole as G;
        use OrgRole as O;
        let cases: &[(&[G], &[O], AppRole)] = &[
            (&[G::Admin], &[], AppRole::Admin),
            (&[G::Admin, G::Operator], &[O::Viewer], AppRole::Admin),
            (&[G::Operator], &[], AppRole::Operator),
            (&[], &[O::Owner], AppRole::Operator),
            (&[], &[O::Admin], AppRole::Operator),
            (&[], &[O::Operator], AppRole::Operator),
            (&[], &[O::Viewer, O::Operator], AppRole::Operator),
            (&[], &[O::Member], AppRole::Viewer),
            (&[], &[O::Viewer], AppRole::Viewer),
            (&[G::Auditor], &[], AppRole::Viewer),
            (&[], &[], AppRole::Viewer),
        ];
        let mapping = RoleMapping::default();
        for (globals, orgs, expected) in cases {
            assert_eq!(mapping.role_of(&view(globals, orgs)), *expected, "{globals:?} {orgs:?}");
        }
    }

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(AppRole::Viewer < AppRole::Operator && AppRole::Operator < AppRole::Admin);
        assert_eq!("Operator".parse::<AppRole>().unwrap(), AppRole::Operator);
        assert!("root".parse::<AppRole>().is_err());
    }
}
