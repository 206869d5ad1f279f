//! One catalog per language: the page furniture (`KEYS`, looked up by the templates'
//! `t.get("key")`), the sentence for every [`Reason`] (an exhaustive `match`, so a reason
//! without a sentence does not compile), and the language's part of each [`Mail`].
//!
//! Adding a language is one file here, its [`Lang`] variant and its line in [`Lang::catalog`];
//! the tests below fail until its keys match English's and every reason reads as its own.

pub mod en;
pub mod fr;

use crate::i18n::Lang;
use crate::reason::Reason;

/// What one language says.
pub struct Catalog {
    /// Page furniture, sorted by key.
    pub keys: &'static [(&'static str, &'static str)],
    pub reason: fn(&Reason) -> String,
    /// A mail's part in this language.
    pub mail: fn(&Mail) -> String,
}

/// A mail Ruche sends to someone who has not chosen a language (an invitee) or whose choice
/// it does not keep (a member asking for a password reset): every language, one after another.
#[derive(Debug, Clone, Copy)]
pub enum Mail<'a> {
    /// `link` works once, for `days` days.
    Invitation { days: i64, link: &'a str },
    /// `link` works for `minutes` minutes.
    PasswordReset { minutes: i64, link: &'a str },
}

impl Mail<'_> {
    pub fn subject(&self) -> &'static str {
        en::subject(self)
    }

    /// The body: each language's part, the default (English, with the link) first.
    pub fn body(&self) -> String {
        Lang::ALL
            .iter()
            .map(|lang| (lang.catalog().mail)(self))
            .collect()
    }
}

