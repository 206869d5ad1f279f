//! A DNS client for the tests: one query to one server, as a monitoring probe or a resolver
//! talking to an authoritative server would send it (no recursion wanted, EDNS with the DO bit so
//! signatures come along), and DNSSEC signature checks on the answers.
//!
//! Messages are built and parsed by hickory-proto; the transport is a plain Tokio socket (one UDP
//! datagram, or one TCP connection with the two-byte length prefix), so what is sent is exactly
//! what is written here. Poll over TCP: during a zone swap Knot drops about one UDP query in
//! twelve (operating notes), which would read as a gap in service that is not there.
//!
//! Zone transfers go through `kdig` ([`axfr`]), which speaks TSIG.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, RRSIG};
use hickory_proto::dnssec::{DigestType, Verifier};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use hickory_proto::op::ResponseCode;
pub use hickory_proto::rr::RecordType;

use crate::knot::TsigKey;
use crate::process::{run_to_end, Process};

/// How long one query may wait for its answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The EDNS buffer size of DNS Flag Day 2020: large enough for a signed SOA.
const UDP_PAYLOAD: u16 = 1232;

/// How a query travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What a server answered.
#[derive(Clone, Debug)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The AA flag.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

impl Answer {
    /// An authoritative NOERROR answer: the server serves the zone.
    pub fn is_authoritative(&self) -> bool {
        self.authoritative && self.rcode == ResponseCode::NoError
    }

    /// The answer records of type `rtype` (signatures left out).
    pub fn records(&self, rtype: RecordType) -> Vec<&Record> {
        self.answers
            .iter()
            .filter(|r| r.record_type() == rtype)
            .collect()
    }

    /// The presentation text of the answer records of type `rtype`, sorted (`192.0.2.1`,
    /// `10 mail.example.`; a TXT record's strings joined, without quotes: `v=spf1 mx -all`).
    pub fn texts(&self, rtype: RecordType) -> Vec<String> {
        let mut texts: Vec<String> = self
            .records(rtype)
            .iter()
            .map(|r| r.data.to_string())
            .collect();
        texts.sort();
        texts
    }

    /// The signatures in the answer section covering `rtype`.
    pub fn signatures(&self, rtype: RecordType) -> Vec<&RRSIG> {
        self.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                    Some(sig)
                }
                _ => None,
            })
            .collect()
    }

    /// The serial of the SOA in the answer section, if there is one.
    pub fn soa_serial(&self) -> Option<u32> {
        self.answers.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
    }

    /// A one-line description for messages.
    pub fn describe(&self) -> String {
        let answers: Vec<String> = self
            .answers
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
            .collect();
        format!(
            "{:?}{} [{}]",
            self.rcode,
            if self.authoritative { " aa" } else { "" },
            answers.join("; ")
        )
    }
}

/// `name` as an absolute name (the root dot added if missing), as answers carry it.
fn absolute(name: &str) -> Result<Name> {
    let text = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&text).with_context(|| format!("{name:?} is not a DNS name"))
}

/// The query message: no recursion desired, EDNS with the DO bit.
fn query_message(name: &Name, rtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD).set_version(0);
    edns.set_dnssec_ok(true);
    message.set_edns(edns);
    message
}

/// Sends one query for `name`/`rtype` to `server` and returns its answer.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    transport: Transport,
) -> Result<Answer> {
    let name = absolute(name)?;
    let request = query_message(&name, rtype);
    let bytes = request.to_vec().context("encode the query")?;
    let exchange = async {
        match transport {
            Transport::Udp => exchange_udp(server, &bytes).await,
            Transport::Tcp => exchange_tcp(server, &bytes).await,
        }
    };
    let reply = tokio::time::timeout(QUERY_TIMEOUT, exchange)
        .await
        .with_context(|| {
            format!(
                "{server} did not answer {name} {rtype} over {transport:?} in {QUERY_TIMEOUT:?}"
            )
        })?
        .with_context(|| format!("{name} {rtype} to {server} over {transport:?}"))?;
    let response = Message::from_vec(&reply)
        .with_context(|| format!("{server} sent an undecodable answer to {name} {rtype}"))?;
    ensure!(
        response.metadata.id == request.metadata.id,
        "{server} answered another query (id {} instead of {})",
        response.metadata.id,
        request.metadata.id
    );
    Ok(Answer {
        rcode: response.metadata.response_code,
        authoritative: response.metadata.authoritative,
        answers: response.answers,
        authorities: response.authorities,
    })
}

