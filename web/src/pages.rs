//! View models, one per page. Every page has a [`Ctx`] with the language, the CSRF token its
//! forms carry, and who is signed in.

use askama::Template;

use crate::i18n::Tr;
use crate::states::{
    CertificateChallenge, CertificateStatus, DnsRole, DomainStatus, Health, MemberStatus,
    NodeState, SecondaryState, Seen, Sync, Unit, UsageLabel, Visibility,
};

/// What every page needs.
pub struct Ctx {
    pub t: Tr,
    /// Value of the hidden `csrf` input every POST form carries.
    pub csrf: String,
    pub user: Option<NavUser>,
    /// Where the language switch returns to (path and query).
    pub path: String,
    /// A translated confirmation shown at the top ("Mailbox created."), from a `done` key.
    pub notice: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub email: String,
    pub is_admin: bool,
}

/// Problems with the submitted form, by field name.
#[derive(Default, Clone)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Errors that belong to no field of the form (e.g. "this address is already taken").
    pub fn general(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(f, _)| f.is_empty())
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: Ctx,
    pub status: u16,
    pub message: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub ctx: Ctx,
    pub token: String,
    pub errors: Errors,
    pub collective_name: String,
    pub platform_domain: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub email: String,
    /// Password reset by mail is offered only when a mail relay is configured.
    pub reset_available: bool,
}

#[derive(Template)]
#[template(path = "login_totp.html")]
pub struct LoginTotpPage {
    pub ctx: Ctx,
    pub errors: Errors,
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub email: String,
    /// After a request: the page says a mail is on its way if the account exists.
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub ctx: Ctx,
    pub token: String,
    pub errors: Errors,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub ctx: Ctx,
    pub token: String,
    pub email: String,
    pub display_name: String,
    pub errors: Errors,
}

/// One line of "usage against your plan".
pub struct UsageRow {
    pub label: UsageLabel,
    /// Element id, e.g. `usage-mailboxes`.
    pub id: &'static str,
    /// Shown as `used / max`, already formatted (storage in MiB).
    pub used: String,
    pub max: String,
    /// 0..=100, for the bar.
    pub percent: u8,
}

pub struct DomainRow {
    pub id: String,
    pub name: String,
    pub status: DomainStatus,
    /// The short line: its state and expiry only.
    pub certificate: CertificateLine,
}

/// A domain's certificate as the member is shown it: "Valid until …", "Failed" with the node's
/// error and its next attempt, "Not reported yet"…
pub struct CertificateLine {
    pub status: CertificateStatus,
    /// While one is served (valid, being renewed, expired): when it expires, to the minute.
    pub until: Option<String>,
    /// Why the last attempt failed, in the node's words: one line of at most 300 characters,
    /// untrusted (escaped like all text).
    pub error: Option<String>,
    /// When the node tries again.
    pub retry: Option<String>,
    /// The names on it (Unicode), comma-separated; empty when not reported.
    pub names: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub ctx: Ctx,
    /// Where the member's changes stand on their node: a plain line of text, no script, no
    /// automatic reload.
    pub sync: Sync,
    pub display_name: String,
    pub plan_name: Option<String>,
    pub usage: Vec<UsageRow>,
    pub domains: Vec<DomainRow>,
    pub errors: Errors,
    /// The value typed into the "add a domain" form, kept on error.
    pub domain_input: String,
}

pub struct MailboxRow {
    pub id: String,
    pub address: String,
    pub quota_mib: i64,
    /// What the node last measured; `None` until it has.
    pub used: Option<MailboxUsed>,
    /// Whether WebFinger answers for it; the row's button switches it.
    pub public: Visibility,
}

/// A mailbox's stored mail, already formatted.
pub struct MailboxUsed {
    /// The number, e.g. "12" or "0.4".
    pub amount: String,
    pub unit: Unit,
    pub messages: i64,
    /// Share of the quota, 0..=100, for the meter.
    pub percent: u8,
}

/// The DNS record that publishes a domain's DKIM key.
pub struct DkimRow {
    /// `<selector>._domainkey.<domain>`.
    pub name: String,
    /// `v=DKIM1; k=rsa; p=…`.
    pub value: String,
    /// The same as one line of a zone file, the value split into quoted strings of at most
    /// 255 characters as DNS requires.
    pub zone_line: String,
}

