//! Small user-typed values that never reach a node config but still get a typed parser:
//! labels and display names (shown back in pages, so no control characters), sizes in MiB,
//! and the per-field error a form or API call reports.

use std::fmt;
use web::Reason;

/// One problem with one field of a form or API request. `field` is the form field name, so
/// the page can show the message next to the input and the API client knows what to fix.
/// The API shows `message` in English; pages say it in the reader's language.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: Reason,
}

impl FieldError {
    pub fn new(field: &str, problem: impl Into<Reason>) -> Self {
        Self {
            field: field.to_owned(),
            message: problem.into(),
        }
    }
}

/// A short human text: a plan name, a collective name, a display name, an app-password label.
/// Trimmed; 1..=max characters; no control characters (line breaks included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelError {
    Empty,
    TooLong(usize),
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
pub fn parse_count(input: &str, max: i64) -> Result<i64, Reason> {
    match input.trim().parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(n),
        Ok(_) => Err(Reason::CountOutOfRange { max }),
        Err(_) => Err(Reason::NotWholeNumber),
    }
}

pub const MIB: i64 = 1024 * 1024;

/// A size typed in MiB (1 MiB .. 16 TiB), returned in bytes.
pub fn parse_mib(input: &str) -> Result<i64, Reason> {
    const MAX_MIB: i64 = 16 * 1024 * 1024;
    match input.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_MIB).contains(&n) => Ok(n * MIB),
        Ok(_) => Err(Reason::QuotaOutOfRange { max_mib: MAX_MIB }),
        Err(_) => Err(Reason::QuotaNotWhole),
    }
}

/// A path on this site to send a browser back to (`?back=` after signing in or switching
/// language). Only printable ASCII, starting with exactly one `/` and never `//` or `/\`
/// anywhere, so no browser can read it as another host (browsers drop tabs and line breaks and
/// read `\` as `/`, so `/%09/evil.example` would be `//evil.example`), and it is always a valid
/// `Location` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath(String);

impl LocalPath {
    pub fn parse(input: &str) -> Option<Self> {
        let printable = input.bytes().all(|b| b.is_ascii_graphic());
        let mut chars = input.chars();
        let local = chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'));
        if printable && local && !input.contains('\\') && !input.contains("//") {
            Some(Self(input.to_owned()))
        } else {
            None
        }
    }

    /// `back` when it is a local path, else `fallback`.
    pub fn or(back: Option<&str>, fallback: &str) -> Self {
        back.and_then(Self::parse)
            .unwrap_or_else(|| Self(fallback.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<LabelError> for Reason {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::Empty => Reason::Empty,
            LabelError::TooLong(max) => Reason::TooLong { max },
            LabelError::Control => Reason::ControlCharacter,
        }
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Reason::from(*self).fmt(f)
    }
}

impl std::error::Error for LabelError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `http::HeaderValue::from_str` accepts, without depending on it here.
    fn axum_free_header_ok(v: &str) -> bool {
        v.bytes().all(|b| b == b'\t' || (32..127).contains(&b))
    }

    #[test]
    fn local_paths() {
        for ok in ["/", "/account", "/admin?x=1&y=%2F", "/a/b#c"] {
            assert_eq!(LocalPath::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "javascript:x",
            "/\u{e9}",
            "/a//b",
            "/a\\b",
            "\t/x",
        ] {
            assert_eq!(LocalPath::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            LocalPath::or(Some("/%09/evil.example"), "/").as_str(),
            "/%09/evil.example"
        );
        assert_eq!(LocalPath::or(Some("/\t/evil.example"), "/").as_str(), "/");
        assert_eq!(LocalPath::or(None, "/account").as_str(), "/account");
    }

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

        /// Whatever `back` holds, the redirect goes to a path of this site that is a valid header
        /// value and that no browser reads as another host.
        #[test]
        fn redirects_stay_local(s in "\\PC*|.*|[/\\\\\t\n :a-z.]{0,12}") {
            let p = LocalPath::or(Some(&s), "/");
            let p = p.as_str();
            prop_assert!(p.starts_with('/'));
            prop_assert!(!p.starts_with("//") && !p.starts_with("/\\"));
            prop_assert!(p.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(!p.contains('\\') && !p.contains("//"));
            prop_assert!(axum_free_header_ok(p));
            // What a browser does with it: drop tabs and line breaks, read `\` as `/`.
            let seen: String = p.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).map(|c| if c == '\\' { '/' } else { c }).collect();
            prop_assert!(seen.starts_with('/') && !seen.starts_with("//"));
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
