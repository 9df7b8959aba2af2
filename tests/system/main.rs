//! Whole-system tests: one binary (linking is the slow part on two cores), one module per suite.

mod admin;
mod bad_input;
mod edge;
mod faults;
mod sessions;
mod store_suite;
