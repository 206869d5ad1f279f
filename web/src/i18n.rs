//! Languages and the English/French catalog.
//!
//! The catalog is two static slices sorted by key, looked up with a binary search. Templates
//! call `ctx.t.get("key")`; the control plane passes `*_key` values (statuses, usage labels,
//! notices) that templates translate the same way. Tests check that both languages have the
//! same keys, that every key a template uses exists, and that the slices stay sorted.

/// A language of the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The language's code, as in `<html lang>` and `/lang/{code}`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// `en` or `fr`, in any case; anything else is `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        if code.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if code.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else {
            None
        }
    }

    /// The best supported language of an `Accept-Language` header (RFC 9110 §12.5.4): the
    /// highest q-value wins, the earliest on a tie; `q=0` means "not this one"; malformed
    /// entries are skipped. English when nothing matches. Never panics.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(Lang, u16)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let primary = tag.split(['-', '_']).next().unwrap_or_default();
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let mut q = Some(1000);
            for param in parts {
                let param = param.trim();
                if let Some((name, value)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(value.trim());
                    }
                }
            }
            let Some(q) = q else {
                continue;
            };
            if q == 0 {
                continue;
            }
            if best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((lang, q));
            }
        }
        best.map_or(Lang::En, |(lang, _)| lang)
    }
}

/// A q-value in thousandths: `0`, `0.5`, `0.875`, `1`, `1.000`. `None` when malformed.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Translates catalog keys into one language.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The catalog text for `key`, or `key` itself when the catalog lacks it (the tests make
    /// sure that never happens for keys the templates and the control plane use).
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        let catalog = match self.lang {
            Lang::En => EN,
            Lang::Fr => FR,
        };
        match catalog.binary_search_by(|(k, _)| (*k).cmp(key)) {
            Ok(i) => catalog[i].1,
            Err(_) => key,
        }
    }
}

