//! App passwords that name themselves: `ap-<id>-<secret>-<secret>-<secret>`.
//!
//! The text carries the app password's public id (10 characters, 50 bits, unique in the
//! collective) and a random secret of 30 characters (150 bits) in three groups of ten, all from
//! a 32-letter alphabet without look-alikes (no `l`, `o`, `0`, `1`), read without regard to
//! case. Because the id is in the text, a login checks at most one app password: the auth broker
//! finds it by id. Because the secret is random and long, its verifier can be a fast hash
//! (SHA-256 of the id and the secret, compared in constant time): guessing 150 bits offline is
//! as hopeless as guessing them online.
//!
//! The control plane draws the characters (this crate does no I/O and has no randomness); the
//! agent parses what a client typed with [`AppPasswordText::parse`].

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every app password's text starts with this.
pub const PREFIX: &str = "ap-";
/// The characters of ids and secrets: lowercase letters and digits, without `l`, `o`, `0`, `1`.
pub const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Characters of the public id.
pub const ID_LEN: usize = 10;
/// Characters of the secret (5 bits each: 150 bits).
pub const SECRET_LEN: usize = 30;
/// The secret is written in groups of this many characters, separated by `-`.
const GROUP_LEN: usize = 10;
/// Length of the whole text: prefix, id, and a `-` before each group.
pub const TEXT_LEN: usize = PREFIX.len() + ID_LEN + SECRET_LEN + SECRET_LEN / GROUP_LEN;
/// What the verifier's text starts with.
const VERIFIER_PREFIX: &str = "sha256:";
/// Domain separation: this hash is only ever an app password's verifier.
const VERIFIER_CONTEXT: &[u8] = b"ruche app password v1\0";

/// Not a public id: wrong length or a character outside [`ALPHABET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not an app password id ({ID_LEN} characters of a-z and 2-9, without l and o)")]
pub struct BadId;

/// Not a verifier: not `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not an app password verifier (sha256: and 64 hex digits)")]
pub struct BadVerifier;

/// An app password's public id, as it appears in its text (lowercase).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicId(String);

impl PublicId {
    /// Parses a stored or sent id: exactly [`ID_LEN`] characters of [`ALPHABET`], lowercase.
    pub fn parse(input: &str) -> Result<Self, BadId> {
        if input.len() == ID_LEN && input.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Self(input.to_owned()))
        } else {
            Err(BadId)
        }
    }

    /// The id made of these alphabet positions (each taken modulo 32: a uniformly random byte
    /// gives a uniformly random character).
    pub fn from_indices(indices: [u8; ID_LEN]) -> Self {
        Self(indices.iter().map(|i| letter(*i)).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PublicId {
    type Error = BadId;
    fn try_from(s: String) -> Result<Self, BadId> {
        Self::parse(&s)
    }
}

impl From<PublicId> for String {
    fn from(id: PublicId) -> String {
        id.0
    }
}

impl fmt::Display for PublicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn letter(index: u8) -> char {
    char::from(ALPHABET[usize::from(index % 32)])
}

/// An app password as typed: its id and its secret. No `Debug` or `Display` shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AppPasswordText {
    id: PublicId,
    /// Lowercase, without the separators.
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for AppPasswordText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppPasswordText")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

impl AppPasswordText {
    /// The app password made of these alphabet positions (each taken modulo 32).
    pub fn from_indices(id: [u8; ID_LEN], secret: [u8; SECRET_LEN]) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        for (out, i) in bytes.iter_mut().zip(secret) {
            *out = ALPHABET[usize::from(i % 32)];
        }
        Self {
            id: PublicId::from_indices(id),
            secret: bytes,
        }
    }

    /// Reads what a client sent as a password, without regard to case. `None` when it is not
    /// an app password of this form (it may still be a mailbox password). Never panics.
    pub fn parse(input: &str) -> Option<Self> {
        let bytes = input.as_bytes();
        if bytes.len() != TEXT_LEN || !input.is_ascii() {
            return None;
        }
        let lower = input.to_ascii_lowercase();
        let rest = lower.strip_prefix(PREFIX)?;
        let id = PublicId::parse(rest.get(..ID_LEN)?).ok()?;
        let mut secret = [0u8; SECRET_LEN];
        let mut filled = 0;
        let mut groups = rest.get(ID_LEN..)?.as_bytes();
        while !groups.is_empty() {
            let (dash, tail) = groups.split_first()?;
            if *dash != b'-' || tail.len() < GROUP_LEN {
                return None;
            }
            let (group, tail) = tail.split_at(GROUP_LEN);
            for b in group {
                if !ALPHABET.contains(b) {
                    return None;
                }
                *secret.get_mut(filled)? = *b;
                filled += 1;
            }
            groups = tail;
        }
        (filled == SECRET_LEN).then_some(Self { id, secret })
    }

    pub fn id(&self) -> &PublicId {
        &self.id
    }

    /// The text to show the member once: `ap-<id>-<secret>-<secret>-<secret>`.
    pub fn expose(&self) -> String {
        let mut text = String::with_capacity(TEXT_LEN);
        text.push_str(PREFIX);
        text.push_str(self.id.as_str());
        for group in self.secret.chunks(GROUP_LEN) {
            text.push('-');
            text.extend(group.iter().map(|b| char::from(*b)));
        }
        text
    }

    /// What is stored and sent to nodes instead of the secret.
    pub fn verifier(&self) -> Verifier {
        let mut hash = Sha256::new();
        hash.update(VERIFIER_CONTEXT);
        hash.update(self.id.as_str().as_bytes());
        hash.update([0]);
        hash.update(self.secret);
        Verifier(hash.finalize().into())
    }
}

/// SHA-256 of an app password's id and secret; text form `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier([u8; 32]);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(…)")
    }
}

