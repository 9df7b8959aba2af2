//! `edge-mw`: the tower middleware sibling apps add to be protected by airlock.
//!
//! Not written yet: see the open issue "edge-mw: the middleware sibling apps add". Only the
//! wire types are re-exported for now.

pub use shared::{GlobalRole, OrgRole, SessionView};
