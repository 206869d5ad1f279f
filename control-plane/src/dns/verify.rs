//! Ownership verification and the registrar checklist, through the resolvers that stand for the
//! world (`[dns] resolvers`).
//!
//! A member proves a domain is theirs by publishing the TXT record
//! `_ruche-challenge.<domain>` with the domain's verification token at their registrar or DNS
//! host; [`run_once`] (every `check_interval_seconds`) and [`check_domain`] (the member's "Check
//! now") look for it and activate the domain when one TXT string equals the token. The same round
//! records, per domain, what the world sees of the rest of the checklist (`domain_dns_status`):
//! whether the delegation names at least our name servers, and whether the parent publishes one
//! of the DS records the monitor took from the primary.
//!
//! Every round builds a fresh resolver, so an answer never outlives its round: a record the
//! member just added is seen at the next round, whatever TTL it had when it was missing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::proto::serialize::binary::BinEncodable;
use hickory_resolver::TokioResolver;
use protocol::names::DomainName;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;
use web::Reason;

use crate::config::{DnsConfig, Platform};
use crate::db::audit::Actor;
use crate::db::domains::{self, Domain};
use crate::db::rate_limit;
use crate::db::topology;
use crate::db::verification::{self, Subject};
use crate::error::{Error, Result};
use crate::model::claims::{challenge_name, Observation};
use crate::model::ids::{DomainId, MemberId, NodeId};
use crate::services;

/// Lookups in flight at once in a round: 1,000 domains × up to three lookups finish in a few
/// round trips without flooding the resolvers.
const CONCURRENCY: usize = 32;

/// Per query and server. The resolvers are near (or local); a slow answer is treated as no
/// answer and the next round asks again.
const TIMEOUT: Duration = Duration::from_secs(2);

/// "Check now" presses allowed per member in [`RATE_WINDOW_MINUTES`]: each one sends queries to
/// the resolvers, so a script must not turn the control plane into a query cannon.
const CHECKS_PER_WINDOW: i64 = 30;
const RATE_WINDOW_MINUTES: i64 = 10;

/// Who activates a domain found by the background round, in the audit log.
fn round_actor() -> Actor {
    Actor::round("DNS verification")
}

/// A resolver for one round: the configured servers over UDP then TCP (TCP also when UDP fails or
/// the answer is truncated), or the system's when none is configured. No hosts file, no search
/// domains (every name asked is absolute).
pub fn resolver(config: &DnsConfig) -> Result<TokioResolver> {
    let mut builder = if config.resolvers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| {
            Error::Internal(anyhow::anyhow!(
                "no [dns] resolvers configured and the system's cannot be read: {e}"
            ))
        })?
    } else {
        let servers = config.resolvers.iter().map(|a| name_server(*a)).collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    options.timeout = TIMEOUT;
    options.attempts = 1;
    options.try_tcp_on_error = true;
    options.use_hosts_file = ResolveHosts::Never;
    options.ndots = 0;
    builder
        .build()
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot build the DNS resolver: {e}")))
}

fn name_server(address: SocketAddr) -> NameServerConfig {
    let connection = |protocol| {
        let mut c = ConnectionConfig::new(protocol);
        c.port = address.port();
        c
    };
    NameServerConfig::new(
        address.ip(),
        true,
        vec![
            connection(ProtocolConfig::Udp),
            connection(ProtocolConfig::Tcp),
        ],
    )
}

/// The records of one type the world has at a name: `Some(empty)` when it answered that there
/// are none, `None` when it could not be asked (timeout, refusal, server failure).
type Answer = Option<Vec<Record>>;