pub struct AliasRow {
    pub id: String,
    /// `alias@domain`, or `*@domain` for the catch-all.
    pub address: String,
    pub targets: String,
}

pub struct XmppRow {
    pub id: String,
    pub jid: String,
    /// Whether WebFinger answers for it; the row's button switches it.
    pub public: Visibility,
}

/// Which of the domain page's forms the errors belong to.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum DomainForm {
    None,
    Mailbox,
    Alias,
    Xmpp,
    /// The DNS record form (adding or editing).
    Record,
    /// "Check now" of the ownership challenge.
    Verify,
}

/// One record to set at the registrar, and whether the world shows it.
pub struct RegistrarRow {
    pub name: String,
    /// `TXT`, `NS` or `DS`.
    pub kind: String,
    pub value: String,
    /// `✓`, `✗` or `—`.
    pub mark: &'static str,
    pub seen: Seen,
}

/// What the last check saw of one server of the domain's zone.
pub struct DnsServerRow {
    pub nameserver: String,
    pub address: String,
    pub role: DnsRole,
    /// The SOA serial, or "—".
    pub serial: String,
    /// `None` when all is well; else the monitor's short reason (English).
    pub fault: Option<String>,
    pub checked: String,
}

/// One of the member's own DNS records.
pub struct DnsRecordRow {
    pub id: String,
    /// `@` or the name inside the domain.
    pub name: String,
    pub kind: String,
    pub ttl: i32,
    pub value: String,
}

/// The values of the record form: a new record, or the one being edited (`editing`, its id).
#[derive(Clone, Default)]
pub struct RecordFormValues {
    pub editing: Option<String>,
    pub name: String,
    pub kind: String,
    pub ttl: String,
    pub value: String,
}

/// The record types members may add, in the order the form offers them.
pub const RECORD_TYPES: [&str; 7] = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA"];

#[derive(Template)]
#[template(path = "domain.html")]
pub struct DomainPage {
    pub ctx: Ctx,
    pub id: String,
    pub name: String,
    pub status: DomainStatus,
    /// TXT record that proves ownership: name and value.
    pub challenge_name: String,
    pub challenge_value: String,
    /// `None` until the node that serves the domain has reported its key.
    pub dkim: Option<DkimRow>,
    pub certificate: CertificateLine,
    /// When ownership was proven (to the minute); `None` while pending.
    pub verified_at: Option<String>,
    /// While pending: when the claim lapses and the domain is deleted unless verified.
    pub claim_expires: Option<String>,
    /// The registrar checklist: the challenge while pending, NS, then DS.
    pub registrar: Vec<RegistrarRow>,
    /// DS records to give the registrar; empty until the zone is signed.
    pub ds: Vec<String>,
    /// Whether a node hosts the member (so the name servers are known).
    pub has_nameservers: bool,
    pub dns_servers: Vec<DnsServerRow>,
    pub records: Vec<DnsRecordRow>,
    pub record_form: RecordFormValues,
    /// Where the member's changes stand on their node: a plain line of text, no script, no
    /// automatic reload.
    pub sync: Sync,
    pub mailboxes: Vec<MailboxRow>,
    pub aliases: Vec<AliasRow>,
    pub xmpp_accounts: Vec<XmppRow>,
    pub form: DomainForm,
    pub errors: Errors,
    /// Values typed into the form that failed (passwords are never echoed back).
    pub local_part: String,
    pub quota_mib: String,
    pub alias_source: String,
    pub alias_targets: String,
    pub xmpp_node: String,
}

pub struct AppPasswordRow {
    pub id: String,
    pub label: String,
    pub scope: String,
    /// The one mailbox it opens; empty: every mailbox of the member.
    pub mailbox: String,
    pub created: String,
}

pub struct ApiTokenRow {
    pub id: String,
    pub label: String,
    pub created: String,
    pub last_used: String,
}

/// A signed-in browser of the member.
pub struct SessionRow {
    /// Browser and system, read from the user agent ("Firefox on Linux").
    pub device: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    /// The session this page is shown in.
    pub current: bool,
}

