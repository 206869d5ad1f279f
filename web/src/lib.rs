//! Ruche's pages: askama templates (in `templates/`), the view models they render, one catalog
//! per language (`catalog/`: page furniture and the sentence for every [`Reason`]), and static
//! assets.
//!
//! Architecture invariant: this crate knows nothing of HTTP, the database or the control
//! plane's types; of the rest of Ruche it knows only the `protocol` crate's parse errors, which
//! reasons carry.
//! The control plane maps its data into these plain view models; templates escape everything
//! (askama's HTML escaping is on for every `.html` template), so user text cannot become markup.

pub mod catalog;
pub mod i18n;
pub mod notice;
pub mod pages;
pub mod reason;
pub mod states;

pub use i18n::{Lang, Tr};
pub use notice::Notice;
pub use reason::{Counted, Reason};

/// The stylesheet, served by the control plane at `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("../static/style.css");
