//! Zone files: one per zone this node is primary for, `var/lib/knot/zones/<zone>.zone`.
//!
//! A zone holds the platform's records (below) and then the member's own, for a node whose mail
//! host name is H (`layout.hostname`) and whose web addresses are W (agent.toml `[dns]
//! addresses`):
//! - SOA `<first zone name server> postmaster.<zone> 1 3600 900 1209600 300`. The serial written
//!   is always 1: Knot manages it (`zonefile-load: difference-no-serial`, `serial-policy:
//!   unixtime`), so an unchanged rendering never changes the served zone. Expire is 14 days: a
//!   secondary cut off from its primary keeps serving for that long (and the signatures Knot
//!   makes live 14 days, refreshed 7 days before they expire).
//! - NS: every zone name server; MX `10 H`; A/AAAA for W at `@` and `platform::ADDRESS_NAMES`
//!   (`www`, `autoconfig`, `mta-sts`, `autodiscover`);
//!   SPF, DKIM (the agent's own key for the domain), DMARC, MTA-STS (the id of the node's
//!   policy, `render::mta_sts`: it changes whenever the policy does), TLS-RPT; SRV for mail
//!   submission and access (RFC 6186, RFC 8314: the services a node does not offer are `.`),
//!   XMPP, CalDAV/CardDAV (RFC 6764); CAA for each allowed issuer and an iodef address.
//!   The names below the apex are `protocol::dns::platform`'s, the list the control plane
//!   refuses member records at; an SRV record served from the node takes its port from the
//!   layout, as the service that listens there says ([`crate::services::Daemon::srv_ports`]).
//!
//! Every line is built from a typed value: [`Record`] (whose owner, TTL and data cannot hold a
//! line break, a comment or an unbalanced quote, and whose [`Record::zone_line`] is the one
//! place records become text), [`DomainName`] for SOA and NS, an IP address. The member's
//! records were checked by the control plane; they are checked again here so that no desired
//! state can produce a zone Knot refuses or one where a member breaks the platform's records:
//! records at a name the platform writes ([`protocol::dns::platform_owned`], and any other name
//! the platform has records at, such as a DKIM selector), records that conflict with an earlier
//! one ([`protocol::dns::conflicts_with`]: a CNAME must be alone) and names longer than 253
//! characters are left out. All records of one name and type get the smallest TTL among them
//! (RFC 2181 §5.2: one TTL per RRset). Lines are sorted, so the file is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use protocol::desired::{Dns, Zone};
use protocol::dns::platform::{self, SrvPort, ADDRESS_NAMES, SRV_NAMES};
use protocol::dns::{
    conflicts_with, platform_owned, CaaTag, Owner, Record, RecordData, Target, Ttl, TxtData,
};
use protocol::names::DomainName;

use crate::dkim::Key;
use crate::render::mta_sts::Policy;

/// Where zone files live, under the layout's root (Knot's `storage` for zones).
pub const ZONES_DIR: &str = "var/lib/knot/zones";

/// SOA timers (seconds): refresh, retry, expire, negative-caching TTL.
const REFRESH: u32 = 3600;
const RETRY: u32 = 900;
const EXPIRE: u32 = 1_209_600;
const NEGATIVE_TTL: u32 = 300;

/// The zone file's path relative to the root.
pub fn path_of(zone: &DomainName) -> String {
    format!("{ZONES_DIR}/{}.zone", zone.as_str())
}

/// The zone a path under [`ZONES_DIR`] is the file of, if it is one (its name in canonical
/// form followed by `.zone`); the inverse of [`path_of`].
pub fn zone_of(path: &str) -> Option<DomainName> {
    let name = path
        .strip_prefix(ZONES_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".zone")?;
    let zone = DomainName::parse(name).ok()?;
    (zone.as_str() == name).then_some(zone)
}

/// What a zone file needs besides the zone itself.
pub struct Context<'a> {
    pub dns: &'a Dns,
    /// The node's mail host name: MX and SRV targets.
    pub hostname: &'a DomainName,
    /// Web addresses: A/AAAA at the apex and at each of `platform::ADDRESS_NAMES`.
    pub addresses: &'a [IpAddr],
    /// The domain's DKIM key, if the agent holds one.
    pub dkim: Option<&'a Key>,
    /// The port of each SRV name served from the node, from the layout by the service that
    /// serves it ([`crate::services::srv_ports`]).
    pub srv_ports: &'a BTreeMap<&'static str, u16>,
    /// ACME DNS-01 values being checked: each name certified under the zone, with its values
    /// (TXT at `_acme-challenge.<name>`).
    pub acme: &'a [(&'a DomainName, &'a [String])],
    /// The node's MTA-STS policy, whose id the `_mta-sts` record carries.
    pub mta_sts: &'a Policy<'a>,
}

