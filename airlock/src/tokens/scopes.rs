//! Scopes and token roles (contract section 6): `*` ⊇ everything, `control` ⊇ `write` ⊇ `read`,
//! and `audit` apart. One table, one function, tests beside them.

use serde::{Deserialize, Serialize};
use shared::GlobalRole;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "control")]
    Control,
    #[serde(rename = "write")]
    Write,
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "audit")]
    Audit,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "*",
            Scope::Control => "control",
            Scope::Write => "write",
            Scope::Read => "read",
            Scope::Audit => "audit",
        }
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        matches!(
            (self, needed),
            (Scope::All, _)
                | (Scope::Control, Scope::Control | Scope::Write | Scope::Read)
                | (Scope::Write, Scope::Write | Scope::Read)
                | (Scope::Read, Scope::Read)
                | (Scope::Audit, Scope::Audit)
        )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "*" => Ok(Scope::All),
            "control" => Ok(Scope::Control),
            "write" => Ok(Scope::Write),
            "read" => Ok(Scope::Read),
            "audit" => Ok(Scope::Audit),
            other => Err(format!("unknown scope `{other}` (use *, control, write, read or audit)")),
        }
    }
}

/// Whether a set of scopes grants `needed`.
pub fn has_scope(held: &[Scope], needed: Scope) -> bool {
    held.iter().any(|s| s.grants(needed))
}

/// Whether `held` covers every scope of `wanted` (a token never mints more power than it has).
pub fn covers(held: &[Scope], wanted: &[Scope]) -> bool {
    wanted.iter().all(|w| has_scope(held, *w))
}

/// A token role: a named set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Admin,
    Operator,
    Viewer,
    Auditor,
}

impl TokenRole {
    pub fn scopes(self) -> Vec<Scope> {
        match self {
            TokenRole::Admin => vec![Scope::All],
            TokenRole::Operator => vec![Scope::Control, Scope::Write, Scope::Read],
            TokenRole::Viewer => vec![Scope::Read],
            TokenRole::Auditor => vec![Scope::Read, Scope::Audit],
        }
    }
}

impl FromStr for TokenRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(TokenRole::Admin),
            "operator" => Ok(TokenRole::Operator),
            "viewer" => Ok(TokenRole::Viewer),
            "auditor" => Ok(TokenRole::Auditor),
            other => Err(format!("unknown role `{other}` (use admin, operator, viewer or auditor)")),
        }
    }
}

/// What a user may do at most, from their global roles: admins everything, operators
/// control/write/read, auditors read/audit, everyone read.
pub fn user_power(roles: &[GlobalRole]) -> Vec<Scope> {
    if roles.contains(&GlobalRole::Admin) {
        return vec![Scope::All];
    }
    let mut power = vec![Scope::Read];
    if roles.contains(&GlobalRole::Operator) {
        power.extend([Scope::Control, Scope::Write]);
    }
    if roles.contains(&GlobalRole::Auditor) {
        power.push(Scope::Audit);
    }
    power.sort();
    power
}

/// Scopes as their names.
pub fn names(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scope::*;

    #[test]
    fn the_hierarchy_table() {
        // (held, needed, granted)
        let table = [
            (All, All, true),
            (All, Control, true),
            (All, Audit, true),
            (Control, Control, true),
            (Control, Write, true),
            (Control, Read, true),
            (Control, Audit, false),
            (Control, All, false),
            (Write, Write, true),
            (Write, Read, true),
            (Write, Control, false),
            (Read, Read, true),
            (Read, Write, false),
            (Read, Audit, false),
            (Audit, Audit, true),
            (Audit, Read, false),
        ];
        for (held, needed, granted) in table {
            assert_eq!(held.grants(needed), granted, "{held} grants {needed}?");
        }
    }

    #[test]
    fn the_role_table() {
        let table = [
            ("admin", vec![All]),
            ("operator", vec![Control, Write, Read]),
            ("viewer", vec![Read]),
            ("auditor", vec![Read, Audit]),
        ];
        for (name, scopes) in table {
            assert_eq!(name.parse::<TokenRole>().unwrap().scopes(), scopes, "{name}");
        }
        assert!("root".parse::<TokenRole>().is_err());
    }

    #[test]
    fn nobody_mints_more_than_they_hold() {
        assert!(covers(&[Read], &[Read]));
        assert!(!covers(&[Read], &[All]));
        assert!(!covers(&[Read], &[Write]));
        assert!(covers(&[Control], &[Write, Read]));
        assert!(!covers(&[Control], &[Audit]));
        assert!(covers(&[All], &[Control, Audit]));
        assert_eq!(user_power(&[]), vec![Read]);
        assert_eq!(user_power(&[GlobalRole::Operator]), vec![Control, Write, Read]);
        assert_eq!(user_power(&[GlobalRole::Auditor]), vec![Read, Audit]);
        assert_eq!(user_power(&[GlobalRole::Admin, GlobalRole::Auditor]), vec![All]);
    }
}