/// A TOTP enrolment in progress: the secret to type or the URI to scan.
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub ctx: Ctx,
    pub totp_enabled: bool,
    pub enrolment: Option<Enrolment>,
    /// Shown once, right after enrolment.
    pub recovery_codes: Vec<String>,
    pub app_passwords: Vec<AppPasswordRow>,
    /// The member's mailboxes a new app password may be bound to: (id, address). The form
    /// preselects the first; "all my mailboxes" comes last.
    pub app_password_mailboxes: Vec<(String, String)>,
    /// Shown once, right after creation: (label, password).
    pub new_app_password: Option<(String, String)>,
    pub api_tokens: Vec<ApiTokenRow>,
    /// Shown once, right after creation.
    pub new_api_token: Option<String>,
    pub sessions: Vec<SessionRow>,
    pub errors: Errors,
}

#[derive(Template)]
#[template(path = "admin/home.html")]
pub struct AdminHomePage {
    pub ctx: Ctx,
    pub collective_name: String,
    pub platform_domain: String,
    pub member_count: i64,
    pub plan_count: usize,
    pub pending_invitations: usize,
    /// This control plane's background workers.
    pub workers: Vec<WorkerRow>,
    /// Certificates nodes could not get or renew, latest reports first (at most a page).
    pub certificate_problems: Vec<CertificateRow>,
    /// How many more there are than listed (on their nodes' pages).
    pub certificate_problems_unlisted: i64,
}

/// A certificate as its node last reported it, for the admin.
pub struct CertificateRow {
    pub node_id: String,
    pub node_name: String,
    /// The names on it (Unicode), comma-separated, the one it is filed under first.
    pub names: String,
    /// The node's own host name's (not a member domain's).
    pub own: bool,
    pub challenge: CertificateChallenge,
    pub status: CertificateStatus,
    /// While one is served: when it expires, to the minute.
    pub until: Option<String>,
    /// The node's words: one line of at most 300 characters, untrusted (escaped like all text).
    pub error: Option<String>,
    pub retry: Option<String>,
    /// When the node reported it as it stands, or last confirmed it (within ten minutes).
    pub reported: String,
}

/// One background worker, as the admin sees it.
pub struct WorkerRow {
    pub name: String,
    /// `None`: it runs continuously.
    pub every_seconds: Option<u64>,
    /// When its last round ended (UTC), if it ran yet.
    pub last_run: Option<String>,
    pub runs: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

pub struct PlanRow {
    pub id: String,
    pub name: String,
    pub max_domains: i64,
    pub max_mailboxes: i64,
    pub max_aliases: i64,
    pub max_xmpp_accounts: i64,
    pub storage_mib: i64,
}

/// The plan form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct PlanFormValues {
    pub name: String,
    pub max_domains: String,
    pub max_mailboxes: String,
    pub max_aliases: String,
    pub max_xmpp_accounts: String,
    pub storage_mib: String,
}

#[derive(Template)]
#[template(path = "admin/plans.html")]
pub struct PlansPage {
    pub ctx: Ctx,
    pub plans: Vec<PlanRow>,
    pub errors: Errors,
    /// The form's values: what was typed, kept on error, or the plan being edited.
    pub form: PlanFormValues,
    /// The id of the plan the form edits; `None` when it creates one.
    pub editing: Option<String>,
}

pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub plan: String,
    pub status: MemberStatus,
    pub is_admin: bool,
}

#[derive(Template)]
#[template(path = "admin/members.html")]
pub struct MembersPage {
    pub ctx: Ctx,
    pub members: Vec<MemberRow>,
    pub q: String,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    /// Links to the previous and next page, query string included.
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
}

pub struct PlanOption {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

/// A joined node an admin can host a member on.
pub struct NodeOption {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "admin/member.html")]
pub struct MemberPage {
    pub ctx: Ctx,
    pub member: MemberRow,
    pub created: String,
    /// Set while the member is scheduled for deletion.
    pub delete_after: Option<String>,
    pub totp_enabled: bool,
    pub plans: Vec<PlanOption>,
    /// The node that serves the member, by name; `None` while none does.
    pub node_name: Option<String>,
    /// Where the member's changes stand on their node: a plain line of text, no script, no
    /// automatic reload.
    pub sync: Sync,
    /// Joined nodes, the member's own selected.
    pub nodes: Vec<NodeOption>,
    pub usage: Vec<UsageRow>,
    pub audit: Vec<AuditRow>,
    pub errors: Errors,
}

pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "admin/invitations.html")]
pub struct InvitationsPage {
    pub ctx: Ctx,
    pub pending: Vec<InvitationRow>,
    pub plans: Vec<PlanOption>,
    pub errors: Errors,
    pub email: String,
    /// After creating one: the link, shown to the admin when no mail relay is configured
    /// (or sending failed), so the admin can pass it on another way.
    pub created_link: Option<String>,
    pub mail_sent: bool,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub ctx: Ctx,
    pub entries: Vec<AuditRow>,
    pub next_href: Option<String>,
}

