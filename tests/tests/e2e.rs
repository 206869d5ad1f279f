//! Ruche's end-to-end tests: one test binary, one module per area.
//!
//! They need the environment `tests/run.sh` provides: `DATABASE_URL` (a superuser URL of a private
//! Postgres cluster), the workspace binaries built, and Debian's chromium, chromium-driver,
//! python3-aiosmtpd and (for `dns`) knot. Run them with `tests/run.sh`, or `tests/run.sh portal`
//! for a subset.

#[path = "e2e/dns.rs"]
mod dns;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/mail.rs"]
mod mail;
#[path = "e2e/node.rs"]
mod node;
#[path = "e2e/portal.rs"]
mod portal;
#[path = "e2e/web.rs"]
mod web;
