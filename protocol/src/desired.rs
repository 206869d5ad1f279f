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
//!
//! An agent that adds `delta=true` to the poll gets an [`Update`]: the whole document, or a
//! [`Delta`] with what changed since the generation it holds (the members that changed, whole,
//! and their zones), which [`DesiredState::apply`] turns into the next whole document. The control
//! plane answers with the whole document whenever it cannot say what changed (a new node, one
//! whose generation is older than the changes it keeps), and agents that do not ask get the
//! whole document as before.
//!
//! The next document shares every unchanged member and zone with the one before (`Arc`): a
//! change copies pointers, not the node, and two documents compare members by pointer first.
//! That a delta leads to exactly the whole document the node would have fetched is checked here
//! by a property test (`a_delta_leads_to_the_next_document`) and against the database by
//! `control-plane/tests/it/deltas.rs`. The agent also fetches the whole document every hour,
//! and whenever a delta does not apply ([`DeltaError`]).

use std::sync::Arc;

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
    /// The members hosted on this node, in a stable order. Shared, as the zones are: the next
    /// document a delta leads to holds every other member (and zone) of this one, not a copy.
    pub tenants: Vec<Arc<Tenant>>,
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
    pub zones: Vec<Arc<Zone>>,
    /// Servers that transfer this node's zones and catalog (and get NOTIFY): peer nodes and
    /// external secondaries.
    pub secondaries: Vec<DnsPeer>,
    /// Nodes this node is a secondary of, each with the zones it may serve from that node.
    pub primaries: Vec<DnsPrimary>,
    /// Certificate authorities the zones' CAA records allow.
    pub caa_issuers: Vec<DomainName>,
}

impl Dns {
    /// Whether `self` and `other` are the same but for their zones: what every zone file of the
    /// node depends on besides its own zone.
    pub fn same_but_zones(&self, other: &Dns) -> bool {
        self.nameserver == other.nameserver
            && self.catalog == other.catalog
            && self.zone_nameservers == other.zone_nameservers
            && self.secondaries == other.secondaries
            && self.primaries == other.primaries
            && self.caa_issuers == other.caa_issuers
    }
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
    /// argon2id PHC string. Shared, not copied, by the node's auth broker.
    pub password_hash: std::sync::Arc<str>,
    pub quota_bytes: u64,
    /// Its member made it public: WebFinger (RFC 7033) answers for it. Absent (a control plane
    /// older than this field): not public.
    #[serde(default)]
    pub public: bool,
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
    /// Its member made it public: WebFinger (RFC 7033) answers for it. Absent (a control plane
    /// older than this field): not public.
    #[serde(default)]
    pub public: bool,
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

/// The answer to a poll with `delta=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    Full(DesiredState),
    Delta(Delta),
}

/// What changed on a node between generation `base` and `generation`: the members whose part
/// changed, each whole, so that a change costs what the member holds rather than what the node
/// holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub schema: u32,
    pub node_id: String,
    /// The generation this delta applies to: the one the agent said it holds.
    pub base: u64,
    /// The generation the agent holds once it is applied.
    pub generation: u64,
    /// Members that changed or arrived, each whole.
    pub tenants: Vec<Arc<Tenant>>,
    /// Members that left the node (deleted, or moved to another node).
    pub removed_tenants: Vec<String>,
    /// The zones this node is primary for among the domains of `tenants`, each whole. Zones of
    /// the domains the changed and removed members held before go, unless listed here again.
    pub zones: Vec<Arc<Zone>>,
    /// The node's whole DNS part, when something of it other than those members' zones changed
    /// (peers, keys, the zones of the nodes it is a secondary of); `None`: only `zones` changed.
    #[serde(default)]
    pub dns: Option<Dns>,
}

/// A member of the next document, with its part in the one before if it had one.
type Pair<'a> = (&'a Arc<Tenant>, Option<&'a Arc<Tenant>>);

