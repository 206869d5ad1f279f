//! [`DomainName`]: a fully qualified DNS name (member domain or platform domain).

use std::borrow::Cow;

use idna::AsciiDenyList;
use serde::{Deserialize, Serialize};
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

use super::NameError;

/// A fully qualified domain name, stored as lowercase ASCII (A-labels for
/// internationalized labels, RFC 5890), without the trailing root dot.
///
/// Invariants of the stored form (`as_str`):
/// - only `[a-z0-9.-]`, at most 253 characters (RFC 1035 §2.3.4 / RFC 2181 §11:
///   255 octets on the wire, minus the length octets and the root);
/// - at least two labels, each 1..=63 characters, no leading or trailing
///   hyphen (LDH rule, RFC 952/1123, RFC 5890 §2.3.1);
/// - "--" in positions 3-4 only as "xn--", and every "xn--" label is a valid
///   A-label that round-trips through UTS #46 (RFC 5891 §4.2.3.1, §5.4);
/// - the last label is not all digits, so IPv4 addresses are refused
///   (RFC 3696 §2);
/// - no internationalized label mixes scripts or is a whole-script
///   look-alike of an ASCII label (UTS #39), to stop homoglyph spoofing.
///
/// Input may be Unicode (IDN) or ASCII, in any case, with at most one
/// trailing dot. It is not trimmed: whitespace anywhere is an error.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

/// Inputs longer than this (in UTF-8 bytes) are refused before any Unicode
/// processing. A valid name has at most 253 ASCII characters; its Unicode
/// spelling can be longer in bytes (up to 4 per character), so the bound is
/// generous and only exists to keep hostile inputs cheap.
const MAX_INPUT_BYTES: usize = 1024;

impl DomainName {
    /// Maximum length of the stored (ASCII) name, without the root dot.
    pub const MAX_LEN: usize = 253;
    /// Maximum length of one label (RFC 1035 §2.3.4).
    pub const MAX_LABEL_LEN: usize = 63;

    /// Parses a domain name typed by a member or an operator.
    ///
    /// Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        if input.len() > MAX_INPUT_BYTES {
            return Err(NameError::TooLong { max: Self::MAX_LEN });
        }
        check_input_characters(input)?;

        // One trailing dot is the (implicit) root label of a fully qualified
        // name: accept it and drop it. A second one would leave an empty
        // label, which `check_ldh_name` refuses.
        let name = input.strip_suffix('.').unwrap_or(input);
        if name.is_empty() {
            return Err(NameError::Empty);
        }

        // ASCII input is only lowercased here, so that structural errors are
        // reported precisely ("label too long" rather than "invalid IDN").
        // Unicode input is converted to A-labels by UTS #46 first.
        let ascii = if name.is_ascii() {
            name.to_ascii_lowercase()
        } else {
            to_ascii(name)?
        };

        check_ldh_name(&ascii)?;

        for label in ascii.split('.') {
            if let Some(encoded) = label.strip_prefix("xn--") {
                check_a_label(label, encoded)?;
            }
        }

        // Whole-name UTS #46 pass: catches rules that span labels (the
        // RFC 5893 Bidi rule applies to every label once one label is
        // right-to-left), and confirms that the stored form is canonical,
        // i.e. UTS #46 maps it to itself.
        if to_ascii(&ascii)? != ascii {
            return Err(NameError::Idna);
        }

        Ok(Self(ascii))
    }

    /// The stored form: lowercase ASCII, A-labels, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form (U-labels), for display to people only. Never put it
    /// in a config file or a zone: use [`DomainName::as_str`] there.
    pub fn to_unicode(&self) -> String {
        // The stored form was validated by UTS #46 in `parse`, so conversion
        // succeeds; should it ever fail, idna still returns its best effort
        // (with U+FFFD marking errors), which is acceptable for display.
        let (unicode, _result) = idna::domain_to_unicode(&self.0);
        unicode
    }

    /// The labels, from left (most specific) to right (TLD).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// True if `self` is a strict subdomain of `other`, aligned on labels:
    /// `mail.example.org` is a subdomain of `example.org`, but neither
    /// `example.org` itself nor `badexample.org` is.
    pub fn is_subdomain_of(&self, other: &DomainName) -> bool {
        self.0
            .strip_suffix(other.as_str())
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
    }
}