async fn ask(resolver: &TokioResolver, name: &str, kind: RecordType) -> Answer {
    let Ok(fqdn) = Name::from_ascii(format!("{name}.")) else {
        return None;
    };
    match resolver.lookup(fqdn.clone(), kind).await {
        Ok(lookup) => Some(records_of(
            lookup.answers(),
            lookup.authorities(),
            &fqdn,
            kind,
        )),
        Err(NetError::Dns(DnsError::NoRecordsFound(none)))
            if matches!(
                none.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ) =>
        {
            let referral: Vec<Record> = none
                .ns
                .iter()
                .flat_map(|ns| ns.iter())
                .map(|f| f.ns.clone())
                .collect();
            let authorities = none.authorities.as_deref().unwrap_or_default();
            Some(records_of(&referral, authorities, &fqdn, kind))
        }
        Err(e) => {
            tracing::debug!(%name, %kind, error = %e, "DNS lookup failed");
            None
        }
    }
}

/// The records of `kind` in an answer to a question about `name`. Answers count whatever their
/// owner (the resolver followed any CNAME). For NS, a server authoritative for the parent answers
/// with a referral (no answer, the delegation's NS records in the authority section): that
/// delegation is what the world sees, but only when it is the name asked, not a cut higher up.
fn records_of(
    answers: &[Record],
    authorities: &[Record],
    name: &Name,
    kind: RecordType,
) -> Vec<Record> {
    let answered: Vec<Record> = answers
        .iter()
        .filter(|r| r.record_type() == kind)
        .cloned()
        .collect();
    if answered.is_empty() && kind == RecordType::NS {
        authorities
            .iter()
            .filter(|r| r.record_type() == kind && r.name == *name)
            .cloned()
            .collect()
    } else {
        answered
    }
}

/// The strings of each TXT record, as bytes (a TXT record holds one or more strings).
fn txt_strings(records: &[Record]) -> Vec<Vec<Vec<u8>>> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

/// Whether one TXT record carries `token`: one of its strings is the token, or its strings
/// joined are (a DNS host may split long values into several strings).
pub fn txt_matches(records: &[Vec<Vec<u8>>], token: &str) -> bool {
    let token = token.as_bytes();
    records
        .iter()
        .any(|strings| strings.iter().any(|s| s == token) || strings.concat() == token)
}

fn ns_names(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_ascii()),
            _ => None,
        })
        .collect()
}

/// `example.org.`, `Example.ORG` and `example.org` are the same name.
fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether the NS set the world sees includes every expected name server. More is fine (the
/// member may keep another provider's servers during a move); fewer means some resolvers would
/// not find ours. `None` when nothing is expected yet (the member has no node).
pub fn ns_covers(seen: &[String], expected: &[DomainName]) -> Option<bool> {
    if expected.is_empty() {
        return None;
    }
    let seen: Vec<String> = seen.iter().map(|s| normalize_name(s)).collect();
    Some(
        expected
            .iter()
            .all(|e| seen.contains(&normalize_name(e.as_str()))),
    )
}

/// A DS record's RDATA (RFC 4034 §5.1: key tag, algorithm, digest type, digest) in the form the
/// monitor stores: `<key tag> <algorithm> <digest type> <HEX digest>`.
pub fn ds_text(rdata: &[u8]) -> Option<String> {
    if rdata.len() < 5 {
        return None;
    }
    let key_tag = u16::from_be_bytes([rdata[0], rdata[1]]);
    Some(format!(
        "{key_tag} {} {} {}",
        rdata[2],
        rdata[3],
        hex::encode_upper(&rdata[4..])
    ))
}

/// A DS text reduced to its four fields, so that spacing, case and a leading owner/class/type
/// (`example.org. 3600 IN DS …`) make no difference.
fn ds_key(text: &str) -> Option<(u16, u8, u8, String)> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let fields = match tokens.iter().position(|t| t.eq_ignore_ascii_case("DS")) {
        Some(i) => &tokens[i + 1..],
        None => &tokens[..],
    };
    if fields.len() < 4 {
        return None;
    }
    let digest = fields[3..].concat().to_ascii_uppercase();
    if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((
        fields[0].parse().ok()?,
        fields[1].parse().ok()?,
        fields[2].parse().ok()?,
        digest,
    ))
}

