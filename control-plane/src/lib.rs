//! Ruche control plane: the only writer of desired state. See ARCHITECTURE.md for the map.

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
