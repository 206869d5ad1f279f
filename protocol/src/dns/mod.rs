//! Members' DNS records, the platform's policy over them, and the TSIG keys nodes share, as
//! typed values:
//! - [`records`]: what a member types (name, type, TTL, value) parsed into a [`Record`] that can
//!   only hold what a zone file may contain for that type;
//! - [`policy`]: which (name, type) pairs the platform writes itself and which records conflict,
//!   so no member record can break mail, DNSSEC or delegation;
//! - [`platform`]: the names the platform writes in every member zone, declared once;
//! - [`tsig`]: the keys two name servers share for transfers.

/// `Display`, `FromStr`, `TryFrom<String>` and `From<T> for String` for a string type with a
/// `parse` and an `as_str`; serde goes through `TryFrom<String>`, so deserializing re-parses.
/// Defined before the modules that use it (a macro is in scope below its definition).
macro_rules! string_impls {
    ($t:ty, $e:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = $e;
            fn from_str(s: &str) -> Result<Self, $e> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = $e;
            fn try_from(s: String) -> Result<Self, $e> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_owned()
            }
        }
    };
}

pub mod platform;
pub mod policy;
pub mod records;
pub mod tsig;

pub use policy::{conflicts_with, is_dkim_selector, is_platform_selector, platform_owned, Rule};
pub use records::{
    CaaTag, Expected, Owner, Record, RecordData, RecordError, RecordField, RecordText, RecordType,
    Target, Ttl, TxtData,
};
pub use tsig::{TsigAlgorithm, TsigKey, TsigSecret};