/// Whether the world publishes one of the DS records the zone's key calls for. `None` when the
/// monitor has not read any from the primary yet.
pub fn ds_published(seen: &[String], expected: &[String]) -> Option<bool> {
    if expected.is_empty() {
        return None;
    }
    let expected: Vec<_> = expected.iter().filter_map(|e| ds_key(e)).collect();
    Some(
        seen.iter()
            .filter_map(|s| ds_key(s))
            .any(|s| expected.contains(&s)),
    )
}

fn ds_texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::DS)
        .filter_map(|r| r.data.to_bytes().ok())
        .filter_map(|bytes| ds_text(&bytes))
        .collect()
}

async fn observe(resolver: &TokioResolver, s: &Subject, expected_ns: &[DomainName]) -> Observation {
    let txt = async {
        if s.pending {
            ask(resolver, &challenge_name(&s.name), RecordType::TXT).await
        } else {
            None
        }
    };
    let ns = async {
        if expected_ns.is_empty() {
            None
        } else {
            ask(resolver, &s.name, RecordType::NS).await
        }
    };
    let ds = async {
        if s.ds.is_empty() {
            None
        } else {
            ask(resolver, &s.name, RecordType::DS).await
        }
    };
    let (txt, ns, ds) = tokio::join!(txt, ns, ds);
    let txt_strings = txt.as_deref().map(txt_strings);
    Observation {
        txt_seen: txt_strings.as_deref().map(|t| txt_matches(t, &s.token)),
        txt_present: txt_strings.is_some_and(|t| !t.is_empty()),
        ns_seen: ns.and_then(|records| ns_covers(&ns_names(&records), expected_ns)),
        ds_seen: ds.and_then(|records| ds_published(&ds_texts(&records), &s.ds)),
    }
}

/// The NS set each node's zones have, asked once per node.
async fn expected_nameservers(
    pool: &PgPool,
    config: &Platform,
    nodes: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<DomainName>>> {
    let mut conn = pool.acquire().await?;
    let mut out = HashMap::new();
    for node in nodes {
        if let std::collections::hash_map::Entry::Vacant(e) = out.entry(node) {
            e.insert(topology::zone_nameservers(&mut conn, config, NodeId(node)).await?);
        }
    }
    Ok(out)
}

/// One round over every domain: activates pending domains whose challenge is visible and
/// refreshes the registrar checklist of all. Lookups run `CONCURRENCY` at a time.
pub async fn run_once(pool: &PgPool, config: &Platform) -> Result<()> {
    let subjects = verification::subjects(pool).await?;
    if subjects.is_empty() {
        return Ok(());
    }
    // Collected first: an iterator borrowing `subjects` held across the await would make this
    // future not `Send` for every lifetime, so it could not run as a spawned task.
    let nodes: Vec<Uuid> = subjects.iter().filter_map(|s| s.node).collect();
    let expected = Arc::new(expected_nameservers(pool, config, nodes).await?);
    let resolver = resolver(config)?;
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for s in subjects {
        let (resolver, permits, expected) = (resolver.clone(), permits.clone(), expected.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let ns = s
                .node
                .and_then(|n| expected.get(&n))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let o = observe(&resolver, &s, ns).await;
            (s, o)
        });
    }
    let mut seen = Vec::new();
    let mut verified = 0u32;
    let actor = round_actor();
    while let Some(joined) = tasks.join_next().await {
        let (s, o) = joined?;
        if s.pending
            && o.txt_seen == Some(true)
            && services::domains::activate(pool, &actor, s.id, &s.token).await?
        {
            verified += 1;
        }
        seen.push((s.id, o));
    }
    verification::write_seen(pool, &seen).await?;
    if verified > 0 {
        tracing::info!(verified, "domains verified this round");
    }
    Ok(())
}

