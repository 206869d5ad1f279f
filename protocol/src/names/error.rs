//! The error type shared by all name parsers.

use thiserror::Error;

/// Why a name was refused.
///
/// Messages are plain English, start in lowercase and never echo the input
/// (at most the one offending character, escaped), so callers can prefix the
/// field name: `format!("Domain: {err}")` reads
/// "Domain: has a label that starts or ends with a hyphen".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
pub enum NameError {
    /// Nothing was typed.
    #[error("is empty")]
    Empty,

    /// The whole value is longer than the limit (in ASCII characters).
    #[error("is too long (at most {max} characters)")]
    TooLong { max: usize },

    /// A character outside the type's alphabet (whitespace, control
    /// characters, quotes, punctuation, non-ASCII where not allowed, ...).
    /// Displayed with `escape_debug`, so a line break shows as `'\n'`.
    #[error("contains the character '{}' which is not allowed", .ch.escape_debug())]
    InvalidCharacter { ch: char },

    /// `a..b`, `.example.org`: a DNS label must be 1..=63 octets (RFC 1035 §2.3.4).
    #[error("has an empty label (a leading dot or two dots in a row)")]
    EmptyLabel,

    /// A DNS label over 63 octets (RFC 1035 §2.3.4).
    #[error("has a label longer than {max} characters")]
    LabelTooLong { max: usize },

    /// RFC 952/1123 host names (LDH rule, RFC 5890 §2.3.1) cannot start or end
    /// with a hyphen.
    #[error("has a label that starts or ends with a hyphen")]
    LeadingOrTrailingHyphen,

    /// "--" in positions 3 and 4 is reserved for IDNA A-labels ("xn--"),
    /// RFC 5891 §4.2.3.1.
    #[error("has a label with two hyphens in the third and fourth positions, which is reserved for internationalized names")]
    ReservedHyphens,

    /// A single label such as "org" or "localhost" is not a member domain.
    #[error("must have at least two labels, like example.org")]
    NotEnoughLabels,

    /// The last label is all digits: that is an IPv4 address, not a domain
    /// (RFC 3696 §2).
    #[error("ends in an all-numeric label (IP addresses are not accepted)")]
    NumericTld,

    /// UTS #46 processing refused the name (disallowed code point, bad
    /// bidi or joiner context, ...).
    #[error("is not a valid internationalized domain name")]
    Idna,

    /// An "xn--" label that is not valid Punycode, or that does not decode to
    /// a valid U-label which converts back to the same A-label (RFC 5890 §2.3.2.1).
    #[error("has an xn-- label that is not a valid internationalized label")]
    InvalidALabel,

    /// A Unicode character that UTS #39 does not allow in identifiers
    /// (symbols, emoji, historic or limited-use scripts).
    #[error("contains the character '{}' which is not allowed in internationalized domain names", .ch.escape_debug())]
    RestrictedCharacter { ch: char },

    /// A label mixing writing systems (e.g. Latin with Cyrillic), refused
    /// to prevent look-alike names (UTS #39 §5.2, Highly Restrictive).
    #[error(
        "has a label that mixes writing systems, which is refused to prevent look-alike names"
    )]
    MixedScript,

    /// A non-ASCII label whose UTS #39 skeleton is plain ASCII, i.e. it can
    /// be mistaken for an ASCII name (Cyrillic "раураl" for "paypal").
    #[error("has a label that looks like a plain ASCII name but uses other characters, which is refused to prevent look-alike names")]
    ConfusableWithAscii,

    /// Local parts and XMPP nodes must start and end with [a-z0-9].
    #[error("must start and end with a letter or a digit")]
    LeadingOrTrailingPunctuation,

    /// An RFC 5322 dot-atom cannot start or end with a dot.
    #[error("starts or ends with a dot")]
    LeadingOrTrailingDot,

    /// "a..b": not a dot-atom (RFC 5322 §3.2.3), and refused in our own names.
    #[error("contains two dots in a row")]
    ConsecutiveDots,

    /// An email address without '@'.
    #[error("is missing the '@' between the local part and the domain")]
    MissingAt,

    /// An email address with more than one '@' (quoted local parts, the only
    /// place where '@' could appear, are not accepted).
    #[error("contains more than one '@'")]
    MultipleAt,

    /// The part of an email address before the '@' is invalid.
    #[error("has a local part (before the '@') that {0}")]
    InLocalPart(Box<NameError>),

    /// The part of an email address after the '@' is invalid.
    #[error("has a domain (after the '@') that {0}")]
    InDomain(Box<NameError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_escape_the_character_and_read_after_a_field_name() {
        let err = NameError::InvalidCharacter { ch: '\n' };
        assert_eq!(
            format!("Domain: {err}"),
            "Domain: contains the character '\\n' which is not allowed"
        );
        let err = NameError::InvalidCharacter { ch: '\0' };
        assert_eq!(
            err.to_string(),
            "contains the character '\\0' which is not allowed"
        );
        let err = NameError::TooLong { max: 253 };
        assert_eq!(err.to_string(), "is too long (at most 253 characters)");
    }

    #[test]
    fn wrapped_messages_read_well() {
        let err = NameError::InDomain(Box::new(NameError::NotEnoughLabels));
        assert_eq!(
            err.to_string(),
            "has a domain (after the '@') that must have at least two labels, like example.org"
        );
        let err = NameError::InLocalPart(Box::new(NameError::ConsecutiveDots));
        assert_eq!(
            err.to_string(),
            "has a local part (before the '@') that contains two dots in a row"
        );
    }

    #[test]
    fn messages_start_lowercase() {
        let all = [
            NameError::Empty,
            NameError::TooLong { max: 1 },
            NameError::InvalidCharacter { ch: 'x' },
            NameError::EmptyLabel,
            NameError::LabelTooLong { max: 63 },
            NameError::LeadingOrTrailingHyphen,
            NameError::ReservedHyphens,
            NameError::NotEnoughLabels,
            NameError::NumericTld,
            NameError::Idna,
            NameError::InvalidALabel,
            NameError::RestrictedCharacter { ch: '☃' },
            NameError::MixedScript,
            NameError::ConfusableWithAscii,
            NameError::LeadingOrTrailingPunctuation,
            NameError::LeadingOrTrailingDot,
            NameError::ConsecutiveDots,
            NameError::MissingAt,
            NameError::MultipleAt,
            NameError::InLocalPart(Box::new(NameError::Empty)),
            NameError::InDomain(Box::new(NameError::Empty)),
        ];
        for err in all {
            let msg = err.to_string();
            let first = msg.chars().next();
            assert!(
                first.is_some_and(|c| c.is_ascii_lowercase()),
                "message should start lowercase: {msg}"
            );
        }
    }
}
