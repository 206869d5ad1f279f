//! Ruche control plane: the only writer of desired state. See ARCHITECTURE.md for the map.
//!
//! Its layers, lowest first: `model < config < error < db < services < dns < routes, cli,
//! workers, startup` (the last four may import one another). A module imports nothing of a
//! layer above its own, and no import closes a cycle: the tests named `layer_*` in
//! `tests/layers.rs` read the sources and fail otherwise.

pub mod cli;
pub mod config;
pub mod db;
pub mod dns;
pub mod error;
pub mod mailer;
pub mod model;
pub mod routes;
pub mod services;
pub mod startup;
pub mod workers;
