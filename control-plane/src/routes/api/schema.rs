//! What the JSON API shows: its response types, with their OpenAPI schemas. The store's rows
//! (`db`) are not the API's schema; each type here is made from one with `From`, so a column
//! can change without the API changing by accident (`openapi.json` is checked by a test).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db;
use crate::model::ids::{
    AliasId, ApiTokenId, AppPasswordId, DomainId, InvitationId, MailboxId, MemberId, NodeId,
    PlanId, RecordId, XmppAccountId,
};
use crate::model::AppScope;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Mailbox {
    pub id: MailboxId,
    pub domain_id: DomainId,
    pub address: String,
    pub local_part: String,
    pub quota_bytes: i64,
    /// What the hosting node last measured; null until it has.
    pub used_bytes: Option<i64>,
    pub used_messages: Option<i64>,
    /// When the measurement was last reported (re-confirmed at least every ten minutes while
    /// the node reports in).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub usage_at: Option<OffsetDateTime>,
    /// Whether anyone may look up the address's public profile (WebFinger, RFC 7033): the
    /// address and its XMPP address, nothing else. False until the member makes it public.
    pub public: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::mailboxes::Mailbox> for Mailbox {
    fn from(r: db::mailboxes::Mailbox) -> Self {
        Mailbox {
            id: r.id,
            domain_id: r.domain_id,
            address: r.address,
            local_part: r.local_part,
            quota_bytes: r.quota_bytes,
            used_bytes: r.used_bytes,
            used_messages: r.used_messages,
            usage_at: r.usage_at,
            public: r.public,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alias {
    pub id: AliasId,
    pub domain_id: DomainId,
    /// A local part, or `*` for the catch-all.
    pub source: String,
    pub targets: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::aliases::Alias> for Alias {
    fn from(r: db::aliases::Alias) -> Self {
        Alias {
            id: r.id,
            domain_id: r.domain_id,
            source: r.source,
            targets: r.targets,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct XmppAccount {
    pub id: XmppAccountId,
    pub domain_id: DomainId,
    pub jid: String,
    pub node: String,
    /// Whether anyone may look up the account's public profile (WebFinger, RFC 7033): the
    /// address and its XMPP address, nothing else. False until the member makes it public.
    pub public: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::xmpp::XmppAccount> for XmppAccount {
    fn from(r: db::xmpp::XmppAccount) -> Self {
        XmppAccount {
            id: r.id,
            domain_id: r.domain_id,
            jid: r.jid,
            node: r.node,
            public: r.public,
            created_at: r.created_at,
        }
    }
}

/// Rows of the store as the API shows them.
pub fn all<R, T: From<R>>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(T::from).collect()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<db::api_tokens::ApiToken> for ApiToken {
    fn from(r: db::api_tokens::ApiToken) -> Self {
        ApiToken {
            id: r.id,
            label: r.label,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppPassword {
    pub id: AppPasswordId,
    pub label: String,
    #[schema(value_type = String)]
    pub scope: AppScope,
    /// The one mailbox it opens; null: every mailbox of the member.
    pub mailbox_id: Option<MailboxId>,
    /// That mailbox's address.
    pub mailbox: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::app_passwords::AppPassword> for AppPassword {
    fn from(r: db::app_passwords::AppPassword) -> Self {
        AppPassword {
            id: r.id,
            label: r.label,
            scope: r.scope,
            mailbox_id: r.mailbox_id,
            mailbox: r.mailbox,
            created_at: r.created_at,
        }
    }
}

/// A stored record, in the four fields a member types (canonical form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DnsRecord {
    pub id: RecordId,
    /// `@` for the domain itself, else the name inside it (`www`, `_sip._tcp`, `*.dev`).
    pub name: String,
    /// A, AAAA, CNAME, MX, TXT, SRV or CAA.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds.
    pub ttl: i32,
    pub value: String,
}

impl From<db::dns_records::DnsRecord> for DnsRecord {
    fn from(r: db::dns_records::DnsRecord) -> Self {
        DnsRecord {
            id: r.id,
            name: r.name,
            kind: r.kind,
            ttl: r.ttl,
            value: r.value,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Domain {
    pub id: DomainId,
    /// ASCII (punycode) form.
    pub name: String,
    /// Unicode form, for display.
    pub display_name: String,
    /// `pending_verification` or `active`.
    pub status: String,
    /// Value of the TXT record `_ruche-challenge.<domain>` that proves ownership.
    pub verification_token: String,
    /// When the challenge was seen; null while pending.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub verified_at: Option<OffsetDateTime>,
    /// The DKIM record to publish: a TXT record `name` with `value`. Null until the node that
    /// hosts the domain has made its key and reported it.
    pub dkim: Option<DkimRecord>,
    /// The domain's certificate (HTTPS), as the node that hosts it last reported it. Null until
    /// it has; nodes ask for certificates of verified domains only.
    pub certificate: Option<Certificate>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    pub dns: DomainDns,
}

impl From<db::domains::Domain> for Domain {
    fn from(r: db::domains::Domain) -> Self {
        Domain {
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            status: r.status,
            verification_token: r.verification_token,
            verified_at: r.verified_at,
            dkim: r.dkim.map(Into::into),
            certificate: r.certificate.map(Into::into),
            created_at: r.created_at,
            dns: r.dns.into(),
        }
    }
}

/// A certificate as its node last reported it. The state is the node's: a `valid` one whose
/// `not_after` has passed is expired (the node stopped renewing or reporting it), and a
/// `pending` one with a `not_after` still ahead is a renewal while the current one serves.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Certificate {
    pub state: CertificateState,
    pub challenge: Challenge,
    /// The names on it (ASCII), the first the one it is filed under.
    pub names: Vec<String>,
    /// When the certificate served now expires.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub not_after: Option<OffsetDateTime>,
    /// Why the last attempt failed, in the node's words (one line, at most 300 characters).
    /// With `valid`: the renewal failed, the current certificate still serves.
    pub error: Option<String>,
    /// When the node tries again after a failure.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub retry_at: Option<OffsetDateTime>,
    /// When the node first reported it as it stands, or last confirmed it (within ten minutes
    /// while it keeps reporting).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub reported_at: OffsetDateTime,
}

impl From<db::certificates::Stored> for Certificate {
    fn from(r: db::certificates::Stored) -> Self {
        Certificate {
            state: r.state.into(),
            challenge: r.challenge.into(),
            names: r.names,
            not_after: r.not_after,
            error: r.error,
            retry_at: r.retry_at,
            reported_at: r.reported_at,
        }
    }
}

/// How a certificate stands, in its node's words: `waiting-for-dns` (not asked for yet: a name
/// does not lead to the node), `pending` (being asked for, or renewed), `valid` (served until
/// `not_after`), `failed` (none served: the last attempt failed, tried again at `retry_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateState {
    WaitingForDns,
    Pending,
    Valid,
    Failed,
}

impl From<protocol::node::CertificateState> for CertificateState {
    fn from(s: protocol::node::CertificateState) -> Self {
        use protocol::node::CertificateState as S;
        match s {
            S::WaitingForDns => CertificateState::WaitingForDns,
            S::Pending => CertificateState::Pending,
            S::Valid => CertificateState::Valid,
            S::Failed => CertificateState::Failed,
        }
    }
}

/// How the certificate authority checks the names (RFC 8555 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Challenge {
    /// A file the node serves on port 80.
    #[serde(rename = "http-01")]
    Http01,
    /// A TXT record in the zone the node is primary for.
    #[serde(rename = "dns-01")]
    Dns01,
}

impl From<protocol::node::Challenge> for Challenge {
    fn from(c: protocol::node::Challenge) -> Self {
        match c {
            protocol::node::Challenge::Http01 => Challenge::Http01,
            protocol::node::Challenge::Dns01 => Challenge::Dns01,
        }
    }
}

/// What to set at the registrar, what the world sees of it, and how the servers are doing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainDns {
    /// The domain's name servers (its NS records), to give the registrar. Empty while no node
    /// hosts the member.
    pub nameservers: Vec<String>,
    /// DS records to give the registrar (`<key tag> <algorithm> <digest type> <digest>`), once
    /// the zone is signed. Empty before.
    pub ds: Vec<String>,
    /// Every record to set at the registrar or current DNS host, and whether the world sees it.
    pub registrar: Vec<RegistrarRecord>,
    /// The last check of each server that serves the zone, primary first.
    pub servers: Vec<ServerStatus>,
}

impl From<db::domains::DomainDns> for DomainDns {
    fn from(r: db::domains::DomainDns) -> Self {
        DomainDns {
            nameservers: r.nameservers,
            ds: r.ds,
            registrar: r.registrar.into_iter().map(Into::into).collect(),
            servers: r.servers.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RegistrarRecord {
    /// Absolute name, without the final dot.
    pub name: String,
    /// `TXT`, `NS` or `DS`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// Whether the public DNS shows it; null when not checked yet.
    pub seen: Option<bool>,
}

impl From<db::domains::RegistrarRecord> for RegistrarRecord {
    fn from(r: db::domains::RegistrarRecord) -> Self {
        RegistrarRecord {
            name: r.name,
            kind: r.kind,
            value: r.value,
            seen: r.seen,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServerStatus {
    pub nameserver: String,
    /// `ip:port` where it was asked.
    pub address: String,
    /// `primary`, `secondary` or `external`.
    pub role: String,
    /// The zone's SOA serial it serves; null when it did not answer.
    pub serial: Option<i64>,
    /// Null when all is well; else a short reason (lag, lame, unreachable, unsigned…).
    pub fault: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub checked_at: OffsetDateTime,
}

impl From<db::domains::ServerStatus> for ServerStatus {
    fn from(r: db::domains::ServerStatus) -> Self {
        ServerStatus {
            nameserver: r.nameserver,
            address: r.address,
            role: r.role,
            serial: r.serial,
            fault: r.fault,
            checked_at: r.checked_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
    Deleting,
}
impl From<db::members::Status> for Status {
    fn from(r: db::members::Status) -> Self {
        match r {
            db::members::Status::Active => Status::Active,
            db::members::Status::Suspended => Status::Suspended,
            db::members::Status::Deleting => Status::Deleting,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub id: MemberId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub plan_id: Option<PlanId>,
    pub plan_name: Option<String>,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub delete_after: Option<OffsetDateTime>,
    pub totp_enabled: bool,
    pub locale: Option<String>,
    /// The node that serves the member's mail; null until a node has joined.
    pub node_id: Option<NodeId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::members::Member> for Member {
    fn from(r: db::members::Member) -> Self {
        Member {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            is_admin: r.is_admin,
            plan_id: r.plan_id,
            plan_name: r.plan_name,
            status: r.status.into(),
            delete_after: r.delete_after,
            totp_enabled: r.totp_enabled,
            locale: r.locale,
            node_id: r.node_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Capacity {
    pub cpus: i64,
    pub memory_bytes: i64,
    pub disk_bytes: i64,
}

impl From<db::nodes::Capacity> for Capacity {
    fn from(r: db::nodes::Capacity) -> Self {
        Capacity {
            cpus: r.cpus,
            memory_bytes: r.memory_bytes,
            disk_bytes: r.disk_bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    /// Whether the node holds a working credential.
    pub joined: bool,
    /// `waiting` (to join, with a join token), `joined`, `rotating` (joined, and a new join
    /// token is out: joining with it replaces the credential) or `revoked` (no credential: its
    /// polls and heartbeats get 401 until it joins again with a token from a rotation).
    pub state: String,
    pub host_name: Option<String>,
    pub addresses: Vec<String>,
    pub version: Option<String>,
    pub capacity: Option<Capacity>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    pub last_heartbeat_at: Option<OffsetDateTime>,
    /// False when a service reported a problem in the last heartbeat.
    pub healthy: Option<bool>,
    /// Grows with every change to what the node serves.
    pub desired_generation: i64,
    /// The generation the node last reported as applied; null until it applies one.
    pub observed_generation: Option<i64>,
    /// How many members it hosts.
    pub members: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

impl From<db::nodes::Node> for Node {
    fn from(r: db::nodes::Node) -> Self {
        Node {
            id: r.id,
            name: r.name,
            joined: r.joined,
            state: r.state,
            host_name: r.host_name,
            addresses: r.addresses,
            version: r.version,
            capacity: r.capacity.map(Into::into),
            last_heartbeat_at: r.last_heartbeat_at,
            healthy: r.healthy,
            desired_generation: r.desired_generation,
            observed_generation: r.observed_generation,
            members: r.members,
            created_at: r.created_at,
        }
    }
}

/// Where a member's changes stand on their node: applied once the node reports a generation at
/// least the desired one. The generation is the node's, not the member's, so "applying" may
/// also mean another member's change is on its way; that errs on the side of caution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct NodeStatus {
    pub desired_generation: i64,
    /// Null until the node applies its first desired state.
    pub observed_generation: Option<i64>,
    pub applied: bool,
}

impl From<db::nodes::NodeStatus> for NodeStatus {
    fn from(r: db::nodes::NodeStatus) -> Self {
        NodeStatus {
            desired_generation: r.desired_generation,
            observed_generation: r.observed_generation,
            applied: r.applied,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub plan_id: PlanId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub expires_at: OffsetDateTime,
}

impl From<db::invitations::Invitation> for Invitation {
    fn from(r: db::invitations::Invitation) -> Self {
        Invitation {
            id: r.id,
            email: r.email,
            plan_id: r.plan_id,
            expires_at: r.expires_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    #[schema(value_type = Option<String>)]
    pub subject_member_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<db::audit::Entry> for Entry {
    fn from(r: db::audit::Entry) -> Self {
        Entry {
            id: r.id,
            at: r.at,
            actor_email: r.actor_email,
            ip: r.ip,
            action: r.action,
            subject_member_id: r.subject_member_id,
            details: r.details,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DnsOverview {
    pub nodes: Vec<DnsNode>,
    pub external_secondaries: Vec<ExternalSecondary>,
    /// Every server of every zone that the last check found at fault.
    pub faults: Vec<Fault>,
}

impl From<db::dns_admin::DnsOverview> for DnsOverview {
    fn from(r: db::dns_admin::DnsOverview) -> Self {
        DnsOverview {
            nodes: r.nodes.into_iter().map(Into::into).collect(),
            external_secondaries: r.external_secondaries.into_iter().map(Into::into).collect(),
            faults: r.faults.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DnsNode {
    pub id: NodeId,
    pub name: String,
    /// `ns<N>.<platform domain>`.
    pub nameserver: String,
    /// Where its name server answers (`ip:port`), as the node last reported; null before.
    pub address: Option<String>,
    /// The catalog zone it produces: `catalog.ns<N>.<platform domain>`.
    pub catalog: String,
    /// Who runs the machine; secondaries are picked among other operators first.
    pub operator: Option<String>,
    /// The nodes that serve its zones as secondaries.
    pub secondaries: Vec<NodeSecondary>,
}

impl From<db::dns_admin::DnsNode> for DnsNode {
    fn from(r: db::dns_admin::DnsNode) -> Self {
        DnsNode {
            id: r.id,
            name: r.name,
            nameserver: r.nameserver,
            address: r.address,
            catalog: r.catalog,
            operator: r.operator,
            secondaries: r.secondaries.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeSecondary {
    pub nameserver: String,
    /// `pending` (not yet in the NS records), `active` or `retiring` (left them, still serves).
    pub state: String,
}

impl From<db::dns_admin::NodeSecondary> for NodeSecondary {
    fn from(r: db::dns_admin::NodeSecondary) -> Self {
        NodeSecondary {
            nameserver: r.nameserver,
            state: r.state,
        }
    }
}

/// An external secondary and the names of its keys, one per node, without their secrets (each
/// shown once: when made by the admin, or when the admin asks for keys not shown yet).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExternalSecondary {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub nameserver: String,
    pub address: String,
    /// Its key for node N is named `ns<N>.<key_suffix>`.
    pub key_suffix: String,
    pub keys: Vec<ExternalKey>,
}

impl From<db::dns_admin::ExternalSecondary> for ExternalSecondary {
    fn from(r: db::dns_admin::ExternalSecondary) -> Self {
        ExternalSecondary {
            id: r.id,
            nameserver: r.nameserver,
            address: r.address,
            key_suffix: r.key_suffix,
            keys: r.keys.into_iter().map(Into::into).collect(),
        }
    }
}

/// An external secondary's key for one node (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExternalKey {
    pub node_id: NodeId,
    /// The node's name server: the primary this key transfers from.
    pub nameserver: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    /// False until the admin has seen the secret (a key made for a node that joined later, or
    /// by the upgrade to per-node keys): `reveal-keys` shows it, once.
    pub shown: bool,
}

impl From<db::dns_admin::ExternalKey> for ExternalKey {
    fn from(r: db::dns_admin::ExternalKey) -> Self {
        ExternalKey {
            node_id: r.node_id,
            nameserver: r.nameserver,
            name: r.name,
            created_at: r.created_at,
            shown: r.shown,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Fault {
    pub domain: String,
    /// The server's name server name.
    pub server: String,
    /// A few English words: "unreachable", "not authoritative (lame)", …
    pub fault: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub checked_at: OffsetDateTime,
}

impl From<db::dns_admin::Fault> for Fault {
    fn from(r: db::dns_admin::Fault) -> Self {
        Fault {
            domain: r.domain,
            server: r.server,
            fault: r.fault,
            checked_at: r.checked_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub limits: Limits,
}

impl From<crate::model::plan::Plan> for Plan {
    fn from(r: crate::model::plan::Plan) -> Self {
        Plan {
            id: r.id,
            name: r.name,
            limits: r.limits.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Limits {
    pub max_domains: i64,
    pub max_mailboxes: i64,
    pub max_aliases: i64,
    pub max_xmpp_accounts: i64,
    pub storage_bytes: i64,
}

impl From<crate::model::plan::Limits> for Limits {
    fn from(r: crate::model::plan::Limits) -> Self {
        Limits {
            max_domains: r.max_domains,
            max_mailboxes: r.max_mailboxes,
            max_aliases: r.max_aliases,
            max_xmpp_accounts: r.max_xmpp_accounts,
            storage_bytes: r.storage_bytes,
        }
    }
}

/// What a member currently holds. `storage_bytes` is the storage promised to their mailboxes
/// (the sum of mailbox quotas); what the nodes measure in use is reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Usage {
    pub domains: i64,
    pub mailboxes: i64,
    pub aliases: i64,
    pub xmpp_accounts: i64,
    pub storage_bytes: i64,
    /// What the mailboxes store, as their node last measured it; null until it has measured any.
    pub stored_bytes: Option<i64>,
}

impl From<crate::model::plan::Usage> for Usage {
    fn from(r: crate::model::plan::Usage) -> Self {
        Usage {
            domains: r.domains,
            mailboxes: r.mailboxes,
            aliases: r.aliases,
            xmpp_accounts: r.xmpp_accounts,
            storage_bytes: r.storage_bytes,
            stored_bytes: r.stored_bytes,
        }
    }
}

/// The DNS record that publishes a domain's DKIM key, exactly as it must be entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DkimRecord {
    pub selector: String,
    /// `<selector>._domainkey.<domain>` (ASCII form of the domain), a TXT record.
    pub name: String,
    /// `v=DKIM1; k=rsa; p=<public key>`.
    pub value: String,
}

impl From<crate::model::report::DkimRecord> for DkimRecord {
    fn from(r: crate::model::report::DkimRecord) -> Self {
        DkimRecord {
            selector: r.selector,
            name: r.name,
            value: r.value,
        }
    }
}

/// The model's ids, each a UUID schema of its own name (`MemberId`, …) in the API.
macro_rules! uuid_schemas {
    ($($id:ident),* $(,)?) => {$(
        impl utoipa::PartialSchema for $id {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                uuid_schema()
            }
        }

        impl ToSchema for $id {}
    )*};
}

uuid_schemas!(
    AliasId,
    ApiTokenId,
    AppPasswordId,
    DomainId,
    InvitationId,
    MailboxId,
    MemberId,
    NodeId,
    PlanId,
    RecordId,
    XmppAccountId,
);

fn uuid_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}
