//! The states and labels the control plane gives the pages, each a type whose values name their
//! catalog key: a status the control plane picks can only be one the catalogs translate, and a
//! template compares values (`status == MemberStatus::Active`), never key strings.

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $key:literal,)* })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// Its text's key in the catalogs.
            pub fn key(self) -> &'static str {
                match self {
                    $($name::$variant => $key,)*
                }
            }
        }
    )*

        /// Every key these types name (the catalog tests check each has a text).
        #[cfg(test)]
        pub(crate) fn all_keys() -> Vec<&'static str> {
            let mut keys = Vec::new();
            $(keys.extend($name::ALL.iter().map(|v| v.key()));)*
            keys
        }
    };
}

states! {
    /// Where the member's changes stand on the node that serves them: applying (the node has
    /// not caught up yet), live, or waiting (no node serves the member yet).
    Sync {
        Applying => "node.applying",
        Live => "node.live",
        Waiting => "node.waiting",
    }

    DomainStatus {
        PendingVerification => "domain.status.pending_verification",
        Active => "domain.status.active",
    }

    /// A member domain's certificate, as the node hosting the domain last reported it, or why
    /// there is none to report yet. The member's pages and the admin's say the same words.
    CertificateStatus {
        /// Not verified yet: no node asks for a certificate for it.
        AfterVerification => "certificate.state.after_verification",
        /// Verified, but the node hosting it has not reported it yet.
        NotReported => "certificate.state.not_reported",
        /// A name does not lead to the node yet (HTTP-01 asks the CA to fetch a file there).
        WaitingForDns => "certificate.state.waiting_for_dns",
        /// Being asked for, with no certificate served yet.
        Pending => "certificate.state.pending",
        /// Being renewed while the current one is still valid.
        Renewing => "certificate.state.renewing",
        Valid => "certificate.state.valid",
        /// Reported valid, but past its expiry: the node stopped renewing it, or reporting.
        Expired => "certificate.state.expired",
        Failed => "certificate.state.failed",
    }

    /// How the certificate authority checks a certificate's names (RFC 8555 §8).
    CertificateChallenge {
        Http01 => "certificate.challenge.http01",
        Dns01 => "certificate.challenge.dns01",
    }

    MemberStatus {
        Active => "member.status.active",
        Suspended => "member.status.suspended",
        Deleting => "member.status.deleting",
    }

    /// Whether anyone may look up a mailbox's or an XMPP account's public profile (WebFinger,
    /// RFC 7033). Nothing is public until its member says so.
    Visibility {
        Public => "domain.public.yes",
        NotPublic => "domain.public.no",
    }

    /// Whether the world shows a record the member set at the registrar.
    Seen {
        Yes => "domain.dns.seen.yes",
        No => "domain.dns.seen.no",
        Unknown => "domain.dns.seen.unknown",
    }

    /// What a server of a domain's zone is to it.
    DnsRole {
        Primary => "domain.dns.role.primary",
        Secondary => "domain.dns.role.secondary",
        External => "domain.dns.role.external",
    }

    NodeState {
        Waiting => "nodes.state.waiting",
        Joined => "nodes.state.joined",
        Rotating => "nodes.state.rotating",
        Revoked => "nodes.state.revoked",
    }

    /// A node's last report of its services.
    Health {
        Ok => "nodes.health.ok",
        Problem => "nodes.health.problem",
        Unknown => "nodes.health.unknown",
    }

    /// A secondary name server's place in a zone's set.
    SecondaryState {
        Pending => "dns_admin.state.pending",
        Active => "dns_admin.state.active",
        Retiring => "dns_admin.state.retiring",
    }

    /// The unit of a formatted size.
    Unit {
        Kib => "unit.kib",
        Mib => "unit.mib",
    }

    /// A line of "usage against your plan".
    UsageLabel {
        Domains => "usage.domains",
        Mailboxes => "usage.mailboxes",
        Aliases => "usage.aliases",
        Xmpp => "usage.xmpp",
        Storage => "usage.storage",
        Stored => "usage.stored",
    }

    /// Why a page or a form could not be served, for the errors that have no reason of their own.
    Failure {
        NotFound => "error.not_found",
        Gone => "error.gone",
        RateLimited => "error.rate_limited",
        Unavailable => "error.unavailable",
        Internal => "error.internal",
        Unauthorized => "error.unauthorized",
        /// A form whose CSRF token or origin is not this site's.
        Csrf => "error.csrf",
    }
}

impl Visibility {
    /// An address's flag as the page says it.
    pub fn of(public: bool) -> Visibility {
        if public {
            Visibility::Public
        } else {
            Visibility::NotPublic
        }
    }
}

impl CertificateStatus {
    /// Whether a certificate is served (or was, until its expiry): a failure is then its
    /// renewal's, and the page says so rather than "failed".
    pub fn serves(self) -> bool {
        matches!(
            self,
            CertificateStatus::Valid | CertificateStatus::Renewing | CertificateStatus::Expired
        )
    }
}
