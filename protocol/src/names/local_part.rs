//! [`LocalPart`]: the local part of a mailbox that Ruche creates.

use serde::{Deserialize, Serialize};

use super::NameError;

/// The local part of a mailbox hosted by Ruche (`alice` in
/// `alice@example.org`).
///
/// Stored form: 1..=64 characters (RFC 5321 §4.5.3.1.1) from `[a-z0-9._-]`,
/// starting and ending with `[a-z0-9]`, never two dots in a row. This is a
/// deliberately small subset of the RFC 5322 dot-atom: it is safe as a
/// Postfix lookup key, a Dovecot user name and a maildir path component.
/// `+` is excluded because it is the sub-address delimiter
/// (`alice+lists@...` delivers to `alice`).
///
/// Input is lowercased (ASCII only) before checking, so `Alice` becomes
/// `alice`; non-ASCII input is refused. It is not trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalPart(String);

impl LocalPart {
    /// Maximum length (RFC 5321 §4.5.3.1.1).
    pub const MAX_LEN: usize = 64;

    /// Parses a local part typed by a member. Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_simple_name(input, Self::MAX_LEN).map(Self)
    }

    /// The stored form: lowercase `[a-z0-9._-]`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_name_impls!(LocalPart);

/// The rules shared by [`LocalPart`] and [`super::XmppNode`]: lowercase
/// ASCII letters, digits, '.', '_' and '-', 1..=`max` characters, starting
/// and ending with a letter or digit, no "..".
///
/// Characters are checked before the length so that a stray line break or
/// quote is reported as such.
pub(super) fn parse_simple_name(input: &str, max: usize) -> Result<String, NameError> {
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(ch) = input
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::InvalidCharacter { ch });
    }
    // Only ASCII remains, so bytes == characters.
    if input.len() > max {
        return Err(NameError::TooLong { max });
    }
    let lower = input.to_ascii_lowercase();
    let starts_ok = lower.starts_with(|c: char| c.is_ascii_alphanumeric());
    let ends_ok = lower.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !starts_ok || !ends_ok {
        return Err(NameError::LeadingOrTrailingPunctuation);
    }
    if lower.contains("..") {
        return Err(NameError::ConsecutiveDots);
    }
    Ok(lower)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(input: &str) -> String {
        match LocalPart::parse(input) {
            Ok(v) => v.as_str().to_owned(),
            Err(e) => panic!("{input:?} should be accepted, got: {e}"),
        }
    }

    fn err(input: &str) -> NameError {
        match LocalPart::parse(input) {
            Ok(v) => panic!("{input:?} should be refused, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn accepts_simple_local_parts() {
        assert_eq!(ok("alice"), "alice");
        assert_eq!(ok("a"), "a");
        assert_eq!(ok("7"), "7");
        assert_eq!(ok("alice.smith"), "alice.smith");
        assert_eq!(ok("alice_smith-2"), "alice_smith-2");
        assert_eq!(ok("a.b.c"), "a.b.c");
        assert_eq!(ok(&"a".repeat(64)), "a".repeat(64));
    }

    #[test]
    fn lowercases() {
        assert_eq!(ok("Alice"), "alice");
        assert_eq!(ok("ALICE.Smith"), "alice.smith");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err("alice\n"), NameError::InvalidCharacter { ch: '\n' });
        assert_eq!(err("al\"ice"), NameError::InvalidCharacter { ch: '"' });
        assert_eq!(err(" alice"), NameError::InvalidCharacter { ch: ' ' });
        assert_eq!(err("al ice"), NameError::InvalidCharacter { ch: ' ' });
        assert_eq!(err("alice\r"), NameError::InvalidCharacter { ch: '\r' });
        assert_eq!(err("alice\0"), NameError::InvalidCharacter { ch: '\0' });
        assert_eq!(err("al\\ice"), NameError::InvalidCharacter { ch: '\\' });
        assert_eq!(err("al;ice"), NameError::InvalidCharacter { ch: ';' });
        assert_eq!(err("al{ice"), NameError::InvalidCharacter { ch: '{' });
        assert_eq!(err("alice+tag"), NameError::InvalidCharacter { ch: '+' });
        assert_eq!(
            err("alice@example.org"),
            NameError::InvalidCharacter { ch: '@' }
        );
        assert_eq!(err("o'brien"), NameError::InvalidCharacter { ch: '\'' });
        assert_eq!(err("al/ice"), NameError::InvalidCharacter { ch: '/' });
        assert_eq!(err("*"), NameError::InvalidCharacter { ch: '*' });
        assert_eq!(err("élodie"), NameError::InvalidCharacter { ch: 'é' });
        assert_eq!(
            err("\u{430}lice"),
            NameError::InvalidCharacter { ch: '\u{430}' }
        );
        assert_eq!(err("al..ice"), NameError::ConsecutiveDots);
        assert_eq!(err(".alice"), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err("alice."), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err("-alice"), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err("alice_"), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err("."), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err(".."), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err(&"a".repeat(65)), NameError::TooLong { max: 64 });
        assert_eq!(err(&"a".repeat(4000)), NameError::TooLong { max: 64 });
        assert_eq!(
            err(&format!("{}\n", "a".repeat(4000))),
            NameError::InvalidCharacter { ch: '\n' }
        );
    }

    #[test]
    fn string_conversions_and_serde() {
        let v = match "Alice".parse::<LocalPart>() {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v.to_string(), "alice");
        assert_eq!(String::from(v.clone()), "alice");
        assert_eq!(LocalPart::try_from("alice".to_owned()), Ok(v.clone()));
        assert_eq!(serde_json::to_string(&v).ok(), Some("\"alice\"".into()));
        assert_eq!(serde_json::from_str::<LocalPart>("\"ALICE\"").ok(), Some(v));
        for bad in [
            "\"alice\\n\"",
            "\"al..ice\"",
            "\"\"",
            "\"a+b\"",
            "1",
            "null",
        ] {
            assert!(serde_json::from_str::<LocalPart>(bad).is_err(), "{bad}");
        }
    }

    /// Valid simple names (shared with the XmppNode tests).
    pub(in crate::names) fn valid_simple_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9]([a-zA-Z0-9_-]|\\.[a-zA-Z0-9_-]){0,30}[a-zA-Z0-9]?"
            .prop_filter("no trailing punctuation, at most 64", |s| {
                s.len() <= 64 && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            })
    }

    /// Checks what every parsed simple name must satisfy.
    pub(in crate::names) fn assert_simple_invariants(s: &str) {
        assert!(!s.is_empty() && s.len() <= 64, "{s:?}");
        assert!(
            s.chars().all(|c| c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '-')),
            "{s:?}"
        );
        assert!(s.starts_with(|c: char| c.is_ascii_alphanumeric()), "{s:?}");
        assert!(s.ends_with(|c: char| c.is_ascii_alphanumeric()), "{s:?}");
        assert!(!s.contains(".."), "{s:?}");
    }

    fn assert_invariants(v: &LocalPart) {
        assert_simple_invariants(v.as_str());
        assert_eq!(LocalPart::parse(v.as_str()).as_ref(), Ok(v));
        let json = serde_json::to_string(v).unwrap();
        assert_eq!(&serde_json::from_str::<LocalPart>(&json).unwrap(), v);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(v) = LocalPart::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn never_panics_on_printable_unicode(s in "\\PC*") {
            if let Ok(v) = LocalPart::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn never_panics_on_nearly_valid_input(s in "[a-zA-Z0-9._+-]{0,70}") {
            if let Ok(v) = LocalPart::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn accepts_generated_names(s in valid_simple_name()) {
            let v = LocalPart::parse(&s);
            let expected = s.to_ascii_lowercase();
            prop_assert_eq!(v.as_ref().map(LocalPart::as_str), Ok(expected.as_str()));
            if let Ok(v) = v { assert_invariants(&v); }
        }

        #[test]
        fn inserting_a_forbidden_character_is_refused(
            s in valid_simple_name(),
            at in any::<prop::sample::Index>(),
            ch in prop::sample::select(vec!['\n', '\r', '\0', '"', ' ', '\\', ';', '{']),
        ) {
            let mut bad = s.clone();
            bad.insert(at.index(s.len() + 1), ch);
            prop_assert!(LocalPart::parse(&bad).is_err(), "{:?} accepted", bad);
        }
    }
}
