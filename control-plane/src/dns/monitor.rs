//! Checks of every server of every zone: SOA serial over UDP and TCP, authority, signature age;
//! and the DS records to give the registrar (the primary's CDS).
//!
//! A round asks every server of every active zone for the zone's SOA, without recursion and with
//! DNSSEC records (RD=0, DO=1), once over UDP and once over TCP; it asks the primary for the
//! zone's CDS. What it saw goes to `dns_checks` (one row per zone and server, with a short English
//! fault or none) and `domain_dns_status.ds`; pages show those rows and placement reads them to
//! promote a pending secondary once it serves the primary's serial.
//!
//! The network part (`observe`) only gathers answers; deciding what is wrong ([`fault`]) and
//! the DS text ([`ds_text`]) are pure functions.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_net::proto::dnssec::rdata::DNSSECRData;
use hickory_net::proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_net::proto::rr::{Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::config::Platform;
use crate::db::dns_checks::{self, Check, ZoneReport};
use crate::db::topology;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::nameservers::{Role, Server};

/// How long one query may take. Name servers answer in milliseconds; a slow one is a fault too.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Tries per query and transport: one retry, because a single lost UDP packet (or a zone being
/// swapped in) is not a broken server.
const ATTEMPTS: usize = 2;
/// Checks of one zone on one server in flight at once (each is a UDP and a TCP query).
const CONCURRENCY: usize = 32;
/// Signatures closer than this to their expiry mean re-signing has stopped (Knot refreshes them
/// 7 days before the 14-day lifetime ends).
const SIGNATURE_MARGIN: time::Duration = time::Duration::days(3);
/// EDNS payload size of the queries (the DNS flag day 2020 value).
const PAYLOAD: u16 = 1232;

/// Checks every server of every active zone, stores what it saw. Zones whose member has no node
/// are skipped (nobody serves them).
pub async fn run_once(pool: &PgPool, config: &Platform) -> Result<()> {
    let zones = dns_checks::active_zones(pool).await?;
    // The servers depend on the node only: asked once per node, not once per zone.
    let mut servers: HashMap<Uuid, Arc<Vec<Server>>> = HashMap::new();
    {
        let mut conn = pool.acquire().await?;
        for z in &zones {
            if let Entry::Vacant(e) = servers.entry(z.node_id) {
                let list = topology::servers_of_node(&mut conn, config, NodeId(z.node_id)).await?;
                e.insert(Arc::new(list));
            }
        }
    }

    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    let dead = Dead::default();
    let mut tasks = JoinSet::new();
    for z in zones {
        let Some(list) = servers.get(&z.node_id).cloned() else {
            continue;
        };
        let name = match Name::from_ascii(format!("{}.", z.name)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(domain = %z.name, error = %e, "stored domain name is not a DNS name");
                continue;
            }
        };
        tasks.spawn(check_zone(
            z.id,
            name,
            list,
            semaphore.clone(),
            dead.clone(),
        ));
    }
    let mut reports = Vec::new();
    while let Some(done) = tasks.join_next().await {
        reports.push(done.map_err(Error::from)?);
    }
    dns_checks::write_round(pool, &reports).await
}

/// The SOA answer of one server over one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soa {
    /// AA set and NOERROR: the server has the zone.
    pub authoritative: bool,
    /// The SOA's serial, if the answer had the zone's SOA.
    pub serial: Option<u32>,
    /// The earliest expiry among the SOA's signatures (RRSIG), if any.
    pub signature_expires_at: Option<OffsetDateTime>,
}

/// Addresses that answered neither over UDP nor over TCP in this round. A node that is down
/// would otherwise cost two timeouts for each of its zones; after the first failure its other
/// zones are marked unreachable at once. Forgotten at the end of the round.
#[derive(Clone, Default)]
struct Dead(Arc<Mutex<HashSet<SocketAddr>>>);

impl Dead {
    fn contains(&self, a: SocketAddr) -> bool {
        self.0.lock().map(|s| s.contains(&a)).unwrap_or(false)
    }

