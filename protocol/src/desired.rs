//! The desired state of one node: everything it should serve, as one versioned document.
//!
//! The control plane builds it from its database; the agent fetches it with
//! `GET /node-api/v1/desired?after=<generation>` (a long poll: the answer comes as soon as the
//! node's generation passes `after`, or `204 No Content` after a while), keeps the last one on
//! disk and renders daemon configs from it. Every name in it is a typed value, so an agent
//! re-validates all of it while deserializing. Passwords appear only as argon2id verifiers; the
//! one plain secret is the TSIG keys the node shares with its DNS peers, which both ends must hold.
//!
//! Changes are additive only: new optional fields (`#[serde(default)]`), never renamed ones.

use serde::{Deserialize, Serialize};

use crate::names::{AliasSource, DomainName, EmailAddress, LocalPart, ObjectId, XmppNode};
use crate::scope::AppScope;

/// The document's format; bumped only if a change could not be additive.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub schema: u32,
    /// Grows whenever anything on this node changes; never goes back.
    pub generation: u64,
    pub node_id: String,
    /// The members hosted on this node, in a stable order.
    pub tenants: Vec<Tenant>,
    /// The node's part in the collective's DNS; absent until the control plane assigns one.
    #[serde(default)]
    pub dns: Option<Dns>,
}

