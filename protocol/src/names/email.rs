//! [`EmailAddress`]: any address a member may type (alias target, contact).

use serde::{Deserialize, Serialize};

use super::{DomainName, LocalPart, NameError};

/// An email address that may be external to Ruche: an alias target or a
/// member's contact address (`o'brien+x@Example.COM` is valid).
///
/// - Local part: an RFC 5322 §3.2.3 dot-atom only: dot-separated, non-empty
///   atoms of `atext` (letters, digits and ``! # $ % & ' * + - / = ? ^ _ ` { | } ~``).
///   No quoted strings, no comments, no obsolete syntax. 1..=64 octets
///   (RFC 5321 §4.5.3.1.1). Case is preserved: local parts may be
///   case-sensitive (RFC 5321 §2.4).
/// - Exactly one '@'.
/// - Domain: a [`DomainName`], normalized (lowercase, A-labels).
/// - Whole address at most 254 characters (RFC 5321 §4.5.3.1.3: a path is at
///   most 256 octets including the angle brackets).
///
/// The stored form is printable ASCII and never contains whitespace, control
/// characters, `"`, `\`, `,`, `;`, `:`, `<`, `>`, `(`, `)`, `[`, `]`, or a
/// second `@`. It *may* contain `'`, `{`, `}`, `|`, `$`, `%`, `/`, `=`,
/// `?`, `*`, `` ` `` and so on, which are legal in SMTP: renderers that put
/// it into a shell command, a regular expression or a Postfix table must
/// still quote or check for their own syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    /// The full address, `local@domain`.
    address: String,
    /// Length of the local part in `address` (the '@' is at this index).
    local_len: usize,
    /// The parsed domain, a copy of what follows the '@'.
    domain: DomainName,
}

/// Inputs longer than this (in UTF-8 bytes) are refused before any
/// processing; the domain may be typed in Unicode, so this is more than 254.
const MAX_INPUT_BYTES: usize = 1024;

impl EmailAddress {
    /// Maximum length of the whole address (RFC 5321 §4.5.3.1.3).
    pub const MAX_LEN: usize = 254;
    /// Maximum length of the local part (RFC 5321 §4.5.3.1.1).
    pub const MAX_LOCAL_LEN: usize = 64;