    fn insert(&self, a: SocketAddr) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(a);
        }
    }
}

async fn check_zone(
    domain_id: Uuid,
    zone: Name,
    servers: Arc<Vec<Server>>,
    semaphore: Arc<Semaphore>,
    dead: Dead,
) -> ZoneReport {
    let mut tasks = JoinSet::new();
    for (i, s) in servers.iter().enumerate() {
        let Some(address) = s.address else {
            continue;
        };
        let (zone, semaphore, dead) = (zone.clone(), semaphore.clone(), dead.clone());
        let primary = s.role == Role::Primary;
        tasks.spawn(async move {
            // A closed semaphore cannot happen (it lives as long as the round); go ahead anyway.
            let _permit = semaphore.acquire_owned().await.ok();
            let seen = observe(address, &zone, primary, &dead).await;
            (i, seen)
        });
    }
    let mut seen = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, s)) => {
                seen.insert(i, s);
            }
            Err(e) => tracing::warn!(error = %e, "DNS check task failed"),
        }
    }

    let now = OffsetDateTime::now_utc();
    let primary_serial = servers
        .iter()
        .position(|s| s.role == Role::Primary)
        .and_then(|i| seen.get(&i))
        .and_then(|o| agreed_serial(o.udp.as_ref(), o.tcp.as_ref()));
    let mut ds = None;
    let mut checks = Vec::new();
    for (i, o) in seen {
        let Some(s) = servers.get(i) else { continue };
        let Some(address) = s.address else { continue };
        if s.role == Role::Primary {
            ds = o.ds.clone();
        }
        checks.push(check(s, address, &o, primary_serial, now));
    }
    ZoneReport {
        domain_id,
        listed: servers.iter().map(|s| s.nameserver.to_string()).collect(),
        checks,
        ds,
    }
}

/// Everything asked of one server for one zone.
#[derive(Debug, Clone, Default)]
struct Observation {
    udp: Option<Soa>,
    tcp: Option<Soa>,
    /// Asked of the primary only.
    ds: Option<Vec<String>>,
}

