//! Why something was refused, as a value: the control plane's layers return these, and each
//! language's catalog (`catalog::en`, `catalog::fr`) says them in its own words with an
//! exhaustive `match`, so a reason without a sentence in some language does not compile.
//!
//! A reason carries what the sentence needs (a limit, a character, a record name), never a
//! sentence. The JSON API and the logs show the English one (`Display`). The `protocol` crate's
//! parse errors (`NameError`, `RecordError`, `protocol::dns::Rule`, `UnknownScope`) are carried
//! as they are: that is why `web` depends on `protocol`, and all it knows of the rest of Ruche.

use std::fmt;

use protocol::dns::{RecordError, Rule};
use protocol::names::NameError;
use protocol::scope::UnknownScope;

/// Everything the portal and the API can tell a person about what they asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    // A value typed into a field.
    /// A domain name, host name or email address that does not parse.
    Name(NameError),
    /// A DNS record (or a TSIG secret) that does not parse.
    Record(RecordError),
    /// A record that parses but may not be added beside the platform's or the member's own.
    Rule(Rule),
    /// An app password's scope that is not one Ruche knows.
    Scope(UnknownScope),
    /// A text field left empty.
    Empty,
    /// A text field longer than `max` characters.
    TooLong {
        max: usize,
    },
    /// A text field with a control character or a line break.
    ControlCharacter,
    /// A count outside `0..=max`.
    CountOutOfRange {
        max: i64,
    },
    /// Not a whole number.
    NotWholeNumber,
    /// A mailbox quota outside `1..=max_mib` MiB.
    QuotaOutOfRange {
        max_mib: i64,
    },
    /// A mailbox quota that is not a whole number of MiB.
    QuotaNotWhole,
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    PasswordMismatch,
    /// The password given as the current one is not.
    NotCurrentPassword,
    /// A one-time code that does not match.
    CodeInvalid,
    /// A one-time code that does not match while two-factor authentication is set up.
    CodeInvalidCheckClock,
    /// An alias with no target.
    NoTarget,
    /// An alias with more than `max` targets.
    TooManyTargets {
        max: usize,
    },
    /// An address the member chose that is not one of their mailboxes.
    NotYourMailbox,
    /// A joining node that lists no address, or more than `max`.
    AddressCount {
        max: usize,
    },
    NotIpAddresses,
    NotSocketAddress,
    NotNodeId,
    NotPlanId,
    ChooseNode,
    ChoosePlan,
    NoSuchNode,
    NoSuchPlan,
    /// A node chosen for a member before it has joined.
    NodeNotJoined,
    /// A TSIG key given for an external secondary: each node makes its own.
    KeyIsMadeHere,
    /// An external secondary named like a node's own name server.
    NodeNameServer,
    /// A key suffix inside the names the nodes' shared keys use.
    KeyNameReserved,
    /// A record whose full name would be longer than `max` characters.
    RecordNameTooLong {
        max: usize,
    },

    // Already there.
    EmailTaken,
    DomainTaken,
    AddressTaken,
    XmppAddressTaken,
    PlanNameTaken,
    CollectiveSetUp,
    /// Any other unique name that is taken.
    AlreadyExists,
    ExternalSecondaryExists,
    KeySuffixTaken,
    /// The collective's platform domain, or a name under it.
    PlatformDomain,
    /// A name under a domain another member holds.
    UnderAnotherMember,
    /// A name above a domain another member holds.
    AboveAnotherMember,

    // Not in this state.
    /// Suspending a member who is not an active non-admin.
    CannotSuspend,
    /// Reactivating a member who is not suspended.
    CannotReactivate,
    AdminOrBeingDeleted,
    NotBeingDeleted,
    TotpAlreadyEnabled,
    /// Two-factor set-up whose secret expired or was never started.
    TotpStartAgain,
    /// A suspended member trying to create something.
    Suspended,
    /// A suspended member trying to sign in.
    SuspendedSignIn,
    WrongLogin,
    /// Password reset by mail asked for where no mail can be sent (the form).
    ResetUnavailableAskAdmin,
    /// Password reset by mail asked for where no mail can be sent.
    ResetUnavailable,

    // A plan's limits.
    /// The plan allows `max` of `what`; the member has `used`.
    TooMany {
        what: Counted,
        max: i64,
        used: i64,
    },
    /// The platform's cap on app passwords per account.
    AppPasswords {
        max: i64,
    },
    Storage {
        max_mib: i64,
        used_mib: i64,
        asked_mib: i64,
    },
    TooManyRecords {
        max: i64,
    },

    // What the DNS shows of a domain being verified.
    /// The resolvers did not answer for the TXT record `name`.
    TxtUnanswered {
        name: String,
    },
    /// The TXT record `name` is there with another value.
    TxtWrongValue {
        name: String,
    },
    TxtNotVisible {
        name: String,
    },
}

/// What a plan counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Domains,
    Mailboxes,
    Aliases,
    XmppAccounts,
}

impl From<NameError> for Reason {
    fn from(e: NameError) -> Self {
        Reason::Name(e)
    }
}

impl From<RecordError> for Reason {
    fn from(e: RecordError) -> Self {
        Reason::Record(e)
    }
}

impl From<Rule> for Reason {
    fn from(e: Rule) -> Self {
        Reason::Rule(e)
    }
}

impl From<UnknownScope> for Reason {
    fn from(e: UnknownScope) -> Self {
        Reason::Scope(e)
    }
}

/// English, for the JSON API and the logs.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::catalog::en::reason(self))
    }
}

impl std::error::Error for Reason {}