/// The member's "Check now": looks for the challenge of one of their domains at once. The domain
/// (active) when it is visible or was already active; a conflict saying what the world shows
/// otherwise.
pub async fn check_domain(
    pool: &PgPool,
    config: &DnsConfig,
    actor: &Actor,
    member: MemberId,
    id: DomainId,
) -> Result<Domain> {
    let d = domains::get(pool, config, member, id).await?;
    if d.status == "active" {
        return Ok(d);
    }
    let key = format!("dns-verify:{}", member.0);
    rate_limit::check(pool, &key, CHECKS_PER_WINDOW, RATE_WINDOW_MINUTES).await?;
    rate_limit::record(pool, &key).await?;
    let subject = Subject {
        id: id.0,
        name: d.name.clone(),
        pending: true,
        token: d.verification_token.clone(),
        node: None,
        ds: d.dns.ds.clone(),
    };
    let expected: Vec<DomainName> = d
        .dns
        .nameservers
        .iter()
        .filter_map(|n| DomainName::parse(n).ok())
        .collect();
    let o = observe(&resolver(config)?, &subject, &expected).await;
    verification::write_seen(pool, &[(id.0, o.clone())]).await?;
    if o.txt_seen == Some(true) {
        services::domains::activate(pool, actor, id.0, &subject.token).await?;
        return domains::get(pool, config, member, id).await;
    }
    Err(Error::Conflict(not_visible(&challenge_name(&d.name), &o)))
}