string_name_impls!(DomainName);

/// Refuses, before any Unicode processing, every character that can never be
/// part of a domain name we accept, so that the error names the character.
///
/// ASCII: only letters, digits, '.' and '-' (LDH rule). UTS #46 would map or
/// refuse most others, but '_' for instance passes without STD3 rules, and a
/// precise error is more useful to the member. Non-ASCII: whitespace and
/// control characters are refused outright (e.g. U+00A0, U+2028, U+0085).
fn check_input_characters(input: &str) -> Result<(), NameError> {
    for ch in input.chars() {
        let refused = if ch.is_ascii() {
            !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
        } else {
            ch.is_whitespace() || ch.is_control()
        };
        if refused {
            return Err(NameError::InvalidCharacter { ch });
        }
    }
    Ok(())
}

/// UTS #46 ToASCII with STD3 rules (only LDH in the ASCII output), hyphen
/// positions and lengths checked by us afterwards.
fn to_ascii(name: &str) -> Result<String, NameError> {
    idna::domain_to_ascii_cow(name.as_bytes(), AsciiDenyList::STD3)
        .map(Cow::into_owned)
        .map_err(|_| NameError::Idna)
}

/// Structural checks on the lowercase ASCII form (RFC 1035 §2.3.1 and
/// §2.3.4, RFC 1123 §2.1, RFC 5890 §2.3.1, RFC 5891 §4.2.3.1).
fn check_ldh_name(ascii: &str) -> Result<(), NameError> {
    if ascii.len() > DomainName::MAX_LEN {
        return Err(NameError::TooLong {
            max: DomainName::MAX_LEN,
        });
    }
    let mut count = 0usize;
    let mut last = "";
    for label in ascii.split('.') {
        check_ldh_label(label)?;
        count += 1;
        last = label;
    }
    // A single label ("org", "localhost") is not a name a member can own.
    if count < 2 {
        return Err(NameError::NotEnoughLabels);
    }
    // An all-numeric TLD would make "1.2.3.4" a domain (RFC 3696 §2).
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::NumericTld);
    }
    Ok(())
}

fn check_ldh_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if label.len() > DomainName::MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong {
            max: DomainName::MAX_LABEL_LEN,
        });
    }
    if let Some(ch) = label
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(NameError::InvalidCharacter { ch });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::LeadingOrTrailingHyphen);
    }
    // "??--" is reserved for IDNA prefixes; only "xn--" is defined
    // (RFC 5891 §4.2.3.1).
    if label.get(2..4) == Some("--") && !label.starts_with("xn--") {
        return Err(NameError::ReservedHyphens);
    }
    Ok(())
}

/// Checks an A-label ("xn--" + `encoded`): it must be valid Punycode
/// (RFC 3492), decode to a label with at least one non-ASCII character
/// (RFC 5890 §2.3.2.1), and that U-label must map back to exactly this
/// A-label under UTS #46 (so it is valid and in canonical form). Then the
/// U-label goes through the anti-spoofing checks.
fn check_a_label(label: &str, encoded: &str) -> Result<(), NameError> {
    let decoded = idna::punycode::decode_to_string(encoded).ok_or(NameError::InvalidALabel)?;
    if decoded.is_ascii() {
        return Err(NameError::InvalidALabel);
    }
    match to_ascii(&decoded) {
        Ok(round_trip) if round_trip == label => {}
        _ => return Err(NameError::InvalidALabel),
    }
    check_spoofing(&decoded)
}

