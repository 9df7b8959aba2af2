//! Wire types shared by `airlock` (the session service) and `edge-mw` (the middleware sibling
//! apps add). Everything here is part of the contract: field names, role names, cookie and
//! header names, and reading the session cookie. Nothing here does I/O.

pub mod app_role;
pub mod assets;
pub mod cookies;
pub mod error;
pub mod names;
pub mod roles;
pub mod session;

pub use app_role::{AppRole, RoleMapping};
pub use error::ErrorBody;
pub use roles::{GlobalRole, OrgRole};
pub use session::{AuthInfo, AuthMethod, OrgView, SessionInfo, SessionView, UserView};
