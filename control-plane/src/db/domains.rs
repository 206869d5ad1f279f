//! Member domains. A domain is unique across the collective and starts as
//! `pending_verification`; `dns::verify` activates it once the world shows its TXT challenge.
//! Each domain carries its DNS picture: the name servers and DS records to give the registrar,
//! which of them the world already sees, and what the last checks saw of each server; and its
//! certificate, as the node hosting the member last reported it (`db::certificates`).

use protocol::node::CertificateState;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;
use web::Reason;

use super::certificates::Stored;
use super::nodes::NodeStatus;
use super::topology;
use crate::config::{DnsConfig, Platform};
use crate::error::{Error, Result};
use crate::model::claims::{self, ClaimRefusal};
use crate::model::ids::{DomainId, MemberId};
use crate::model::report::DkimRecord;
use crate::model::secret::Token;
use crate::model::DomainName;

#[derive(Debug, Clone)]
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
    pub verified_at: Option<OffsetDateTime>,
    /// The DKIM record to publish: a TXT record `name` with `value`. Null until the node that
    /// hosts the domain has made its key and reported it.
    pub dkim: Option<DkimRecord>,
    /// The domain's certificate as the node hosting the member now last reported it; `None`
    /// until it has (nodes ask for certificates of verified domains only).
    pub certificate: Option<Stored>,
    pub created_at: OffsetDateTime,
    pub dns: DomainDns,
}

/// What to set at the registrar, what the world sees of it, and how the servers are doing.
#[derive(Debug, Clone, Default)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub checked_at: OffsetDateTime,
}

/// What `dns::verify` last saw of a domain, and the DS records the monitor read.
#[derive(Debug, Clone, Default)]
struct Seen {
    ds: Vec<String>,
    txt: Option<bool>,
    ns: Option<bool>,
    ds_seen: Option<bool>,
}

/// The registrar checklist: the ownership challenge while pending, the NS records always, the
/// DS records once there are some.
fn registrar(
    name: &str,
    pending: bool,
    token: &str,
    nameservers: &[String],
    seen: &Seen,
) -> Vec<RegistrarRecord> {
    let row = |kind: &str, record_name: String, value: &str, seen| RegistrarRecord {
        name: record_name,
        kind: kind.to_owned(),
        value: value.to_owned(),
        seen,
    };
    let mut rows = Vec::new();
    if pending {
        rows.push(row("TXT", claims::challenge_name(name), token, seen.txt));
    }
    for ns in nameservers {
        rows.push(row("NS", name.to_owned(), ns, seen.ns));
    }
    for ds in &seen.ds {
        rows.push(row("DS", name.to_owned(), ds, seen.ds_seen));
    }
    rows
}

/// `base` with the collective's platform domain, read in the same query as the domains (`None`
/// before setup).
fn effective(base: &DnsConfig, platform_domain: Option<&str>) -> Result<Option<Platform>> {
    platform_domain
        .map(|p| super::setup::with_platform(base, p))
        .transpose()
}

fn domain_dns(
    name: &str,
    status: &str,
    token: &str,
    nameservers: &[String],
    seen: Seen,
    servers: Vec<ServerStatus>,
) -> DomainDns {
    DomainDns {
        nameservers: nameservers.to_vec(),
        registrar: registrar(
            name,
            status == "pending_verification",
            token,
            nameservers,
            &seen,
        ),
        ds: seen.ds,
        servers,
    }
}

/// The DKIM key is shown only when the node that reported it hosts the member now: after a
/// move, the old node's key no longer signs anything.
fn dkim(name: &str, selector: Option<String>, public_key: Option<String>) -> Option<DkimRecord> {
    match (selector, public_key) {
        (Some(s), Some(k)) => Some(DkimRecord::new(&s, name, &k)),
        _ => None,
    }
}