/// Anti-spoofing checks on one U-label (UTS #39).
fn check_spoofing(u_label: &str) -> Result<(), NameError> {
    // Only characters recommended for identifiers (UTS #39 §3.1, General
    // Security Profile): no symbols, emoji, or historic/limited-use scripts.
    if let Some(ch) = u_label
        .chars()
        .find(|&c| !c.is_ascii() && !c.identifier_allowed())
    {
        return Err(NameError::RestrictedCharacter { ch });
    }
    // Highly Restrictive (UTS #39 §5.2): a single script, or Latin with
    // Han+Hiragana+Katakana, Han+Bopomofo or Han+Hangul. This refuses
    // "exаmple" with a Cyrillic 'а' while allowing "例え" or "bücher".
    if !u_label.check_restriction_level(RestrictionLevel::HighlyRestrictive) {
        return Err(NameError::MixedScript);
    }
    // Whole-script confusable with ASCII (UTS #39 §4): if the skeleton is
    // plain ASCII, the label can pass for an ASCII label, e.g. Cyrillic
    // "аррӏе" for "apple".
    if unicode_security::skeleton(u_label).all(|c| c.is_ascii()) {
        return Err(NameError::ConfusableWithAscii);
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(input: &str) -> String {
        match DomainName::parse(input) {
            Ok(d) => d.as_str().to_owned(),
            Err(e) => panic!("{input:?} should be accepted, got: {e}"),
        }
    }

    fn err(input: &str) -> NameError {
        match DomainName::parse(input) {
            Ok(d) => panic!("{input:?} should be refused, got {d:?}"),
            Err(e) => e,
        }
    }

    // --- accepted -------------------------------------------------------

    #[test]
    fn accepts_plain_names() {
        assert_eq!(ok("example.org"), "example.org");
        assert_eq!(ok("mail.example.org"), "mail.example.org");
        assert_eq!(ok("a-b.example"), "a-b.example");
        assert_eq!(ok("a.b.c.d.e.example"), "a.b.c.d.e.example");
        assert_eq!(ok("123.example.org"), "123.example.org");
        assert_eq!(ok("example.org2"), "example.org2");
        assert_eq!(ok("a1.b2"), "a1.b2");
    }

    #[test]
    fn lowercases() {
        assert_eq!(ok("EXAMPLE.org"), "example.org");
        assert_eq!(ok("Mail.Example.ORG"), "mail.example.org");
    }

    #[test]
    fn drops_one_trailing_dot() {
        assert_eq!(ok("example.org."), "example.org");
        assert_eq!(err("example.org.."), NameError::EmptyLabel);
        assert_eq!(
            err("example.org. "),
            NameError::InvalidCharacter { ch: ' ' }
        );
        assert_eq!(
            err("example.org.\n"),
            NameError::InvalidCharacter { ch: '\n' }
        );
        assert_eq!(err("example.org.-"), NameError::LeadingOrTrailingHyphen);
    }

    #[test]
    fn accepts_internationalized_names() {
        assert_eq!(ok("bücher.de"), "xn--bcher-kva.de");
        assert_eq!(ok("BÜCHER.de"), "xn--bcher-kva.de");
        assert_eq!(ok("xn--bcher-kva.de"), "xn--bcher-kva.de");
        assert_eq!(ok("XN--BCHER-KVA.DE"), "xn--bcher-kva.de");
        assert_eq!(ok("münchen.example"), "xn--mnchen-3ya.example");
        assert_eq!(ok("例え.テスト"), "xn--r8jz45g.xn--zckzah");
        assert_eq!(ok("пример.рф"), "xn--e1afmkfd.xn--p1ai");
        assert_eq!(ok("straße.de"), "xn--strae-oqa.de");
        // Latin mixed with Han is allowed by Highly Restrictive.
        assert!(DomainName::parse("abc中文.example").is_ok());
        // Han + Hangul (Korean) is allowed.
        assert!(DomainName::parse("한국漢字.example").is_ok());
        // A fullwidth dot is a label separator under UTS #46.
        assert_eq!(ok("bücher．de"), "xn--bcher-kva.de");
        // UTS #46 maps fullwidth letters to ASCII and drops the soft hyphen;
        // what is stored is the plain name either way.
        assert_eq!(ok("ｅｘａｍｐｌｅ.org"), "example.org");
        assert_eq!(ok("exa\u{ad}mple.org"), "example.org");
    }

    #[test]
    fn refuses_invisible_and_direction_characters() {
        // Bidi overrides and zero-width characters are not allowed by UTS #46
        // (or, for the joiners, only in specific contexts, RFC 5892 A.1/A.2).
        assert_eq!(err("exa\u{202e}mple.org"), NameError::Idna);
        assert_eq!(err("ex\u{200d}ample.org"), NameError::Idna);
        assert_eq!(err("ex\u{200c}ample.org"), NameError::Idna);
        // U+FEFF (a stray byte order mark) is "ignored" by UTS #46: it is
        // dropped, and cannot reach the stored form.
        assert_eq!(ok("\u{feff}example.org"), "example.org");
    }

    #[test]
    fn accepts_maximum_lengths() {
        let label63 = "a".repeat(63);
        assert_eq!(ok(&format!("{label63}.org")), format!("{label63}.org"));
        // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253
        let name253 = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(name253.len(), 253);
        assert_eq!(ok(&name253), name253);
        assert_eq!(ok(&format!("{name253}.")), name253);
    }

    // --- refused --------------------------------------------------------

    #[test]
    fn refuses_empty() {
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err("."), NameError::Empty);
    }

    #[test]
    fn refuses_whitespace_and_injection_characters() {
        assert_eq!(
            err("example.org\nx"),
            NameError::InvalidCharacter { ch: '\n' }
        );
        assert_eq!(
            err("example.org\n"),
            NameError::InvalidCharacter { ch: '\n' }
        );
        assert_eq!(
            err("example.org\r"),
            NameError::InvalidCharacter { ch: '\r' }
        );
        assert_eq!(err(" example.org"), NameError::InvalidCharacter { ch: ' ' });
        assert_eq!(err("a b.org"), NameError::InvalidCharacter { ch: ' ' });
        assert_eq!(err("a\tb.org"), NameError::InvalidCharacter { ch: '\t' });
        assert_eq!(err("\"a\".org"), NameError::InvalidCharacter { ch: '"' });
        assert_eq!(err("a;b.org"), NameError::InvalidCharacter { ch: ';' });
        assert_eq!(err("a\\b.org"), NameError::InvalidCharacter { ch: '\\' });
        assert_eq!(err("a{b}.org"), NameError::InvalidCharacter { ch: '{' });
        assert_eq!(err("a\0.org"), NameError::InvalidCharacter { ch: '\0' });
        assert_eq!(err("a'b.org"), NameError::InvalidCharacter { ch: '\'' });
        assert_eq!(err("a_b.org"), NameError::InvalidCharacter { ch: '_' });
        assert_eq!(err("a$b.org"), NameError::InvalidCharacter { ch: '$' });
        assert_eq!(err("a/b.org"), NameError::InvalidCharacter { ch: '/' });
        assert_eq!(err("a*.org"), NameError::InvalidCharacter { ch: '*' });
        assert_eq!(
            err("example.org:25"),
            NameError::InvalidCharacter { ch: ':' }
        );
        assert_eq!(
            err("alice@example.org"),
            NameError::InvalidCharacter { ch: '@' }
        );
        // Unicode whitespace, line and paragraph separators, C1 controls.
        assert_eq!(
            err("a\u{a0}b.org"),
            NameError::InvalidCharacter { ch: '\u{a0}' }
        );
        assert_eq!(
            err("a\u{2028}b.org"),
            NameError::InvalidCharacter { ch: '\u{2028}' }
        );
        assert_eq!(
            err("a\u{85}b.org"),
            NameError::InvalidCharacter { ch: '\u{85}' }
        );
        assert_eq!(
            err("a\u{3000}b.org"),
            NameError::InvalidCharacter { ch: '\u{3000}' }
        );
    }

    #[test]
    fn refuses_bad_hyphens() {
        assert_eq!(err("-a.org"), NameError::LeadingOrTrailingHyphen);
        assert_eq!(err("a-.org"), NameError::LeadingOrTrailingHyphen);
        assert_eq!(err("a.-org"), NameError::LeadingOrTrailingHyphen);
        assert_eq!(err("ab--cd.org"), NameError::ReservedHyphens);
        assert_eq!(err("AB--cd.org"), NameError::ReservedHyphens);
    }

    #[test]
    fn refuses_empty_labels() {
        assert_eq!(err("a..org"), NameError::EmptyLabel);
        assert_eq!(err(".example.org"), NameError::EmptyLabel);
        assert_eq!(err("..example.org"), NameError::EmptyLabel);
        assert_eq!(err("example..org."), NameError::EmptyLabel);
    }

    #[test]
    fn refuses_single_labels() {
        assert_eq!(err("org"), NameError::NotEnoughLabels);
        assert_eq!(err("org."), NameError::NotEnoughLabels);
        assert_eq!(err("localhost"), NameError::NotEnoughLabels);
        assert_eq!(err("bücher"), NameError::NotEnoughLabels);
    }

    #[test]
    fn refuses_numeric_tld() {
        assert_eq!(err("1.2.3.4"), NameError::NumericTld);
        assert_eq!(err("127.0.0.1"), NameError::NumericTld);
        assert_eq!(err("example.123"), NameError::NumericTld);
        assert_eq!(err("1.2.3.4."), NameError::NumericTld);
    }

    #[test]
    fn refuses_too_long() {
        let label64 = "a".repeat(64);
        assert_eq!(
            err(&format!("{label64}.org")),
            NameError::LabelTooLong { max: 63 }
        );
        let label63 = "a".repeat(63);
        let name254 = format!("{label63}.{label63}.{label63}.{}", "b".repeat(62));
        assert_eq!(name254.len(), 254);
        assert_eq!(err(&name254), NameError::TooLong { max: 253 });
    }

    #[test]
    fn refuses_4000_character_inputs() {
        assert_eq!(err(&"a".repeat(4000)), NameError::TooLong { max: 253 });
        assert_eq!(
            err(&format!("{}.org", "a".repeat(4000))),
            NameError::TooLong { max: 253 }
        );
        assert_eq!(err(&".".repeat(4000)), NameError::TooLong { max: 253 });
        assert_eq!(err(&"a.".repeat(2000)), NameError::TooLong { max: 253 });
        assert_eq!(err(&"ü".repeat(2000)), NameError::TooLong { max: 253 });
        assert_eq!(err(&"\n".repeat(4000)), NameError::TooLong { max: 253 });
        // Under the input byte bound, the ASCII-form checks apply.
        assert_eq!(err(&"ü.".repeat(300)), NameError::TooLong { max: 253 });
    }

    #[test]
    fn refuses_invalid_a_labels() {
        assert_eq!(err("xn--zz.org"), NameError::InvalidALabel);
        // "xn--" alone ends with a hyphen, refused before decoding.
        assert_eq!(err("xn--.org"), NameError::LeadingOrTrailingHyphen);
        assert_eq!(err("xn--a.org"), NameError::InvalidALabel);
        // A non-canonical A-label: encodes an uppercase U-label.
        let non_canonical = match idna::punycode::encode_str("bÜcher") {
            Some(p) => format!("xn--{}.de", p.to_ascii_lowercase()),
            None => panic!("punycode encoding failed"),
        };
        assert_ne!(non_canonical, "xn--bcher-kva.de");
        assert_eq!(err(&non_canonical), NameError::InvalidALabel);
    }

    #[test]
    fn refuses_mixed_script_homoglyphs() {
        // Latin "ex" + Cyrillic 'а' (U+0430) + Latin "mple".
        assert_eq!(err("ex\u{430}mple.org"), NameError::MixedScript);
        // The same spoof given as an A-label.
        let a_label = match idna::domain_to_ascii("ex\u{430}mple.org") {
            Ok(a) => a,
            Err(_) => panic!("idna refused the test input"),
        };
        assert_eq!(err(&a_label), NameError::MixedScript);
        // Greek omicron in a Latin label.
        assert_eq!(err("g\u{3bf}\u{3bf}gle.com"), NameError::MixedScript);
        // Cyrillic "раураl" with a Latin 'l'.
        assert_eq!(
            err("\u{440}\u{430}\u{443}\u{440}\u{430}l.com"),
            NameError::MixedScript
        );
    }

    #[test]
    fn refuses_whole_script_confusables_of_ascii() {
        // All-Cyrillic "раураӏ" (palochka for 'l') looks like "paypal".
        assert_eq!(
            err("\u{440}\u{430}\u{443}\u{440}\u{430}\u{4cf}.com"),
            NameError::ConfusableWithAscii
        );
        // All-Cyrillic "аррӏе" looks like "apple" (the well-known xn--80ak6aa92e).
        assert_eq!(err("xn--80ak6aa92e.com"), NameError::ConfusableWithAscii);
        assert_eq!(
            err("\u{430}\u{440}\u{440}\u{4cf}\u{435}.com"),
            NameError::ConfusableWithAscii
        );
        // Dotless i passing for "i".
        assert_eq!(
            err("\u{131}stanbul.example"),
            NameError::ConfusableWithAscii
        );
    }

    #[test]
    fn refuses_symbols_and_emoji() {
        assert!(matches!(
            err("\u{2603}.com"),
            NameError::RestrictedCharacter { .. } | NameError::Idna
        ));
        assert!(matches!(
            err("i\u{2764}\u{fe0f}.example"),
            NameError::RestrictedCharacter { .. } | NameError::Idna
        ));
    }

    // --- methods --------------------------------------------------------

    #[test]
    fn to_unicode_for_display() {
        assert_eq!(ok_domain("xn--bcher-kva.de").to_unicode(), "bücher.de");
        assert_eq!(ok_domain("例え.テスト").to_unicode(), "例え.テスト");
        assert_eq!(ok_domain("example.org").to_unicode(), "example.org");
    }

    #[test]
    fn labels_in_order() {
        let d = ok_domain("mail.example.org");
        assert_eq!(d.labels().collect::<Vec<_>>(), ["mail", "example", "org"]);
    }

    #[test]
    fn subdomains_are_strict_and_label_aligned() {
        let parent = ok_domain("example.org");
        assert!(ok_domain("mail.example.org").is_subdomain_of(&parent));
        assert!(ok_domain("a.b.example.org").is_subdomain_of(&parent));
        assert!(!parent.is_subdomain_of(&parent));
        assert!(!ok_domain("badexample.org").is_subdomain_of(&parent));
        assert!(!ok_domain("example.org.evil").is_subdomain_of(&parent));
        assert!(!parent.is_subdomain_of(&ok_domain("mail.example.org")));
        assert!(!ok_domain("example.com").is_subdomain_of(&parent));
    }

    #[test]
    fn string_conversions() {
        let d: DomainName = match "Example.ORG".parse() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(d.to_string(), "example.org");
        assert_eq!(String::from(d.clone()), "example.org");
        assert_eq!(
            DomainName::try_from("example.org".to_owned()),
            Ok(d.clone())
        );
        assert_eq!(d.as_ref(), "example.org");
        assert!("a..b".parse::<DomainName>().is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let d = ok_domain("bücher.de");
        assert_eq!(
            serde_json::to_string(&d).ok(),
            Some("\"xn--bcher-kva.de\"".into())
        );
        let back: DomainName = match serde_json::from_str("\"BÜCHER.de.\"") {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(back, d);
        for bad in [
            "\"example.org\\n\"",
            "\"a b.org\"",
            "\"org\"",
            "\"1.2.3.4\"",
            "\"\"",
            "\"ex\u{430}mple.org\"",
            "42",
            "null",
        ] {
            assert!(
                serde_json::from_str::<DomainName>(bad).is_err(),
                "{bad} should not deserialize"
            );
        }
    }

    fn ok_domain(input: &str) -> DomainName {
        match DomainName::parse(input) {
            Ok(d) => d,
            Err(e) => panic!("{input:?} should be accepted, got: {e}"),
        }
    }

    // --- properties -----------------------------------------------------

    /// What every parsed value must satisfy, whatever the input was.
    fn assert_invariants(d: &DomainName) {
        let s = d.as_str();
        assert!(!s.is_empty() && s.len() <= DomainName::MAX_LEN, "{s:?}");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
            "{s:?}"
        );
        let labels: Vec<&str> = d.labels().collect();
        assert!(labels.len() >= 2, "{s:?}");
        for label in &labels {
            assert!(
                !label.is_empty() && label.len() <= DomainName::MAX_LABEL_LEN,
                "{s:?}"
            );
            assert!(!label.starts_with('-') && !label.ends_with('-'), "{s:?}");
        }
        assert_eq!(DomainName::parse(s).as_ref(), Ok(d), "round trip of {s:?}");
        let json = serde_json::to_string(d).unwrap();
        let back: DomainName = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, d);
        // The Unicode display form parses back to the same value.
        assert_eq!(
            DomainName::parse(&d.to_unicode()).as_ref(),
            Ok(d),
            "unicode round trip of {s:?}"
        );
    }

    /// An LDH label that is valid on its own (no reserved "--" at 3-4).
    fn ldh_label() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
            .prop_filter("reserved hyphens", |l| l.get(2..4) != Some("--"))
    }

    /// Valid ASCII domain names, built from labels.
    pub(in crate::names) fn valid_ascii_domain() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(ldh_label(), 1..4),
            "[a-z][a-z0-9]{1,10}",
        )
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
            .prop_filter("too long", |d| d.len() <= DomainName::MAX_LEN)
    }

    /// Valid names mixing internationalized labels with LDH labels.
    pub(in crate::names) fn valid_unicode_domain() -> impl Strategy<Value = String> {
        let idn = prop::sample::select(vec![
            "bücher",
            "münchen",
            "straße",
            "例え",
            "テスト",
            "пример",
            "рф",
            "한국",
            "ελληνικά",
            "日本語",
            "zürich",
            "café",
            "中文",
            "ñandú",
        ]);
        (
            prop::collection::vec(prop_oneof![idn.prop_map(str::to_owned), ldh_label()], 1..4),
            prop_oneof![
                Just("org".to_owned()),
                Just("рф".to_owned()),
                Just("テスト".to_owned())
            ],
        )
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
    }

    /// Strings that look domain-ish, to reach deep into the parser.
    fn domainish() -> impl Strategy<Value = String> {
        "((xn--)?[a-zA-Z0-9-]{0,12}\\.?){0,6}"
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(d) = DomainName::parse(&s) { assert_invariants(&d); }
        }

        #[test]
        fn never_panics_on_printable_unicode(s in "\\PC*") {
            if let Ok(d) = DomainName::parse(&s) { assert_invariants(&d); }
        }

        #[test]
        fn never_panics_on_domainish_input(s in domainish()) {
            if let Ok(d) = DomainName::parse(&s) { assert_invariants(&d); }
        }

        #[test]
        fn never_panics_on_mixed_unicode_labels(s in "[a-zA-Z0-9.\\-äöüßéаеорсхуπο例テ한\u{200d}\u{ad}]{0,40}") {
            if let Ok(d) = DomainName::parse(&s) { assert_invariants(&d); }
        }

        #[test]
        fn accepts_generated_ascii_domains(s in valid_ascii_domain()) {
            let d = DomainName::parse(&s);
            prop_assert_eq!(d.as_ref().map(DomainName::as_str), Ok(s.as_str()));
            if let Ok(d) = d { assert_invariants(&d); }
        }

        #[test]
        fn accepts_generated_uppercase_and_rooted_domains(s in valid_ascii_domain()) {
            let d = DomainName::parse(&format!("{}.", s.to_ascii_uppercase()));
            prop_assert_eq!(d.as_ref().map(DomainName::as_str), Ok(s.as_str()));
        }

        #[test]
        fn accepts_generated_unicode_domains(s in valid_unicode_domain()) {
            let d = DomainName::parse(&s);
            prop_assert!(d.is_ok(), "{:?} refused: {:?}", s, d);
            if let Ok(d) = d {
                assert_invariants(&d);
                prop_assert_eq!(d.to_unicode(), s);
            }
        }

        #[test]
        fn inserting_a_forbidden_character_is_refused(
            s in valid_ascii_domain(),
            at in any::<prop::sample::Index>(),
            ch in prop::sample::select(vec!['\n', '\r', '\0', '"', ' ', '\\', ';', '{']),
        ) {
            let mut bad = s.clone();
            bad.insert(at.index(s.len() + 1), ch);
            prop_assert!(DomainName::parse(&bad).is_err(), "{:?} accepted", bad);
        }
    }
}
