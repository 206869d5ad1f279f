//! Ruche's pages: askama templates (in `templates/`), the view models they render, the
//! English/French catalog, and static assets.
//!
//! Architecture invariant: this crate knows nothing of HTTP, the database or the domain types.
//! The control plane maps its data into these plain view models; templates escape everything
//! (askama's HTML escaping is on for every `.html` template), so user text cannot become markup.

pub mod i18n;
pub mod notice;
pub mod pages;

pub use i18n::{Lang, Tr};
pub use notice::Notice;

/// The stylesheet, served by the control plane at `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("../static/style.css");
