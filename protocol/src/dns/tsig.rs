//! The TSIG keys two name servers share for zone transfers and notifies (RFC 8945).
//!
//! A TSIG key is a shared secret both name servers must hold, so it is the one secret the
//! control plane stores and sends as it is (to the two nodes, in their 0600 desired states).
//! It is never printed: [`TsigSecret`]'s `Debug` is redacted and it has no `Display`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::records::{Expected, RecordError};
use crate::names::DomainName;

/// A TSIG key shared by two servers (RFC 8945). Only hmac-sha256 is issued.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKey {
    /// The key's name; both servers must use the same.
    pub name: DomainName,
    pub algorithm: TsigAlgorithm,
    pub secret: TsigSecret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TsigAlgorithm {
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl TsigAlgorithm {
    pub fn as_str(self) -> &'static str {
        "hmac-sha256"
    }
}

/// A TSIG secret in standard base64 (`[A-Za-z0-9+/]`, `=` padding), 16 to 128 characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TsigSecret(String);

impl TsigSecret {
    pub fn parse(input: &str) -> Result<TsigSecret, RecordError> {
        let body = input.trim_end_matches('=');
        if !(16..=128).contains(&input.len())
            || input.len() - body.len() > 2
            || !input.len().is_multiple_of(4)
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(RecordError::Value {
                expected: Expected::TsigSecret,
            });
        }
        Ok(TsigSecret(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never prints the secret.
impl fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TsigSecret(..)")
    }
}

string_impls!(TsigSecret, RecordError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsig_secrets_are_base64_and_never_printed() {
        let s = TsigSecret::parse("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==").unwrap();
        assert_eq!(format!("{s:?}"), "TsigSecret(..)");
        for bad in [
            "short",
            "not base64 at all!!",
            "abc\"def\nghijklmnop==",
            "AAAAAAAAAAAAAAAAA",
        ] {
            assert!(TsigSecret::parse(bad).is_err(), "{bad:?}");
        }
    }
}
