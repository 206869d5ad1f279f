//! [`XmppNode`]: the localpart of an XMPP account.

use serde::{Deserialize, Serialize};

use super::local_part::parse_simple_name;
use super::NameError;

/// The localpart of an XMPP account (`alice` in the JID `alice@example.org`).
///
/// RFC 7622 §3.3 allows far more (any PRECIS IdentifierClass character
/// except `" & ' / : < > @`, up to 1023 octets); Ruche only creates accounts
/// with the same conservative alphabet as mailboxes, so the name is safe in
/// Prosody's Lua config, in file names and in SQL: 1..=64 characters from
/// `[a-z0-9._-]`, starting and ending with `[a-z0-9]`, no "..". Input is
/// lowercased (ASCII only; the PRECIS UsernameCaseMapped profile also
/// case-folds). It is a separate type from [`super::LocalPart`] so that a
/// mailbox name cannot be passed where an XMPP account is meant, even though
/// the rules are the same today.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct XmppNode(String);

impl XmppNode {
    /// Maximum length accepted by Ruche (RFC 7622 allows 1023 octets).
    pub const MAX_LEN: usize = 64;

    /// Parses an XMPP localpart typed by a member. Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_simple_name(input, Self::MAX_LEN).map(Self)
    }

    /// The stored form: lowercase `[a-z0-9._-]`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_name_impls!(XmppNode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::local_part::tests::{assert_simple_invariants, valid_simple_name};
    use proptest::prelude::*;

    fn ok(input: &str) -> String {
        match XmppNode::parse(input) {
            Ok(v) => v.as_str().to_owned(),
            Err(e) => panic!("{input:?} should be accepted, got: {e}"),
        }
    }

    fn err(input: &str) -> NameError {
        match XmppNode::parse(input) {
            Ok(v) => panic!("{input:?} should be refused, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn accepts_simple_nodes() {
        assert_eq!(ok("alice"), "alice");
        assert_eq!(ok("Alice"), "alice");
        assert_eq!(ok("alice.smith_2-b"), "alice.smith_2-b");
        assert_eq!(ok(&"z".repeat(64)), "z".repeat(64));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err("alice\n"), NameError::InvalidCharacter { ch: '\n' });
        assert_eq!(err("al\"ice"), NameError::InvalidCharacter { ch: '"' });
        // Characters RFC 7622 §3.3.1 forbids in localparts.
        for ch in ['"', '&', '\'', '/', ':', '<', '>', '@'] {
            assert_eq!(
                err(&format!("al{ch}ice")),
                NameError::InvalidCharacter { ch }
            );
        }
        assert_eq!(err("al ice"), NameError::InvalidCharacter { ch: ' ' });
        assert_eq!(err("alice]"), NameError::InvalidCharacter { ch: ']' });
        assert_eq!(err("ålice"), NameError::InvalidCharacter { ch: 'å' });
        assert_eq!(err("al..ice"), NameError::ConsecutiveDots);
        assert_eq!(err(".alice"), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err("alice-"), NameError::LeadingOrTrailingPunctuation);
        assert_eq!(err(&"a".repeat(65)), NameError::TooLong { max: 64 });
        assert_eq!(err(&"a".repeat(4000)), NameError::TooLong { max: 64 });
    }

    #[test]
    fn string_conversions_and_serde() {
        let v = match "Bob".parse::<XmppNode>() {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v.to_string(), "bob");
        assert_eq!(String::from(v.clone()), "bob");
        assert_eq!(XmppNode::try_from("bob".to_owned()), Ok(v.clone()));
        assert_eq!(serde_json::to_string(&v).ok(), Some("\"bob\"".into()));
        assert_eq!(serde_json::from_str::<XmppNode>("\"BOB\"").ok(), Some(v));
        for bad in ["\"bob\\n\"", "\"b@b\"", "\"\"", "\".bob\"", "[]"] {
            assert!(serde_json::from_str::<XmppNode>(bad).is_err(), "{bad}");
        }
    }

    fn assert_invariants(v: &XmppNode) {
        assert_simple_invariants(v.as_str());
        assert_eq!(XmppNode::parse(v.as_str()).as_ref(), Ok(v));
        let json = serde_json::to_string(v).unwrap();
        assert_eq!(&serde_json::from_str::<XmppNode>(&json).unwrap(), v);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(v) = XmppNode::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn never_panics_on_printable_unicode(s in "\\PC*") {
            if let Ok(v) = XmppNode::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn never_panics_on_nearly_valid_input(s in "[a-zA-Z0-9._@/-]{0,70}") {
            if let Ok(v) = XmppNode::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn accepts_generated_nodes(s in valid_simple_name()) {
            let v = XmppNode::parse(&s);
            let expected = s.to_ascii_lowercase();
            prop_assert_eq!(v.as_ref().map(XmppNode::as_str), Ok(expected.as_str()));
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
            prop_assert!(XmppNode::parse(&bad).is_err(), "{:?} accepted", bad);
        }
    }
}
