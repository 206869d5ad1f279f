//! The confirmations a page shows after a form succeeded ("Mailbox created."). A handler
//! redirects to [`Notice::on`] (`<path>?done=<name>`); the page takes the name back with
//! [`Notice::from_name`] (anything else is ignored, so a crafted link cannot put text on the
//! page) and shows the catalog's text for [`Notice::key`]. This enum is the one list of them.

macro_rules! notices {
    ($($variant:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Notice {
            $($variant,)*
        }

        impl Notice {
            pub const ALL: &'static [Notice] = &[$(Notice::$variant,)*];

            /// Its name in the `done` query parameter.
            pub fn name(self) -> &'static str {
                match self {
                    $(Notice::$variant => $name,)*
                }
            }

            /// The catalog key of its text.
            pub fn key(self) -> &'static str {
                match self {
                    $(Notice::$variant => concat!("done.", $name),)*
                }
            }
        }
    };
}

notices! {
    Saved => "saved",
    DomainCreated => "domain_created",
    DomainDeleted => "domain_deleted",
    MailboxCreated => "mailbox_created",
    MailboxDeleted => "mailbox_deleted",
    AliasCreated => "alias_created",
    AliasDeleted => "alias_deleted",
    XmppCreated => "xmpp_created",
    XmppDeleted => "xmpp_deleted",
    AddressPublic => "address_public",
    AddressNotPublic => "address_not_public",
    AppPasswordRevoked => "app_password_revoked",
    ApiTokenRevoked => "api_token_revoked",
    NodeRevoked => "node_revoked",
    TotpDisabled => "totp_disabled",
    PasswordChanged => "password_changed",
    PasswordReset => "password_reset",
    PlanCreated => "plan_created",
    MemberUpdated => "member_updated",
    InvitationRevoked => "invitation_revoked",
    LoggedOut => "logged_out",
    SessionsRevoked => "sessions_revoked",
}

impl Notice {
    /// The notice a `done` query value names, if any.
    pub fn from_name(name: &str) -> Option<Notice> {
        Notice::ALL.iter().copied().find(|n| n.name() == name)
    }

    /// Where to redirect to show it: `path` (which has no query of its own) with
    /// `?done=<name>`.
    pub fn on(self, path: &str) -> String {
        format!("{path}?done={}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Notice;
    use crate::i18n::{Lang, Tr};

    /// Every notice has a text in every language, and names are unique.
    #[test]
    fn every_notice_is_translated_and_named_once() {
        for &notice in Notice::ALL {
            for lang in Lang::ALL {
                let text = Tr::new(lang).get(notice.key());
                assert_ne!(text, notice.key(), "{notice:?} has no {lang:?} text");
            }
            assert_eq!(Notice::from_name(notice.name()), Some(notice));
        }
        assert_eq!(Notice::from_name("<script>"), None);
        assert_eq!(
            Notice::MailboxCreated.on("/account/domains/x"),
            "/account/domains/x?done=mailbox_created"
        );
    }
}
