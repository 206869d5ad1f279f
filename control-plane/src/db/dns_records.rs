//! A member's own DNS records on their domains (A, AAAA, CNAME, MX, TXT, SRV, CAA).
//!
//! A record arrives as the four fields a member types; [`parse`] turns them into a
//! `protocol::dns::Record` (which cannot hold anything that breaks out of a zone-file line) and
//! the canonical text of that record is what is stored. What a lone record cannot tell is
//! checked by `services::dns_records`, in the transaction that writes it, with the domain row
//! locked ([`lock_zone`]) so two concurrent changes cannot both pass. The `dns_records` trigger
//! bumps the hosting node, so the zone follows in the same transaction.

use protocol::dns::Record;
use sqlx::{PgConnection, PgPool};

use super::domains;
use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MemberId, RecordId};
use crate::model::DomainName;

/// A stored record, in the four fields a member types (canonical form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub id: RecordId,
    /// `@` for the domain itself, else the name inside it (`www`, `_sip._tcp`, `*.dev`).
    pub name: String,
    /// A, AAAA, CNAME, MX, TXT, SRV or CAA.
    pub kind: String,
    /// Seconds.
    pub ttl: i32,
    pub value: String,
}

impl DnsRecord {
    /// The stored record as a typed one (it was parsed before it was stored).
    fn typed(&self) -> Result<Record> {
        Record::parse(&self.name, &self.kind, &self.ttl.to_string(), &self.value).map_err(
            |(field, e)| {
                Error::Internal(anyhow::anyhow!(
                    "stored DNS record {} does not parse: {}: {e}",
                    self.id,
                    field.as_str()
                ))
            },
        )
    }
}

/// Parses a record form or API body. `ttl` may be empty (one hour). The error names the field.
pub fn parse(name: &str, kind: &str, ttl: &str, value: &str) -> Result<Record> {
    Record::parse(name, kind, ttl, value).map_err(|(field, e)| Error::field(field.as_str(), e))
}

pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    domain: DomainId,
) -> Result<Vec<DnsRecord>> {
    let rows = sqlx::query!(
        "select r.id, r.name, r.type, r.ttl, r.value
         from dns_records r join domains d on d.id = r.domain_id
         where d.member_id = $1 and r.domain_id = $2
         order by r.name = '@' desc, r.name, r.type, r.value",
        member.0,
        domain.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DnsRecord {
            id: RecordId(r.id),
            name: r.name,
            kind: r.r#type,
            ttl: r.ttl,
            value: r.value,
        })
        .collect())
}

/// Locks the member's domain (another member's is not found) and returns its name with its
/// records except `except`.
pub async fn lock_zone(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    except: Option<RecordId>,
) -> Result<(DomainName, Vec<Record>)> {
    let name = domains::lock_owned(&mut *conn, member, domain).await?;
    let zone = DomainName::parse(&name).map_err(|e| {
        Error::Internal(anyhow::anyhow!("stored domain {name} does not parse: {e}"))
    })?;
    let rows = sqlx::query!(
        "select id, name, type, ttl, value from dns_records
         where domain_id = $1 and ($2::uuid is null or id <> $2)",
        domain.0,
        except.map(|r| r.0)
    )
    .fetch_all(&mut *conn)
    .await?;
    let records = rows
        .into_iter()
        .map(|r| {
            DnsRecord {
                id: RecordId(r.id),
                name: r.name,
                kind: r.r#type,
                ttl: r.ttl,
                value: r.value,
            }
            .typed()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((zone, records))
}

/// Stores the record `r` on `domain`, which the caller locked as the member's ([`lock_zone`]) in
/// the same transaction.
pub async fn insert(conn: &mut PgConnection, domain: DomainId, r: &DnsRecord) -> Result<()> {
    sqlx::query!(
        "insert into dns_records (id, domain_id, name, type, ttl, value)
         values ($1, $2, $3, $4, $5, $6)",
        r.id.0,
        domain.0,
        r.name,
        r.kind,
        r.ttl,
        r.value
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The record `id` on `domain` as it is stored (not found if there is none); the caller locked
/// the domain as the member's ([`lock_zone`]) in the same transaction.
pub async fn on_domain(
    conn: &mut PgConnection,
    domain: DomainId,
    id: RecordId,
) -> Result<DnsRecord> {
    let r = sqlx::query!(
        "select name, type, ttl, value from dns_records where id = $1 and domain_id = $2",
        id.0,
        domain.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(DnsRecord {
        id,
        name: r.name,
        kind: r.r#type,
        ttl: r.ttl,
        value: r.value,
    })
}

/// Replaces the record `r.id` on `domain` by `r`; the caller locked the domain as the member's
/// ([`lock_zone`]) in the same transaction.
pub async fn update(conn: &mut PgConnection, domain: DomainId, r: &DnsRecord) -> Result<()> {
    sqlx::query!(
        "update dns_records set name = $3, type = $4, ttl = $5, value = $6
         where id = $1 and domain_id = $2",
        r.id.0,
        domain.0,
        r.name,
        r.kind,
        r.ttl,
        r.value
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the record `id` on `domain`: what it was (not found if there is none). The caller
/// locked the domain as the member's (`domains::lock_owned`) in the same transaction.
pub async fn delete(conn: &mut PgConnection, domain: DomainId, id: RecordId) -> Result<DnsRecord> {
    let row = sqlx::query!(
        "delete from dns_records where id = $1 and domain_id = $2
         returning name, type, ttl, value",
        id.0,
        domain.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(DnsRecord {
        id,
        name: row.name,
        kind: row.r#type,
        ttl: row.ttl,
        value: row.value,
    })
}

/// One of the member's records on the member's domain (for the edit form).
pub async fn get(
    pool: &PgPool,
    member: MemberId,
    domain: DomainId,
    id: RecordId,
) -> Result<DnsRecord> {
    let r = sqlx::query!(
        "select r.id, r.name, r.type, r.ttl, r.value
         from dns_records r join domains d on d.id = r.domain_id
         where d.member_id = $1 and r.domain_id = $2 and r.id = $3",
        member.0,
        domain.0,
        id.0
    )
    .fetch_one(pool)
    .await?;
    Ok(DnsRecord {
        id: RecordId(r.id),
        name: r.name,
        kind: r.r#type,
        ttl: r.ttl,
        value: r.value,
    })
}