impl Verifier {
    pub fn parse(input: &str) -> Result<Self, BadVerifier> {
        let hex = input.strip_prefix(VERIFIER_PREFIX).ok_or(BadVerifier)?;
        if hex.len() != 64 {
            return Err(BadVerifier);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(BadVerifier),
            };
            let [high, low] = pair else {
                return Err(BadVerifier);
            };
            *byte = (digit(*high)? << 4) | digit(*low)?;
        }
        Ok(Self(out))
    }

    /// The text form, `sha256:<64 lowercase hex digits>`.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(VERIFIER_PREFIX.len() + 64);
        text.push_str(VERIFIER_PREFIX);
        for b in self.0 {
            text.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            text.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        text
    }

    /// Does `text` match? Constant time in the content of both hashes.
    pub fn matches(&self, text: &AppPasswordText) -> bool {
        let other = text.verifier();
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> AppPasswordText {
        let mut id = [0u8; ID_LEN];
        let mut secret = [0u8; SECRET_LEN];
        for (i, b) in id.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7);
        }
        for (i, b) in secret.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(13).wrapping_add(5);
        }
        AppPasswordText::from_indices(id, secret)
    }

    #[test]
    fn the_text_names_its_id_and_reads_back_in_any_case() {
        let p = sample();
        let text = p.expose();
        assert_eq!(text.len(), TEXT_LEN);
        assert!(text.starts_with(&format!("ap-{}-", p.id())));
        assert_eq!(text.matches('-').count(), 4);
        assert_eq!(AppPasswordText::parse(&text), Some(p.clone()));
        assert_eq!(
            AppPasswordText::parse(&text.to_uppercase()),
            Some(p.clone())
        );
        assert_eq!(AppPasswordText::parse(&text.replacen('-', "", 2)), None);
        assert_eq!(AppPasswordText::parse(&format!("{text}a")), None);
        assert_eq!(AppPasswordText::parse(&text.replace('a', "l")), None);
        assert_eq!(AppPasswordText::parse("correct horse battery staple"), None);
        assert!(!format!("{p:?}").contains(&text[14..24]));
    }

    #[test]
    fn the_verifier_matches_only_its_own_secret_and_reads_back() {
        let p = sample();
        let v = p.verifier();
        assert!(v.matches(&p));
        let text = v.to_text();
        assert!(text.starts_with("sha256:"));
        assert_eq!(Verifier::parse(&text), Ok(v.clone()));
        let mut other = p.expose();
        let last = other.pop().unwrap();
        other.push(if last == 'a' { 'b' } else { 'a' });
        let other = AppPasswordText::parse(&other).unwrap();
        assert!(!v.matches(&other));
        assert_eq!(Verifier::parse("sha256:00"), Err(BadVerifier));
        assert_eq!(Verifier::parse(&text.to_uppercase()), Err(BadVerifier));
        assert_eq!(Verifier::parse("$argon2id$v=19$..."), Err(BadVerifier));
    }

    proptest! {
        /// Whatever is typed, parsing never panics, and what it accepts prints back to the same
        /// text in lowercase.
        #[test]
        fn parse_never_panics_and_round_trips(input in "\\PC{0,60}") {
            if let Some(p) = AppPasswordText::parse(&input) {
                prop_assert_eq!(p.expose(), input.to_ascii_lowercase());
            }
        }

        #[test]
        fn near_misses_parse_only_when_well_formed(input in "[aA][pP]-[a-z2-9]{10}(-[a-zA-Z0-9]{9,11}){3}") {
            if let Some(p) = AppPasswordText::parse(&input) {
                prop_assert_eq!(p.expose(), input.to_ascii_lowercase());
            }
        }

        #[test]
        fn every_generated_text_parses_back(id in any::<[u8; ID_LEN]>(), secret in any::<[u8; SECRET_LEN]>()) {
            let p = AppPasswordText::from_indices(id, secret);
            let text = p.expose();
            prop_assert!(text.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
            prop_assert_eq!(AppPasswordText::parse(&text), Some(p.clone()));
            prop_assert!(PublicId::parse(p.id().as_str()).is_ok());
            prop_assert!(p.verifier().matches(&p));
        }

        #[test]
        fn ids_only_hold_the_alphabet(input in "\\PC{0,20}") {
            if let Ok(id) = PublicId::parse(&input) {
                prop_assert_eq!(id.as_str().len(), ID_LEN);
                prop_assert!(id.as_str().bytes().all(|b| ALPHABET.contains(&b)));
            }
        }
    }
}
