//! [`AliasSource`]: the left-hand side of a mail alias.

use serde::{Deserialize, Serialize};

use super::{LocalPart, NameError};

/// The source of an alias within a member domain: either one local part
/// (`sales` in `sales@example.org`) or the catch-all, written `*`, which
/// receives mail for every local part that has no mailbox or alias.
///
/// String form: `*` or the local part. Serialized as that string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AliasSource {
    /// Every address of the domain that has no other destination.
    CatchAll,
    /// One local part.
    Local(LocalPart),
}

impl AliasSource {
    /// The string form of [`AliasSource::CatchAll`].
    pub const CATCH_ALL: &'static str = "*";

    /// Parses `*` as the catch-all, anything else as a [`LocalPart`].
    /// Never panics; never trims.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input == Self::CATCH_ALL {
            Ok(Self::CatchAll)
        } else {
            LocalPart::parse(input).map(Self::Local)
        }
    }

    /// `*` or the local part.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CatchAll => Self::CATCH_ALL,
            Self::Local(local) => local.as_str(),
        }
    }
}

string_name_impls!(AliasSource);

impl From<LocalPart> for AliasSource {
    fn from(local: LocalPart) -> Self {
        Self::Local(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::local_part::tests::valid_simple_name;
    use proptest::prelude::*;

    #[test]
    fn star_is_the_catch_all() {
        assert_eq!(AliasSource::parse("*"), Ok(AliasSource::CatchAll));
        assert_eq!(AliasSource::CatchAll.to_string(), "*");
        assert_eq!(AliasSource::CatchAll.as_str(), "*");
    }

    #[test]
    fn anything_else_is_a_local_part() {
        let sales = match LocalPart::parse("sales") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            AliasSource::parse("Sales"),
            Ok(AliasSource::Local(sales.clone()))
        );
        assert_eq!(AliasSource::from(sales).to_string(), "sales");
        assert_eq!(
            AliasSource::parse("**"),
            Err(NameError::InvalidCharacter { ch: '*' })
        );
        assert_eq!(
            AliasSource::parse("* "),
            Err(NameError::InvalidCharacter { ch: '*' })
        );
        assert_eq!(
            AliasSource::parse(" *"),
            Err(NameError::InvalidCharacter { ch: ' ' })
        );
        assert_eq!(
            AliasSource::parse("a*"),
            Err(NameError::InvalidCharacter { ch: '*' })
        );
        assert_eq!(AliasSource::parse(""), Err(NameError::Empty));
        assert_eq!(
            AliasSource::parse("alice\n"),
            Err(NameError::InvalidCharacter { ch: '\n' })
        );
        assert_eq!(
            AliasSource::parse("al..ice"),
            Err(NameError::ConsecutiveDots)
        );
    }

    #[test]
    fn serde_as_a_string() {
        assert_eq!(
            serde_json::to_string(&AliasSource::CatchAll).ok(),
            Some("\"*\"".into())
        );
        assert_eq!(
            serde_json::from_str::<AliasSource>("\"*\"").ok(),
            Some(AliasSource::CatchAll)
        );
        assert_eq!(
            serde_json::from_str::<AliasSource>("\"Info\"").ok(),
            AliasSource::parse("info").ok()
        );
        // "CatchAll" is just the local part "catchall"; only "*" is special.
        assert_eq!(
            serde_json::from_str::<AliasSource>("\"CatchAll\"").ok(),
            AliasSource::parse("catchall").ok()
        );
        for bad in ["\"\"", "\"* \"", "\"a b\"", "\"*@\"", "{\"Local\":\"a\"}"] {
            assert!(serde_json::from_str::<AliasSource>(bad).is_err(), "{bad}");
        }
    }

    fn assert_invariants(v: &AliasSource) {
        let s = v.as_str();
        assert!(
            s == "*"
                || (!s.is_empty()
                    && s.len() <= LocalPart::MAX_LEN
                    && s.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, '.' | '_' | '-'))),
            "{s:?}"
        );
        assert_eq!(AliasSource::parse(s).as_ref(), Ok(v));
        let json = serde_json::to_string(v).unwrap();
        assert_eq!(&serde_json::from_str::<AliasSource>(&json).unwrap(), v);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(v) = AliasSource::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn never_panics_on_printable_unicode(s in "\\PC*") {
            if let Ok(v) = AliasSource::parse(&s) { assert_invariants(&v); }
        }

        #[test]
        fn accepts_generated_local_parts(s in valid_simple_name()) {
            let v = AliasSource::parse(&s);
            prop_assert!(matches!(v, Ok(AliasSource::Local(_))), "{:?}", v);
            if let Ok(v) = v { assert_invariants(&v); }
        }

        #[test]
        fn inserting_a_forbidden_character_is_refused(
            s in prop_oneof![valid_simple_name(), Just("*".to_owned())],
            at in any::<prop::sample::Index>(),
            ch in prop::sample::select(vec!['\n', '\r', '\0', '"', ' ', '\\', ';', '{']),
        ) {
            let mut bad = s.clone();
            bad.insert(at.index(s.len() + 1), ch);
            prop_assert!(AliasSource::parse(&bad).is_err(), "{:?} accepted", bad);
        }
    }
}
