//! Ruche's end-to-end tests: one test binary, one module per area.
//!
//! They need the environment `tests/run.sh` provides: `DATABASE_URL` (a superuser URL of a private
//! Postgres cluster), the workspace binaries built, and Debian's chromium, chromium-driver and
//! python3-aiosmtpd. Run them with `tests/run.sh`, or `tests/run.sh portal` for a subset.

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/mail.rs"]
mod mail;
#[path = "e2e/node.rs"]
mod node;
#[path = "e2e/portal.rs"]
mod portal;