/// The data of one line after the SOA.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Data {
    Ns(DomainName),
    Record(RecordData),
}

impl Data {
    fn kind(&self) -> &'static str {
        match self {
            Data::Ns(_) => "NS",
            Data::Record(data) => data.kind().as_str(),
        }
    }
}

/// One record: sorted by owner (apex first), type, then data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    not_apex: bool,
    owner: Owner,
    kind: &'static str,
    data: Data,
    ttl: Ttl,
}

impl Line {
    fn new(owner: Owner, ttl: Ttl, data: Data) -> Line {
        Line {
            not_apex: !owner.is_apex(),
            kind: data.kind(),
            owner,
            data,
            ttl,
        }
    }

    fn text(&self) -> String {
        match &self.data {
            Data::Ns(name) => format!(
                "{} {} IN NS {}",
                self.owner.as_str(),
                self.ttl.seconds(),
                absolute(name.as_str())
            ),
            Data::Record(data) => Record {
                owner: self.owner.clone(),
                ttl: self.ttl,
                data: data.clone(),
            }
            .zone_line(),
        }
    }
}

/// `name` with the root dot.
fn absolute(name: &str) -> String {
    format!("{name}.")
}

/// The zone's name servers: `zone_nameservers`, or the node's own name if the list is empty.
fn nameservers(dns: &Dns) -> Vec<&DomainName> {
    if dns.zone_nameservers.is_empty() {
        vec![&dns.nameserver]
    } else {
        dns.zone_nameservers.iter().collect()
    }
}

/// The platform's records of `zone` (without SOA), only those whose name fits in 253
/// characters.
fn platform_records(zone: &DomainName, context: &Context<'_>) -> Vec<Line> {
    let ttl = Ttl::DEFAULT;
    let mut lines = Vec::new();
    let mut add = |owner: &str, data: RecordData| {
        if let Ok(owner) = Owner::parse(owner) {
            if owner.fits_in(zone) {
                lines.push(Line::new(owner, ttl, Data::Record(data)));
            }
        }
    };
    let txt = |text: &str| TxtData::parse(text).ok().map(RecordData::Txt);
    let host = Target::parse(context.hostname.as_str()).ok();
    let postmaster = format!("mailto:postmaster@{}", zone.as_str());

    if let Some(host) = &host {
        add(
            "@",
            RecordData::Mx {
                preference: 10,
                exchange: host.clone(),
            },
        );
    }
    let addresses: BTreeSet<IpAddr> = context.addresses.iter().copied().collect();
    for owner in ["@"].into_iter().chain(ADDRESS_NAMES) {
        for address in &addresses {
            let data = match address {
                IpAddr::V4(a) => RecordData::A(*a),
                IpAddr::V6(a) => RecordData::Aaaa(*a),
            };
            add(owner, data);
        }
    }
    let texts = [
        ("@", "v=spf1 mx -all".to_owned()),
        (
            platform::DMARC,
            format!("v=DMARC1; p=quarantine; rua={postmaster}"),
        ),
        (
            platform::MTA_STS,
            format!("v=STSv1; id={}", context.mta_sts.id()),
        ),
        (platform::TLS_RPT, format!("v=TLSRPTv1; rua={postmaster}")),
    ]
    .into_iter()
    .chain(
        SRV_NAMES
            .iter()
            .filter_map(|srv| srv.txt.map(|txt| (srv.owner, txt.to_owned()))),
    );
    let dkim_owner = context.dkim.and_then(|key| {
        let public_key_ok = !key.public_key.is_empty()
            && key
                .public_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        public_key_ok.then(|| {
            (
                format!("{}._domainkey", key.selector),
                format!("v=DKIM1; k=rsa; p={}", key.public_key),
            )
        })
    });
    for (owner, text) in texts {
        if let Some(data) = txt(&text) {
            add(owner, data);
        }
    }
    if let Some((owner, text)) = dkim_owner {
        if let Some(data) = txt(&text) {
            add(&owner, data);
        }
    }

    // Port 0 with no target says "not offered here"; so does a node port no service gives.
    for srv in &SRV_NAMES {
        let port = match srv.port {
            SrvPort::Node => context.srv_ports.get(srv.owner).copied().unwrap_or(0),
            SrvPort::Fixed(port) => port,
            SrvPort::NotOffered => 0,
        };
        let target = if port == 0 { None } else { host.clone() };
        if port != 0 && target.is_none() {
            continue;
        }
        add(
            srv.owner,
            RecordData::Srv {
                priority: srv.priority,
                weight: srv.weight,
                port,
                target,
            },
        );
    }
    for issuer in &context.dns.caa_issuers {
        add(
            "@",
            RecordData::Caa {
                critical: false,
                tag: CaaTag::Issue,
                value: issuer.as_str().to_owned(),
            },
        );
    }
    add(
        "@",
        RecordData::Caa {
            critical: false,
            tag: CaaTag::Iodef,
            value: postmaster,
        },
    );
    // ACME DNS-01: short-lived, so the shortest TTL the zone allows.
    for (name, values) in context.acme {
        let owner = match name.as_str().strip_suffix(zone.as_str()) {
            Some("") => platform::ACME_CHALLENGE.to_owned(),
            Some(prefix) if prefix.ends_with('.') => {
                format!(
                    "{}.{}",
                    platform::ACME_CHALLENGE,
                    prefix.trim_end_matches('.')
                )
            }
            _ => continue,
        };
        for value in *values {
            if let (Ok(owner), Some(data)) = (Owner::parse(&owner), txt(value)) {
                if owner.fits_in(zone) {
                    lines.push(Line::new(owner, Ttl::SHORTEST, Data::Record(data)));
                }
            }
        }
    }
    lines
}

