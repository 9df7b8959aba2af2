//! Airlock: one sign-in for a family of web apps on one parent domain.
//!
//! Layout: [`http`] (routes, extractors, the one error mapping), the domain
//! ([`service::Airlock`] with [`accounts`] and [`sessions`]; no HTTP types), pure rules
//! ([`origins`], [`secrets`], [`password`]), [`store`] (one trait, embedded and Redis backends)
//! and [`config`]. [`app`] wires them; `main.rs` is only the CLI.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod oauth;
pub mod origins;
pub mod secrets;
pub mod service;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod tokens;

pub use error::{Error, Result};
pub use service::Airlock;
