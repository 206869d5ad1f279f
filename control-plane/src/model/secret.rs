//! Random tokens (sessions, invitations, resets, API tokens, setup) and their stored digests.
//!
//! A token is 32 random bytes from the OS generator, shown once as URL-safe base64. Only its
//! SHA-256 is stored: the tokens are high-entropy, so a fast hash is enough and lookups stay
//! indexable, unlike passwords which need argon2id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated secret token. Deliberately not `Debug`/`Display`, so it cannot end up
/// in a log line by accident; `expose` is the one way to read it.
pub struct Token(String);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// An API token carries a recognisable prefix so secret scanners can find a leaked one.
    pub fn generate_api() -> Self {
        let t = Self::generate();
        Self(format!("ruche_{}", t.0))
    }

    /// A node's join token is typed on a command line (`node-agent join URL TOKEN`): a prefix
    /// keeps it from ever starting with `-`, which the command line would take for an option
    /// (one plain token in 64 did).
    pub fn generate_join() -> Self {
        let t = Self::generate();
        Self(format!("join_{}", t.0))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Vec<u8> {
        digest(&self.0)
    }
}

/// SHA-256 of a presented token, for lookup.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality for short secrets such as CSRF tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_urlsafe_and_digest_matches() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(a.digest(), digest(a.expose()));
        assert!(Token::generate_api().expose().starts_with("ruche_"));
        assert!((0..200).all(|_| Token::generate_join().expose().starts_with("join_")));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
