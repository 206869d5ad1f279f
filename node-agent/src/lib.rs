//! The Ruche node agent: runs on each machine of the collective, joins it with a one-time token,
//! and reports to the control plane. Later it will pull the node's desired state and render the
//! configuration of the real daemons.
//!
//! `protocol` is the only Ruche crate it depends on; it never depends on the control plane.
//!
//! - [`cli`]: the command line (`join`, `run`);
//! - [`join`]: trading a join token for the node's identity;
//! - [`agent`]: the heartbeat loop and the shutdown signal;
//! - [`client`]: HTTP to the control plane's node API;
//! - [`state`]: the state directory and `node.json`;
//! - [`capacity`]: processors, memory, disk and host name;
//! - [`backoff`]: exponential backoff with jitter (pure);
//! - [`secret`]: a string that never reaches a log.

pub mod agent;
pub mod apply;
pub mod atomic;
pub mod backoff;
pub mod broker;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod dkim;
pub mod join;
pub mod mail_store;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod secret;
pub mod state;
pub mod store;
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

    fn state_error(source: std::io::Error) -> crate::state::StateError {
        crate::state::StateError::Io {
            action: "write",
            path: "/x/node.json".into(),
            source,
        }
    }
}