/// A stored (ASCII) name in its Unicode form, for display only.
pub fn display(name: &str) -> String {
    DomainName::parse(name)
        .map(|d| d.to_unicode())
        .unwrap_or_else(|_| name.to_owned())
}

/// One row of [`read`]: a domain, its DKIM key, its certificate, what `dns::verify` last saw of
/// it, the servers' last checks (parallel arrays, primary first), the member's node (its
/// generations, its name server number and its active secondaries' numbers), the external
/// secondaries and the platform domain.
struct Row {
    id: Uuid,
    name: String,
    status: String,
    verification_token: String,
    verified_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    node_id: Option<Uuid>,
    selector: Option<String>,
    public_key: Option<String>,
    cert_names: Option<Vec<String>>,
    cert_challenge: Option<String>,
    cert_state: Option<String>,
    cert_not_after: Option<OffsetDateTime>,
    cert_error: Option<String>,
    cert_retry_at: Option<OffsetDateTime>,
    cert_reported_at: Option<OffsetDateTime>,
    ds: Option<Vec<String>>,
    txt_seen: Option<bool>,
    ns_seen: Option<bool>,
    ds_seen: Option<bool>,
    platform_domain: Option<String>,
    desired_generation: Option<i64>,
    observed_generation: Option<i64>,
    ns_number: Option<i32>,
    secondaries: Vec<Option<i32>>,
    externals: Vec<String>,
    servers: Json<Vec<ServerStatus>>,
}

/// The member's domains (or only `only`) by name, with everything their DNS pictures and the
/// node's status line need: one query, since the API's list and the domain page ask on every
/// request. Another member's domain is not among them.
async fn read(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    only: Option<DomainId>,
) -> Result<Vec<Row>> {
    Ok(sqlx::query_as!(
        Row,
        r#"select d.id, d.name, d.status, d.verification_token, d.verified_at, d.created_at,
                  m.node_id, k.selector as "selector?", k.public_key as "public_key?",
                  nc.names as "cert_names?", nc.challenge as "cert_challenge?",
                  nc.state as "cert_state?", nc.not_after as "cert_not_after?",
                  nc.error as "cert_error?", nc.retry_at as "cert_retry_at?",
                  nc.reported_at as "cert_reported_at?",
                  s.ds as "ds?", s.txt_seen as "txt_seen?", s.ns_seen as "ns_seen?",
                  s.ds_seen as "ds_seen?",
                  (select platform_domain from collective) as platform_domain,
                  n.desired_generation as "desired_generation?", n.observed_generation,
                  n.ns_number as "ns_number?",
                  array(select sn.ns_number from dns_secondaries ds
                        join nodes sn on sn.id = ds.secondary_node_id
                        where ds.primary_node_id = m.node_id and ds.state = 'active'
                        order by sn.ns_number) as "secondaries!: Vec<Option<i32>>",
                  array(select e.nameserver from dns_external_secondaries e
                        order by e.nameserver) as "externals!",
                  c.servers as "servers!: Json<Vec<ServerStatus>>"
           from domains d join members m on m.id = d.member_id
           left join nodes n on n.id = m.node_id
           left join dkim_keys k on k.domain_id = d.id and k.node_id = m.node_id
           -- The hosting node's report only: after a move, the old node's says nothing.
           left join node_certificates nc on nc.domain_id = d.id and nc.node_id = m.node_id
           left join domain_dns_status s on s.domain_id = d.id
           cross join lateral (
               -- One ordered aggregate (each ordered aggregate sorts on its own), as JSON
               -- objects that are already what the API shows. TCP first: it is what resolvers
               -- fall back to, and UDP can miss during a swap.
               select coalesce(json_agg(json_build_object(
                          'nameserver', c.server, 'address', c.address, 'role', c.role,
                          'serial', coalesce(c.serial_tcp, c.serial_udp), 'fault', c.fault,
                          'checked_at', c.checked_at)
                        order by case c.role when 'primary' then 0 when 'secondary' then 1
                                 else 2 end, c.server), '[]') as servers
               from dns_checks c where c.domain_id = d.id) c
           where d.member_id = $1 and ($2::uuid is null or d.id = $2)
           order by d.name"#,
        member.0,
        only.map(|d| d.0)
    )
    .fetch_all(db)
    .await?)
}