/// English catalog, sorted by key (binary search).
static EN: &[(&str, &str)] = &[
    ("account.add_domain", "Add a domain"),
    ("account.add_domain_submit", "Add domain"),
    ("account.domain_hint", "A domain you own, for example example.org. You will then prove ownership with a DNS record."),
    ("account.domains", "Your domains"),
    ("account.no_domains", "You have no domain yet."),
    ("account.no_plan", "No plan is assigned to your account yet. Ask your collective’s administrators."),
    ("account.plan", "Your plan"),
    ("account.title", "Your account"),
    ("admin.audit", "Audit log"),
    ("admin.dns", "DNS"),
    ("admin.invitations", "Invitations"),
    ("admin.members", "Members"),
    ("admin.nodes", "Nodes"),
    ("admin.pending_invitations", "Pending invitations"),
    ("admin.plans", "Plans"),
    ("admin.title", "Administration"),
    ("audit.action", "Action"),
    ("audit.actor", "By"),
    ("audit.at", "Date"),
    ("audit.details", "Details"),
    ("audit.ip", "IP address"),
    ("audit.none", "No entries."),
    ("audit.older", "Older entries"),
    ("audit.pagination", "Audit log pages"),
    ("common.actions", "Actions"),
    ("common.created", "Created"),
    ("common.delete", "Delete"),
    ("common.no", "No"),
    ("common.revoke", "Revoke"),
    ("common.yes", "Yes"),
    ("dns_admin.add_external", "Add an external secondary"),
    ("dns_admin.add_submit", "Add secondary"),
    ("dns_admin.address_hint", "Where it answers, as ip:port; port 53 when only an IP address is given."),
    ("dns_admin.algorithm", "Algorithm"),
    ("dns_admin.catalog", "Catalog zone"),
    ("dns_admin.checked_at", "Checked"),
    ("dns_admin.created", "Configure these keys on the external secondary (one per node; each transfers that node's catalog and zones only):"),
    ("dns_admin.created_once", "The secrets are shown only now. A key for one node opens no other node's zones."),
    ("dns_admin.externals", "External secondaries"),
    ("dns_admin.externals_intro", "Name servers of friendly collectives that copy every zone of every node (through each node's catalog zone, with a TSIG key of its own for each node) and are listed in every zone's NS records."),
    ("dns_admin.fault", "Problem"),
    ("dns_admin.faults", "Problems found by the last checks"),
    ("dns_admin.intro", "Each node serves its members' domains on its own name server, and other nodes serve them as secondaries. Every server of every zone is checked regularly."),
    ("dns_admin.key_not_shown", "not shown yet"),
    ("dns_admin.keys", "Keys (one per node)"),
    ("dns_admin.no_externals", "No external secondary yet."),
    ("dns_admin.no_faults", "Every server answered as expected."),
    ("dns_admin.no_keys", "No key yet"),
    ("dns_admin.no_new_keys", "No key left to show: every key was shown already."),
    ("dns_admin.no_secondaries", "None yet"),
    ("dns_admin.node", "Node"),
    ("dns_admin.nodes", "Name servers"),
    ("dns_admin.not_reported", "Not reported yet"),
    ("dns_admin.operator_hint", "The operator is whoever runs the machine: secondaries are picked among other operators first."),
    ("dns_admin.operator_submit", "Save"),
    ("dns_admin.primary", "Primary"),
    ("dns_admin.reveal", "Show the new keys once"),
    ("dns_admin.rotate", "Rotate TSIG keys"),
    ("dns_admin.rotate_external", "Rotate every key"),
    ("dns_admin.rotate_hint", "Rotating replaces every key the node shares with other nodes; zone transfers pause for a few seconds while both ends apply the new key."),
    ("dns_admin.rotate_key", "Rotate"),
    ("dns_admin.secondaries", "Secondaries"),
    ("dns_admin.state.active", "active"),
    ("dns_admin.state.pending", "pending (not yet in the NS records)"),
    ("dns_admin.state.retiring", "retiring (left the NS records)"),
    ("dns_admin.tsig_hint", "Keys are made here, one per node, named ns<N>.<suffix> (hmac-sha256). Leave the suffix empty to have one generated."),
    ("domain.add_alias", "Add an alias"),
    ("domain.add_alias_submit", "Create alias"),
    ("domain.add_mailbox", "Add a mailbox"),
    ("domain.add_mailbox_submit", "Create mailbox"),
    ("domain.add_xmpp", "Add an XMPP account"),
    ("domain.add_xmpp_submit", "Create XMPP account"),
    ("domain.address", "Address"),
    ("domain.aliases", "Aliases"),
    ("domain.claim_expires", "Unless its ownership is verified, this domain is removed on"),
    ("domain.delete", "Delete this domain"),
    ("domain.delete_submit", "Delete this domain"),
    ("domain.delete_warning", "Deleting the domain also deletes all its mailboxes with their mail, its aliases and its XMPP accounts. This cannot be undone."),
    ("domain.dkim", "Mail signing (DKIM)"),
    ("domain.dkim_intro", "Add this TXT record to the domain's DNS zone too. It lets receiving servers check that mail from your addresses really comes from your mailboxes, so it is less likely to be taken for spam."),
    ("domain.dkim_waiting", "Waiting for the server that hosts your mail: it creates this domain's signing key and reports it within a minute or so. Reload the page to see the record to publish."),
    ("domain.dkim_zone", "The same record as a line of a zone file (long values are split into several quoted strings):"),
    ("domain.dns.add_record", "Add a record"),
    ("domain.dns.add_record_submit", "Add record"),
    ("domain.dns.address", "Address"),
    ("domain.dns.cancel", "Cancel"),
    ("domain.dns.check_now", "Check now"),
    ("domain.dns.checked", "Checked"),
    ("domain.dns.ds", "DNSSEC (DS records)"),
    ("domain.dns.ds_intro", "Give these DS records to your registrar to switch DNSSEC on for the domain. Registrars that ask for the parts separately want, in order: key tag, algorithm, digest type, digest."),
    ("domain.dns.ds_waiting", "The zone is not signed yet. Its DS records appear here once the server that hosts it has signed it."),
    ("domain.dns.edit", "Edit"),
    ("domain.dns.edit_record", "Edit a record"),
    ("domain.dns.edit_record_submit", "Save record"),
    ("domain.dns.heading", "DNS"),
    ("domain.dns.name_hint", "@ for the domain itself, or the name inside it, like www, blog or _sip._tcp. A * may be the whole first part, like *.dev."),
    ("domain.dns.no_nameservers", "No server hosts your account yet: the name servers to set at your registrar appear here once one does."),
    ("domain.dns.no_records", "No record of your own yet."),
    ("domain.dns.no_servers", "The name servers have not been checked yet."),
    ("domain.dns.ok", "OK"),
    ("domain.dns.records", "Your records"),
    ("domain.dns.records_intro", "Records you add are served next to the ones the platform manages (mail, web, signing, service discovery), which cannot be replaced."),
    ("domain.dns.registrar", "At your registrar"),
    ("domain.dns.registrar_intro", "Set these records at your registrar (the challenge at your current DNS host). The last column says whether the public DNS already shows them; Ruche looks again every minute or so."),
    ("domain.dns.role", "Role"),
    ("domain.dns.role.external", "External secondary"),
    ("domain.dns.role.primary", "Primary"),
    ("domain.dns.role.secondary", "Secondary"),
    ("domain.dns.seen", "Seen by the world"),
    ("domain.dns.seen.no", "Not yet"),
    ("domain.dns.seen.unknown", "Not checked yet"),
    ("domain.dns.seen.yes", "Seen"),
    ("domain.dns.serial", "Serial"),
    ("domain.dns.server", "Server"),
    ("domain.dns.servers", "Name servers"),
    ("domain.dns.state", "State"),
    ("domain.dns.ttl_hint", "How long resolvers may keep the record, in seconds: 60 to 86400. Empty: 3600 (one hour)."),
    ("domain.dns.value_hint", "As in a zone file, for example 192.0.2.1 (A), 10 mail.example.net (MX), 10 5 5060 sip.example.net (SRV), 0 issue \"letsencrypt.org\" (CAA). The text of a TXT record without quotes."),
    ("domain.jid", "XMPP address"),
    ("domain.mailboxes", "Mailboxes"),
    ("domain.messages", "Messages"),
    ("domain.no_aliases", "No alias yet."),
    ("domain.no_mailboxes", "No mailbox yet."),
    ("domain.no_xmpp", "No XMPP account yet."),
    ("domain.not_measured", "Not measured yet"),
    ("domain.ownership", "Domain ownership"),
    ("domain.ownership_delay", "DNS changes can take a while to propagate. Ruche checks the record regularly and activates the domain as soon as it finds it."),
    ("domain.ownership_intro", "To prove that this domain is yours, add the following TXT record to its DNS zone (at your registrar or DNS host)."),
    ("domain.ownership_verified", "Ownership of this domain was verified with the following TXT record."),
    ("domain.quota", "Quota"),
    ("domain.record_name", "Name"),
    ("domain.record_type", "Type"),
    ("domain.record_value", "Value"),
    ("domain.source_hint", "Only the part before the @. Enter * to catch mail for every address of the domain that has no mailbox or alias."),
    ("domain.status", "Status:"),
    ("domain.status.active", "Active"),
    ("domain.status.pending_verification", "Waiting for verification"),
    ("domain.targets", "Delivered to"),
    ("domain.targets_hint", "One address per line, or separated by commas."),
    ("domain.used", "Used"),
    ("domain.verified_at", "Verified on"),
    ("domain.xmpp", "XMPP accounts"),
    ("done.alias_created", "Alias created."),
    ("done.alias_deleted", "Alias deleted."),
    ("done.api_token_revoked", "API token revoked."),
    ("done.app_password_revoked", "App password revoked."),
    ("done.domain_created", "Domain added. Now prove that it is yours with the DNS record below."),
    ("done.domain_deleted", "Domain deleted."),
    ("done.invitation_revoked", "Invitation revoked."),
    ("done.logged_out", "You are signed out."),
    ("done.mailbox_created", "Mailbox created."),
    ("done.mailbox_deleted", "Mailbox deleted."),
    ("done.member_updated", "Member updated."),
    ("done.node_created", "Node added."),
    ("done.node_revoked", "The node's credential is revoked."),
    ("done.password_changed", "Your password has been changed."),
    ("done.password_reset", "Your password has been reset. You can now sign in."),
    ("done.plan_created", "Plan created."),
    ("done.saved", "Saved."),
    ("done.sessions_revoked", "Your other sessions have been signed out."),
    ("done.totp_disabled", "Two-factor authentication is now disabled."),
    ("done.totp_enabled", "Two-factor authentication is now enabled."),
    ("done.xmpp_created", "XMPP account created."),
    ("done.xmpp_deleted", "XMPP account deleted."),
    ("error.csrf", "This form has expired. Please reload the page and try again."),
    ("error.forbidden", "You are not allowed to do this."),
    ("error.gone", "This link is no longer valid. It may have been used already or have expired."),
    ("error.home", "Back to the home page"),
    ("error.internal", "Something went wrong on our side. Please try again later."),
    ("error.not_found", "This page does not exist."),
    ("error.rate_limited", "Too many attempts. Please wait a few minutes and try again."),
    ("error.status", "Error code"),
    ("error.title", "Something went wrong"),
    ("error.unauthorized", "Please sign in to continue."),
    ("error.unavailable", "The service is temporarily unavailable. Please try again in a moment."),
    ("field.address", "Address (ip:port)"),
    ("field.code", "Code"),
    ("field.collective_name", "Collective name"),
    ("field.csrf", "Form token"),
    ("field.current_password", "Current password"),
    ("field.display_name", "Your name"),
    ("field.domain", "Domain"),
    ("field.email", "Email address"),
    ("field.key_suffix", "Key name suffix"),
    ("field.label", "Label"),
    ("field.local_part", "Address"),
    ("field.max_aliases", "Aliases"),
    ("field.max_domains", "Domains"),
    ("field.max_mailboxes", "Mailboxes"),
    ("field.max_xmpp_accounts", "XMPP accounts"),
    ("field.name", "Name"),
    ("field.nameserver", "Name server"),
    ("field.node", "XMPP address"),
    ("field.node_id", "Node"),
    ("field.operator", "Operator"),
    ("field.password", "Password"),
    ("field.password_confirm", "Password again"),
    ("field.plan", "Plan"),
    ("field.platform_domain", "Platform domain"),
    ("field.q", "Search"),
    ("field.quota_mib", "Quota (MiB)"),
    ("field.scope", "Used for"),
    ("field.source", "Alias address"),
    ("field.storage_mib", "Storage (MiB)"),
    ("field.targets", "Deliver to"),
    ("field.token", "Link"),
    ("field.tsig_name", "TSIG key name"),
    ("field.tsig_secret", "TSIG secret (base64)"),
    ("field.ttl", "TTL"),
    ("field.type", "Type"),
    ("field.value", "Value"),
    ("footer.text", "Ruche — cooperative self-hosting"),
    ("forgot.back", "Back to sign in"),
    ("forgot.intro", "Enter the email address of your account. We will send you a link to choose a new password."),
    ("forgot.sent", "If an account exists for this address, a mail with a link to reset your password is on its way. The link is valid for a limited time."),
    ("forgot.submit", "Send the link"),
    ("forgot.title", "Forgotten password"),
    ("invitations.expires", "Expires"),
    ("invitations.link_also", "You can also pass this invitation link on yourself:"),
    ("invitations.link_no_mail", "The invitation could not be sent by mail (no mail relay is configured, or sending failed). Pass this link on to the person yourself, through a channel you trust:"),
    ("invitations.link_once", "The link works only once and expires after a while. It is not shown again."),
    ("invitations.mail_sent", "The invitation was sent by mail."),
    ("invitations.new", "Invite someone"),
    ("invitations.none", "No pending invitation."),
    ("invitations.pending", "Pending invitations"),
    ("invitations.submit", "Send the invitation"),
    ("invite.intro", "You have been invited to join this collective. Choose your name and a password to create your account."),
    ("invite.submit", "Create my account"),
    ("invite.title", "Join the collective"),
    ("login.forgot", "Forgotten password?"),
    ("login.submit", "Sign in"),
    ("login.title", "Sign in"),
    ("member.actions", "Account actions"),
    ("member.admin_protected", "Administrators cannot be suspended or deleted from here."),
    ("member.cancel_delete", "Cancel the deletion"),
    ("member.change_plan", "Plan"),
    ("member.change_plan_submit", "Change plan"),
    ("member.created", "Member since"),
    ("member.delete", "Delete this member"),
    ("member.delete_after", "Deleted after"),
    ("member.delete_warning", "The account is suspended at once and deleted, with all its domains, mailboxes and mail, after a grace period. You can cancel until then."),
    ("member.deleting_notice", "This account is scheduled for deletion after"),
    ("member.move_hint", "The chosen node serves the member's domains, mailboxes and accounts from now on. Mail already stored on the previous node is not copied."),
    ("member.move_submit", "Move / host here"),
    ("member.no_joined_nodes", "No node has joined yet: add one on the Nodes page."),
    ("member.node", "Node"),
    ("member.node_none", "No node serves this member yet."),
    ("member.recent_activity", "Recent activity"),
    ("member.status.active", "Active"),
    ("member.status.deleting", "Scheduled for deletion"),
    ("member.status.suspended", "Suspended"),
    ("member.suspend", "Suspend"),
    ("member.suspend_hint", "A suspended member can no longer sign in, and their mailboxes and XMPP accounts stop working until the suspension is lifted."),
    ("member.totp", "Two-factor authentication"),
    ("member.unsuspend", "Lift the suspension"),
    ("member.usage", "Usage"),
    ("members.admin_badge", "Admin"),
    ("members.count", "members"),
    ("members.display_name", "Name"),
    ("members.none", "No member found."),
    ("members.pagination", "Member list pages"),
    ("members.search", "Search by email or name"),
    ("members.search_submit", "Search"),
    ("members.status", "Status"),
    ("nav.account", "Account"),
    ("nav.admin", "Administration"),
    ("nav.label", "Main menu"),
    ("nav.language", "Language"),
    ("nav.logout", "Sign out"),
    ("nav.security", "Security"),
    ("nav.signed_in_as", "Signed in as"),
    ("nav.skip", "Skip to content"),
    ("node.applying", "Applying changes…"),
    ("node.applying_hint", "Reload the page in a moment to check."),
    ("node.label", "Services:"),
    ("node.live", "Live"),
    ("node.waiting", "Waiting for a server"),
    ("nodes.actions", "Credential"),
    ("nodes.add", "Add a node"),
    ("nodes.add_submit", "Create join command"),
    ("nodes.addresses", "Addresses"),
    ("nodes.capacity", "Capacity"),
    ("nodes.credential_help", "Revoke stops the node's credential at once: its polls and heartbeats are refused, it keeps serving what it last applied. Rotate creates a new one-time join token; joining with it gives the same node a new credential (its current one works until then)."),
    ("nodes.generations", "Applied / desired"),
    ("nodes.health", "Health"),
    ("nodes.health.ok", "Healthy"),
    ("nodes.health.problem", "A service reports a problem"),
    ("nodes.health.unknown", "Unknown"),
    ("nodes.intro", "Nodes are the machines that serve your members' mail, chat and DNS. Add one here, then run the command shown on that machine."),
    ("nodes.join_command", "Run this on the node, as root:"),
    ("nodes.join_once", "The token works once, within 24 hours. It is shown only now."),
    ("nodes.join_token", "One-time join token (paste it when the command asks for it):"),
    ("nodes.last_heartbeat", "Last seen"),
    ("nodes.members", "Members"),
    ("nodes.none", "No node yet."),
    ("nodes.revoke", "Revoke"),
    ("nodes.rotate", "Rotate"),
    ("nodes.state", "State"),
    ("nodes.state.joined", "Joined"),
    ("nodes.state.revoked", "Credential revoked"),
    ("nodes.state.rotating", "Joined; new join token out"),
    ("nodes.state.waiting", "Waiting to join"),
    ("nodes.version", "Version"),
    ("pager.next", "Next page"),
    ("pager.of", "of"),
    ("pager.page", "Page"),
    ("pager.prev", "Previous page"),
    ("password.hint", "At least 12 characters. A few unrelated words make a strong password that is easy to remember."),
    ("plans.add", "New plan"),
    ("plans.add_submit", "Create plan"),
    ("plans.cancel", "Cancel"),
    ("plans.edit", "Edit"),
    ("plans.edit_hint", "Lowering a limit never deletes anything: members above it keep what they have but cannot create more."),
    ("plans.edit_title", "Edit plan"),
    ("plans.none", "No plan yet."),
    ("plans.save", "Save"),
    ("reset.submit", "Change my password"),
    ("reset.title", "Choose a new password"),
    ("scope.dav", "Calendars and contacts (CalDAV/CardDAV)"),
    ("scope.imap", "Reading mail (IMAP)"),
    ("scope.smtp", "Sending mail (SMTP)"),
    ("scope.xmpp", "Chat (XMPP)"),
    ("security.add_api_token", "New API token"),
    ("security.add_api_token_submit", "Create token"),
    ("security.add_app_password", "New app password"),
    ("security.add_app_password_submit", "Create app password"),
    ("security.api_tokens", "API tokens"),
    ("security.api_tokens_intro", "API tokens let your own scripts manage your account. The API is described at"),
    ("security.app_password_all_mailboxes", "All my mailboxes"),
    ("security.app_password_label_hint", "To recognise it later, for example “Phone”."),
    ("security.app_password_limit", "You may hold up to 50 app passwords at once."),
    ("security.app_password_mailbox", "Mailbox"),
    ("security.app_password_mailbox_hint", "It will only open this mailbox. Choose “All my mailboxes” only for an app that reads several."),
    ("security.app_passwords", "App passwords"),
    ("security.app_passwords_intro", "Give each mail, chat or calendar app its own password, limited to one service. You can revoke it at any time without changing your main password."),
    ("security.last_seen", "Last active"),
    ("security.last_used", "Last used"),
    ("security.never_used", "Never"),
    ("security.new_api_token", "Your new API token:"),
    ("security.new_app_password", "New app password for"),
    ("security.new_password", "New password"),
    ("security.no_api_tokens", "No API token."),
    ("security.no_app_passwords", "No app password."),
    ("security.password", "Change your password"),
    ("security.password_submit", "Change password"),
    ("security.recovery_codes_warning", "Store these recovery codes somewhere safe now: they are shown only once. Each one lets you sign in once if you lose your authenticator app."),
    ("security.revoke_credentials", "Also revoke my API tokens and app passwords"),
    ("security.session_device", "Browser"),
    ("security.session_ip", "Address"),
    ("security.sessions", "Where you are signed in"),
    ("security.sessions_intro", "These browsers are signed in to your account. If you do not recognise one, sign out everywhere else and change your password."),
    ("security.shown_once", "Copy it now: it is shown only once."),
    ("security.sign_out_others", "Sign out everywhere else"),
    ("security.this_session", "this browser"),
    ("security.title", "Security"),
    ("security.totp", "Two-factor authentication"),
    ("security.totp_confirm_submit", "Confirm and enable"),
    ("security.totp_disable", "Disable two-factor authentication"),
    ("security.totp_disable_submit", "Disable"),
    ("security.totp_disabled", "Two-factor authentication is not enabled."),
    ("security.totp_enabled", "Two-factor authentication is enabled."),
    ("security.totp_enrol_hint", "Then enter the 6-digit code your app shows to finish."),
    ("security.totp_enrol_intro", "Add this account to your authenticator app: type the secret key, or paste the setup link if your app accepts it."),
    ("security.totp_explain", "With two-factor authentication, signing in also asks for a code from an app on your phone, so a stolen password is not enough."),
    ("security.totp_secret", "Secret key"),
    ("security.totp_start_submit", "Enable two-factor authentication"),
    ("security.totp_uri", "Setup link"),
    ("setup.admin", "First administrator"),
    ("setup.collective", "Your collective"),
    ("setup.intro", "This page creates your collective and its first administrator account."),
    ("setup.once", "This setup link works only once."),
    ("setup.platform_domain_hint", "The domain this Ruche instance runs on, for example ruche.example.org."),
    ("setup.submit", "Create the collective"),
    ("setup.title", "Set up Ruche"),
    ("totp_login.hint", "Enter the 6-digit code from your authenticator app. A recovery code also works."),
    ("totp_login.submit", "Verify"),
    ("totp_login.title", "Two-factor authentication"),
    ("unit.kib", "KiB"),
    ("unit.mib", "MiB"),
    ("usage.aliases", "Aliases"),
    ("usage.bar", "Share used"),
    ("usage.caption", "Usage against the plan"),
    ("usage.domains", "Domains"),
    ("usage.mailboxes", "Mailboxes"),
    ("usage.resource", "Resource"),
    ("usage.storage", "Storage (MiB)"),
    ("usage.stored", "Stored mail"),
    ("usage.used_of_max", "Used / allowed"),
    ("usage.xmpp", "XMPP accounts"),
    ("workers.continuous", "continuously"),
    ("workers.every", "Every"),
    ("workers.last_error", "Last error"),
    ("workers.last_run", "Last run (UTC)"),
    ("workers.name", "Worker"),
    ("workers.never", "not yet"),
    ("workers.no_error", "none"),
    ("workers.runs", "Runs (failed)"),
    ("workers.title", "Background workers"),
];

