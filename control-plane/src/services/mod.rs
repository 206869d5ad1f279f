//! Use cases: what a member, an admin, a node or a background round asks the control plane to
//! do, each one transaction with its audit entry, over the store (`db`) and the model. Pages,
//! the JSON API, the node API, the command line and the workers call these, never each other.

pub mod addresses;
pub mod api_tokens;
pub mod app_passwords;
pub mod dns_admin;
pub mod dns_records;
pub mod domains;
pub mod invitations;
pub mod members;
pub mod nodes;
pub mod passwords;
pub mod plans;
pub mod second_factor;
pub mod sessions;
pub mod setup;