/// The NS records of the member's zones, from a row of [`read`] (every row has the same):
/// none while no node hosts the member or before setup (`config` is `None`).
fn nameservers(config: Option<&Platform>, r: &Row) -> Result<Vec<String>> {
    let Some(config) = config else {
        return Ok(Vec::new());
    };
    if r.node_id.is_none() {
        return Ok(Vec::new());
    }
    if r.desired_generation.is_none() {
        // The node row is gone (it cannot be: members.node_id references it).
        return Err(Error::NotFound);
    }
    let number = |n: Option<i32>| {
        n.ok_or_else(|| Error::Internal(anyhow::anyhow!("a node without ns_number")))
    };
    let secondaries = r
        .secondaries
        .iter()
        .map(|n| number(*n))
        .collect::<Result<Vec<_>>>()?;
    Ok(
        topology::ns_set(config, number(r.ns_number)?, &secondaries, &r.externals)?
            .into_iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
    )
}

/// A row of [`read`] as the API shows it, given the zones' name servers.
fn to_domain(r: Row, nameservers: &[String]) -> Result<Domain> {
    let certificate = match (
        r.cert_names,
        r.cert_challenge,
        r.cert_state,
        r.cert_reported_at,
    ) {
        (Some(names), Some(challenge), Some(state), Some(reported_at)) => {
            Some(Stored::from_columns(
                names,
                &challenge,
                &state,
                r.cert_not_after,
                r.cert_error,
                r.cert_retry_at,
                reported_at,
            )?)
        }
        _ => None,
    };
    Ok(Domain {
        id: DomainId(r.id),
        display_name: display(&r.name),
        dkim: dkim(&r.name, r.selector, r.public_key),
        certificate,
        dns: domain_dns(
            &r.name,
            &r.status,
            &r.verification_token,
            nameservers,
            Seen {
                ds: r.ds.unwrap_or_default(),
                txt: r.txt_seen,
                ns: r.ns_seen,
                ds_seen: r.ds_seen,
            },
            r.servers.0,
        ),
        name: r.name,
        status: r.status,
        verification_token: r.verification_token,
        verified_at: r.verified_at,
        created_at: r.created_at,
    })
}

/// A member's domains with their DNS pictures: one query.
pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    config: &DnsConfig,
    member: MemberId,
) -> Result<Vec<Domain>> {
    let rows = read(db, member, None).await?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let config = effective(config, first.platform_domain.as_deref())?;
    let nameservers = nameservers(config.as_ref(), first)?;
    rows.into_iter()
        .map(|r| to_domain(r, &nameservers))
        .collect()
}

/// A member's own domain, and the status of the node hosting the member (`None` while none
/// does): one query. Another member's domain is simply not found.
pub async fn get_with_node(
    db: impl sqlx::PgExecutor<'_>,
    config: &DnsConfig,
    member: MemberId,
    id: DomainId,
) -> Result<(Domain, Option<NodeStatus>)> {
    let r = read(db, member, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)?;
    let config = effective(config, r.platform_domain.as_deref())?;
    let nameservers = nameservers(config.as_ref(), &r)?;
    let node = r
        .desired_generation
        .filter(|_| r.node_id.is_some())
        .map(|desired| NodeStatus::new(desired, r.observed_generation));
    Ok((to_domain(r, &nameservers)?, node))
}

/// A member's own domain; another member's domain is simply not found.
pub async fn get(
    db: impl sqlx::PgExecutor<'_>,
    config: &DnsConfig,
    member: MemberId,
    id: DomainId,
) -> Result<Domain> {
    Ok(get_with_node(db, config, member, id).await?.0)
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub id: DomainId,
    /// Unicode form, for display.
    pub display_name: String,
    /// `pending_verification` or `active`.
    pub status: String,
    /// Its certificate's state and expiry, as the node hosting the member now last reported
    /// them; `None` until it has.
    pub certificate: Option<(CertificateState, Option<OffsetDateTime>)>,
}