/// French catalog, same keys in the same order. `\u{a0}` is the no-break space French
/// typography puts before `:` `?` `!` and inside « ».
static FR: &[(&str, &str)] = &[
    ("account.add_domain", "Ajouter un domaine"),
    ("account.add_domain_submit", "Ajouter le domaine"),
    ("account.domain_hint", "Un domaine qui vous appartient, par exemple example.org. Vous prouverez ensuite qu’il est à vous avec un enregistrement DNS."),
    ("account.domains", "Vos domaines"),
    ("account.no_domains", "Vous n’avez encore aucun domaine."),
    ("account.no_plan", "Aucune formule n’est encore attribuée à votre compte. Adressez-vous aux administrateurs de votre collectif."),
    ("account.plan", "Votre formule"),
    ("account.title", "Votre compte"),
    ("admin.audit", "Journal d’audit"),
    ("admin.dns", "DNS"),
    ("admin.invitations", "Invitations"),
    ("admin.members", "Membres"),
    ("admin.nodes", "Nœuds"),
    ("admin.pending_invitations", "Invitations en attente"),
    ("admin.plans", "Formules"),
    ("admin.title", "Administration"),
    ("audit.action", "Action"),
    ("audit.actor", "Par"),
    ("audit.at", "Date"),
    ("audit.details", "Détails"),
    ("audit.ip", "Adresse IP"),
    ("audit.none", "Aucune entrée."),
    ("audit.older", "Entrées plus anciennes"),
    ("audit.pagination", "Pages du journal d’audit"),
    ("common.actions", "Actions"),
    ("common.created", "Création"),
    ("common.delete", "Supprimer"),
    ("common.no", "Non"),
    ("common.revoke", "Révoquer"),
    ("common.yes", "Oui"),
    ("dns_admin.add_external", "Ajouter un secondaire externe"),
    ("dns_admin.add_submit", "Ajouter le secondaire"),
    ("dns_admin.address_hint", "Où il répond, sous la forme ip:port\u{a0}; le port 53 si seule une adresse IP est donnée."),
    ("dns_admin.algorithm", "Algorithme"),
    ("dns_admin.catalog", "Zone catalogue"),
    ("dns_admin.checked_at", "Vérifié le"),
    ("dns_admin.created", "Configurez ces clés sur le secondaire externe (une par nœud\u{a0}; chacune ne transfère que le catalogue et les zones de ce nœud)\u{a0}:"),
    ("dns_admin.created_once", "Les secrets ne sont affichés que maintenant. La clé d’un nœud n’ouvre les zones d’aucun autre nœud."),
    ("dns_admin.externals", "Secondaires externes"),
    ("dns_admin.externals_intro", "Serveurs de noms de collectifs amis qui copient toutes les zones de tous les nœuds (par la zone catalogue de chaque nœud, avec une clé TSIG propre à chaque nœud) et figurent dans les enregistrements NS de chaque zone."),
    ("dns_admin.fault", "Problème"),
    ("dns_admin.faults", "Problèmes trouvés par les dernières vérifications"),
    ("dns_admin.intro", "Chaque nœud sert les domaines de ses membres sur son propre serveur de noms, et d’autres nœuds les servent en secondaires. Chaque serveur de chaque zone est vérifié régulièrement."),
    ("dns_admin.key_not_shown", "pas encore affichée"),
    ("dns_admin.keys", "Clés (une par nœud)"),
    ("dns_admin.no_externals", "Aucun secondaire externe pour l’instant."),
    ("dns_admin.no_faults", "Tous les serveurs ont répondu comme prévu."),
    ("dns_admin.no_keys", "Aucune clé pour l’instant"),
    ("dns_admin.no_new_keys", "Plus aucune clé à afficher\u{a0}: toutes l’ont déjà été."),
    ("dns_admin.no_secondaries", "Aucun pour l’instant"),
    ("dns_admin.node", "Nœud"),
    ("dns_admin.nodes", "Serveurs de noms"),
    ("dns_admin.not_reported", "Pas encore signalée"),
    ("dns_admin.operator_hint", "L’opérateur est celui qui fait tourner la machine\u{a0}: les secondaires sont choisis d’abord chez d’autres opérateurs."),
    ("dns_admin.operator_submit", "Enregistrer"),
    ("dns_admin.primary", "Primaire"),
    ("dns_admin.reveal", "Afficher une fois les nouvelles clés"),
    ("dns_admin.rotate", "Renouveler les clés TSIG"),
    ("dns_admin.rotate_external", "Renouveler toutes les clés"),
    ("dns_admin.rotate_hint", "Le renouvellement remplace toutes les clés que le nœud partage avec d’autres nœuds\u{a0}; les transferts de zones s’interrompent quelques secondes, le temps que les deux côtés appliquent la nouvelle clé."),
    ("dns_admin.rotate_key", "Renouveler"),
    ("dns_admin.secondaries", "Secondaires"),
    ("dns_admin.state.active", "actif"),
    ("dns_admin.state.pending", "en attente (pas encore dans les NS)"),
    ("dns_admin.state.retiring", "en retrait (sorti des NS)"),
    ("dns_admin.tsig_hint", "Les clés sont créées ici, une par nœud, nommées ns<N>.<suffixe> (hmac-sha256). Laissez le suffixe vide pour qu’il soit généré."),
    ("domain.add_alias", "Ajouter un alias"),
    ("domain.add_alias_submit", "Créer l’alias"),
    ("domain.add_mailbox", "Ajouter une boîte mail"),
    ("domain.add_mailbox_submit", "Créer la boîte mail"),
    ("domain.add_xmpp", "Ajouter un compte XMPP"),
    ("domain.add_xmpp_submit", "Créer le compte XMPP"),
    ("domain.address", "Adresse"),
    ("domain.aliases", "Alias"),
    ("domain.claim_expires", "Sans vérification de la propriété, ce domaine sera retiré le"),
    ("domain.delete", "Supprimer ce domaine"),
    ("domain.delete_submit", "Supprimer ce domaine"),
    ("domain.delete_warning", "La suppression du domaine supprime aussi toutes ses boîtes mail et leurs messages, ses alias et ses comptes XMPP. Cette action est irréversible."),
    ("domain.dkim", "Signature du courrier (DKIM)"),
    ("domain.dkim_intro", "Ajoutez aussi cet enregistrement TXT à la zone DNS du domaine. Il permet aux serveurs destinataires de vérifier que le courrier de vos adresses vient bien de vos boîtes mail, ce qui lui évite d’être pris pour du spam."),
    ("domain.dkim_waiting", "En attente du serveur qui héberge votre courrier\u{a0}: il crée la clé de signature de ce domaine et la communique en une minute environ. Rechargez la page pour voir l’enregistrement à publier."),
    ("domain.dkim_zone", "Le même enregistrement sous forme de ligne de fichier de zone (les valeurs longues sont découpées en plusieurs chaînes entre guillemets)\u{a0}:"),
    ("domain.dns.add_record", "Ajouter un enregistrement"),
    ("domain.dns.add_record_submit", "Ajouter l’enregistrement"),
    ("domain.dns.address", "Adresse"),
    ("domain.dns.cancel", "Annuler"),
    ("domain.dns.check_now", "Vérifier maintenant"),
    ("domain.dns.checked", "Vérifié le"),
    ("domain.dns.ds", "DNSSEC (enregistrements DS)"),
    ("domain.dns.ds_intro", "Transmettez ces enregistrements DS à votre bureau d’enregistrement pour activer DNSSEC sur le domaine. Ceux qui demandent les parties séparément attendent, dans l’ordre\u{a0}: identifiant de clé, algorithme, type d’empreinte, empreinte."),
    ("domain.dns.ds_waiting", "La zone n’est pas encore signée. Ses enregistrements DS apparaîtront ici dès que le serveur qui l’héberge l’aura signée."),
    ("domain.dns.edit", "Modifier"),
    ("domain.dns.edit_record", "Modifier un enregistrement"),
    ("domain.dns.edit_record_submit", "Enregistrer les modifications"),
    ("domain.dns.heading", "DNS"),
    ("domain.dns.name_hint", "@ pour le domaine lui-même, ou le nom à l’intérieur, comme www, blog ou _sip._tcp. Un * peut former toute la première partie, comme *.dev."),
    ("domain.dns.no_nameservers", "Aucun serveur n’héberge encore votre compte\u{a0}: les serveurs de noms à déclarer chez votre bureau d’enregistrement apparaîtront ici dès que ce sera le cas."),
    ("domain.dns.no_records", "Aucun enregistrement à vous pour l’instant."),
    ("domain.dns.no_servers", "Les serveurs de noms n’ont pas encore été vérifiés."),
    ("domain.dns.ok", "OK"),
    ("domain.dns.records", "Vos enregistrements"),
    ("domain.dns.records_intro", "Les enregistrements que vous ajoutez sont servis à côté de ceux que gère la plateforme (courrier, web, signature, découverte des services), qui ne peuvent pas être remplacés."),
    ("domain.dns.registrar", "Chez votre bureau d’enregistrement"),
    ("domain.dns.registrar_intro", "Déclarez ces enregistrements chez votre bureau d’enregistrement (le défi chez votre hébergeur DNS actuel). La dernière colonne indique si le DNS public les montre déjà\u{a0}; Ruche vérifie de nouveau environ chaque minute."),
    ("domain.dns.role", "Rôle"),
    ("domain.dns.role.external", "Secondaire externe"),
    ("domain.dns.role.primary", "Primaire"),
    ("domain.dns.role.secondary", "Secondaire"),
    ("domain.dns.seen", "Visible publiquement"),
    ("domain.dns.seen.no", "Pas encore"),
    ("domain.dns.seen.unknown", "Pas encore vérifié"),
    ("domain.dns.seen.yes", "Visible"),
    ("domain.dns.serial", "Numéro de série"),
    ("domain.dns.server", "Serveur"),
    ("domain.dns.servers", "Serveurs de noms"),
    ("domain.dns.state", "État"),
    ("domain.dns.ttl_hint", "Durée pendant laquelle les résolveurs peuvent garder l’enregistrement, en secondes\u{a0}: de 60 à 86400. Vide\u{a0}: 3600 (une heure)."),
    ("domain.dns.value_hint", "Comme dans un fichier de zone, par exemple 192.0.2.1 (A), 10 mail.example.net (MX), 10 5 5060 sip.example.net (SRV), 0 issue \"letsencrypt.org\" (CAA). Le texte d’un enregistrement TXT sans guillemets."),
    ("domain.jid", "Adresse XMPP"),
    ("domain.mailboxes", "Boîtes mail"),
    ("domain.messages", "Messages"),
    ("domain.no_aliases", "Aucun alias pour l’instant."),
    ("domain.no_mailboxes", "Aucune boîte mail pour l’instant."),
    ("domain.no_xmpp", "Aucun compte XMPP pour l’instant."),
    ("domain.not_measured", "Pas encore mesuré"),
    ("domain.ownership", "Propriété du domaine"),
    ("domain.ownership_delay", "Les modifications DNS peuvent mettre un certain temps à se propager. Ruche vérifie régulièrement l’enregistrement et active le domaine dès qu’elle le trouve."),
    ("domain.ownership_intro", "Pour prouver que ce domaine vous appartient, ajoutez l’enregistrement TXT suivant à sa zone DNS (chez votre bureau d’enregistrement ou votre hébergeur DNS)."),
    ("domain.ownership_verified", "La propriété de ce domaine a été vérifiée grâce à l’enregistrement TXT suivant."),
    ("domain.quota", "Quota"),
    ("domain.record_name", "Nom"),
    ("domain.record_type", "Type"),
    ("domain.record_value", "Valeur"),
    ("domain.source_hint", "Seulement la partie avant le @. Saisissez * pour recevoir le courrier de toutes les adresses du domaine qui n’ont ni boîte mail ni alias."),
    ("domain.status", "État\u{a0}:"),
    ("domain.status.active", "Actif"),
    ("domain.status.pending_verification", "En attente de vérification"),
    ("domain.targets", "Redirigé vers"),
    ("domain.targets_hint", "Une adresse par ligne, ou séparées par des virgules."),
    ("domain.used", "Utilisé"),
    ("domain.verified_at", "Vérifié le"),
    ("domain.xmpp", "Comptes XMPP"),
    ("done.alias_created", "Alias créé."),
    ("done.alias_deleted", "Alias supprimé."),
    ("done.api_token_revoked", "Jeton d’API révoqué."),
    ("done.app_password_revoked", "Mot de passe d’application révoqué."),
    ("done.domain_created", "Domaine ajouté. Prouvez maintenant qu’il vous appartient avec l’enregistrement DNS ci-dessous."),
    ("done.domain_deleted", "Domaine supprimé."),
    ("done.invitation_revoked", "Invitation révoquée."),
    ("done.logged_out", "Déconnexion effectuée."),
    ("done.mailbox_created", "Boîte mail créée."),
    ("done.mailbox_deleted", "Boîte mail supprimée."),
    ("done.member_updated", "Membre mis à jour."),
    ("done.node_created", "Nœud ajouté."),
    ("done.node_revoked", "L’identifiant du nœud est révoqué."),
    ("done.password_changed", "Votre mot de passe a été modifié."),
    ("done.password_reset", "Votre mot de passe a été réinitialisé. Vous pouvez maintenant vous connecter."),
    ("done.plan_created", "Formule créée."),
    ("done.saved", "Enregistré."),
    ("done.sessions_revoked", "Vos autres sessions ont été déconnectées."),
    ("done.totp_disabled", "La double authentification est désormais désactivée."),
    ("done.totp_enabled", "La double authentification est désormais activée."),
    ("done.xmpp_created", "Compte XMPP créé."),
    ("done.xmpp_deleted", "Compte XMPP supprimé."),
    ("error.csrf", "Ce formulaire a expiré. Veuillez recharger la page et réessayer."),
    ("error.forbidden", "Vous n’avez pas l’autorisation de faire cela."),
    ("error.gone", "Ce lien n’est plus valide. Il a peut-être déjà été utilisé ou il a expiré."),
    ("error.home", "Retour à l’accueil"),
    ("error.internal", "Une erreur s’est produite de notre côté. Veuillez réessayer plus tard."),
    ("error.not_found", "Cette page n’existe pas."),
    ("error.rate_limited", "Trop de tentatives. Veuillez patienter quelques minutes puis réessayer."),
    ("error.status", "Code d’erreur"),
    ("error.title", "Un problème est survenu"),
    ("error.unauthorized", "Veuillez vous connecter pour continuer."),
    ("error.unavailable", "Le service est momentanément indisponible. Veuillez réessayer dans un instant."),
    ("field.address", "Adresse (ip:port)"),
    ("field.code", "Code"),
    ("field.collective_name", "Nom du collectif"),
    ("field.csrf", "Jeton de formulaire"),
    ("field.current_password", "Mot de passe actuel"),
    ("field.display_name", "Votre nom"),
    ("field.domain", "Domaine"),
    ("field.email", "Adresse e-mail"),
    ("field.key_suffix", "Suffixe du nom des clés"),
    ("field.label", "Libellé"),
    ("field.local_part", "Adresse"),
    ("field.max_aliases", "Alias"),
    ("field.max_domains", "Domaines"),
    ("field.max_mailboxes", "Boîtes mail"),
    ("field.max_xmpp_accounts", "Comptes XMPP"),
    ("field.name", "Nom"),
    ("field.nameserver", "Serveur de noms"),
    ("field.node", "Adresse XMPP"),
    ("field.node_id", "Nœud"),
    ("field.operator", "Opérateur"),
    ("field.password", "Mot de passe"),
    ("field.password_confirm", "Confirmation du mot de passe"),
    ("field.plan", "Formule"),
    ("field.platform_domain", "Domaine de la plateforme"),
    ("field.q", "Recherche"),
    ("field.quota_mib", "Quota (Mio)"),
    ("field.scope", "Utilisation"),
    ("field.source", "Adresse de l’alias"),
    ("field.storage_mib", "Stockage (Mio)"),
    ("field.targets", "Rediriger vers"),
    ("field.token", "Lien"),
    ("field.tsig_name", "Nom de la clé TSIG"),
    ("field.tsig_secret", "Secret TSIG (base64)"),
    ("field.ttl", "TTL"),
    ("field.type", "Type"),
    ("field.value", "Valeur"),
    ("footer.text", "Ruche — auto-hébergement coopératif"),
    ("forgot.back", "Retour à la connexion"),
    ("forgot.intro", "Saisissez l’adresse e-mail de votre compte. Nous vous enverrons un lien pour choisir un nouveau mot de passe."),
    ("forgot.sent", "Si un compte existe pour cette adresse, un e-mail contenant un lien de réinitialisation vous a été envoyé. Ce lien est valable pendant une durée limitée."),
    ("forgot.submit", "Envoyer le lien"),
    ("forgot.title", "Mot de passe oublié"),
    ("invitations.expires", "Expiration"),
    ("invitations.link_also", "Vous pouvez aussi transmettre vous-même ce lien d’invitation\u{a0}:"),
    ("invitations.link_no_mail", "L’invitation n’a pas pu être envoyée par e-mail (aucun relais de courrier n’est configuré, ou l’envoi a échoué). Transmettez vous-même ce lien à la personne, par un moyen de confiance\u{a0}:"),
    ("invitations.link_once", "Le lien ne fonctionne qu’une seule fois et expire au bout d’un certain temps. Il ne sera plus affiché."),
    ("invitations.mail_sent", "L’invitation a été envoyée par e-mail."),
    ("invitations.new", "Inviter une personne"),
    ("invitations.none", "Aucune invitation en attente."),
    ("invitations.pending", "Invitations en attente"),
    ("invitations.submit", "Envoyer l’invitation"),
    ("invite.intro", "Vous avez reçu une invitation à rejoindre ce collectif. Choisissez votre nom et un mot de passe pour créer votre compte."),
    ("invite.submit", "Créer mon compte"),
    ("invite.title", "Rejoindre le collectif"),
    ("login.forgot", "Mot de passe oublié\u{a0}?"),
    ("login.submit", "Se connecter"),
    ("login.title", "Connexion"),
    ("member.actions", "Actions sur le compte"),
    ("member.admin_protected", "Les administrateurs ne peuvent pas être suspendus ni supprimés depuis cette page."),
    ("member.cancel_delete", "Annuler la suppression"),
    ("member.change_plan", "Formule"),
    ("member.change_plan_submit", "Changer de formule"),
    ("member.created", "Membre depuis"),
    ("member.delete", "Supprimer ce membre"),
    ("member.delete_after", "Suppression prévue après"),
    ("member.delete_warning", "Le compte est suspendu immédiatement, puis supprimé avec tous ses domaines, boîtes mail et messages à l’issue d’un délai de grâce. Vous pouvez annuler d’ici là."),
    ("member.deleting_notice", "Ce compte sera supprimé après le"),
    ("member.move_hint", "Le nœud choisi sert désormais les domaines, boîtes mail et comptes du membre. Le courrier déjà stocké sur le nœud précédent n’est pas copié."),
    ("member.move_submit", "Déplacer / héberger ici"),
    ("member.no_joined_nodes", "Aucun nœud n’est encore connecté\u{a0}: ajoutez-en un sur la page Nœuds."),
    ("member.node", "Nœud"),
    ("member.node_none", "Aucun nœud ne sert encore ce membre."),
    ("member.recent_activity", "Activité récente"),
    ("member.status.active", "Actif"),
    ("member.status.deleting", "Suppression programmée"),
    ("member.status.suspended", "Suspendu"),
    ("member.suspend", "Suspendre"),
    ("member.suspend_hint", "Un membre suspendu ne peut plus se connecter, et ses boîtes mail et comptes XMPP cessent de fonctionner jusqu’à la levée de la suspension."),
    ("member.totp", "Double authentification"),
    ("member.unsuspend", "Lever la suspension"),
    ("member.usage", "Consommation"),
    ("members.admin_badge", "Admin"),
    ("members.count", "membres"),
    ("members.display_name", "Nom"),
    ("members.none", "Aucun membre trouvé."),
    ("members.pagination", "Pages de la liste des membres"),
    ("members.search", "Rechercher par adresse e-mail ou par nom"),
    ("members.search_submit", "Rechercher"),
    ("members.status", "État"),
    ("nav.account", "Compte"),
    ("nav.admin", "Administration"),
    ("nav.label", "Menu principal"),
    ("nav.language", "Langue"),
    ("nav.logout", "Se déconnecter"),
    ("nav.security", "Sécurité"),
    ("nav.signed_in_as", "Connecté en tant que"),
    ("nav.skip", "Aller au contenu"),
    ("node.applying", "Application des changements…"),
    ("node.applying_hint", "Rechargez la page dans un instant pour vérifier."),
    ("node.label", "Services\u{a0}:"),
    ("node.live", "En service"),
    ("node.waiting", "En attente d’un serveur"),
    ("nodes.actions", "Identifiant"),
    ("nodes.add", "Ajouter un nœud"),
    ("nodes.add_submit", "Créer la commande de connexion"),
    ("nodes.addresses", "Adresses"),
    ("nodes.capacity", "Capacité"),
    ("nodes.credential_help", "Révoquer arrête l’identifiant du nœud immédiatement\u{a0}: ses requêtes et signaux de vie sont refusés, il continue de servir ce qu’il a appliqué en dernier. Renouveler crée un nouveau jeton de connexion à usage unique\u{a0}; en se connectant avec, le même nœud reçoit un nouvel identifiant (l’actuel fonctionne jusque-là)."),
    ("nodes.generations", "Génération appliquée / voulue"),
    ("nodes.health", "Santé"),
    ("nodes.health.ok", "En bonne santé"),
    ("nodes.health.problem", "Un service signale un problème"),
    ("nodes.health.unknown", "Inconnue"),
    ("nodes.intro", "Les nœuds sont les machines qui servent le courrier, la messagerie et le DNS de vos membres. Ajoutez-en un ici, puis lancez la commande affichée sur cette machine."),
    ("nodes.join_command", "Lancez ceci sur le nœud, en tant que root\u{a0}:"),
    ("nodes.join_once", "Le jeton fonctionne une seule fois, dans les 24\u{a0}heures. Il n’est affiché que maintenant."),
    ("nodes.join_token", "Jeton de connexion à usage unique (collez-le quand la commande le demande)\u{a0}:"),
    ("nodes.last_heartbeat", "Vu pour la dernière fois"),
    ("nodes.members", "Membres"),
    ("nodes.none", "Aucun nœud pour l’instant."),
    ("nodes.revoke", "Révoquer"),
    ("nodes.rotate", "Renouveler"),
    ("nodes.state", "État"),
    ("nodes.state.joined", "Connecté"),
    ("nodes.state.revoked", "Identifiant révoqué"),
    ("nodes.state.rotating", "Connecté\u{a0}; nouveau jeton de connexion émis"),
    ("nodes.state.waiting", "En attente de connexion"),
    ("nodes.version", "Version"),
    ("pager.next", "Page suivante"),
    ("pager.of", "sur"),
    ("pager.page", "Page"),
    ("pager.prev", "Page précédente"),
    ("password.hint", "Au moins 12 caractères. Quelques mots sans rapport entre eux font un mot de passe solide et facile à retenir."),
    ("plans.add", "Nouvelle formule"),
    ("plans.add_submit", "Créer la formule"),
    ("plans.cancel", "Annuler"),
    ("plans.edit", "Modifier"),
    ("plans.edit_hint", "Baisser une limite ne supprime rien\u{a0}: les membres au-dessus gardent ce qu’ils ont mais ne peuvent plus rien créer de plus."),
    ("plans.edit_title", "Modifier la formule"),
    ("plans.none", "Aucune formule pour l’instant."),
    ("plans.save", "Enregistrer"),
    ("reset.submit", "Changer mon mot de passe"),
    ("reset.title", "Choisir un nouveau mot de passe"),
    ("scope.dav", "Agendas et contacts (CalDAV/CardDAV)"),
    ("scope.imap", "Lecture du courrier (IMAP)"),
    ("scope.smtp", "Envoi du courrier (SMTP)"),
    ("scope.xmpp", "Messagerie instantanée (XMPP)"),
    ("security.add_api_token", "Nouveau jeton d’API"),
    ("security.add_api_token_submit", "Créer le jeton"),
    ("security.add_app_password", "Nouveau mot de passe d’application"),
    ("security.add_app_password_submit", "Créer le mot de passe d’application"),
    ("security.api_tokens", "Jetons d’API"),
    ("security.api_tokens_intro", "Les jetons d’API permettent à vos propres scripts de gérer votre compte. L’API est décrite ici\u{a0}:"),
    ("security.app_password_all_mailboxes", "Toutes mes boîtes aux lettres"),
    ("security.app_password_label_hint", "Pour le reconnaître plus tard, par exemple «\u{a0}Téléphone\u{a0}»."),
    ("security.app_password_limit", "Vous pouvez avoir jusqu’à 50 mots de passe d’application à la fois."),
    ("security.app_password_mailbox", "Boîte aux lettres"),
    ("security.app_password_mailbox_hint", "Il n’ouvrira que cette boîte. Ne choisissez «\u{a0}Toutes mes boîtes aux lettres\u{a0}» que pour une application qui en lit plusieurs."),
    ("security.app_passwords", "Mots de passe d’application"),
    ("security.app_passwords_intro", "Donnez à chaque application de courrier, de messagerie ou d’agenda son propre mot de passe, limité à un seul service. Vous pouvez le révoquer à tout moment sans changer votre mot de passe principal."),
    ("security.last_seen", "Dernière activité"),
    ("security.last_used", "Dernière utilisation"),
    ("security.never_used", "Jamais"),
    ("security.new_api_token", "Votre nouveau jeton d’API\u{a0}:"),
    ("security.new_app_password", "Nouveau mot de passe d’application pour"),
    ("security.new_password", "Nouveau mot de passe"),
    ("security.no_api_tokens", "Aucun jeton d’API."),
    ("security.no_app_passwords", "Aucun mot de passe d’application."),
    ("security.password", "Changer de mot de passe"),
    ("security.password_submit", "Changer le mot de passe"),
    ("security.recovery_codes_warning", "Conservez dès maintenant ces codes de secours en lieu sûr\u{a0}: ils ne sont affichés qu’une seule fois. Chacun permet de vous connecter une fois si vous perdez votre application d’authentification."),
    ("security.revoke_credentials", "Révoquer aussi mes jetons d’API et mots de passe d’application"),
    ("security.session_device", "Navigateur"),
    ("security.session_ip", "Adresse"),
    ("security.sessions", "Où vous êtes connecté·e"),
    ("security.sessions_intro", "Ces navigateurs sont connectés à votre compte. Si vous n’en reconnaissez pas un, déconnectez-vous partout ailleurs et changez votre mot de passe."),
    ("security.shown_once", "Copiez-le maintenant\u{a0}: il n’est affiché qu’une seule fois."),
    ("security.sign_out_others", "Se déconnecter partout ailleurs"),
    ("security.this_session", "ce navigateur"),
    ("security.title", "Sécurité"),
    ("security.totp", "Double authentification"),
    ("security.totp_confirm_submit", "Confirmer et activer"),
    ("security.totp_disable", "Désactiver la double authentification"),
    ("security.totp_disable_submit", "Désactiver"),
    ("security.totp_disabled", "La double authentification n’est pas activée."),
    ("security.totp_enabled", "La double authentification est activée."),
    ("security.totp_enrol_hint", "Saisissez ensuite le code à 6 chiffres affiché par votre application pour terminer."),
    ("security.totp_enrol_intro", "Ajoutez ce compte à votre application d’authentification\u{a0}: saisissez la clé secrète, ou collez le lien de configuration si votre application l’accepte."),
    ("security.totp_explain", "Avec la double authentification, la connexion demande aussi un code fourni par une application sur votre téléphone\u{a0}: un mot de passe volé ne suffit plus."),
    ("security.totp_secret", "Clé secrète"),
    ("security.totp_start_submit", "Activer la double authentification"),
    ("security.totp_uri", "Lien de configuration"),
    ("setup.admin", "Premier administrateur"),
    ("setup.collective", "Votre collectif"),
    ("setup.intro", "Cette page crée votre collectif et son premier compte administrateur."),
    ("setup.once", "Ce lien d’installation ne fonctionne qu’une seule fois."),
    ("setup.platform_domain_hint", "Le domaine sur lequel fonctionne cette instance de Ruche, par exemple ruche.example.org."),
    ("setup.submit", "Créer le collectif"),
    ("setup.title", "Installer Ruche"),
    ("totp_login.hint", "Saisissez le code à 6 chiffres de votre application d’authentification. Un code de secours fonctionne aussi."),
    ("totp_login.submit", "Vérifier"),
    ("totp_login.title", "Double authentification"),
    ("unit.kib", "Kio"),
    ("unit.mib", "Mio"),
    ("usage.aliases", "Alias"),
    ("usage.bar", "Part utilisée"),
    ("usage.caption", "Consommation par rapport à la formule"),
    ("usage.domains", "Domaines"),
    ("usage.mailboxes", "Boîtes mail"),
    ("usage.resource", "Ressource"),
    ("usage.storage", "Stockage (Mio)"),
    ("usage.stored", "Courrier stocké"),
    ("usage.used_of_max", "Utilisé / autorisé"),
    ("usage.xmpp", "Comptes XMPP"),
    ("workers.continuous", "en continu"),
    ("workers.every", "Toutes les"),
    ("workers.last_error", "Dernière erreur"),
    ("workers.last_run", "Dernier passage (UTC)"),
    ("workers.name", "Tâche"),
    ("workers.never", "pas encore"),
    ("workers.no_error", "aucune"),
    ("workers.runs", "Passages (échecs)"),
    ("workers.title", "Tâches de fond"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// `*_key` values and notices the control plane passes to the pages.
    const CONTROL_PLANE_KEYS: &[&str] = &[
        "usage.domains",
        "usage.mailboxes",
        "usage.aliases",
        "usage.xmpp",
        "usage.storage",
        "usage.stored",
        "unit.kib",
        "unit.mib",
        "node.applying",
        "node.live",
        "node.waiting",
        "domain.status.pending_verification",
        "domain.status.active",
        "member.status.active",
        "member.status.suspended",
        "member.status.deleting",
        "done.saved",
        "done.domain_created",
        "done.domain_deleted",
        "domain.dns.seen.yes",
        "domain.dns.seen.no",
        "domain.dns.seen.unknown",
        "domain.dns.role.primary",
        "domain.dns.role.secondary",
        "domain.dns.role.external",
        "done.mailbox_created",
        "done.mailbox_deleted",
        "done.alias_created",
        "done.alias_deleted",
        "done.xmpp_created",
        "done.xmpp_deleted",
        "done.app_password_revoked",
        "done.api_token_revoked",
        "done.node_revoked",
        "nodes.state.rotating",
        "nodes.state.revoked",
        "done.totp_disabled",
        "done.password_changed",
        "done.password_reset",
        "done.plan_created",
        "done.member_updated",
        "done.invitation_revoked",
        "done.logged_out",
        "error.title",
        "error.gone",
        "error.not_found",
        "error.rate_limited",
        "error.unavailable",
        "error.internal",
        "error.forbidden",
        "dns_admin.state.pending",
        "dns_admin.state.active",
        "dns_admin.state.retiring",
    ];

    /// Every form field name; the control plane shows `field.<name>` next to an error.
    const FIELDS: &[&str] = &[
        "token",
        "collective_name",
        "platform_domain",
        "email",
        "password",
        "password_confirm",
        "code",
        "display_name",
        "domain",
        "local_part",
        "quota_mib",
        "source",
        "targets",
        "node",
        "current_password",
        "label",
        "scope",
        "name",
        "max_domains",
        "max_mailboxes",
        "max_aliases",
        "max_xmpp_accounts",
        "storage_mib",
        "q",
        "plan",
        "node_id",
        "ttl",
        "type",
        "value",
        "nameserver",
        "address",
        "tsig_name",
        "tsig_secret",
        "key_suffix",
        "operator",
    ];

    fn has(catalog: &[(&str, &str)], key: &str) -> bool {
        catalog.binary_search_by(|(k, _)| (*k).cmp(key)).is_ok()
    }

    fn templates() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "html") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path, text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
            &mut out,
        );
        assert!(out.len() >= 17, "templates not found: {out:?}");
        out
    }

    /// Literal keys of `….get("key")` calls on a translator (`t.get(` or `ctx.t.get(`).
    fn template_keys(text: &str) -> Vec<String> {
        const OPEN: &str = "t.get(\"";
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            rest = &rest[start + OPEN.len()..];
            let end = rest.find("\")").expect("unterminated t.get(\"…\") call");
            keys.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        keys
    }

    #[test]
    fn catalogs_are_sorted_without_duplicates() {
        for catalog in [EN, FR] {
            for pair in catalog.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{:?} >= {:?}", pair[0].0, pair[1].0);
            }
        }
    }

    #[test]
    fn both_languages_have_the_same_keys_and_real_text() {
        let en: Vec<&str> = EN.iter().map(|(k, _)| *k).collect();
        let fr: Vec<&str> = FR.iter().map(|(k, _)| *k).collect();
        assert_eq!(en, fr);
        for (key, text) in EN.iter().chain(FR) {
            assert!(!text.trim().is_empty(), "{key} is empty");
            assert!(!text.contains("TODO"), "{key} is a placeholder");
        }
        // French is a translation, not a copy: only short words shared by both may match.
        let same = EN
            .iter()
            .zip(FR)
            .filter(|((_, e), (_, f))| e == f && e.len() > 16)
            .count();
        assert_eq!(same, 0, "French entries copied from English");
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        let mut count = 0;
        for (path, text) in templates() {
            for key in template_keys(&text) {
                count += 1;
                assert!(has(EN, &key), "{}: {key} missing in EN", path.display());
                assert!(has(FR, &key), "{}: {key} missing in FR", path.display());
            }
        }
        assert!(count > 100, "the key scanner found only {count} keys");
    }

    #[test]
    fn every_key_the_control_plane_passes_exists() {
        let fields: Vec<String> = FIELDS.iter().map(|f| format!("field.{f}")).collect();
        for key in CONTROL_PLANE_KEYS
            .iter()
            .copied()
            .chain(fields.iter().map(String::as_str))
        {
            assert!(has(EN, key), "{key} missing in EN");
            assert!(has(FR, key), "{key} missing in FR");
        }
        assert!(Tr::new(Lang::En)
            .get("error.gone")
            .contains("no longer valid"));
    }

    #[test]
    fn lookup_falls_back_to_the_key() {
        assert_eq!(Tr::new(Lang::En).get("nav.account"), "Account");
        assert_eq!(Tr::new(Lang::Fr).get("nav.account"), "Compte");
        assert_eq!(Tr::new(Lang::Fr).get("no.such.key"), "no.such.key");
        assert_eq!(Tr::new(Lang::En).get(""), "");
    }

    #[test]
    fn templates_have_no_script_style_external_resource_or_safe_filter() {
        for (path, text) in templates() {
            let lower = text.to_lowercase();
            for banned in [
                "<script",
                "<style",
                " style=",
                "|safe",
                "://",
                " on",
                "javascript:",
            ] {
                if banned == " on" {
                    // Inline event handlers: ` onclick=`, ` onsubmit=`…
                    let handler = lower.match_indices(" on").any(|(i, _)| {
                        let tail = &lower[i + 3..];
                        let name_len = tail.bytes().take_while(u8::is_ascii_lowercase).count();
                        name_len > 0 && tail[name_len..].starts_with('=')
                    });
                    assert!(!handler, "{}: inline event handler", path.display());
                } else {
                    assert!(!lower.contains(banned), "{}: {banned}", path.display());
                }
            }
        }
    }

    #[test]
    fn every_post_form_carries_the_csrf_token() {
        for (path, text) in templates() {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("<form method=\"post\"") {
                let form = &rest[start..];
                let end = form.find("</form>").expect("unclosed form");
                assert!(
                    form[..end]
                        .contains("<input type=\"hidden\" name=\"csrf\" value=\"{{ ctx.csrf }}\">"),
                    "{}: a POST form without the csrf input",
                    path.display()
                );
                rest = &form[end..];
            }
            assert!(
                !text.contains("method=\"POST\""),
                "{}: use lowercase method",
                path.display()
            );
        }
    }

    #[test]
    fn lang_codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
        assert_eq!(Lang::parse("En"), Some(Lang::En));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::parse("fr-CH"), None);
    }

    #[test]
    fn accept_language_honours_order_and_q_values() {
        let cases = [
            ("fr-CH, fr;q=0.9, en;q=0.8", Lang::Fr),
            ("de, en;q=0.5", Lang::En),
            ("de, fr;q=0.5, en;q=0.4", Lang::Fr),
            ("en;q=0.4, fr;q=0.6", Lang::Fr),
            ("en, fr", Lang::En),
            ("fr, en", Lang::Fr),
            ("FR-fr", Lang::Fr),
            ("fr_FR", Lang::Fr),
            ("en;q=0, fr;q=0.1", Lang::Fr),
            ("fr;q=0", Lang::En),
            ("fr;q=0.000", Lang::En),
            ("fr;q=1.000, en", Lang::Fr),
            ("en;q=0.999, fr", Lang::Fr),
            ("fr;q=2, en;q=0.1", Lang::En),
            ("fr;q=abc, en;q=0.1", Lang::En),
            ("fr;q=0.5555, en;q=0.1", Lang::En),
            ("fr ; Q = 0.7 , en ; q=0.3", Lang::Fr),
            ("fr;level=1;q=0.8, en;q=0.7", Lang::Fr),
            ("*", Lang::En),
            ("*, fr;q=0.5", Lang::Fr),
            ("", Lang::En),
            ("de-DE, it", Lang::En),
            (",,;;==,q=,;q=;", Lang::En),
            ("français", Lang::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::from_accept_language(header), expected, "{header:?}");
        }
    }

    #[test]
    fn accept_language_never_panics() {
        let pieces = [
            "fr", "en", "-", "_", ";", ",", "q", "=", ".", "0", "1", " ", "é", "\u{0}", "9",
        ];
        // Every string of up to four pieces.
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = inputs
                .iter()
                .flat_map(|s| pieces.iter().map(move |p| format!("{s}{p}")))
                .collect();
            inputs.extend(next);
            inputs.dedup();
        }
        for input in &inputs {
            let _ = Lang::from_accept_language(input);
        }
        let _ = Lang::from_accept_language(&"fr;q=0.5,".repeat(10_000));
    }
}

