//! Passwords: the policy for new ones, and argon2id hashing.
//!
//! Hashing is CPU-bound (tens of milliseconds by design): async callers run it on the blocking
//! pool (`tokio::task::spawn_blocking`) so the server keeps answering other requests.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

/// A password that passed the policy. Not `Debug`, so it never reaches a log.
pub struct NewPassword(String);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PasswordError {
    #[error("must be at least {MIN_LEN} characters long")]
    TooShort,
    #[error("must be at most {MAX_LEN} characters long")]
    TooLong,
    #[error("the two passwords differ")]
    Mismatch,
}

impl NewPassword {
    /// Length is the rule (NIST SP 800-63B): no composition rules, any character allowed.
    pub fn parse(password: &str, confirmation: &str) -> Result<Self, PasswordError> {
        let len = password.chars().count();
        if len < MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        if password != confirmation {
            return Err(PasswordError::Mismatch);
        }
        Ok(Self(password.to_owned()))
    }

    /// For passwords Ruche generates itself (app passwords).
    pub fn generated(password: String) -> Self {
        Self(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// argon2id with the crate's defaults (OWASP's minimum: 19 MiB, 2 passes), PHC string form.
    pub fn hash(&self) -> Result<String, argon2::password_hash::Error> {
        hash(&self.0)
    }
}

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// False for a wrong password and for a malformed stored hash alike.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when an account does not exist so that
/// a login for an unknown address costs as much time as one for a known address.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash(crate::domain::secret::Token::generate().expose()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(
            NewPassword::parse("short", "short").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            NewPassword::parse("long enough pw", "long enough pX").err(),
            Some(PasswordError::Mismatch)
        );
        let long = "x".repeat(MAX_LEN + 1);
        assert_eq!(
            NewPassword::parse(&long, &long).err(),
            Some(PasswordError::TooLong)
        );
        assert!(NewPassword::parse("correct horse battery", "correct horse battery").is_ok());
    }

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("x", "not a hash"));
        assert!(dummy_hash().starts_with("$argon2id$"));
    }
}