pub struct NodeRow {
    pub id: String,
    pub name: String,
    pub state: NodeState,
    pub host_name: String,
    pub addresses: String,
    pub version: String,
    /// e.g. "2 CPUs, 4096 MiB memory, 100 GiB disk"; empty before the join.
    pub capacity: String,
    pub last_heartbeat: String,
    pub health: Health,
    /// Members it serves.
    pub members: i64,
    /// "applied / desired" generations, e.g. "41 / 42"; "— / 42" before the first apply.
    pub generations: String,
}

/// One node: what it says of itself and the certificates it reported.
#[derive(Template)]
#[template(path = "admin/node.html")]
pub struct NodePage {
    pub ctx: Ctx,
    pub node: NodeRow,
    /// Its own name's first, then by name.
    pub certificates: Vec<CertificateRow>,
}

#[derive(Template)]
#[template(path = "admin/nodes.html")]
pub struct NodesPage {
    pub ctx: Ctx,
    pub nodes: Vec<NodeRow>,
    pub errors: Errors,
    /// The name typed in the form, kept on error.
    pub name: String,
    /// Right after adding a node or rotating its credential: the command to run on it, and the
    /// one-time join token it reads from standard input (never on the command line).
    pub join_command: Option<String>,
    pub join_token: Option<String>,
}

/// A node's name server on the admin DNS page.
pub struct DnsNodeRow {
    pub id: String,
    pub name: String,
    pub nameserver: String,
    /// `ip:port`; empty until the node reports it.
    pub address: String,
    pub catalog: String,
    /// Empty when not named.
    pub operator: String,
    pub secondaries: Vec<DnsSecondaryRow>,
}

pub struct DnsSecondaryRow {
    pub nameserver: String,
    pub state: SecondaryState,
}

pub struct ExternalSecondaryRow {
    pub id: String,
    pub nameserver: String,
    pub address: String,
    /// Its key for each node (names only).
    pub keys: Vec<ExternalKeyRow>,
    /// Whether some key was made without the admin seeing it (a node that joined later).
    pub unshown: bool,
}

pub struct ExternalKeyRow {
    pub node_id: String,
    /// The node's name server.
    pub nameserver: String,
    pub name: String,
    pub shown: bool,
}

/// A server of a zone found at fault by the last check; `fault` is short English text.
pub struct DnsFaultRow {
    pub domain: String,
    pub server: String,
    pub fault: String,
    pub checked_at: String,
}

/// The keys of an external secondary just made (added, rotated, or made for a new node and
/// shown now), one per node, to configure on that server (shown once).
pub struct CreatedExternalRow {
    pub nameserver: String,
    pub keys: Vec<CreatedKeyRow>,
}

pub struct CreatedKeyRow {
    /// The node's name (for the admin).
    pub node: String,
    /// The node's name server: the primary to transfer from with this key.
    pub nameserver: String,
    /// `ip:port`; empty until the node reports it.
    pub address: String,
    pub catalog: String,
    pub tsig_name: String,
    pub algorithm: &'static str,
    pub secret: String,
}

/// The external secondary form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct ExternalFormValues {
    pub nameserver: String,
    pub address: String,
    pub key_suffix: String,
}

#[derive(Template)]
#[template(path = "admin/dns.html")]
pub struct DnsAdminPage {
    pub ctx: Ctx,
    pub nodes: Vec<DnsNodeRow>,
    pub externals: Vec<ExternalSecondaryRow>,
    pub faults: Vec<DnsFaultRow>,
    /// Errors of the add form, or of the operator form of `error_node`.
    pub errors: Errors,
    pub error_node: Option<String>,
    /// The add form's values, kept on error.
    pub form: ExternalFormValues,
    pub created: Option<CreatedExternalRow>,
}

impl DnsAdminPage {
    /// Whether the errors belong to the add form (not to a node's operator form).
    pub fn on_add(&self) -> bool {
        self.error_node.is_none()
    }

    /// Whether the errors belong to this node's operator form.
    pub fn on_node(&self, id: &str) -> bool {
        self.error_node.as_deref() == Some(id)
    }
}

#[cfg(test)]
mod tests;