async fn exchange_udp(server: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => "127.0.0.1:0",
        IpAddr::V6(_) => "[::1]:0",
    }
    .parse()?;
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0u8; 65_535];
    let n = socket.recv(&mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

async fn exchange_tcp(server: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    let length = u16::try_from(bytes.len()).context("query too long")?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let length = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(length)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The SOA serial `server` serves for `zone` over TCP, or `None` when it does not answer
/// authoritatively (REFUSED, NOTAUTH, no AA) — an unreachable server is an error.
pub async fn serial(server: SocketAddr, zone: &str) -> Result<Option<u32>> {
    let answer = query(server, zone, RecordType::SOA, Transport::Tcp).await?;
    Ok(if answer.is_authoritative() {
        answer.soa_serial()
    } else {
        None
    })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> Result<u32> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?;
    u32::try_from(now.as_secs()).context("the clock is past 2106")
}

/// What [`verify`] proved.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The records of the verified RRset (presentation text, sorted).
    pub texts: Vec<String>,
    /// The earliest signature expiration among the RRset's and the DNSKEY set's (Unix seconds).
    pub expires: u32,
    /// Key tags of the zone's DNSKEYs that signed.
    pub key_tags: Vec<u16>,
}

/// Checks that every RRSIG over `name`/`rtype` in `answer` is valid now and made by one of
/// `keys`, and that there is at least one; returns the earliest expiration and the key tags.
pub fn check_signatures(
    answer: &Answer,
    name: &str,
    rtype: RecordType,
    keys: &[DNSKEY],
    now: u32,
) -> Result<(u32, Vec<u16>)> {
    let owner = absolute(name)?;
    let records: Vec<&Record> = answer
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype && r.name == owner)
        .collect();
    ensure!(
        !records.is_empty(),
        "no {rtype} at {name} to check: {}",
        answer.describe()
    );
    let signatures = answer.signatures(rtype);
    ensure!(
        !signatures.is_empty(),
        "{name} {rtype} is not signed: {}",
        answer.describe()
    );
    let mut expires = u32::MAX;
    let mut tags = Vec::new();
    for signature in signatures {
        let input = signature.input();
        let inception = input.sig_inception.get();
        let expiration = input.sig_expiration.get();
        ensure!(
            inception <= now && now < expiration,
            "the RRSIG over {name} {rtype} is valid from {inception} to {expiration}, not now \
             ({now})"
        );
        let key = keys
            .iter()
            .find(|k| {
                k.calculate_key_tag().ok() == Some(input.key_tag)
                    && k.algorithm() == input.algorithm
            })
            .with_context(|| {
                format!(
                    "the RRSIG over {name} {rtype} was made by key {} which the zone does not \
                     publish",
                    input.key_tag
                )
            })?;
        key.verify_rrsig(&owner, DNSClass::IN, signature, records.iter().copied())
            .with_context(|| {
                format!(
                    "the RRSIG over {name} {rtype} by key {} does not verify",
                    input.key_tag
                )
            })?;
        expires = expires.min(expiration);
        tags.push(input.key_tag);
    }
    Ok((expires, tags))
}

/// Asks `server` for the DNSKEY set of `zone` and for `name`/`rtype` (over TCP), and checks the
/// signatures of both: the DNSKEY set signed by itself (one combined key), the RRset by a key of
/// that set. Fails unless both answers are authoritative and every signature verifies.
pub async fn verify(
    server: SocketAddr,
    zone: &str,
    name: &str,
    rtype: RecordType,
) -> Result<Verified> {
    let now = unix_now()?;
    let keys_answer = query(server, zone, RecordType::DNSKEY, Transport::Tcp).await?;
    ensure!(
        keys_answer.is_authoritative(),
        "{server} does not serve {zone}'s DNSKEY authoritatively: {}",
        keys_answer.describe()
    );
    let keys: Vec<DNSKEY> = keys_answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key.clone()),
            _ => None,
        })
        .collect();
    ensure!(!keys.is_empty(), "{server} publishes no DNSKEY for {zone}");
    let (keys_expire, _) = check_signatures(&keys_answer, zone, RecordType::DNSKEY, &keys, now)
        .with_context(|| format!("the DNSKEY set of {zone} from {server}"))?;

    let answer = query(server, name, rtype, Transport::Tcp).await?;
    ensure!(
        answer.is_authoritative(),
        "{server} does not answer {name} {rtype} authoritatively: {}",
        answer.describe()
    );
    let (expires, key_tags) = check_signatures(&answer, name, rtype, &keys, now)
        .with_context(|| format!("{name} {rtype} from {server}"))?;
    Ok(Verified {
        texts: answer.texts(rtype),
        expires: expires.min(keys_expire),
        key_tags,
    })
}

/// The DNSKEYs `server` publishes for `zone` (over TCP; an error unless it answers
/// authoritatively).
pub async fn dnskeys(server: SocketAddr, zone: &str) -> Result<Vec<DNSKEY>> {
    let answer = query(server, zone, RecordType::DNSKEY, Transport::Tcp).await?;
    ensure!(
        answer.is_authoritative(),
        "{server} does not serve {zone}'s DNSKEY authoritatively: {}",
        answer.describe()
    );
    Ok(answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key.clone()),
            _ => None,
        })
        .collect())
}

