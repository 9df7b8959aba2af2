//! Whole-system tests: one binary (linking is the slow part on two cores), one module per suite.

mod admin;
mod audit;
mod bad_input;
mod browser;
mod cluster;
mod compose;
mod edge;
mod edge_jwt;
mod exchange;
mod failover;
mod faults;
mod jwt;
mod mcp;
mod metrics;
mod oauth;
mod oauth_cimd;
mod oauth_device;
mod proxies;
mod secrets;
mod sentinel;
mod sessions;
mod sso;
mod store_suite;
mod throttle;
mod tokens;
mod upgrade;
