//! Wire contract between the Ruche control plane and node agents.
//!
//! This crate holds the typed parsers that every piece of member input goes
//! through before it can reach a config file (Postfix, Dovecot, Prosody), a
//! DNS zone (Knot) or a shell command. The types make invalid states
//! unrepresentable: a value can only be built by a parser, and its stored
//! form never contains whitespace, line breaks, quotes, backslashes,
//! semicolons, braces, NUL or non-ASCII characters. Deserialization goes
//! through the same parsers, so a node agent re-validates everything the
//! control plane sends it.
//!
//! The crate does no I/O.

pub mod app_password;
pub mod desired;
pub mod dns;
pub mod names;
pub mod node;
pub mod scope;
pub mod well_known;
