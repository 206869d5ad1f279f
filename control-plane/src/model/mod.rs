//! The model: pure types (ids, user-typed values parsed at the edge, plan limits, secrets), the
//! lowest layer of the control plane (not `domain`, which here means a DNS name).
//!
//! Architecture invariant: nothing here names axum, sqlx or utoipa (checked by
//! `tests/layers.rs`); everything is testable without I/O.
//! Names that reach node configs (domains, local parts, XMPP nodes) are the `protocol` crate's
//! typed names, re-exported here so the control plane and the agents parse them the same way.

pub mod certificate;
pub mod claims;
pub mod ids;
pub mod input;
pub mod nameservers;
pub mod password;
pub mod placement;
pub mod plan;
pub mod report;
pub mod requests;
pub mod secret;
pub mod totp;

pub use protocol::names::{AliasSource, DomainName, EmailAddress, LocalPart, NameError, XmppNode};
pub use protocol::scope::AppScope;