/// What this node's name server serves: primary for its members' verified domains, secondary
/// for the zones of the nodes in `primaries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// This node's name server name (`ns<N>.<platform domain>`).
    pub nameserver: DomainName,
    /// The RFC 9432 catalog zone this node produces of the zones it is primary for.
    pub catalog: DomainName,
    /// The NS records of every zone this node is primary for: its own name first.
    pub zone_nameservers: Vec<DomainName>,
    /// The zones this node is primary for, in a stable order.
    pub zones: Vec<Zone>,
    /// Servers that transfer this node's zones and catalog (and get NOTIFY): peer nodes and
    /// external secondaries.
    pub secondaries: Vec<DnsPeer>,
    /// Nodes this node is a secondary of, each with the zones it may serve from that node.
    pub primaries: Vec<DnsPrimary>,
    /// Certificate authorities the zones' CAA records allow.
    pub caa_issuers: Vec<DomainName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub name: DomainName,
    /// The member's own records (already checked against the platform's); the agent adds the
    /// platform's records.
    pub records: Vec<crate::dns::Record>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPeer {
    /// Unique among peers; the remote's name in the name server's configuration.
    pub nameserver: DomainName,
    pub address: std::net::SocketAddr,
    pub tsig: crate::dns::TsigKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPrimary {
    pub nameserver: DomainName,
    pub address: std::net::SocketAddr,
    /// The catalog zone it produces. Agents since issue 9 do not consume it (a node's catalog
    /// could list any zone); kept for agents a version behind, which do.
    pub catalog: DomainName,
    pub tsig: crate::dns::TsigKey,
    /// The zones that node is primary for, as the control plane knows them: the only zones a
    /// secondary configures from it (absent from a control plane before issue 9: none).
    #[serde(default)]
    pub zones: Vec<DomainName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub member_id: String,
    /// A suspended member's services stop: logins are refused, mail is not accepted.
    pub active: bool,
    pub domains: Vec<Domain>,
    pub app_passwords: Vec<AppPassword>,
    /// The member's own address (given at sign-up; may be elsewhere). Mail to `postmaster@` and
    /// `abuse@` goes here when the member has no mailbox on the node to receive it.
    #[serde(default)]
    pub contact: Option<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The control plane's id of the domain. The node keys what it keeps for the domain (its
    /// DKIM key) by this id, never by the name, which a later member may take. A domain without
    /// one (a control plane older than this field) serves nothing.
    #[serde(default)]
    pub id: Option<ObjectId>,
    pub name: DomainName,
    /// Ownership verified (DNS). Until then the domain serves nothing on the node: no mail in or
    /// out, no login, no key, no zone (see [`DesiredState::served`]).
    pub verified: bool,
    pub mailboxes: Vec<Mailbox>,
    pub aliases: Vec<Alias>,
    pub xmpp_accounts: Vec<XmppAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// The control plane's id of the mailbox: its store on the node is named after it, so a
    /// later mailbox of the same address never finds a former holder's mail. A mailbox without
    /// one is not served.
    #[serde(default)]
    pub id: Option<ObjectId>,
    pub local_part: LocalPart,
    /// argon2id PHC string.
    pub password_hash: String,
    pub quota_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub source: AliasSource,
    pub targets: Vec<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmppAccount {
    pub node: XmppNode,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// A member's app password, usable for one protocol on one of their mailboxes (`mailbox`) or on
/// any of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPassword {
    pub id: String,
    pub scope: AppScope,
    /// The verifier: `sha256:<hex>` of an app password that names itself
    /// ([`crate::app_password`]), checked only when a login's password carries `public_id`.
    /// (Before `public_id` existed, an argon2id PHC string; agents no longer check those.)
    pub password_hash: String,
    /// The id its text carries; absent for the old kind, which no longer opens anything.
    #[serde(default)]
    pub public_id: Option<crate::app_password::PublicId>,
    /// The one mailbox it opens; absent: every mailbox of the member.
    #[serde(default)]
    pub mailbox: Option<EmailAddress>,
}

impl DesiredState {
    /// What the node may serve of this document: only verified domains, and only domains and
    /// mailboxes that carry their ids. The agent renders, authenticates and keeps stores from
    /// this alone, so a pending claim on a name (someone else's domain, the platform's) never
    /// receives, sends or signs anything, whatever the control plane sent.
    pub fn served(&self) -> DesiredState {
        let mut served = self.clone();
        for tenant in &mut served.tenants {
            tenant.domains.retain(|d| d.verified && d.id.is_some());
            for domain in &mut tenant.domains {
                domain.mailboxes.retain(|m| m.id.is_some());
            }
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_name_in_the_document_is_refused_by_the_agent() {
        let json = r#"{"schema":1,"generation":3,"node_id":"n","tenants":[{"member_id":"m",
            "active":true,"app_passwords":[],"domains":[{"name":"example.org\nx","verified":false,
            "mailboxes":[],"aliases":[],"xmpp_accounts":[]}]}]}"#;
        assert!(serde_json::from_str::<DesiredState>(json).is_err());
        let ok = json.replace("example.org\\nx", "example.org");
        let doc: DesiredState = serde_json::from_str(&ok).unwrap();
        assert_eq!(doc.tenants[0].domains[0].name.as_str(), "example.org");
    }

    #[test]
    fn only_verified_domains_with_ids_are_served() {
        let json = r#"{"schema":1,"generation":3,"node_id":"n","tenants":[{"member_id":"m",
            "active":true,"app_passwords":[],"domains":[
            {"id":"d1","name":"pending.example","verified":false,"mailboxes":[],"aliases":[],"xmpp_accounts":[]},
            {"name":"old.example","verified":true,"mailboxes":[],"aliases":[],"xmpp_accounts":[]},
            {"id":"d3","name":"ok.example","verified":true,"aliases":[],"xmpp_accounts":[],"mailboxes":[
              {"id":"mb1","local_part":"alice","password_hash":"h","quota_bytes":1},
              {"local_part":"noid","password_hash":"h","quota_bytes":1}]}]}]}"#;
        let doc: DesiredState = serde_json::from_str(json).unwrap();
        let served = doc.served();
        let domains = &served.tenants[0].domains;
        assert_eq!(domains.len(), 1);
        assert_eq!(domains[0].name.as_str(), "ok.example");
        assert_eq!(domains[0].mailboxes.len(), 1);
        assert_eq!(domains[0].mailboxes[0].local_part.as_str(), "alice");
    }
}