/// Renders every page with hostile sample data in both languages.
#[cfg(test)]
mod render_tests {
    use askama::Template;

    use super::{Lang, Tr};
    use crate::pages::*;

    const EVIL: &str = "<script>alert(1)</script>\"'&";

    fn ctx(lang: Lang, admin: bool) -> Ctx {
        Ctx {
            t: Tr::new(lang),
            csrf: "CSRF-TOKEN".to_owned(),
            user: Some(NavUser {
                email: format!("{EVIL}@example.org"),
                is_admin: admin,
            }),
            path: "/admin/members?q=a b&page=2".to_owned(),
            notice: Some(Tr::new(lang).get("done.saved")),
        }
    }

    fn errors(fields: &[&str]) -> Errors {
        Errors(
            fields
                .iter()
                .map(|f| ((*f).to_owned(), format!("{EVIL} bad {f}")))
                .collect(),
        )
    }

    fn usage() -> Vec<UsageRow> {
        vec![
            UsageRow {
                label_key: "usage.mailboxes",
                id: "usage-mailboxes",
                used: "3".to_owned(),
                max: "10".to_owned(),
                percent: 30,
            },
            UsageRow {
                label_key: "usage.storage",
                id: "usage-storage",
                used: "900".to_owned(),
                max: "1000".to_owned(),
                percent: 90,
            },
        ]
    }