async fn observe(address: SocketAddr, zone: &Name, primary: bool, dead: &Dead) -> Observation {
    if dead.contains(address) {
        return Observation::default();
    }
    let (udp, tcp) = tokio::join!(
        ask(address, Transport::Udp, zone, RecordType::SOA, true),
        ask(address, Transport::Tcp, zone, RecordType::SOA, true),
    );
    let udp = udp.map(|r| soa(&r, zone));
    let tcp = tcp.map(|r| soa(&r, zone));
    if udp.is_none() && tcp.is_none() {
        dead.insert(address);
        return Observation::default();
    }
    let ds = if primary {
        // TCP: a zone may publish several CDS, and nothing is gained by risking truncation.
        ask(address, Transport::Tcp, zone, RecordType::CDS, false)
            .await
            .and_then(|r| cds(&r, zone))
    } else {
        None
    };
    Observation { udp, tcp, ds }
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// One question to one server, tried [`ATTEMPTS`] times; `None` when no answer came.
async fn ask(
    address: SocketAddr,
    transport: Transport,
    name: &Name,
    kind: RecordType,
    dnssec: bool,
) -> Option<DnsResponse> {
    let mut options = DnsRequestOptions::default();
    // Authoritative servers must answer from their own data, never by asking someone else.
    options.recursion_desired = false;
    options.edns_set_dnssec_ok = dnssec;
    options.edns_payload_len = PAYLOAD;
    for attempt in 1..=ATTEMPTS {
        let request = DnsRequest::from_query(Query::query(name.clone(), kind), options);
        // The provider owns the tasks that drive the connection: it must outlive the answer
        // (dropping it aborts them, which also closes the connection afterwards).
        let provider = TokioRuntimeProvider::default();
        let once = async {
            match transport {
                Transport::Udp => {
                    UdpClientStream::builder(address, provider.clone())
                        .with_timeout(Some(TIMEOUT))
                        .with_max_retries(0)
                        .exchange()
                        .send(request)
                        .first_answer()
                        .await
                }
                Transport::Tcp => {
                    TcpClientStream::exchange(address, None, TIMEOUT, None, provider.clone())
                        .await?
                        .send(request)
                        .first_answer()
                        .await
                }
            }
        };
        match tokio::time::timeout(TIMEOUT, once).await {
            Ok(Ok(response)) => return Some(response),
            Ok(Err(e)) => {
                tracing::debug!(%address, ?transport, %name, attempt, error = %e, "DNS query failed");
            }
            Err(_) => tracing::debug!(%address, ?transport, %name, attempt, "DNS query timed out"),
        }
    }
    None
}

/// The SOA and its signatures in a response.
fn soa(response: &DnsResponse, zone: &Name) -> Soa {
    let now = OffsetDateTime::now_utc();
    let authoritative =
        response.metadata.authoritative && response.metadata.response_code == ResponseCode::NoError;
    let mut serial = None;
    let mut expiry: Option<OffsetDateTime> = None;
    for r in &response.answers {
        // Name comparison is case-insensitive, as in DNS.
        if r.name != *zone {
            continue;
        }
        match &r.data {
            RData::SOA(s) => serial = Some(s.serial),
            RData::DNSSEC(DNSSECRData::RRSIG(sig))
                if sig.input().type_covered == RecordType::SOA =>
            {
                let at = signature_time(sig.input().sig_expiration.get(), now);
                expiry = Some(expiry.map_or(at, |e| e.min(at)));
            }
            _ => {}
        }
    }
    Soa {
        authoritative,
        serial,
        signature_expires_at: expiry,
    }
}

/// The CDS of the zone as DS text, sorted; `None` unless the server answered for the zone.
/// RFC 8078's "delete" CDS (algorithm 0) asks for no DS: it is left out.
fn cds(response: &DnsResponse, zone: &Name) -> Option<Vec<String>> {
    if !response.metadata.authoritative || response.metadata.response_code != ResponseCode::NoError
    {
        return None;
    }
    let mut ds: Vec<String> = response
        .answers
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::CDS(c)) => c
                .algorithm()
                .map(|alg| ds_text(c.key_tag(), alg.into(), c.digest_type().into(), c.digest())),
            _ => None,
        })
        .collect();
    ds.sort();
    ds.dedup();
    Some(ds)
}

/// A DS record's data as zone files and registrars write it: `<key tag> <algorithm> <digest
/// type> <digest in uppercase hex>`.
pub fn ds_text(key_tag: u16, algorithm: u8, digest_type: u8, digest: &[u8]) -> String {
    format!(
        "{key_tag} {algorithm} {digest_type} {}",
        hex::encode_upper(digest)
    )
}

/// An RRSIG time (seconds since the epoch modulo 2^32, RFC 4034 §3.1.5) as the instant
/// nearest to `now` with those low 32 bits, by serial number arithmetic: it works past 2106.
pub fn signature_time(raw: u32, now: OffsetDateTime) -> OffsetDateTime {
    // Truncation to the low 32 bits is the point here.
    #[allow(clippy::cast_possible_truncation)]
    let low = now.unix_timestamp() as u32;
    #[allow(clippy::cast_possible_wrap)]
    let delta = raw.wrapping_sub(low) as i32;
    now + time::Duration::seconds(i64::from(delta))
}

/// The serial a server serves, when UDP and TCP agree on one.
fn agreed_serial(udp: Option<&Soa>, tcp: Option<&Soa>) -> Option<u32> {
    match (udp.and_then(|s| s.serial), tcp.and_then(|s| s.serial)) {
        (Some(a), Some(b)) if a == b => Some(a),
        _ => None,
    }
}

/// `a` is older than `b` in serial number arithmetic (RFC 1982): serials wrap around.
fn serial_behind(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < (1 << 31)
}