/// The DS record (SHA-256) a registrar would publish for `key` of `zone`, in zone-file text:
/// `<key tag> <algorithm> 2 <HEX digest>`.
pub fn ds_text(zone: &str, key: &DNSKEY) -> Result<String> {
    let name = absolute(zone)?;
    let digest = key
        .to_digest(&name, DigestType::SHA256)
        .context("digest the DNSKEY")?;
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    Ok(format!(
        "{} {} 2 {hex}",
        key.calculate_key_tag().context("key tag")?,
        u8::from(key.algorithm())
    ))
}

/// The outcome of a zone transfer request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// The zone came: its records, one presentation line each.
    Records(Vec<String>),
    /// The server said no; kdig's error (`NOTAUTH`, `REFUSED`, `BADKEY`, `BADSIG`…).
    Refused(String),
}

/// Asks `server` for an AXFR of `zone` with `kdig` over TCP, signed with `key` if given and sent
/// from `source` if given (a primary may accept transfers from its secondaries' addresses only).
pub async fn axfr(
    server: SocketAddr,
    zone: &str,
    key: Option<&TsigKey>,
    source: Option<IpAddr>,
) -> Result<Transfer> {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".to_owned(),
        server.port().to_string(),
        "+tcp".to_owned(),
        "+time=3".to_owned(),
        "+retry=0".to_owned(),
        "AXFR".to_owned(),
        zone.to_owned(),
    ];
    if let Some(key) = key {
        args.push("-y".to_owned());
        args.push(key.kdig_arg());
    }
    if let Some(source) = source {
        args.push("-b".to_owned());
        args.push(source.to_string());
    }
    let out = run_to_end(Process::command("kdig", &args), Duration::from_secs(30))
        .await
        .context("run kdig (Debian's knot-dnsutils; tests/run.sh installs it)")?;
    Ok(transfer_outcome(out.success(), &out.stdout, &out.stderr))
}

/// Reads kdig's AXFR output: records on stdout when it worked, `;; ERROR: …` lines otherwise.
pub fn transfer_outcome(success: bool, stdout: &str, stderr: &str) -> Transfer {
    let records: Vec<String> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let soa = records
        .iter()
        .filter(|r| r.split(' ').nth(3) == Some("SOA"))
        .count();
    // An AXFR opens and closes with the SOA.
    if success && soa >= 2 {
        return Transfer::Records(records);
    }
    let error = stderr
        .lines()
        .chain(stdout.lines())
        .find_map(|l| {
            l.split_once("error '")
                .and_then(|(_, rest)| rest.split_once('\''))
                .map(|(code, _)| code.to_owned())
        })
        .unwrap_or_else(|| format!("no zone ({} records): {}", records.len(), stderr.trim()));
    Transfer::Refused(error)
}

/// Waits until `server` answers `zone`'s SOA as `want` says (TCP; errors count as "not yet").
pub async fn wait_for_soa(
    server: SocketAddr,
    zone: &str,
    want: impl Fn(Option<u32>) -> bool,
    timeout: Duration,
) -> Result<Option<u32>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = match serial(server, zone).await {
            Ok(serial) if want(serial) => return Ok(serial),
            Ok(serial) => format!("serial {serial:?}"),
            Err(e) => format!("{e:#}"),
        };
        if std::time::Instant::now() >= deadline {
            bail!("{server} never served {zone} as expected within {timeout:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kdig_transfers() {
        let ok = "example.test.\t3600\tIN\tSOA\tns1.ruche.test. postmaster.example.test. 5 3600 900 1209600 300\n\
                  example.test.\t3600\tIN\tNS\tns1.ruche.test.\n\
                  example.test.\t3600\tIN\tSOA\tns1.ruche.test. postmaster.example.test. 5 3600 900 1209600 300\n\
                  ;; Received 300 B\n";
        match transfer_outcome(true, ok, "") {
            Transfer::Records(records) => {
                assert_eq!(records.len(), 3);
                assert_eq!(records[1], "example.test. 3600 IN NS ns1.ruche.test.");
            }
            other => panic!("{other:?}"),
        }
        let refused = transfer_outcome(
            false,
            ";; AXFR for example.test.\n;; Received 0 B\n",
            ";; ERROR: server replied with error 'NOTAUTH'\n;; ERROR: failed to query server\n",
        );
        assert_eq!(refused, Transfer::Refused("NOTAUTH".to_owned()));
        assert!(matches!(
            transfer_outcome(false, "", "connection refused"),
            Transfer::Refused(e) if e.contains("connection refused")
        ));
    }

    #[test]
    fn builds_queries_without_recursion_and_with_do() -> Result<()> {
        let message = query_message(&Name::from_ascii("example.test.")?, RecordType::SOA);
        assert!(!message.metadata.recursion_desired);
        let edns = message.edns.as_ref().context("no EDNS")?;
        assert!(edns.flags().dnssec_ok);
        let decoded = Message::from_vec(&message.to_vec()?)?;
        assert_eq!(decoded.queries.len(), 1);
        assert!(decoded.edns.is_some_and(|e| e.flags().dnssec_ok));
        Ok(())
    }
}
