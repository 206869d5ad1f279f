//! HTTP tests of the control plane: the real router on a real TCP port, over a fresh Postgres
//! database per test (`#[sqlx::test]`, on the cluster tests/run.sh starts). One test binary,
//! one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod app_passwords;
mod auth;
mod boundary;
mod certificates;
mod deltas;
mod dns_admin;
mod isolation;
mod lifecycle;
mod load;
mod mail_status;
mod member_dns;
mod nodes;
mod public;
mod support;