impl Summary {
    /// `name` as stored (ASCII); `certificate` its stored state and expiry, if reported.
    pub(super) fn new(
        id: DomainId,
        name: &str,
        status: String,
        certificate: Option<(&str, Option<OffsetDateTime>)>,
    ) -> Result<Self> {
        let certificate = certificate
            .map(|(state, not_after)| {
                crate::model::certificate::parse_state(state)
                    .map(|s| (s, not_after))
                    .ok_or_else(|| {
                        Error::Internal(anyhow::anyhow!("stored certificate state {state:?}"))
                    })
            })
            .transpose()?;
        Ok(Summary {
            id,
            display_name: display(name),
            status,
            certificate,
        })
    }
}

/// Fails with not found unless the domain is the member's own.
pub async fn owned(pool: &PgPool, member: MemberId, id: DomainId) -> Result<()> {
    sqlx::query_scalar!(
        "select id from domains where id = $1 and member_id = $2",
        id.0,
        member.0
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// Locks a member's own domain row for the transaction and returns its name. Creating an
/// address takes this lock, so the check that a name is free in both mailboxes and aliases
/// cannot race with another creation on the same domain. `for no key update`: a row another
/// transaction only refers to (a node's heartbeat storing the domain's DKIM key, whose foreign
/// key takes a key-share lock) is not waited for; a transaction that waits here while it holds
/// the node's row would otherwise deadlock with the creation's own bump of that node.
pub async fn lock_owned(conn: &mut PgConnection, member: MemberId, id: DomainId) -> Result<String> {
    Ok(sqlx::query_scalar!(
        "select name from domains where id = $1 and member_id = $2 for no key update",
        id.0,
        member.0
    )
    .fetch_one(conn)
    .await?)
}

/// Fails with a conflict when `local` is already a mailbox or an alias on the domain.
pub async fn address_free(conn: &mut PgConnection, id: DomainId, local: &str) -> Result<()> {
    let taken = sqlx::query_scalar!(
        "select exists (select 1 from mailboxes where domain_id = $1 and local_part = $2)
             or exists (select 1 from aliases where domain_id = $1 and source = $2) as \"t!\"",
        id.0,
        local
    )
    .fetch_one(conn)
    .await?;
    if taken {
        return Err(Error::Conflict(Reason::AddressTaken));
    }
    Ok(())
}

/// Claims `name` for `member`: refused when the name may not be claimed (`claimable`), taken
/// (the unique constraint), or above a limit the caller checked in the same transaction. A new
/// claim is pending until its TXT challenge is seen.
pub async fn claim(
    conn: &mut PgConnection,
    member: MemberId,
    name: &DomainName,
) -> Result<DomainId> {
    claimable(&mut *conn, member, name).await?;
    let id = DomainId::new();
    let challenge = format!("ruche-verify={}", Token::generate().expose());
    sqlx::query!(
        "insert into domains (id, member_id, name, verification_token) values ($1, $2, $3, $4)",
        id.0,
        member.0,
        name.as_str(),
        challenge
    )
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Refuses names a member may not claim (`model::claims`): the platform domain and names under
/// it, and names under or above another member's domain, pending or verified alike (above: the
/// claim's web names, `www.` and the rest, could be that member's). Claims are
/// serialised by a transaction advisory lock, so two members cannot claim `a.test` and
/// `x.a.test` at the same moment and both pass. An exact name already held fails later on the
/// unique constraint, with the same 409 whatever the holder's state.
async fn claimable(conn: &mut PgConnection, member: MemberId, name: &DomainName) -> Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('ruche_domain_claims'))")
        .execute(&mut *conn)
        .await?;
    let platform = sqlx::query_scalar!("select platform_domain from collective")
        .fetch_optional(&mut *conn)
        .await?;
    if platform.is_some_and(|p| claims::at_or_under(name.as_str(), &p)) {
        return Err(Error::field("domain", ClaimRefusal::PlatformDomain));
    }
    let under_another = sqlx::query_scalar!(
        "select exists (select 1 from domains
                        where member_id <> $1 and right($2, length(name) + 1) = '.' || name) as \"u!\"",
        member.0,
        name.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    if under_another {
        return Err(Error::Conflict(ClaimRefusal::UnderAnotherMember.into()));
    }
    let above_another = sqlx::query_scalar!(
        // A name held already is refused as taken (the unique constraint), whoever holds names
        // under it: one answer for a taken name, whatever else is registered.
        "select exists (select 1 from domains
                        where member_id <> $1 and right(name, length($2) + 1) = '.' || $2)
                and not exists (select 1 from domains where name = $2) as \"a!\"",
        member.0,
        name.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    if above_another {
        return Err(Error::Conflict(ClaimRefusal::AboveAnotherMember.into()));
    }
    Ok(())
}

/// When an unverified claim made at `created_at` lapses.
pub fn claim_expires_at(created_at: OffsetDateTime) -> OffsetDateTime {
    created_at + time::Duration::days(claims::CLAIM_DAYS)
}

/// A domain whose claim lapsed: still unverified `CLAIM_DAYS` after it was added.
pub struct Lapsed {
    pub id: Uuid,
    pub member_id: MemberId,
    pub name: String,
}

/// Deletes every lapsed claim (with everything on it), skipping rows another control plane is
/// handling: what went.
pub async fn delete_lapsed(conn: &mut PgConnection) -> Result<Vec<Lapsed>> {
    let due = sqlx::query!(
        "select id, member_id, name from domains
         where status = 'pending_verification'
           and created_at < now() - make_interval(days => $1::int)
         for update skip locked",
        i32::try_from(claims::CLAIM_DAYS).unwrap_or(7)
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut lapsed = Vec::with_capacity(due.len());
    for d in due {
        sqlx::query!("delete from domains where id = $1", d.id)
            .execute(&mut *conn)
            .await?;
        lapsed.push(Lapsed {
            id: d.id,
            member_id: MemberId(d.member_id),
            name: d.name,
        });
    }
    Ok(lapsed)
}

/// Deletes the member's domain `id` with every mailbox, alias and XMPP account on it (another
/// member's is not found): its name.
pub async fn delete(conn: &mut PgConnection, member: MemberId, id: DomainId) -> Result<String> {
    sqlx::query_scalar!(
        "delete from domains where id = $1 and member_id = $2 returning name",
        id.0,
        member.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checklist_asks_for_the_challenge_only_while_pending() {
        let ns = vec!["ns1.ruche.test".to_owned(), "ns2.ruche.test".to_owned()];
        let seen = Seen {
            ds: vec!["12345 13 2 ABCD".to_owned()],
            txt: Some(false),
            ns: Some(true),
            ds_seen: None,
        };
        let rows = registrar("example.org", true, "ruche-verify=x", &ns, &seen);
        let kinds: Vec<(&str, &str, &str, Option<bool>)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str(), r.value.as_str(), r.seen))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "TXT",
                    "_ruche-challenge.example.org",
                    "ruche-verify=x",
                    Some(false)
                ),
                ("NS", "example.org", "ns1.ruche.test", Some(true)),
                ("NS", "example.org", "ns2.ruche.test", Some(true)),
                ("DS", "example.org", "12345 13 2 ABCD", None),
            ]
        );
        let rows = registrar(
            "example.org",
            false,
            "ruche-verify=x",
            &ns,
            &Seen::default(),
        );
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.kind == "NS" && r.seen.is_none()));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["type"], "NS");
    }
}