    /// Checks that apply to every rendered page.
    fn check(html: &str) {
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(!html.contains("<script"), "unescaped user data: {html}");
        assert!(!html.contains("alert(1)</"), "unescaped user data: {html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "escaped sample missing"
        );
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/style.css\">"));
        assert!(
            html.contains("/lang/fr?back=%2Fadmin%2Fmembers%3Fq%3Da%20b%26page%3D2")
                || html.contains("/lang/fr?back=/admin/members%3Fq%3Da%20b%26page%3D2")
        );
        assert!(html.contains("<div class=\"flash\" role=\"status\">"));
        assert_eq!(
            html.contains("<form method=\"post\" action=\"/logout\""),
            html.contains("class=\"user-email\"")
        );
        let posts = html.matches("<form method=\"post\"").count();
        let csrf = html
            .matches("<input type=\"hidden\" name=\"csrf\" value=\"CSRF-TOKEN\">")
            .count();
        assert_eq!(posts, csrf, "every POST form carries the token");
        // Labels point to inputs that exist.
        let mut rest = html;
        while let Some(i) = rest.find("<label for=\"") {
            rest = &rest[i + 12..];
            let id = &rest[..rest.find('"').unwrap_or(0)];
            assert!(
                html.contains(&format!(" id=\"{id}\"")),
                "label for missing id {id}"
            );
        }
    }

    fn render(page: &impl Template) -> String {
        let html = page.render().unwrap();
        check(&html);
        html
    }

    #[test]
    fn public_pages() {
        for lang in Lang::ALL {
            let html = render(&SetupPage {
                ctx: ctx(lang, false),
                token: "tok".to_owned(),
                errors: errors(&["", "platform_domain", "password"]),
                collective_name: EVIL.to_owned(),
                platform_domain: "example.org".to_owned(),
                email: "a@example.org".to_owned(),
            });
            assert!(html.contains("action=\"/setup\""));
            assert!(html.contains("name=\"token\" value=\"tok\""));
            assert!(html.contains("<p class=\"error\" role=\"alert\" id=\"error-password\">"));
            assert!(html.contains("<div class=\"error\" role=\"alert\">"));
            for name in [
                "collective_name",
                "platform_domain",
                "email",
                "password_confirm",
            ] {
                assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
            }

            for reset_available in [true, false] {
                let html = render(&LoginPage {
                    ctx: ctx(lang, false),
                    errors: errors(&[""]),
                    email: EVIL.to_owned(),
                    reset_available,
                });
                assert_eq!(html.contains("href=\"/forgot\""), reset_available);
                assert!(html.contains("autocomplete=\"current-password\""));
            }

            let html = render(&LoginTotpPage {
                ctx: ctx(lang, false),
                errors: errors(&["code"]),
            });
            assert!(html.contains("action=\"/login/totp\""));
            assert!(html.contains("autocomplete=\"one-time-code\""));

            for sent in [true, false] {
                let html = render(&ForgotPage {
                    ctx: ctx(lang, false),
                    errors: errors(&["email"]),
                    email: EVIL.to_owned(),
                    sent,
                });
                assert_eq!(html.contains("action=\"/forgot\""), !sent);
            }

            render(&ResetPage {
                ctx: ctx(lang, false),
                token: EVIL.to_owned(),
                errors: errors(&["password_confirm"]),
            });

            let html = render(&InvitePage {
                ctx: ctx(lang, false),
                token: "tok".to_owned(),
                email: "new@example.org".to_owned(),
                display_name: EVIL.to_owned(),
                errors: errors(&["display_name"]),
            });
            assert!(html.contains("new@example.org"));

            let html = render(&ErrorPage {
                ctx: ctx(lang, false),
                status: 410,
                message: format!("{} {EVIL}", Tr::new(lang).get("error.gone")),
            });
            assert!(html.contains("<p id=\"error-message\">"));
        }
        let html = render(&ErrorPage {
            ctx: Ctx {
                user: None,
                ..ctx(Lang::En, false)
            },
            status: 404,
            message: EVIL.to_owned(),
        });
        assert!(html.contains("<a class=\"brand\" href=\"/login\">"));
        assert!(!html.contains("action=\"/logout\""));
    }

    #[test]
    fn account_and_domain_pages() {
        for lang in Lang::ALL {
            let html = render(&AccountPage {
                ctx: ctx(lang, true),
                node_status_key: "node.applying",
                display_name: EVIL.to_owned(),
                plan_name: Some("Basic".to_owned()),
                usage: usage(),
                domains: vec![DomainRow {
                    id: "d1".to_owned(),
                    name: "example.org".to_owned(),
                    status_key: "domain.status.pending_verification",
                }],
                errors: errors(&["domain"]),
                domain_input: EVIL.to_owned(),
            });
            assert!(html.contains("<td id=\"usage-mailboxes\">3 / 10</td>"));
            assert!(html.contains("href=\"/account/domains/d1\""));
            assert!(html.contains("href=\"/admin\""));
            assert!(html.contains(Tr::new(lang).get("domain.status.pending_verification")));
            assert_eq!(
                html.matches(&format!(
                    "<span class=\"status\" id=\"node-status\">{}</span>",
                    Tr::new(lang).get("node.applying")
                ))
                .count(),
                1
            );
            assert!(html.contains(Tr::new(lang).get("node.applying_hint")));
            // No automatic reload, no script: the line is plain text.
            assert!(!html.contains("http-equiv"));

            for (key, hint) in [("node.live", false), ("node.waiting", false)] {
                let html = render(&AccountPage {
                    ctx: ctx(lang, false),
                    node_status_key: key,
                    display_name: EVIL.to_owned(),
                    plan_name: None,
                    usage: usage(),
                    domains: vec![],
                    errors: Errors::default(),
                    domain_input: String::new(),
                });
                assert!(html.contains(Tr::new(lang).get(key)));
                assert_eq!(html.contains(Tr::new(lang).get("node.applying_hint")), hint);
            }

            for (form, with_dkim) in [
                (DomainForm::None, true),
                (DomainForm::Mailbox, false),
                (DomainForm::Alias, true),
                (DomainForm::Xmpp, false),
                (DomainForm::Record, true),
                (DomainForm::Verify, false),
            ] {
                let html = render(&DomainPage {
                    ctx: ctx(lang, false),
                    id: "d1".to_owned(),
                    name: "example.org".to_owned(),
                    status_key: if form == DomainForm::Verify {
                        "domain.status.pending_verification"
                    } else {
                        "domain.status.active"
                    },
                    challenge_name: "_ruche.example.org".to_owned(),
                    challenge_value: "ruche-verify=abc".to_owned(),
                    dkim: with_dkim.then(|| DkimRow {
                        name: format!("s1._domainkey.{EVIL}"),
                        value: "v=DKIM1; k=rsa; p=MIIB".to_owned(),
                        zone_line: format!(
                            "s1._domainkey.{EVIL}. IN TXT \"v=DKIM1; k=rsa; p=MIIB\""
                        ),
                    }),
                    verified_at: with_dkim.then(|| "2026-11-26 19:08 UTC".to_owned()),
                    claim_expires: (form == DomainForm::Verify)
                        .then(|| "2026-12-03 19:08 UTC".to_owned()),
                    registrar: vec![RegistrarRow {
                        name: "example.org".to_owned(),
                        kind: "NS".to_owned(),
                        value: format!("ns1.{EVIL}"),
                        mark: "✓",
                        seen_key: "domain.dns.seen.yes",
                    }],
                    ds: if with_dkim {
                        vec!["12345 13 2 ABCDEF".to_owned()]
                    } else {
                        vec![]
                    },
                    has_nameservers: with_dkim,
                    dns_servers: vec![DnsServerRow {
                        nameserver: "ns2.ruche.test".to_owned(),
                        address: "127.0.0.3:40053".to_owned(),
                        role_key: "domain.dns.role.secondary",
                        serial: "1764180000".to_owned(),
                        fault: Some(EVIL.to_owned()),
                        checked: "2026-11-26 19:08 UTC".to_owned(),
                    }],
                    records: vec![DnsRecordRow {
                        id: "r1".to_owned(),
                        name: "blog".to_owned(),
                        kind: "TXT".to_owned(),
                        ttl: 3600,
                        value: EVIL.to_owned(),
                    }],
                    record_form: RecordFormValues {
                        editing: (form == DomainForm::Record).then(|| "r1".to_owned()),
                        name: EVIL.to_owned(),
                        kind: "MX".to_owned(),
                        ttl: "600".to_owned(),
                        value: "10 mx.example.net".to_owned(),
                    },
                    node_status_key: "node.live",
                    mailboxes: vec![
                        MailboxRow {
                            id: "m1".to_owned(),
                            address: format!("{EVIL}@example.org"),
                            quota_mib: 1024,
                            used: Some(MailboxUsed {
                                amount: "12".to_owned(),
                                unit_key: "unit.mib",
                                messages: 34,
                                percent: 1,
                            }),
                        },
                        MailboxRow {
                            id: "m2".to_owned(),
                            address: "new@example.org".to_owned(),
                            quota_mib: 10,
                            used: None,
                        },
                    ],
                    aliases: vec![AliasRow {
                        id: "a1".to_owned(),
                        address: "*@example.org".to_owned(),
                        targets: "x@example.net".to_owned(),
                    }],
                    xmpp_accounts: vec![XmppRow {
                        id: "x1".to_owned(),
                        jid: "bob@example.org".to_owned(),
                    }],
                    form,
                    errors: errors(&[
                        "",
                        "password",
                        "local_part",
                        "source",
                        "node",
                        "name",
                        "type",
                        "ttl",
                        "value",
                    ]),
                    local_part: "alice".to_owned(),
                    quota_mib: "512".to_owned(),
                    alias_source: "sales".to_owned(),
                    alias_targets: "a@example.net\nb@example.net".to_owned(),
                    xmpp_node: "bob".to_owned(),
                });
                let shown = html.matches("id=\"error-password\"").count();
                assert_eq!(
                    shown,
                    usize::from(form == DomainForm::Mailbox || form == DomainForm::Xmpp)
                );
                for field in ["name", "type", "ttl", "value"] {
                    assert_eq!(
                        html.contains(&format!("id=\"error-{field}\"")),
                        form == DomainForm::Record,
                        "{field}"
                    );
                }
                let editing = form == DomainForm::Record;
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/records/r1\""),
                    editing
                );
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/records\""),
                    !editing
                );
                for needle in [
                    "action=\"/account/domains/d1/records/r1/delete\"",
                    "href=\"/account/domains/d1?edit=r1#record-form\"",
                    "<option value=\"MX\" selected>MX</option>",
                    "name=\"ttl\" value=\"600\"",
                    "10 mx.example.net</textarea>",
                    "<table id=\"registrar\">",
                    "<table id=\"dns-servers\">",
                    "<code>ns2.ruche.test</code>",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                assert_eq!(html.contains("<ul id=\"ds\">"), with_dkim);
                assert_eq!(html.contains("id=\"ds-waiting\""), !with_dkim);
                assert_eq!(html.contains("id=\"dns-no-nameservers\""), !with_dkim);
                assert_eq!(html.contains("id=\"verified-at\""), with_dkim);
                // "Check now" is offered while the domain is pending.
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/verify\""),
                    form == DomainForm::Verify
                );
                assert_eq!(
                    html.contains("id=\"error-local_part\""),
                    form == DomainForm::Mailbox
                );
                assert_eq!(
                    html.contains("id=\"error-source\""),
                    form == DomainForm::Alias
                );
                assert_eq!(html.contains("id=\"error-node\""), form == DomainForm::Xmpp);
                let general = html.matches("<div class=\"error\" role=\"alert\">").count();
                assert_eq!(general, usize::from(form != DomainForm::None));
                for needle in [
                    "action=\"/account/mailboxes/m1/delete\"",
                    "action=\"/account/aliases/a1/delete\"",
                    "action=\"/account/xmpp/x1/delete\"",
                    "action=\"/account/domains/d1/mailboxes\"",
                    "action=\"/account/domains/d1/aliases\"",
                    "action=\"/account/domains/d1/xmpp\"",
                    "action=\"/account/domains/d1/delete\"",
                    "<code id=\"challenge-value\">ruche-verify=abc</code>",
                    "id=\"domain-status\"",
                    "name=\"quota_mib\" value=\"512\"",
                    "a@example.net\nb@example.net</textarea>",
                    "<td class=\"num\" id=\"messages-m1\">34</td>",
                    "<td class=\"num\" id=\"messages-m2\">—</td>",
                    "id=\"node-status\"",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                let t = Tr::new(lang);
                assert!(html.contains(&format!("12 {}", t.get("unit.mib"))));
                assert!(html.contains(&format!(
                    "<td class=\"num hint\" id=\"used-m2\">{}</td>",
                    t.get("domain.not_measured")
                )));
                assert!(html.contains(t.get("node.live")));
                assert_eq!(
                    html.contains(
                        "<code id=\"dkim-value\" class=\"wrap\">v=DKIM1; k=rsa; p=MIIB</code>"
                    ),
                    with_dkim
                );
                assert_eq!(html.contains("id=\"dkim-zone\""), with_dkim);
                assert_eq!(html.contains("id=\"dkim-waiting\""), !with_dkim);
                if with_dkim {
                    // The record's name and the zone line carry the escaped sample, quotes included.
                    assert!(html.contains(
                        "<code id=\"dkim-name\">s1._domainkey.&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;</code>"
                    ));
                    assert!(html.contains("IN TXT &#34;v=DKIM1; k=rsa; p=MIIB&#34;</code>"));
                }
            }
        }
    }

    #[test]
    fn security_page_states() {
        for lang in Lang::ALL {
            for (totp_enabled, enrolment) in [(false, false), (false, true), (true, false)] {
                let html = render(&SecurityPage {
                    ctx: ctx(lang, false),
                    totp_enabled,
                    enrolment: enrolment.then(|| Enrolment {
                        secret_base32: "JBSWY3DPEHPK3PXP".to_owned(),
                        otpauth_uri: "otpauth://totp/Ruche:a?secret=JBSWY3DPEHPK3PXP&issuer=Ruche"
                            .to_owned(),
                    }),
                    recovery_codes: if totp_enabled {
                        vec!["aaaa-bbbb".to_owned()]
                    } else {
                        vec![]
                    },
                    app_passwords: vec![AppPasswordRow {
                        id: "p1".to_owned(),
                        label: EVIL.to_owned(),
                        scope: "imap".to_owned(),
                        mailbox: EVIL.to_owned(),
                        created: "2024-01-01".to_owned(),
                    }],
                    app_password_mailboxes: vec![("m1".to_owned(), EVIL.to_owned())],
                    new_app_password: Some(("Phone".to_owned(), "pw-123".to_owned())),
                    api_tokens: vec![ApiTokenRow {
                        id: "t1".to_owned(),
                        label: "script".to_owned(),
                        created: "2024-01-01".to_owned(),
                        last_used: String::new(),
                    }],
                    new_api_token: Some("tok-456".to_owned()),
                    sessions: vec![SessionRow {
                        device: EVIL.to_owned(),
                        ip: "127.0.0.1".to_owned(),
                        created: "2024-01-01".to_owned(),
                        last_seen: "2024-01-02".to_owned(),
                        current: true,
                    }],
                    errors: errors(&["current_password"]),
                });
                assert_eq!(
                    html.contains("action=\"/account/totp/disable\""),
                    totp_enabled
                );
                assert_eq!(html.contains("action=\"/account/totp/confirm\""), enrolment);
                assert_eq!(
                    html.contains("action=\"/account/totp/start\""),
                    !totp_enabled && !enrolment
                );
                assert_eq!(html.contains("<code id=\"totp-secret\">"), enrolment);
                assert_eq!(html.contains("<ul id=\"recovery-codes\""), totp_enabled);
                for needle in [
                    "<code id=\"new-app-password\">pw-123</code>",
                    "<code id=\"new-api-token\">tok-456</code>",
                    "action=\"/account/app-passwords/p1/revoke\"",
                    "action=\"/account/api-tokens/t1/revoke\"",
                    "action=\"/account/password\"",
                    "<option value=\"dav\">",
                    "href=\"/api/v1/openapi.json\"",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
            }
        }
    }

    fn plans() -> Vec<PlanOption> {
        vec![
            PlanOption {
                id: "p1".to_owned(),
                name: EVIL.to_owned(),
                selected: false,
            },
            PlanOption {
                id: "p2".to_owned(),
                name: "Large".to_owned(),
                selected: true,
            },
        ]
    }

    fn audit() -> Vec<AuditRow> {
        vec![AuditRow {
            at: "2024-01-01 12:00".to_owned(),
            actor: EVIL.to_owned(),
            ip: "192.0.2.1".to_owned(),
            action: "member.suspend".to_owned(),
            details: "{}".to_owned(),
        }]
    }

    #[test]
    fn admin_pages() {
        for lang in Lang::ALL {
            let html = render(&AdminHomePage {
                ctx: ctx(lang, true),
                collective_name: EVIL.to_owned(),
                platform_domain: "example.org".to_owned(),
                member_count: 3,
                plan_count: 2,
                pending_invitations: 1,
                workers: vec![
                    WorkerRow {
                        name: "dns".to_owned(),
                        every_seconds: Some(60),
                        last_run: Some("2024-01-01 12:00:00".to_owned()),
                        runs: 3,
                        failures: 1,
                        last_error: Some(EVIL.to_owned()),
                    },
                    WorkerRow {
                        name: "desired-listener".to_owned(),
                        every_seconds: None,
                        last_run: None,
                        runs: 0,
                        failures: 0,
                        last_error: None,
                    },
                ],
            });
            assert!(html.contains("<tr id=\"worker-dns\"><td>dns</td><td>60 s</td>"));
            assert!(html.contains(Tr::new(lang).get("workers.continuous")));
            assert!(html.contains(Tr::new(lang).get("workers.never")));
            assert!(!html.contains(EVIL), "the error text is escaped");
            for href in [
                "/admin/members",
                "/admin/plans",
                "/admin/invitations",
                "/admin/audit",
                "/admin/dns",
            ] {
                assert!(html.contains(&format!("href=\"{href}\"")), "{href}");
            }

            let html = render(&PlansPage {
                ctx: ctx(lang, true),
                plans: vec![PlanRow {
                    id: "p1".to_owned(),
                    name: EVIL.to_owned(),
                    max_domains: 1,
                    max_mailboxes: 5,
                    max_aliases: 10,
                    max_xmpp_accounts: 2,
                    storage_mib: 2048,
                }],
                errors: errors(&["storage_mib"]),
                form: PlanFormValues {
                    name: "n".into(),
                    max_domains: "1".into(),
                    max_mailboxes: "2".into(),
                    max_aliases: "3".into(),
                    max_xmpp_accounts: "4".into(),
                    storage_mib: "5".into(),
                },
                editing: Some("p1".to_owned()),
            });
            assert!(html.contains("action=\"/admin/plans/p1\""));
            assert!(html.contains("name=\"storage_mib\" value=\"5\""));
            assert!(html.contains("name=\"max_domains\" value=\"1\""));
            assert!(html.contains("<table id=\"plans\">"));

            let html = render(&MembersPage {
                ctx: ctx(lang, true),
                members: vec![MemberRow {
                    id: "u1".to_owned(),
                    email: "a@example.org".to_owned(),
                    display_name: EVIL.to_owned(),
                    plan: "Basic".to_owned(),
                    status_key: "member.status.suspended",
                    is_admin: true,
                }],
                q: EVIL.to_owned(),
                page: 2,
                pages: 3,
                total: 42,
                prev_href: Some("/admin/members?q=a&page=1".to_owned()),
                next_href: None,
            });
            assert!(html.contains("href=\"/admin/members/u1\""));
            assert!(html.contains("href=\"/admin/members?q=a&#38;page=1\""));
            assert!(!html.contains("rel=\"next\""));
            assert!(html.contains(Tr::new(lang).get("member.status.suspended")));

            for (status_key, is_admin) in [
                ("member.status.active", false),
                ("member.status.active", true),
                ("member.status.suspended", false),
                ("member.status.deleting", false),
            ] {
                let html = render(&MemberPage {
                    ctx: ctx(lang, true),
                    member: MemberRow {
                        id: "u1".to_owned(),
                        email: "a@example.org".to_owned(),
                        display_name: EVIL.to_owned(),
                        plan: "Basic".to_owned(),
                        status_key,
                        is_admin,
                    },
                    created: "2024-01-01".to_owned(),
                    delete_after: (status_key == "member.status.deleting")
                        .then(|| "2024-02-01".to_owned()),
                    totp_enabled: true,
                    plans: plans(),
                    node_name: is_admin.then(|| EVIL.to_owned()),
                    node_status_key: if is_admin {
                        "node.live"
                    } else {
                        "node.waiting"
                    },
                    nodes: if status_key == "member.status.deleting" {
                        vec![]
                    } else {
                        vec![
                            NodeOption {
                                id: "n1".to_owned(),
                                name: EVIL.to_owned(),
                                selected: false,
                            },
                            NodeOption {
                                id: "n2".to_owned(),
                                name: "node-b".to_owned(),
                                selected: true,
                            },
                        ]
                    },
                    usage: usage(),
                    audit: audit(),
                    errors: errors(&["plan", "node_id"]),
                });
                let has =
                    |action: &str| html.contains(&format!("action=\"/admin/members/u1/{action}\""));
                assert!(has("plan"));
                assert_eq!(
                    has("suspend"),
                    status_key == "member.status.active" && !is_admin
                );
                assert_eq!(has("unsuspend"), status_key == "member.status.suspended");
                assert_eq!(
                    has("delete"),
                    status_key != "member.status.deleting" && !is_admin
                );
                assert_eq!(has("cancel-delete"), status_key == "member.status.deleting");
                assert!(html.contains("<option value=\"p2\" selected>Large</option>"));
                assert!(html.contains("<table id=\"usage\">"));
                let joined = status_key != "member.status.deleting";
                assert_eq!(has("node"), joined);
                assert_eq!(html.contains("id=\"no-joined-nodes\""), !joined);
                if joined {
                    assert!(html.contains("<option value=\"n2\" selected>node-b</option>"));
                    assert!(html.contains("id=\"error-node_id\""));
                    assert!(html.contains("aria-describedby=\"node-hint error-node_id\""));
                }
                assert!(html.contains("id=\"node-status\""));
            }

            for (created_link, mail_sent) in [
                (None, false),
                (None, true),
                (
                    Some("https://example.org/invite?token=x&y=1".to_owned()),
                    false,
                ),
            ] {
                let html = render(&InvitationsPage {
                    ctx: ctx(lang, true),
                    pending: vec![InvitationRow {
                        id: "i1".to_owned(),
                        email: EVIL.to_owned(),
                        expires: "2024-01-08".to_owned(),
                    }],
                    plans: plans(),
                    errors: errors(&["email"]),
                    email: EVIL.to_owned(),
                    created_link: created_link.clone(),
                    mail_sent,
                });
                assert_eq!(
                    html.contains("<code id=\"invitation-link\">"),
                    created_link.is_some()
                );
                assert_eq!(html.contains("id=\"invitation-sent\""), mail_sent);
                assert!(html.contains("action=\"/admin/invitations/i1/revoke\""));
                assert!(html.contains("<select id=\"plan\" name=\"plan\""));
            }

            let html = render(&NodesPage {
                ctx: ctx(lang, true),
                nodes: vec![NodeRow {
                    id: "n1".to_owned(),
                    name: EVIL.to_owned(),
                    state_key: "nodes.state.joined",
                    host_name: "node-a.example.org".to_owned(),
                    addresses: "127.0.0.2".to_owned(),
                    version: "0.1.0".to_owned(),
                    capacity: "2 CPU".to_owned(),
                    last_heartbeat: "2024-01-01 12:00:00 UTC".to_owned(),
                    health_key: "nodes.health.ok",
                    members: 3,
                    generations: "41 / 42".to_owned(),
                }],
                errors: errors(&["name"]),
                name: EVIL.to_owned(),
                join_command: Some("node-agent join https://example.org --token-file -".to_owned()),
                join_token: Some("join_tok".to_owned()),
            });
            assert!(html.contains("<code id=\"join-token\">join_tok</code>"));
            assert!(html.contains("action=\"/admin/nodes/n1/revoke\""));
            assert!(html.contains("action=\"/admin/nodes/n1/rotate\""));
            assert!(html.contains("<td class=\"num nowrap\" id=\"generations-n1\">41 / 42</td>"));
            assert!(html.contains("<td class=\"num\">3</td>"));

            let html = render(&AuditPage {
                ctx: ctx(lang, true),
                entries: audit(),
                next_href: Some("/admin/audit?before=5".to_owned()),
            });
            assert!(html.contains("<table id=\"audit\">"));
            assert!(html.contains("href=\"/admin/audit?before=5\""));
        }
    }

    #[test]
    fn admin_dns_page() {
        for lang in Lang::ALL {
            for (error_node, created) in
                [(None, true), (None, false), (Some("n1".to_owned()), false)]
            {
                let html = render(&DnsAdminPage {
                    ctx: ctx(lang, true),
                    nodes: vec![DnsNodeRow {
                        id: "n1".to_owned(),
                        name: EVIL.to_owned(),
                        nameserver: "ns1.example.org".to_owned(),
                        address: "127.0.0.2:40053".to_owned(),
                        catalog: "catalog.ns1.example.org".to_owned(),
                        operator: EVIL.to_owned(),
                        secondaries: vec![DnsSecondaryRow {
                            nameserver: "ns2.example.org".to_owned(),
                            state_key: "dns_admin.state.pending",
                        }],
                    }],
                    externals: vec![ExternalSecondaryRow {
                        id: "e1".to_owned(),
                        nameserver: EVIL.to_owned(),
                        address: "192.0.2.1:53".to_owned(),
                        keys: vec![ExternalKeyRow {
                            node_id: "n1".to_owned(),
                            nameserver: "ns1.example.org".to_owned(),
                            name: EVIL.to_owned(),
                            shown: false,
                        }],
                        unshown: true,
                    }],
                    faults: vec![DnsFaultRow {
                        domain: EVIL.to_owned(),
                        server: "ns2.example.org".to_owned(),
                        fault: "unreachable".to_owned(),
                        checked_at: "2024-01-01 12:00:00 UTC".to_owned(),
                    }],
                    errors: errors(&["nameserver", "operator"]),
                    error_node: error_node.clone(),
                    form: ExternalFormValues {
                        nameserver: EVIL.to_owned(),
                        address: "192.0.2.9".to_owned(),
                        key_suffix: String::new(),
                    },
                    created: created.then(|| CreatedExternalRow {
                        nameserver: "ns.friends.example".to_owned(),
                        keys: vec![CreatedKeyRow {
                            node: EVIL.to_owned(),
                            nameserver: "ns1.example.org".to_owned(),
                            address: "127.0.0.2:40053".to_owned(),
                            catalog: "catalog.ns1.example.org".to_owned(),
                            tsig_name: "ns1.ext-1.tsig.example.org".to_owned(),
                            algorithm: "hmac-sha256",
                            secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".to_owned(),
                        }],
                    }),
                });
                for needle in [
                    "action=\"/admin/nodes/n1/operator\"",
                    "action=\"/admin/nodes/n1/dns/rotate-keys\"",
                    "action=\"/admin/dns/external-secondaries/e1/delete\"",
                    "action=\"/admin/dns/external-secondaries/e1/rotate-keys\"",
                    "action=\"/admin/dns/external-secondaries/e1/reveal-keys\"",
                    "name=\"node\" value=\"n1\"",
                    "action=\"/admin/dns/external-secondaries\"",
                    "<table id=\"dns-faults\">",
                    "name=\"address\" value=\"192.0.2.9\"",
                    Tr::new(lang).get("dns_admin.state.pending"),
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                assert_eq!(
                    html.contains(
                        "<code id=\"created-tsig-secret-1\">c2VjcmV0LXNlY3JldC1zZWNyZXQ=</code>"
                    ),
                    created
                );
                // The errors show on the form they belong to, once.
                let on_node = error_node.is_some();
                assert_eq!(html.contains("id=\"error-operator\""), on_node);
                assert_eq!(html.contains("id=\"error-nameserver\""), !on_node);
                // A typed secret is never sent back.
                assert!(!html.contains("name=\"tsig_secret\" value"));
            }
        }
    }
}
