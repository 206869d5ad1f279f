//! Typed names: domains, mailbox local parts, XMPP nodes, email addresses
//! and alias sources.
//!
//! Every type here wraps a private `String` that can only be produced by its
//! `parse` function (or by serde, which calls `parse`). Parsers never trim
//! and never panic: callers trim form input first, and anything unexpected is
//! an error. The stored form is always plain ASCII, so renderers can rely on
//! it not containing whitespace, line breaks, quotes, backslashes, `;`,
//! braces or NUL. (`EmailAddress` is the one exception that may contain some
//! RFC 5322 `atext` punctuation such as `'`, `{`, `}` and `|`; see its docs.)
//!
//! Errors are [`NameError`] values whose messages start in lowercase and do
//! not echo the input, so callers can prefix the field name:
//! `format!("Domain: {err}")`.

/// Implements the string-like boilerplate shared by every name type:
/// `Display`, `FromStr`, `TryFrom<String>`, `TryFrom<&str>`, `AsRef<str>`
/// and `From<T> for String`.
///
/// The type must provide `fn parse(&str) -> Result<Self, NameError>` and
/// `fn as_str(&self) -> &str`. Serde uses `TryFrom<String>` (so deserializing
/// always goes through `parse`) and `From<T> for String`.
macro_rules! string_name_impls {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::names::NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $t {
            type Error = $crate::names::NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $t {
            type Error = $crate::names::NameError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::convert::AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::convert::From<$t> for String {
            fn from(value: $t) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

mod alias;
mod domain;
mod email;
mod error;
mod local_part;
mod object_id;
mod xmpp_node;

pub use alias::AliasSource;
pub use domain::DomainName;
pub use email::EmailAddress;
pub use error::NameError;
pub use local_part::LocalPart;
pub use object_id::ObjectId;
pub use xmpp_node::XmppNode;