impl Lang {
    pub fn catalog(self) -> Catalog {
        match self {
            Lang::En => Catalog {
                keys: en::KEYS,
                reason: en::reason,
                mail: en::mail,
            },
            Lang::Fr => Catalog {
                keys: fr::KEYS,
                reason: fr::reason,
                mail: fr::mail,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::dns::{Expected, RecordError, Rule as DnsRule};
    use protocol::names::NameError;
    use protocol::scope::UnknownScope;

    use super::*;
    use crate::reason::Counted;

    /// One value of every reason (and of every variant of the protocol's errors a reason
    /// carries). [`variant`] has no wildcard, so a new reason does not compile until it has an
    /// index there, and `samples_cover_every_reason` fails until it has a sample here.
    fn samples() -> Vec<Reason> {
        use Reason::*;
        let mut out = vec![
            Scope(UnknownScope),
            Empty,
            TooLong { max: 100 },
            ControlCharacter,
            CountOutOfRange { max: 1000 },
            NotWholeNumber,
            QuotaOutOfRange { max_mib: 16384 },
            QuotaNotWhole,
            PasswordTooShort { min: 12 },
            PasswordTooLong { max: 1024 },
            PasswordMismatch,
            NotCurrentPassword,
            CodeInvalid,
            CodeInvalidCheckClock,
            NoTarget,
            TooManyTargets { max: 50 },
            NotYourMailbox,
            AddressCount { max: 16 },
            NotIpAddresses,
            NotSocketAddress,
            NotNodeId,
            NotPlanId,
            ChooseNode,
            ChoosePlan,
            NoSuchNode,
            NoSuchPlan,
            NodeNotJoined,
            KeyIsMadeHere,
            NodeNameServer,
            KeyNameReserved,
            RecordNameTooLong { max: 253 },
            EmailTaken,
            DomainTaken,
            AddressTaken,
            XmppAddressTaken,
            PlanNameTaken,
            CollectiveSetUp,
            AlreadyExists,
            ExternalSecondaryExists,
            KeySuffixTaken,
            PlatformDomain,
            UnderAnotherMember,
            AboveAnotherMember,
            CannotSuspend,
            CannotReactivate,
            AdminOrBeingDeleted,
            NotBeingDeleted,
            TotpAlreadyEnabled,
            TotpStartAgain,
            Suspended,
            SuspendedSignIn,
            WrongLogin,
            ResetUnavailableAskAdmin,
            ResetUnavailable,
            AppPasswords { max: 25 },
            Storage {
                max_mib: 1024,
                used_mib: 1000,
                asked_mib: 100,
            },
            TooManyRecords { max: 200 },
            TxtUnanswered {
                name: "_ruche.example.org".to_owned(),
            },
            TxtWrongValue {
                name: "_ruche.example.org".to_owned(),
            },
            TxtNotVisible {
                name: "_ruche.example.org".to_owned(),
            },
        ];
        for what in [
            Counted::Domains,
            Counted::Mailboxes,
            Counted::Aliases,
            Counted::XmppAccounts,
        ] {
            out.push(TooMany {
                what,
                max: 3,
                used: 3,
            });
        }
        use NameError as N;
        for e in [
            N::Empty,
            N::TooLong { max: 253 },
            N::InvalidCharacter { ch: '\n' },
            N::EmptyLabel,
            N::LabelTooLong { max: 63 },
            N::LeadingOrTrailingHyphen,
            N::ReservedHyphens,
            N::NotEnoughLabels,
            N::NumericTld,
            N::Idna,
            N::InvalidALabel,
            N::RestrictedCharacter { ch: 'ǃ' },
            N::MixedScript,
            N::ConfusableWithAscii,
            N::LeadingOrTrailingPunctuation,
            N::LeadingOrTrailingDot,
            N::ConsecutiveDots,
            N::MissingAt,
            N::MultipleAt,
            N::InLocalPart(Box::new(N::ConsecutiveDots)),
            N::InDomain(Box::new(N::NumericTld)),
        ] {
            out.push(Name(e));
        }
        use RecordError as R;
        for e in [
            R::Empty,
            R::TooLong { max: 255 },
            R::InvalidCharacter { ch: '"' },
            R::EmptyLabel,
            R::LabelTooLong,
            R::Hyphen,
            R::Wildcard,
            R::Absolute,
            R::UnsupportedType,
            R::Ttl {
                min: 60,
                max: 86400,
            },
            R::Target,
        ] {
            out.push(Record(e));
        }
        for expected in [
            Expected::Ipv4,
            Expected::Ipv6,
            Expected::Mx,
            Expected::Srv,
            Expected::Caa,
            Expected::TsigSecret,
        ] {
            out.push(Record(R::Value { expected }));
        }
        for rule in [
            DnsRule::SpfIsThePlatforms,
            DnsRule::CnameAtApex,
            DnsRule::ApexIsThePlatforms,
            DnsRule::NameIsThePlatforms,
            DnsRule::SelectorIsThePlatforms,
            DnsRule::CnameNotAlone,
            DnsRule::NameHasCname,
            DnsRule::Duplicate,
        ] {
            out.push(Rule(rule));
        }
        out
    }

    /// Each reason's index, and each variant of the errors a reason carries; no wildcard.
    fn variant(r: &Reason) -> String {
        use Reason::*;
        let index = match r {
            Name(e) => return format!("name {}", name_variant(e)),
            Record(RecordError::Value { expected }) => return format!("value {expected:?}"),
            Record(e) => return format!("record {}", record_variant(e)),
            Rule(rule) => return format!("rule {rule:?}"),
            TooMany { what, .. } => return format!("too many {what:?}"),
            Scope(_) => 0,
            Empty => 1,
            TooLong { .. } => 2,
            ControlCharacter => 3,
            CountOutOfRange { .. } => 4,
            NotWholeNumber => 5,
            QuotaOutOfRange { .. } => 6,
            QuotaNotWhole => 7,
            PasswordTooShort { .. } => 8,
            PasswordTooLong { .. } => 9,
            PasswordMismatch => 10,
            NotCurrentPassword => 11,
            CodeInvalid => 12,
            CodeInvalidCheckClock => 13,
            NoTarget => 14,
            TooManyTargets { .. } => 15,
            NotYourMailbox => 16,
            AddressCount { .. } => 17,
            NotIpAddresses => 18,
            NotSocketAddress => 19,
            NotNodeId => 20,
            NotPlanId => 21,
            ChooseNode => 22,
            ChoosePlan => 23,
            NoSuchNode => 24,
            NoSuchPlan => 25,
            NodeNotJoined => 26,
            KeyIsMadeHere => 27,
            NodeNameServer => 28,
            KeyNameReserved => 29,
            RecordNameTooLong { .. } => 30,
            EmailTaken => 31,
            DomainTaken => 32,
            AddressTaken => 33,
            XmppAddressTaken => 34,
            PlanNameTaken => 35,
            CollectiveSetUp => 36,
            AlreadyExists => 37,
            ExternalSecondaryExists => 38,
            KeySuffixTaken => 39,
            PlatformDomain => 40,
            UnderAnotherMember => 41,
            CannotSuspend => 42,
            CannotReactivate => 43,
            AdminOrBeingDeleted => 44,
            NotBeingDeleted => 45,
            TotpAlreadyEnabled => 46,
            TotpStartAgain => 47,
            Suspended => 48,
            SuspendedSignIn => 49,
            WrongLogin => 50,
            ResetUnavailableAskAdmin => 51,
            ResetUnavailable => 52,
            AppPasswords { .. } => 53,
            Storage { .. } => 54,
            TooManyRecords { .. } => 55,
            TxtUnanswered { .. } => 56,
            TxtWrongValue { .. } => 57,
            TxtNotVisible { .. } => 58,
            AboveAnotherMember => 59,
        };
        format!("reason {index}")
    }

    const REASONS: usize = 60;

    fn name_variant(e: &NameError) -> usize {
        use NameError::*;
        match e {
            Empty => 0,
            TooLong { .. } => 1,
            InvalidCharacter { .. } => 2,
            EmptyLabel => 3,
            LabelTooLong { .. } => 4,
            LeadingOrTrailingHyphen => 5,
            ReservedHyphens => 6,
            NotEnoughLabels => 7,
            NumericTld => 8,
            Idna => 9,
            InvalidALabel => 10,
            RestrictedCharacter { .. } => 11,
            MixedScript => 12,
            ConfusableWithAscii => 13,
            LeadingOrTrailingPunctuation => 14,
            LeadingOrTrailingDot => 15,
            ConsecutiveDots => 16,
            MissingAt => 17,
            MultipleAt => 18,
            InLocalPart(_) => 19,
            InDomain(_) => 20,
        }
    }

    fn record_variant(e: &RecordError) -> usize {
        use RecordError::*;
        match e {
            Empty => 0,
            TooLong { .. } => 1,
            InvalidCharacter { .. } => 2,
            EmptyLabel => 3,
            LabelTooLong => 4,
            Hyphen => 5,
            Wildcard => 6,
            Absolute => 7,
            UnsupportedType => 8,
            Ttl { .. } => 9,
            Target => 10,
            Value { .. } => 11,
        }
    }

    #[test]
    fn samples_cover_every_reason() {
        let seen: std::collections::BTreeSet<String> = samples().iter().map(variant).collect();
        let expected = REASONS + 21 + 11 + 6 + 8 + 4;
        assert_eq!(seen.len(), expected, "a reason has no sample: {seen:?}");
        assert_eq!(samples().len(), expected, "a reason has two samples");
    }

    /// Every reason has a sentence of its own in every language: not empty, no placeholder,
    /// and not the English one (a language that copied English has not translated it).
    #[test]
    fn every_reason_has_a_translation_in_every_language() {
        for r in samples() {
            let english = (Lang::En.catalog().reason)(&r);
            assert!(!english.trim().is_empty(), "{r:?} has no English");
            for lang in Lang::ALL {
                let text = (lang.catalog().reason)(&r);
                assert!(!text.trim().is_empty(), "{r:?} has no {lang:?} text");
                assert!(!text.contains("TODO"), "{r:?} is a placeholder in {lang:?}");
                if lang != Lang::En {
                    assert_ne!(text, english, "{r:?} is English in {lang:?}");
                }
            }
            assert_eq!(r.to_string(), english, "the API and logs speak English");
        }
    }

    #[test]
    fn translations_keep_the_values_they_name() {
        let fr = |r: Reason| (Lang::Fr.catalog().reason)(&r);
        assert!(fr(Reason::Name(NameError::InvalidCharacter { ch: '\n' })).contains("'\\n'"));
        assert_eq!(
            fr(Reason::TooMany {
                what: Counted::Mailboxes,
                max: 3,
                used: 3
            }),
            "votre formule permet 3 boîtes aux lettres\u{a0}; vous en avez 3"
        );
        assert!(fr(Reason::TxtNotVisible {
            name: "_ruche.example.org".to_owned()
        })
        .contains("_ruche.example.org"));
    }

    #[test]
    fn every_mail_has_a_translation_in_every_language_and_the_link_once() {
        let link = "https://portal.example.org/x?token=abc";
        for mail in [
            Mail::Invitation { days: 7, link },
            Mail::PasswordReset { minutes: 30, link },
        ] {
            let english = (Lang::En.catalog().mail)(&mail);
            for lang in Lang::ALL {
                let part = (lang.catalog().mail)(&mail);
                assert!(!part.trim().is_empty(), "{mail:?} has no {lang:?} part");
                if lang != Lang::En {
                    assert_ne!(part, english, "{mail:?} is English in {lang:?}");
                }
            }
            assert_eq!(mail.body().matches(link).count(), 1, "{mail:?}");
        }
        let invitation = Mail::Invitation { days: 7, link }.body();
        assert!(invitation.contains("for 7 days") && invitation.contains("pendant 7 jours"));
    }
}
