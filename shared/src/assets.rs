//! The look shared by every page people see: airlock's, edge-mw's own answers (the degraded
//! banner, the 403 page) and the LORE demo's. One stylesheet, so the pages look alike.

/// The stylesheet, served at [`STYLESHEET_PATH`] by airlock and by apps that show pages.
pub const STYLESHEET: &str = include_str!("../assets/airlock.css");

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/airlock.css";

/// A small icon, so that browsers asking for one find it (served at [`ICON_PATH`]).
pub const ICON: &str = include_str!("../assets/icon.svg");

/// Where the icon is served.
pub const ICON_PATH: &str = "/assets/icon.svg";
