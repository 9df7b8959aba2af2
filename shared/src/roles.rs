//! Role names: global role flags on a user and membership roles in an org.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A global role flag on a user (`user.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GlobalRole {
    Admin,
    Operator,
    Auditor,
}

/// A membership role in an org (`orgs[].role`), strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Owner,
    Admin,
    Operator,
    Member,
    Viewer,
}

impl OrgRole {
    /// Whether this membership lets its holder operate the org (owner, admin, operator).
    pub fn can_operate(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin | OrgRole::Operator)
    }
}

/// A role name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown role `{}`", self.0)
    }
}

impl std::error::Error for UnknownRole {}

macro_rules! role_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownRole;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($name => Ok(<$ty>::$variant),)+
                    _ => Err(UnknownRole(s.to_owned())),
                }
            }
        }
    };
}

role_names!(GlobalRole { Admin => "admin", Operator => "operator", Auditor => "auditor" });
role_names!(OrgRole {
    Owner => "owner",
    Admin => "admin",
    Operator => "operator",
    Member => "member",
    Viewer => "viewer",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in GlobalRole::ALL {
            assert_eq!(role.as_str().parse::<GlobalRole>().unwrap(), *role);
        }
        for role in OrgRole::ALL {
            assert_eq!(role.as_str().parse::<OrgRole>().unwrap(), *role);
            let json = serde_json::to_string(role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("root".parse::<GlobalRole>().is_err());
    }

    #[test]
    fn only_owner_admin_operator_operate() {
        let operating: Vec<_> = OrgRole::ALL.iter().filter(|r| r.can_operate()).collect();
        assert_eq!(operating, [&OrgRole::Owner, &OrgRole::Admin, &OrgRole::Operator]);
    }
}