/// Why the challenge did not verify, for the member.
fn not_visible(name: &str, o: &Observation) -> Reason {
    let name = name.to_owned();
    match o.txt_seen {
        None => Reason::TxtUnanswered { name },
        Some(_) if o.txt_present => Reason::TxtWrongValue { name },
        Some(_) => Reason::TxtNotVisible { name },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
        list.iter()
            .map(|r| r.iter().map(|s| s.as_bytes().to_vec()).collect())
            .collect()
    }

    #[test]
    fn the_challenge_matches_one_string_or_a_split_value() {
        let token = "ruche-verify=abc123";
        assert!(txt_matches(&strings(&[&["ruche-verify=abc123"]]), token));
        assert!(txt_matches(
            &strings(&[&["google-site-verification=x"], &["ruche-verify=abc123"]]),
            token
        ));
        assert!(txt_matches(
            &strings(&[&["ruche-verify=", "abc123"]]),
            token
        ));
        assert!(txt_matches(
            &strings(&[&["other", "ruche-verify=abc123"]]),
            token
        ));
        assert!(!txt_matches(&strings(&[]), token));
        assert!(!txt_matches(&strings(&[&["ruche-verify=abc12"]]), token));
        assert!(!txt_matches(&strings(&[&["ruche-verify=abc1234"]]), token));
        assert!(!txt_matches(&strings(&[&["RUCHE-VERIFY=ABC123"]]), token));
        assert!(!txt_matches(&strings(&[&[" ruche-verify=abc123"]]), token));
    }

    fn names(list: &[&str]) -> Vec<DomainName> {
        list.iter().map(|n| DomainName::parse(n).unwrap()).collect()
    }

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_world_must_name_at_least_our_name_servers() {
        let ours = names(&["ns1.ruche.test", "ns2.ruche.test"]);
        let seen = owned(&["NS2.Ruche.Test.", "ns1.ruche.test."]);
        assert_eq!(ns_covers(&seen, &ours), Some(true));
        let more = owned(&["ns1.ruche.test.", "ns2.ruche.test.", "ns.old-host.example."]);
        assert_eq!(ns_covers(&more, &ours), Some(true));
        assert_eq!(ns_covers(&owned(&["ns1.ruche.test."]), &ours), Some(false));
        assert_eq!(ns_covers(&[], &ours), Some(false));
        assert_eq!(
            ns_covers(
                &owned(&["ns1.ruche.test.evil."]),
                &names(&["ns1.ruche.test"])
            ),
            Some(false)
        );
        assert_eq!(ns_covers(&seen, &[]), None);
    }

    #[test]
    fn a_referral_counts_for_the_name_asked_only() {
        use hickory_resolver::proto::rr::rdata::NS;
        let name = |n: &str| Name::from_ascii(n).unwrap();
        let ns = |owner: &str, target: &str| {
            Record::from_rdata(name(owner), 3600, RData::NS(NS(name(target))))
        };
        let asked = name("example.org.");
        let answer = [ns("example.org.", "ns1.ruche.test.")];
        let referral = [ns("example.org.", "ns2.ruche.test.")];
        let higher = [ns("org.", "a.gtld.example.")];
        let seen = |r: Vec<Record>| ns_names(&r);
        assert_eq!(
            seen(records_of(&answer, &referral, &asked, RecordType::NS)),
            vec!["ns1.ruche.test."]
        );
        assert_eq!(
            seen(records_of(&[], &referral, &asked, RecordType::NS)),
            vec!["ns2.ruche.test."]
        );
        assert!(records_of(&[], &higher, &asked, RecordType::NS).is_empty());
        // Only NS questions look at the authority section.
        assert!(records_of(&[], &referral, &asked, RecordType::TXT).is_empty());
        assert_eq!(
            ns_covers(
                &seen(records_of(&[], &referral, &asked, RecordType::NS)),
                &names(&["ns2.ruche.test"])
            ),
            Some(true)
        );
    }

    #[test]
    fn ds_records_compare_by_their_fields() {
        let rdata = [0x30, 0x39, 13, 2, 0xab, 0xcd, 0x01];
        assert_eq!(ds_text(&rdata).unwrap(), "12345 13 2 ABCD01");
        assert!(ds_text(&[1, 2, 3, 4]).is_none());
        let expected = owned(&["12345 13 2 ABCD01"]);
        assert_eq!(
            ds_published(&owned(&["12345 13 2 abcd01"]), &expected),
            Some(true)
        );
        assert_eq!(
            ds_published(
                &owned(&["example.org. 3600 IN DS 12345 13 2 AB CD01"]),
                &expected
            ),
            Some(true)
        );
        assert_eq!(
            ds_published(&owned(&["12345 13 2 ABCD02"]), &expected),
            Some(false)
        );
        assert_eq!(
            ds_published(&owned(&["12346 13 2 ABCD01"]), &expected),
            Some(false)
        );
        assert_eq!(ds_published(&owned(&["garbage"]), &expected), Some(false));
        assert_eq!(ds_published(&[], &expected), Some(false));
        assert_eq!(ds_published(&owned(&["12345 13 2 ABCD01"]), &[]), None);
    }

    #[test]
    fn the_reason_says_what_the_world_shows() {
        let name = challenge_name("example.org");
        assert_eq!(name, "_ruche-challenge.example.org");
        let missing = not_visible(
            &name,
            &Observation {
                txt_seen: Some(false),
                ..Observation::default()
            },
        );
        assert_eq!(
            missing.to_string(),
            "the TXT record _ruche-challenge.example.org is not visible yet"
        );
        assert!(web::Tr::new(web::Lang::Fr)
            .reason(&missing)
            .contains("_ruche-challenge.example.org"));
        let other = not_visible(
            &name,
            &Observation {
                txt_seen: Some(false),
                txt_present: true,
                ..Observation::default()
            },
        );
        assert!(other.to_string().contains("expected value"));
        let silent = not_visible(&name, &Observation::default());
        assert!(silent.to_string().contains("could not be checked"));
    }

    #[test]
    fn a_resolver_is_built_from_the_configured_servers() {
        let config = DnsConfig {
            resolvers: vec!["127.0.0.1:5353".parse().unwrap()],
            ..DnsConfig::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = resolver(&config).unwrap();
            assert_eq!(r.options().timeout, TIMEOUT);
        });
    }
}
