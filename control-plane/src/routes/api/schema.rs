//! What the JSON API shows: its response types, with their OpenAPI schemas. The store's rows
//! (`db`) are not the API's schema; each type here is made from one with `From`, so a column
//! can change without the API changing by accident (`openapi.json` is checked by a test).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::db;
use crate::db::dns_records::RecordId;
use crate::model::ids::{AliasId, ApiTokenId, AppPasswordId, DomainId, MailboxId, XmppAccountId};
use crate::model::report::DkimRecord;
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
            dkim: r.dkim,
            created_at: r.created_at,
            dns: r.dns.into(),
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
