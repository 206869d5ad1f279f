//! [`AppScope`]: what an app password may be used for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The scope of an app password: which service it unlocks. A password made
/// for a phone's mail client (IMAP + SMTP) cannot log in to XMPP, and so on.
///
/// String form (Display, FromStr, serde): `imap`, `smtp`, `xmpp`, `dav`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppScope {
    /// Reading mail (Dovecot IMAP).
    Imap,
    /// Sending mail (Postfix submission).
    Smtp,
    /// Chat (Prosody).
    Xmpp,
    /// Calendars and contacts (CalDAV/CardDAV).
    Dav,
}

impl AppScope {
    /// Every scope, in a stable order (for forms and listings).
    pub const ALL: [AppScope; 4] = [
        AppScope::Imap,
        AppScope::Smtp,
        AppScope::Xmpp,
        AppScope::Dav,
    ];

    /// The lowercase string form.
    pub const fn as_str(self) -> &'static str {
        match self {
            AppScope::Imap => "imap",
            AppScope::Smtp => "smtp",
            AppScope::Xmpp => "xmpp",
            AppScope::Dav => "dav",
        }
    }
}

impl fmt::Display for AppScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the scope names. Like [`crate::names::NameError`],
/// the message starts lowercase and does not echo the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("is not a known scope (expected imap, smtp, xmpp or dav)")]
pub struct UnknownScope;

impl FromStr for AppScope {
    type Err = UnknownScope;

    /// Exact, lowercase match only: the form sends these values, and the
    /// same strictness as the names (no trimming, no case folding) keeps one
    /// canonical spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(UnknownScope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string_forms() {
        let names: Vec<&str> = AppScope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["imap", "smtp", "xmpp", "dav"]);
        for scope in AppScope::ALL {
            assert_eq!(scope.to_string(), scope.as_str());
            assert_eq!(scope.as_str().parse::<AppScope>(), Ok(scope));
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
            assert_eq!(serde_json::from_str::<AppScope>(&json).unwrap(), scope);
        }
    }

    #[test]
    fn unknown_scopes_are_refused() {
        for bad in [
            "", "IMAP", "Imap", " imap", "imap ", "imap\n", "pop3", "all", "*",
        ] {
            assert_eq!(bad.parse::<AppScope>(), Err(UnknownScope), "{bad:?}");
        }
        assert_eq!(
            UnknownScope.to_string(),
            "is not a known scope (expected imap, smtp, xmpp or dav)"
        );
        for bad in ["\"IMAP\"", "\"pop3\"", "\"\"", "0", "null"] {
            assert!(serde_json::from_str::<AppScope>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(scope) = s.parse::<AppScope>() {
                prop_assert_eq!(scope.as_str(), s.as_str());
            }
        }
    }
}
