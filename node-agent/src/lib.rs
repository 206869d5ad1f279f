//! The Ruche node agent: runs on each machine of the collective. It joins with a one-time token,
//! long-polls the node's desired state from the control plane (saving each one, so it serves
//! without the control plane), renders the files of the node's daemons, applies them (journaled,
//! checked, reloaded), answers the daemons' login checks, and reports what it applied.
//!
//! `protocol` is the only Ruche crate it depends on; it never depends on the control plane.
//!
//! - [`cli`]: the command line (`join`, `run`, `reconcile`); [`daemon`]: the tasks of `run`;
//! - [`join`]: trading a join token for the node's identity ([`identity`]: `node.json`);
//! - [`client`]: HTTP to the control plane's node API; [`heartbeat`]: the heartbeat loop;
//! - [`reconcile`]: one reconcile (material, render, plan, apply, status);
//! - [`services`]: one folder per daemon (Postfix, Dovecot, rspamd, Knot) behind one trait,
//!   [`services::Daemon`], and the registry [`services::ALL`], the one list naming them all;
//! - the engine, which names no daemon: [`render`] (what every renderer shares, and rendering
//!   every service), [`plan`], [`apply`] (what to change, and changing it: writes, checks,
//!   reloads and the services' named steps), [`saved`]: `desired.json`, `applied.json`,
//!   `journal.json`;
//! - [`certs`]: certificates by ACME for the names the node serves;
//! - [`broker`]: the auth broker; [`dkim`]: DKIM keys; [`mail_store`]: mailbox homes;
//!   [`usage`]: mailbox usage; [`config`]: `agent.toml`;
//! - [`heap`]: memory given back after a reconcile, and where the agent's memory goes;
//! - [`capacity`], [`backoff`], [`secret`], [`atomic`]: small helpers.

pub mod apply;
pub mod atomic;
pub mod backoff;
pub mod broker;
pub mod capacity;
pub mod certs;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod dkim;
pub mod heap;
pub mod heartbeat;
pub mod identity;
pub mod join;
pub mod mail_store;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod saved;
pub mod secret;
pub mod services;
pub mod usage;

/// `err` and its sources, on one line (`a: b: c`), without repeating a source whose text the
/// previous message already holds.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn chains_sources() {
        let io = std::io::Error::other("disk on fire");
        let err = state_error(io);
        assert_eq!(error_chain(&err), "cannot write /x/node.json: disk on fire");
    }

    fn state_error(source: std::io::Error) -> crate::identity::StateError {
        crate::identity::StateError::Io {
            action: "write",
            path: "/x/node.json".into(),
            source,
        }
    }
}