/// Each member of `after` with its part in `before` (if it had one), and the members of
/// `before` that are not in `after`. Documents list members in a stable order (by id): then
/// one walk through both, else a lookup by id.
fn pair_members<'a>(
    before: &'a [Arc<Tenant>],
    after: &'a [Arc<Tenant>],
) -> (Vec<Pair<'a>>, Vec<&'a Arc<Tenant>>) {
    let by_id = |ts: &[Arc<Tenant>]| ts.windows(2).all(|w| w[0].member_id < w[1].member_id);
    let mut pairs = Vec::with_capacity(after.len());
    let mut removed = Vec::new();
    if by_id(before) && by_id(after) {
        let mut old = before.iter().peekable();
        for t in after {
            while let Some(was) = old.next_if(|was| was.member_id < t.member_id) {
                removed.push(was);
            }
            pairs.push((t, old.next_if(|was| was.member_id == t.member_id)));
        }
        removed.extend(old);
    } else {
        let find = |ts: &'a [Arc<Tenant>]| -> std::collections::HashMap<&'a str, &'a Arc<Tenant>> {
            ts.iter().map(|t| (t.member_id.as_str(), t)).collect()
        };
        let (old, new) = (find(before), find(after));
        pairs.extend(
            after
                .iter()
                .map(|t| (t, old.get(t.member_id.as_str()).copied())),
        );
        removed.extend(
            before
                .iter()
                .filter(|t| !new.contains_key(t.member_id.as_str())),
        );
    }
    (pairs, removed)
}

impl Delta {
    /// The members it names: changed, arrived or removed. Every other member's part is the same
    /// in the document it applies to and in the one it leads to.
    pub fn members(&self) -> std::collections::HashSet<&str> {
        self.tenants
            .iter()
            .map(|t| t.member_id.as_str())
            .chain(self.removed_tenants.iter().map(String::as_str))
            .collect()
    }
}

/// Why a delta cannot be applied to a document: the agent then asks for the whole document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("the delta is for node {delta}, the document for node {document}")]
    OtherNode { document: String, delta: String },
    #[error("the delta starts from generation {base}, the document is at {generation}")]
    OtherBase { generation: u64, base: u64 },
    #[error("the delta goes back from generation {base} to {generation}")]
    Backwards { base: u64, generation: u64 },
    #[error("the delta changes zones of a document without a DNS part")]
    NoDns,
}

impl DesiredState {
    /// The document `delta` leads to from this one. Pure, so the agent can apply it before it
    /// writes anything, and a property test checks it against the control plane's whole
    /// documents.
    pub fn apply(&self, delta: &Delta) -> Result<DesiredState, DeltaError> {
        if delta.node_id != self.node_id {
            return Err(DeltaError::OtherNode {
                document: self.node_id.clone(),
                delta: delta.node_id.clone(),
            });
        }
        if delta.base != self.generation {
            return Err(DeltaError::OtherBase {
                generation: self.generation,
                base: delta.base,
            });
        }
        if delta.generation < delta.base {
            return Err(DeltaError::Backwards {
                base: delta.base,
                generation: delta.generation,
            });
        }
        let changed: std::collections::BTreeSet<&str> = delta
            .tenants
            .iter()
            .map(|t| t.member_id.as_str())
            .chain(delta.removed_tenants.iter().map(String::as_str))
            .collect();
        // The zones of a changed member's domains, before and after, are replaced by the
        // delta's (a zone is named after its domain).
        let replaced: std::collections::BTreeSet<&DomainName> = self
            .tenants
            .iter()
            .chain(&delta.tenants)
            .filter(|t| changed.contains(t.member_id.as_str()))
            .flat_map(|t| t.domains.iter().map(|d| &d.name))
            .collect();
        let dns = match (&delta.dns, &self.dns) {
            (Some(dns), _) => Some(dns.clone()),
            (None, Some(dns)) => {
                let mut dns = dns.clone();
                dns.zones.retain(|z| !replaced.contains(&z.name));
                dns.zones.extend(delta.zones.iter().cloned());
                dns.zones.sort_by(|a, b| a.name.cmp(&b.name));
                Some(dns)
            }
            (None, None) if delta.zones.is_empty() => None,
            (None, None) => return Err(DeltaError::NoDns),
        };
        let mut tenants: Vec<Arc<Tenant>> = self
            .tenants
            .iter()
            .filter(|t| !changed.contains(t.member_id.as_str()))
            .cloned()
            .chain(delta.tenants.iter().cloned())
            .collect();
        tenants.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(DesiredState {
            schema: self.schema.max(delta.schema),
            generation: delta.generation,
            node_id: self.node_id.clone(),
            tenants,
            dns,
        })
    }

