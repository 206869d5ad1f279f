//! Small user-typed values that never reach a node config but still get a typed parser:
//! labels and display names (shown back in pages, so no control characters), sizes in MiB,
//! and the per-field error a form or API call reports.

use serde::{Serialize, Serializer};

use super::text::{Describe, Text};

/// One problem with one field of a form or API request. `field` is the form field name, so
/// the page can show the message next to the input and the API client knows what to fix.
/// The API shows `message` in English; pages pick the reader's language.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    #[serde(serialize_with = "english")]
    #[schema(value_type = String)]
    pub message: Text,
}

fn english<S: Serializer>(t: &Text, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.en)
}

impl FieldError {
    pub fn new(field: &str, problem: impl Describe) -> Self {
        Self {
            field: field.to_owned(),
            message: problem.describe(),
        }
    }
}

/// A short human text: a plan name, a collective name, a display name, an app-password label.
/// Trimmed; 1..=max characters; no control characters (line breaks included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LabelError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters long")]
    TooLong(usize),
    #[error("must not contain control characters or line breaks")]
    Control,
}

impl Label {
    pub fn parse(input: &str, max: usize) -> Result<Self, LabelError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(LabelError::Empty);
        }
        if s.chars().count() > max {
            return Err(LabelError::TooLong(max));
        }
        if s.chars().any(char::is_control) {
            return Err(LabelError::Control);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A count typed in a form: a non-negative integer up to `max`.
pub fn parse_count(input: &str, max: i64) -> Result<i64, Text> {
    match input.trim().parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(n),
        Ok(_) => Err(Text::new(
            format!("must be between 0 and {max}"),
            format!("doit être compris entre 0 et {max}"),
        )),
        Err(_) => Err(Text::new(
            "must be a whole number",
            "doit être un nombre entier",
        )),
    }
}

pub const MIB: i64 = 1024 * 1024;

/// A size typed in MiB (1 MiB .. 16 TiB), returned in bytes.
pub fn parse_mib(input: &str) -> Result<i64, Text> {
    const MAX_MIB: i64 = 16 * 1024 * 1024;
    match input.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_MIB).contains(&n) => Ok(n * MIB),
        Ok(_) => Err(Text::new(
            format!("must be between 1 and {MAX_MIB} MiB"),
            format!("doit être compris entre 1 et {MAX_MIB} Mio"),
        )),
        Err(_) => Err(Text::new(
            "must be a whole number of MiB",
            "doit être un nombre entier de Mio",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn label_rules() {
        assert_eq!(Label::parse("  Hi  ", 10).unwrap().as_str(), "Hi");
        assert_eq!(Label::parse("   ", 10), Err(LabelError::Empty));
        assert_eq!(Label::parse("a\nb", 10), Err(LabelError::Control));
        assert_eq!(
            Label::parse("abcdefghijk", 10),
            Err(LabelError::TooLong(10))
        );
    }

    #[test]
    fn sizes_and_counts() {
        assert_eq!(parse_mib("1"), Ok(MIB));
        assert!(parse_mib("0").is_err());
        assert!(parse_mib("-5").is_err());
        assert!(parse_mib("1e3").is_err());
        assert_eq!(parse_count(" 7 ", 100), Ok(7));
        assert!(parse_count("101", 100).is_err());
    }

    proptest! {
        #[test]
        fn labels_never_hold_control_characters(s in "\\PC*|.*") {
            if let Ok(l) = Label::parse(&s, 100) {
                prop_assert!(!l.as_str().chars().any(char::is_control));
                prop_assert!(!l.as_str().is_empty());
                prop_assert!(l.as_str().chars().count() <= 100);
            }
        }

        #[test]
        fn mib_parse_is_bounded(s in ".*") {
            if let Ok(bytes) = parse_mib(&s) {
                prop_assert!(bytes >= MIB);
                prop_assert_eq!(bytes % MIB, 0);
            }
        }
    }
}