fn check(
    server: &Server,
    address: SocketAddr,
    o: &Observation,
    primary_serial: Option<u32>,
    now: OffsetDateTime,
) -> Check {
    let (udp, tcp) = (o.udp.as_ref(), o.tcp.as_ref());
    let authoritative = match (udp, tcp) {
        (None, None) => None,
        _ => Some(udp.is_none_or(|s| s.authoritative) && tcp.is_none_or(|s| s.authoritative)),
    };
    let signature_expires_at = [udp, tcp]
        .into_iter()
        .flatten()
        .filter_map(|s| s.signature_expires_at)
        .min();
    Check {
        server: server.nameserver.to_string(),
        address,
        role: server.role,
        serial_udp: udp.and_then(|s| s.serial),
        serial_tcp: tcp.and_then(|s| s.serial),
        authoritative,
        signature_expires_at,
        fault: fault(server.role, udp, tcp, primary_serial, now),
    }
}

/// What is wrong with one server of one zone, in a few English words; `None` when all is well.
/// The first problem found wins, from the most basic (no answer) to the subtlest (signatures
/// about to expire). `primary_serial` is what the primary serves (UDP and TCP agreeing); a
/// secondary is only compared with it when known.
pub fn fault(
    role: Role,
    udp: Option<&Soa>,
    tcp: Option<&Soa>,
    primary_serial: Option<u32>,
    now: OffsetDateTime,
) -> Option<String> {
    if udp.is_none() && tcp.is_none() {
        return Some("unreachable".to_owned());
    }
    let answers = [udp, tcp].into_iter().flatten();
    if answers
        .clone()
        .any(|s| !s.authoritative || s.serial.is_none())
    {
        return Some("not authoritative (lame)".to_owned());
    }
    let Some(serial) = agreed_serial(udp, tcp) else {
        return Some("UDP and TCP disagree".to_owned());
    };
    if let (Role::Secondary | Role::External, Some(p)) = (role, primary_serial) {
        if serial_behind(serial, p) {
            return Some(format!("serial {serial} behind the primary ({p})"));
        }
    }
    let expiry = answers.filter_map(|s| s.signature_expires_at).min();
    match expiry {
        None => Some("unsigned".to_owned()),
        Some(at) if at - now < SIGNATURE_MARGIN => {
            Some("signatures expire in less than 3 days".to_owned())
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DNS round runs in a spawned task: a round must be `Send` (checked when compiling).
    #[allow(dead_code)]
    fn a_round_can_be_spawned(pool: &PgPool, config: &Platform) {
        fn send<T: Send>(_: T) {}
        send(run_once(pool, config));
    }

    fn good(serial: u32, now: OffsetDateTime) -> Soa {
        Soa {
            authoritative: true,
            serial: Some(serial),
            signature_expires_at: Some(now + time::Duration::days(10)),
        }
    }

    #[test]
    fn a_healthy_server_has_no_fault() {
        let now = OffsetDateTime::now_utc();
        let s = good(7, now);
        assert_eq!(fault(Role::Primary, Some(&s), Some(&s), None, now), None);
        assert_eq!(
            fault(Role::Secondary, Some(&s), Some(&s), Some(7), now),
            None
        );
        // Ahead of the primary is not a fault: the primary may have been asked a moment earlier.
        assert_eq!(
            fault(Role::External, Some(&s), Some(&s), Some(6), now),
            None
        );
    }

    #[test]
    fn faults_are_classified_most_basic_first() {
        let now = OffsetDateTime::now_utc();
        let s = good(7, now);
        let f = |role, udp: Option<&Soa>, tcp: Option<&Soa>, p| fault(role, udp, tcp, p, now);
        assert_eq!(
            f(Role::Primary, None, None, None).as_deref(),
            Some("unreachable")
        );
        let lame = Soa {
            authoritative: false,
            serial: None,
            signature_expires_at: None,
        };
        assert_eq!(
            f(Role::Secondary, Some(&lame), None, Some(7)).as_deref(),
            Some("not authoritative (lame)")
        );
        // Authoritative but without the SOA is lame too.
        let empty = Soa { serial: None, ..s };
        assert_eq!(
            f(Role::Secondary, Some(&s), Some(&empty), Some(7)).as_deref(),
            Some("not authoritative (lame)")
        );
        assert_eq!(
            f(Role::Secondary, Some(&s), None, Some(7)).as_deref(),
            Some("UDP and TCP disagree")
        );
        assert_eq!(
            f(Role::Secondary, Some(&s), Some(&good(8, now)), Some(7)).as_deref(),
            Some("UDP and TCP disagree")
        );
        assert_eq!(
            f(Role::Secondary, Some(&s), Some(&s), Some(9)).as_deref(),
            Some("serial 7 behind the primary (9)")
        );
        // The primary is never behind itself.
        assert_eq!(f(Role::Primary, Some(&s), Some(&s), Some(9)), None);
        let unsigned = Soa {
            signature_expires_at: None,
            ..s
        };
        assert_eq!(
            f(Role::Primary, Some(&unsigned), Some(&unsigned), None).as_deref(),
            Some("unsigned")
        );
        let expiring = Soa {
            signature_expires_at: Some(now + time::Duration::days(2)),
            ..s
        };
        assert_eq!(
            f(Role::Secondary, Some(&s), Some(&expiring), Some(7)).as_deref(),
            Some("signatures expire in less than 3 days")
        );
    }

    #[test]
    fn serials_compare_with_wrap_around() {
        assert!(serial_behind(1, 2));
        assert!(!serial_behind(2, 1));
        assert!(!serial_behind(5, 5));
        assert!(serial_behind(u32::MAX, 3));
        assert!(!serial_behind(3, u32::MAX));
    }

    #[test]
    fn ds_text_is_zone_file_text() {
        assert_eq!(
            ds_text(2371, 13, 2, &[0x1f, 0x98, 0x7c, 0xc9, 0x0a]),
            "2371 13 2 1F987CC90A"
        );
    }

    #[test]
    fn cds_records_become_ds_text() {
        use hickory_net::proto::dnssec::rdata::CDS;
        use hickory_net::proto::dnssec::{Algorithm, DigestType};
        use hickory_net::proto::op::Message;
        use hickory_net::proto::rr::Record;

        let zone = Name::from_ascii("example.org.").unwrap();
        let mut m = Message::query().into_response();
        m.metadata.authoritative = true;
        for (tag, alg) in [(40000, Some(Algorithm::ECDSAP256SHA256)), (1, None)] {
            let cds = CDS::new(tag, alg, DigestType::SHA256, vec![0xab, 0x01]);
            m.add_answer(Record::from_rdata(zone.clone(), 300, RData::from(cds)));
        }
        let response = DnsResponse::from_message(m.clone()).unwrap();
        assert_eq!(
            cds(&response, &zone),
            Some(vec!["40000 13 2 AB01".to_owned()])
        );
        m.metadata.authoritative = false;
        let response = DnsResponse::from_message(m).unwrap();
        assert_eq!(cds(&response, &zone), None);
    }

    #[test]
    fn signature_times_are_read_near_now() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let in_14_days = 1_800_000_000u32 + 14 * 86_400;
        assert_eq!(
            signature_time(in_14_days, now).unix_timestamp(),
            i64::from(in_14_days)
        );
        let yesterday = 1_800_000_000u32 - 86_400;
        assert_eq!(
            signature_time(yesterday, now).unix_timestamp(),
            i64::from(yesterday)
        );
        // Past 2106 the 32 bits wrap; the nearest instant is still found.
        let later = OffsetDateTime::from_unix_timestamp((1i64 << 32) + 100).unwrap();
        assert_eq!(
            signature_time(200, later).unix_timestamp(),
            (1i64 << 32) + 200
        );
    }
}