    /// The delta from `self` to `next` that names every member whose part or zones differ: what
    /// the control plane's change log gives, computed from two documents (for tests, and for
    /// the agent's own record of what it applied, [`DesiredState::apply`] reading it back).
    pub fn delta_to(&self, next: &DesiredState) -> Delta {
        let (pairs, removed) = pair_members(&self.tenants, &next.tenants);
        fn zones(dns: &Option<Dns>) -> std::collections::BTreeMap<&DomainName, &Arc<Zone>> {
            dns.iter()
                .flat_map(|d| &d.zones)
                .map(|z| (&z.name, z))
                .collect()
        }
        let (zones_before, zones_after) = (zones(&self.dns), zones(&next.dns));
        // A member changed if its part did, or one of its zones (a record). A member both
        // documents share is the same without being compared (`Arc`'s equality looks at the
        // pointers first).
        let tenants: Vec<Arc<Tenant>> = pairs
            .into_iter()
            .filter(|(t, was)| {
                *was != Some(*t)
                    || t.domains
                        .iter()
                        .any(|d| zones_before.get(&d.name) != zones_after.get(&d.name))
            })
            .map(|(t, _)| t.clone())
            .collect();
        let removed_tenants: Vec<String> = removed.iter().map(|t| t.member_id.clone()).collect();
        // The zones a delta replaces (see [`DesiredState::apply`]): those named after a domain
        // a changed or removed member held before, or a changed member holds now.
        let changed: std::collections::BTreeSet<&str> = tenants
            .iter()
            .map(|t| t.member_id.as_str())
            .chain(removed_tenants.iter().map(String::as_str))
            .collect();
        let names: std::collections::BTreeSet<&DomainName> = self
            .tenants
            .iter()
            .filter(|t| changed.contains(t.member_id.as_str()))
            .chain(&tenants)
            .flat_map(|t| t.domains.iter().map(|d| &d.name))
            .collect();
        // Whether the rest of the DNS part is the same, compared in place: a delta is made on
        // every change, and cloning the whole document to check it would cost what the node
        // holds.
        let rest_unchanged = match (&self.dns, &next.dns) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                let kept = |z: &&Arc<Zone>| !names.contains(&z.name);
                let same_others = a.zones.iter().filter(kept).eq(b.zones.iter().filter(kept));
                a.same_but_zones(b)
                    && same_others
                    // `apply` sorts the zones by name.
                    && b.zones.windows(2).all(|w| w[0].name <= w[1].name)
            }
            _ => false,
        };
        let (zones, dns) = if rest_unchanged {
            let zones = next
                .dns
                .iter()
                .flat_map(|d| &d.zones)
                .filter(|z| names.contains(&z.name))
                .cloned()
                .collect();
            (zones, None)
        } else {
            // Anything else of the DNS part differs: send it whole.
            (Vec::new(), next.dns.clone())
        };
        Delta {
            schema: next.schema,
            node_id: next.node_id.clone(),
            base: self.generation,
            generation: next.generation,
            tenants,
            removed_tenants,
            zones,
            dns,
        }
    }

    /// Whether [`DesiredState::served`] takes nothing away: then the document is served as it
    /// is, and the agent need not copy it. Reads the document, allocates only a set of names.
    pub fn serves_all(&self) -> bool {
        let mut names = std::collections::HashSet::new();
        self.tenants.iter().flat_map(|t| &t.domains).all(|d| {
            d.verified
                && d.id.is_some()
                && names.insert(&d.name)
                && d.mailboxes.iter().all(|m| m.id.is_some())
        })
    }

    /// What the node may serve of this document: only verified domains, and only domains and
    /// mailboxes that carry their ids. The agent renders, authenticates and keeps stores from
    /// this alone, so a pending claim on a name (someone else's domain, the platform's) never
    /// receives, sends or signs anything, whatever the control plane sent.
    ///
    /// A domain name two members both claim (which the control plane never sends) is served
    /// for neither: the node's tables, user lists and maps hold each name once, for one member.
    pub fn served(&self) -> DesiredState {
        if self.serves_all() {
            return self.clone();
        }
        let mut seen = std::collections::HashSet::new();
        let twice: std::collections::HashSet<&DomainName> = self
            .tenants
            .iter()
            .flat_map(|t| &t.domains)
            .filter(|d| d.verified && d.id.is_some())
            .filter(|d| !seen.insert(&d.name))
            .map(|d| &d.name)
            .collect();
        let mut served = self.clone();
        for tenant in &mut served.tenants {
            let keep = |d: &Domain| d.verified && d.id.is_some() && !twice.contains(&d.name);
            let whole = tenant
                .domains
                .iter()
                .all(|d| keep(d) && d.mailboxes.iter().all(|m| m.id.is_some()));
            if whole {
                // Shared with `self`, not copied.
                continue;
            }
            let tenant = Arc::make_mut(tenant);
            tenant.domains.retain(keep);
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
        assert!(!doc.serves_all() && served.serves_all());
        assert_eq!(served.served(), served);
        let domains = &served.tenants[0].domains;
        assert_eq!(domains.len(), 1);
        assert_eq!(domains[0].name.as_str(), "ok.example");
        assert_eq!(domains[0].mailboxes.len(), 1);
        assert_eq!(domains[0].mailboxes[0].local_part.as_str(), "alice");
    }

    #[test]
    fn a_domain_two_members_claim_is_served_for_neither() {
        let json = r#"{"schema":1,"generation":3,"node_id":"n","tenants":[
            {"member_id":"a","active":true,"app_passwords":[],"domains":[
              {"id":"d1","name":"shared.example","verified":true,"mailboxes":[],"aliases":[],"xmpp_accounts":[]},
              {"id":"d2","name":"a.example","verified":true,"mailboxes":[],"aliases":[],"xmpp_accounts":[]}]},
            {"member_id":"b","active":true,"app_passwords":[],"domains":[
              {"id":"d3","name":"shared.example","verified":true,"mailboxes":[],"aliases":[],"xmpp_accounts":[]},
              {"id":"d4","name":"pending.example","verified":false,"mailboxes":[],"aliases":[],"xmpp_accounts":[]}]},
            {"member_id":"c","active":true,"app_passwords":[],"domains":[
              {"id":"d5","name":"pending.example","verified":true,"mailboxes":[],"aliases":[],"xmpp_accounts":[]}]}]}"#;
        let doc = serde_json::from_str::<DesiredState>(json).unwrap();
        assert!(!doc.serves_all());
        let served = doc.served();
        assert!(served.serves_all());
        let names: Vec<Vec<&str>> = served
            .tenants
            .iter()
            .map(|t| t.domains.iter().map(|d| d.name.as_str()).collect())
            .collect();
        // A pending claim does not take a name from the member that verified it.
        assert_eq!(names, [vec!["a.example"], vec![], vec!["pending.example"]]);
    }

    /// A mailbox or an XMPP account is public only when the document says so: a document from
    /// a control plane older than the flag makes none public. Made public, the member's part
    /// changes, so the delta names that member and carries the flag.
    #[test]
    fn addresses_are_public_only_when_the_document_says_so() {
        let json = r#"{"schema":1,"generation":3,"node_id":"n","tenants":[{"member_id":"m",
            "active":true,"app_passwords":[],"domains":[{"id":"d1","name":"ok.example",
            "verified":true,"aliases":[],
            "mailboxes":[{"id":"mb1","local_part":"alice","password_hash":"h","quota_bytes":1}],
            "xmpp_accounts":[{"node":"alice","password_hash":"h"}]}]},
            {"member_id":"o","active":true,"app_passwords":[],"domains":[]}]}"#;
        let doc: DesiredState = serde_json::from_str(json).unwrap();
        let domain = &doc.tenants[0].domains[0];
        assert!(!domain.mailboxes[0].public && !domain.xmpp_accounts[0].public);

        for (mailbox, xmpp) in [(true, false), (false, true)] {
            let mut next = doc.clone();
            next.generation = 4;
            let domain = &mut Arc::make_mut(&mut next.tenants[0]).domains[0];
            domain.mailboxes[0].public = mailbox;
            domain.xmpp_accounts[0].public = xmpp;
            let delta = doc.delta_to(&next);
            assert_eq!(delta.members(), std::collections::HashSet::from(["m"]));
            let wire = serde_json::to_string(&delta).unwrap();
            assert!(wire.contains(r#""public":true"#), "{wire}");
            let delta: Delta = serde_json::from_str(&wire).unwrap();
            assert_eq!(doc.apply(&delta).unwrap(), next);
            let served = &next.served().tenants[0].domains[0];
            assert_eq!(
                (served.mailboxes[0].public, served.xmpp_accounts[0].public),
                (mailbox, xmpp)
            );
        }
    }

    mod deltas {
        use super::super::*;
        use proptest::prelude::*;

        fn name(s: &str) -> DomainName {
            DomainName::parse(s).unwrap()
        }

        fn record(n: u8) -> crate::dns::Record {
            crate::dns::Record::try_from(crate::dns::RecordText {
                name: "www".to_owned(),
                kind: "A".to_owned(),
                ttl: 300,
                value: format!("192.0.2.{n}"),
            })
            .unwrap()
        }

        /// A member `m<member>` holding the domains `d<i>.example` for each `i` in `domains`,
        /// their mailboxes public or not.
        fn tenant(member: u8, domains: &[u8], mailboxes: u8, active: bool, public: bool) -> Tenant {
            Tenant {
                member_id: format!("m{member}"),
                active,
                app_passwords: Vec::new(),
                contact: None,
                domains: domains
                    .iter()
                    .map(|d| Domain {
                        id: Some(ObjectId::parse(&format!("d{d}")).unwrap()),
                        name: name(&format!("d{d}.example")),
                        verified: true,
                        mailboxes: (0..mailboxes)
                            .map(|n| Mailbox {
                                id: Some(ObjectId::parse(&format!("mb{d}-{n}")).unwrap()),
                                local_part: LocalPart::parse(&format!("u{n}")).unwrap(),
                                password_hash: "h".into(),
                                quota_bytes: 1,
                                public,
                            })
                            .collect(),
                        aliases: Vec::new(),
                        xmpp_accounts: Vec::new(),
                    })
                    .collect(),
            }
        }

        /// A document from a choice per member (absent, or its mailbox count, state and whether
        /// its mailboxes are public), a record per domain, and a CAA issuer standing for the
        /// node-wide DNS settings.
        fn document(
            generation: u64,
            members: &[Option<(u8, bool, bool)>],
            records: &[u8],
            caa: u8,
        ) -> DesiredState {
            // Domain i belongs to member i % 4.
            let tenants: Vec<Arc<Tenant>> = members
                .iter()
                .enumerate()
                .filter_map(|(m, choice)| {
                    let (mailboxes, active, public) = (*choice)?;
                    let m = u8::try_from(m).unwrap();
                    let domains: Vec<u8> = (0..8u8).filter(|d| d % 4 == m).collect();
                    Some(Arc::new(tenant(m, &domains, mailboxes, active, public)))
                })
                .collect();
            let mut zones: Vec<Arc<Zone>> = tenants
                .iter()
                .flat_map(|t| &t.domains)
                .map(|d| {
                    let i: usize = d.name.as_str()[1..2].parse().unwrap();
                    Arc::new(Zone {
                        name: d.name.clone(),
                        records: vec![record(records[i])],
                    })
                })
                .collect();
            zones.sort_by(|a, b| a.name.cmp(&b.name));
            DesiredState {
                schema: SCHEMA,
                generation,
                node_id: "node".to_owned(),
                tenants,
                dns: Some(Dns {
                    nameserver: name("ns1.platform.example"),
                    catalog: name("catalog.ns1.platform.example"),
                    zone_nameservers: vec![name("ns1.platform.example")],
                    zones,
                    secondaries: Vec::new(),
                    primaries: Vec::new(),
                    caa_issuers: vec![name(&format!("ca{caa}.example"))],
                }),
            }
        }

        fn members() -> impl Strategy<Value = Vec<Option<(u8, bool, bool)>>> {
            proptest::collection::vec(
                proptest::option::of((0u8..3, any::<bool>(), any::<bool>())),
                4,
            )
        }

        proptest! {
            /// Applying the delta between two documents gives the second, whatever changed; and
            /// when the node-wide DNS settings did not change, the delta carries only the
            /// changed members and their zones.
            #[test]
            fn a_delta_leads_to_the_next_document(
                before in members(),
                after in members(),
                records_before in proptest::collection::vec(0u8..3, 8),
                records_after in proptest::collection::vec(0u8..3, 8),
                caa_before in 0u8..2,
                caa_after in 0u8..2,
                steps in 0u64..5,
            ) {
                let a = document(7, &before, &records_before, caa_before);
                let b = document(7 + steps, &after, &records_after, caa_after);
                let delta = a.delta_to(&b);
                prop_assert_eq!(a.apply(&delta).unwrap(), b.clone());
                if caa_before == caa_after {
                    prop_assert!(delta.dns.is_none());
                    for t in &delta.tenants {
                        let same_tenant = a.tenants.iter().any(|old| old == t);
                        let zones = |d: &DesiredState| -> Vec<Arc<Zone>> {
                            d.dns.iter().flat_map(|d| &d.zones)
                                .filter(|z| t.domains.iter().any(|d| d.name == z.name))
                                .cloned().collect()
                        };
                        prop_assert!(!(same_tenant && zones(&a) == zones(&b)),
                            "an unchanged member was sent");
                    }
                }
            }
        }

        proptest! {
            /// Members are paired by id whether the documents list them in order or not.
            #[test]
            fn members_pair_by_id_in_any_order(
                before in proptest::collection::btree_set(0u8..12, 0..8),
                after in proptest::collection::btree_set(0u8..12, 0..8),
            ) {
                let tenants = |ids: &std::collections::BTreeSet<u8>| -> Vec<Arc<Tenant>> {
                    ids.iter().map(|i| Arc::new(tenant(*i, &[], 0, true, false))).collect()
                };
                let ids = |pairs: &[Pair<'_>], removed: &[&Arc<Tenant>]| {
                    let mut p: Vec<(String, Option<String>)> = pairs
                        .iter()
                        .map(|(t, w)| (t.member_id.clone(), w.map(|w| w.member_id.clone())))
                        .collect();
                    let mut r: Vec<String> = removed.iter().map(|t| t.member_id.clone()).collect();
                    p.sort();
                    r.sort();
                    (p, r)
                };
                let (b, a) = (tenants(&before), tenants(&after));
                let (pairs, removed) = pair_members(&b, &a);
                let in_order = ids(&pairs, &removed);
                let (rb, ra): (Vec<Arc<Tenant>>, Vec<Arc<Tenant>>) =
                    (b.iter().rev().cloned().collect(), a.iter().rev().cloned().collect());
                let (pairs, removed) = pair_members(&rb, &ra);
                prop_assert_eq!(&ids(&pairs, &removed), &in_order);
                for (id, was) in &in_order.0 {
                    prop_assert_eq!(was.is_some(), before.iter().any(|i| tenant(*i, &[], 0, true, false).member_id == *id));
                }
                prop_assert_eq!(in_order.1.len(), before.difference(&after).count());
            }
        }

        #[test]
        fn a_delta_for_another_generation_or_node_is_refused() {
            let a = document(7, &[Some((1, true, false))], &[0; 8], 0);
            let b = document(8, &[Some((2, true, false))], &[0; 8], 0);
            let mut delta = a.delta_to(&b);
            delta.base = 6;
            assert!(matches!(a.apply(&delta), Err(DeltaError::OtherBase { .. })));
            delta.base = 7;
            delta.node_id = "other".to_owned();
            assert!(matches!(a.apply(&delta), Err(DeltaError::OtherNode { .. })));
            delta.node_id = "node".to_owned();
            delta.generation = 5;
            assert!(matches!(a.apply(&delta), Err(DeltaError::Backwards { .. })));
        }

        #[test]
        fn a_delta_and_a_whole_document_come_tagged() {
            let a = document(7, &[Some((1, true, false))], &[0; 8], 0);
            let json = serde_json::to_string(&Update::Full(a.clone())).unwrap();
            assert!(json.starts_with("{\"kind\":\"full\""));
            let back: Update = serde_json::from_str(&json).unwrap();
            assert_eq!(back, Update::Full(a.clone()));
            let delta = a.delta_to(&document(8, &[None], &[0; 8], 0));
            let json = serde_json::to_string(&Update::Delta(delta.clone())).unwrap();
            assert!(json.starts_with("{\"kind\":\"delta\""));
            assert_eq!(delta.removed_tenants, ["m0"]);
        }
    }
}