    /// Parses an address typed by a member. Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        if input.len() > MAX_INPUT_BYTES {
            return Err(NameError::TooLong { max: Self::MAX_LEN });
        }
        // '@' is not atext, and quoted local parts (the only place it could
        // legally appear twice) are not accepted: split at the first one.
        let Some((local, domain)) = input.split_once('@') else {
            return Err(NameError::MissingAt);
        };
        if domain.contains('@') {
            return Err(NameError::MultipleAt);
        }
        check_dot_atom(local).map_err(|e| NameError::InLocalPart(Box::new(e)))?;
        let domain = DomainName::parse(domain).map_err(|e| NameError::InDomain(Box::new(e)))?;
        Self::assemble(local, domain)
    }

    /// The address of a mailbox hosted by Ruche.
    ///
    /// A [`LocalPart`] is always a valid dot-atom, but `local@domain` can
    /// still exceed the 254-character limit when the domain is longer than
    /// 189 characters, hence the `Result` (`NameError::TooLong`).
    pub fn new(local: &LocalPart, domain: &DomainName) -> Result<Self, NameError> {
        Self::assemble(local.as_str(), domain.clone())
    }

    /// Builds the value from an already checked local part and domain,
    /// enforcing the total length.
    fn assemble(local: &str, domain: DomainName) -> Result<Self, NameError> {
        let address = format!("{local}@{}", domain.as_str());
        if address.len() > Self::MAX_LEN {
            return Err(NameError::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self {
            address,
            local_len: local.len(),
            domain,
        })
    }

    /// The stored form: `local@domain`, domain normalized.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The local part, case preserved.
    pub fn local(&self) -> &str {
        // `local_len` is the index of the '@', always a char boundary
        // (the address is ASCII); `get` keeps this panic-free regardless.
        self.address.get(..self.local_len).unwrap_or_default()
    }

    /// The domain, normalized.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

string_name_impls!(EmailAddress);

/// RFC 5322 §3.2.3 `atext`.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

/// RFC 5322 §3.2.3 `dot-atom-text = 1*atext *("." 1*atext)`, limited to 64
/// octets (RFC 5321 §4.5.3.1.1). Characters are checked first so that a
/// stray space or quote is reported as such.
fn check_dot_atom(local: &str) -> Result<(), NameError> {
    if local.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(ch) = local.chars().find(|&c| !(is_atext(c) || c == '.')) {
        return Err(NameError::InvalidCharacter { ch });
    }
    // Only ASCII remains, so bytes == characters.
    if local.len() > EmailAddress::MAX_LOCAL_LEN {
        return Err(NameError::TooLong {
            max: EmailAddress::MAX_LOCAL_LEN,
        });
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(NameError::LeadingOrTrailingDot);
    }
    if local.contains("..") {
        return Err(NameError::ConsecutiveDots);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::domain::tests::{valid_ascii_domain, valid_unicode_domain};
    use proptest::prelude::*;

    fn ok(input: &str) -> EmailAddress {
        match EmailAddress::parse(input) {
            Ok(v) => v,
            Err(e) => panic!("{input:?} should be accepted, got: {e}"),
        }
    }

    fn err(input: &str) -> NameError {
        match EmailAddress::parse(input) {
            Ok(v) => panic!("{input:?} should be refused, got {v:?}"),
            Err(e) => e,
        }
    }

    fn in_local(e: NameError) -> NameError {
        NameError::InLocalPart(Box::new(e))
    }

    fn in_domain(e: NameError) -> NameError {
        NameError::InDomain(Box::new(e))
    }

    #[test]
    fn accepts_addresses_and_normalizes_the_domain_only() {
        let a = ok("o'brien+x@Example.COM");
        assert_eq!(a.as_str(), "o'brien+x@example.com");
        assert_eq!(a.local(), "o'brien+x");
        assert_eq!(a.domain().as_str(), "example.com");

        let a = ok("Alice.Smith@bücher.de");
        assert_eq!(a.as_str(), "Alice.Smith@xn--bcher-kva.de");
        assert_eq!(a.local(), "Alice.Smith");

        assert_eq!(ok("a@b.example.").as_str(), "a@b.example");
        assert_eq!(
            ok("!#$%&'*+-/=?^_`{|}~@example.org").local(),
            "!#$%&'*+-/=?^_`{|}~"
        );
        assert_eq!(
            ok(&format!("{}@example.org", "x".repeat(64))).local().len(),
            64
        );
    }

    #[test]
    fn refuses_structure_errors() {
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err("alice"), NameError::MissingAt);
        assert_eq!(err("alice.example.org"), NameError::MissingAt);
        assert_eq!(err("a@b@example.org"), NameError::MultipleAt);
        assert_eq!(err("\"a@b\"@example.org"), NameError::MultipleAt);
        assert_eq!(err("@example.org"), in_local(NameError::Empty));
        assert_eq!(err("alice@"), in_domain(NameError::Empty));
    }

    #[test]
    fn refuses_bad_local_parts() {
        assert_eq!(
            err(".alice@example.org"),
            in_local(NameError::LeadingOrTrailingDot)
        );
        assert_eq!(
            err("alice.@example.org"),
            in_local(NameError::LeadingOrTrailingDot)
        );
        assert_eq!(
            err("al..ice@example.org"),
            in_local(NameError::ConsecutiveDots)
        );
        for ch in [
            ' ', '\t', '\n', '\r', '\0', '"', '\\', ',', ';', ':', '<', '>', '(', ')', '[', ']',
            '\u{7f}', 'é', '\u{a0}',
        ] {
            assert_eq!(
                err(&format!("al{ch}ice@example.org")),
                in_local(NameError::InvalidCharacter { ch }),
                "{ch:?}"
            );
        }
        assert_eq!(
            err("\"alice\"@example.org"),
            in_local(NameError::InvalidCharacter { ch: '"' })
        );
        assert_eq!(
            err("alice(comment)@example.org"),
            in_local(NameError::InvalidCharacter { ch: '(' })
        );
        assert_eq!(
            err(&format!("{}@example.org", "x".repeat(65))),
            in_local(NameError::TooLong { max: 64 })
        );
    }

    #[test]
    fn refuses_bad_domains() {
        assert_eq!(
            err("alice@example.org\n"),
            in_domain(NameError::InvalidCharacter { ch: '\n' })
        );
        assert_eq!(
            err("alice@localhost"),
            in_domain(NameError::NotEnoughLabels)
        );
        assert_eq!(
            err("alice@[127.0.0.1]"),
            in_domain(NameError::InvalidCharacter { ch: '[' })
        );
        assert_eq!(err("alice@1.2.3.4"), in_domain(NameError::NumericTld));
        assert_eq!(
            err("alice@ex\u{430}mple.org"),
            in_domain(NameError::MixedScript)
        );
        assert_eq!(
            err("alice@ example.org"),
            in_domain(NameError::InvalidCharacter { ch: ' ' })
        );
    }

    #[test]
    fn refuses_too_long() {
        let label63 = "a".repeat(63);
        // 64 + 1 + 63*3 + 3 = 257 > 254, with a valid local part and domain.
        let domain = format!("{label63}.{label63}.{label63}.org");
        assert_eq!(domain.len(), 195);
        let long = format!("{}@{domain}", "x".repeat(64));
        assert_eq!(err(&long), NameError::TooLong { max: 254 });
        // 58 + 1 + 195 = 254 is fine.
        assert_eq!(
            ok(&format!("{}@{domain}", "x".repeat(58))).as_str().len(),
            254
        );
        assert_eq!(err(&"a".repeat(4000)), NameError::TooLong { max: 254 });
        assert_eq!(
            err(&format!("{}@example.org", "a".repeat(4000))),
            NameError::TooLong { max: 254 }
        );
    }

    #[test]
    fn new_from_our_own_names() {
        let local = match LocalPart::parse("alice") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let domain = match DomainName::parse("Example.org") {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let a = EmailAddress::new(&local, &domain);
        assert_eq!(
            a.as_ref().map(EmailAddress::as_str),
            Ok("alice@example.org")
        );
        assert_eq!(a, EmailAddress::parse("alice@example.org"));

        let label63 = "a".repeat(63);
        let long_domain = match DomainName::parse(&format!("{label63}.{label63}.{label63}.org")) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let long_local = match LocalPart::parse(&"x".repeat(64)) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            EmailAddress::new(&long_local, &long_domain),
            Err(NameError::TooLong { max: 254 })
        );
    }

    #[test]
    fn string_conversions_and_serde() {
        let a = ok("Bob@Example.org");
        assert_eq!(a.to_string(), "Bob@example.org");
        assert_eq!("Bob@example.org".parse::<EmailAddress>(), Ok(a.clone()));
        assert_eq!(String::from(a.clone()), "Bob@example.org");
        assert_eq!(
            serde_json::to_string(&a).ok(),
            Some("\"Bob@example.org\"".into())
        );
        assert_eq!(
            serde_json::from_str::<EmailAddress>("\"Bob@EXAMPLE.org\"").ok(),
            Some(a)
        );
        for bad in [
            "\"bob\"",
            "\"bob@example.org\\r\\nRCPT TO:<x@y.z>\"",
            "\"b ob@example.org\"",
            "{\"address\":\"a@b.org\",\"local_len\":1}",
            "null",
        ] {
            assert!(serde_json::from_str::<EmailAddress>(bad).is_err(), "{bad}");
        }
    }

    /// What every parsed address must satisfy.
    fn assert_invariants(a: &EmailAddress) {
        let s = a.as_str();
        assert!(s.len() <= EmailAddress::MAX_LEN, "{s:?}");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_graphic() && !"\"\\,;:<>()[]".contains(c)),
            "{s:?}"
        );
        assert_eq!(s.matches('@').count(), 1, "{s:?}");
        assert!(!a.local().is_empty() && a.local().len() <= EmailAddress::MAX_LOCAL_LEN);
        assert_eq!(format!("{}@{}", a.local(), a.domain()), s);
        assert_eq!(
            EmailAddress::parse(s).as_ref(),
            Ok(a),
            "round trip of {s:?}"
        );
        let json = serde_json::to_string(a).unwrap();
        assert_eq!(&serde_json::from_str::<EmailAddress>(&json).unwrap(), a);
    }

    fn dot_atom() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}){0,4}"
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(a) = EmailAddress::parse(&s) { assert_invariants(&a); }
        }

        #[test]
        fn never_panics_on_printable_unicode(s in "\\PC*") {
            if let Ok(a) = EmailAddress::parse(&s) { assert_invariants(&a); }
        }

        #[test]
        fn never_panics_on_nearly_valid_input(s in "[a-zA-Z0-9.@ \"\\\\,;:<>()'+-]{0,40}") {
            if let Ok(a) = EmailAddress::parse(&s) { assert_invariants(&a); }
        }

        #[test]
        fn accepts_generated_addresses(local in dot_atom(), domain in valid_ascii_domain()) {
            let input = format!("{local}@{domain}");
            let a = EmailAddress::parse(&input);
            if input.len() <= EmailAddress::MAX_LEN {
                prop_assert_eq!(a.as_ref().map(EmailAddress::as_str), Ok(input.as_str()));
            } else {
                prop_assert_eq!(a.clone(), Err(NameError::TooLong { max: 254 }));
            }
            if let Ok(a) = a { assert_invariants(&a); }
        }

        #[test]
        fn accepts_generated_unicode_domains(local in dot_atom(), domain in valid_unicode_domain()) {
            let a = EmailAddress::parse(&format!("{local}@{domain}"));
            prop_assert!(a.is_ok(), "{:?}", a);
            if let Ok(a) = a {
                prop_assert_eq!(a.local(), local.as_str());
                assert_invariants(&a);
            }
        }

        #[test]
        fn inserting_a_forbidden_character_is_refused(
            local in dot_atom(),
            domain in valid_ascii_domain(),
            at in any::<prop::sample::Index>(),
            ch in prop::sample::select(vec!['\n', '\r', '\0', '"', ' ', '\\', ';', ',', ':', '<', '>', '(', ')', '[', ']', '@']),
        ) {
            let input = format!("{local}@{domain}");
            let mut bad = input.clone();
            bad.insert(at.index(input.len() + 1), ch);
            prop_assert!(EmailAddress::parse(&bad).is_err(), "{:?} accepted", bad);
        }
    }
}