/// The zone file of `zone`.
pub fn zone_file(zone: &Zone, context: &Context<'_>) -> String {
    let name = &zone.name;
    let platform = platform_records(name, context);
    let platform_owners: BTreeSet<Owner> = platform
        .iter()
        .map(|l| l.owner.clone())
        .filter(|o| !o.is_apex())
        .collect();

    let mut accepted: Vec<Record> = Vec::new();
    for record in &zone.records {
        let refused = !record.owner.fits_in(name)
            || platform_owned(&record.owner, &record.data).is_some()
            || platform_owners.contains(&record.owner)
            || conflicts_with(record, &accepted).is_some();
        if refused {
            tracing::warn!(
                zone = name.as_str(),
                record = %record.zone_line(),
                "a member record conflicts with the platform's or an earlier one: left out"
            );
            continue;
        }
        accepted.push(record.clone());
    }

    let mut lines: BTreeSet<Line> = platform.into_iter().collect();
    for ns in nameservers(context.dns) {
        lines.insert(Line::new(Owner::apex(), Ttl::DEFAULT, Data::Ns(ns.clone())));
    }
    for record in accepted {
        lines.insert(Line::new(
            record.owner,
            record.ttl,
            Data::Record(record.data),
        ));
    }
    // One TTL per RRset: the smallest.
    let mut ttls: BTreeMap<(Owner, &'static str), Ttl> = BTreeMap::new();
    for line in &lines {
        ttls.entry((line.owner.clone(), line.kind))
            .and_modify(|t| *t = (*t).min(line.ttl))
            .or_insert(line.ttl);
    }
    // The same record twice (a member's CAA equal to the platform's): once.
    let mut seen: BTreeSet<String> = BTreeSet::new();

    let mname = nameservers(context.dns)
        .first()
        .map(|n| absolute(n.as_str()))
        .unwrap_or_else(|| absolute(context.dns.nameserver.as_str()));
    let rname = [name, context.hostname]
        .iter()
        .map(|d| format!("postmaster.{}", d.as_str()))
        .find(|r| r.len() <= DomainName::MAX_LEN)
        .map(|r| absolute(&r))
        .unwrap_or_else(|| ".".to_owned());

    let mut out = String::new();
    out.push_str(
        "; Rendered by the Ruche node agent; do not edit: it is rewritten on every change.\n",
    );
    out.push_str("; Knot signs the zone and manages its serial (the 1 below is never served).\n");
    let _ = writeln!(out, "$ORIGIN {}", absolute(name.as_str()));
    let _ = writeln!(out, "$TTL {}", Ttl::DEFAULT.seconds());
    let _ = writeln!(
        out,
        "@ {} IN SOA {mname} {rname} 1 {REFRESH} {RETRY} {EXPIRE} {NEGATIVE_TTL}",
        Ttl::DEFAULT.seconds()
    );
    for mut line in lines {
        if let Some(ttl) = ttls.get(&(line.owner.clone(), line.kind)) {
            line.ttl = *ttl;
        }
        let text = line.text();
        if seen.insert(text.clone()) {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}
