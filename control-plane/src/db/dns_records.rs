//! A member's own DNS records on their domains (A, AAAA, CNAME, MX, TXT, SRV, CAA).
//!
//! A record arrives as the four fields a member types; [`parse`] turns them into a
//! `protocol::dns::Record` (which cannot hold anything that breaks out of a zone-file line) and
//! the canonical text of that record is what is stored. What a lone record cannot tell is checked
//! here, in the transaction that writes it, with the domain row locked so two concurrent changes
//! cannot both pass: the platform's own names, the CNAME rule against the domain's other records,
//! the full name's length, and at most [`MAX_PER_DOMAIN`] records. The `dns_records` trigger
//! bumps the hosting node, so the zone follows in the same transaction.

use protocol::dns::{conflicts_with, platform_owned, Record, RecordData, RecordField, RecordText};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use web::Reason;

use super::audit::{self, Actor};
use super::{domains, members};
use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MemberId, RecordId};
use crate::model::DomainName;

/// Enough for any real zone; keeps a zone (and every node's desired state) small.
pub const MAX_PER_DOMAIN: i64 = 200;

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

/// Whether `record` may join `others` (the domain's other member records) in `zone`; the error
/// names the field to change.
pub fn check(zone: &DomainName, record: &Record, others: &[Record]) -> Result<()> {
    if !record.owner.fits_in(zone) {
        return Err(Error::field(
            RecordField::Name.as_str(),
            Reason::RecordNameTooLong {
                max: DomainName::MAX_LEN,
            },
        ));
    }
    if let Some(why) = platform_owned(&record.owner, &record.data) {
        // At the apex the type (or, for SPF, the value) is what is refused; elsewhere the name.
        let field = match (&record.data, record.owner.is_apex()) {
            (RecordData::Txt(_), true) => RecordField::Value,
            (_, true) => RecordField::Type,
            _ => RecordField::Name,
        };
        return Err(Error::field(field.as_str(), why));
    }
    if let Some(why) = conflicts_with(record, others) {
        let duplicate = others
            .iter()
            .any(|o| o.owner == record.owner && o.data == record.data);
        let field = if duplicate {
            RecordField::Value
        } else {
            RecordField::Name
        };
        return Err(Error::field(field.as_str(), why));
    }
    Ok(())
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

/// Locks the member's domain and returns its name with its records except `except`.
async fn lock_zone(
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

fn stored(id: RecordId, record: &Record) -> DnsRecord {
    let text = RecordText::from(record.clone());
    DnsRecord {
        id,
        name: text.name,
        kind: text.kind,
        ttl: i32::try_from(text.ttl).unwrap_or(i32::MAX),
        value: text.value,
    }
}

fn details(zone: &str, r: &DnsRecord) -> serde_json::Value {
    serde_json::json!({
        "domain": zone, "record": r.id, "name": r.name, "type": r.kind,
        "ttl": r.ttl, "value": r.value,
    })
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    record: &Record,
) -> Result<DnsRecord> {
    let mut tx = pool.begin().await?;
    // A suspended account creates nothing; the member row lock also orders this change.
    members::lock_limits(&mut tx, member).await?;
    let (zone, others) = lock_zone(&mut tx, member, domain, None).await?;
    if others.len() as i64 >= MAX_PER_DOMAIN {
        return Err(Error::Conflict(Reason::TooManyRecords {
            max: MAX_PER_DOMAIN,
        }));
    }
    check(&zone, record, &others)?;
    let r = stored(RecordId(Uuid::new_v4()), record);
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
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "dns_record.create",
        Some(member),
        details(zone.as_str(), &r),
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

pub async fn update(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    id: RecordId,
    record: &Record,
) -> Result<DnsRecord> {
    let mut tx = pool.begin().await?;
    members::lock_limits(&mut tx, member).await?;
    let (zone, others) = lock_zone(&mut tx, member, domain, Some(id)).await?;
    check(&zone, record, &others)?;
    let r = stored(id, record);
    let before = sqlx::query!(
        "select name, type, ttl, value from dns_records where id = $1 and domain_id = $2",
        id.0,
        domain.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    sqlx::query!(
        "update dns_records set name = $3, type = $4, ttl = $5, value = $6
         where id = $1 and domain_id = $2",
        id.0,
        domain.0,
        r.name,
        r.kind,
        r.ttl,
        r.value
    )
    .execute(&mut *tx)
    .await?;
    let mut audit_details = details(zone.as_str(), &r);
    audit_details["before"] = serde_json::json!({
        "name": before.name, "type": before.r#type, "ttl": before.ttl, "value": before.value,
    });
    audit::record(
        &mut *tx,
        actor,
        "dns_record.update",
        Some(member),
        audit_details,
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

pub async fn delete(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    id: RecordId,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let zone = domains::lock_owned(&mut tx, member, domain).await?;
    let row = sqlx::query!(
        "delete from dns_records where id = $1 and domain_id = $2
         returning name, type, ttl, value",
        id.0,
        domain.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    let r = DnsRecord {
        id,
        name: row.name,
        kind: row.r#type,
        ttl: row.ttl,
        value: row.value,
    };
    audit::record(
        &mut *tx,
        actor,
        "dns_record.delete",
        Some(member),
        details(zone.as_str(), &r),
    )
    .await?;
    tx.commit().await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, kind: &str, value: &str) -> Record {
        parse(name, kind, "", value).unwrap()
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Invalid(f) => f[0].field.clone(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn each_refusal_names_its_field() {
        let zone = DomainName::parse("example.org").unwrap();
        let cases = [
            (rec("@", "CNAME", "host.example.net"), "type"),
            (rec("@", "MX", "10 mx.example.net"), "type"),
            (rec("@", "TXT", "v=spf1 include:x -all"), "value"),
            (rec("_dmarc", "TXT", "v=DMARC1; p=none"), "name"),
            (rec("r202611._domainkey", "TXT", "v=DKIM1; p=x"), "name"),
            (rec("www", "A", "192.0.2.1"), "name"),
            (rec("_ruche-challenge", "TXT", "x"), "name"),
        ];
        for (r, field) in cases {
            assert_eq!(field_of(check(&zone, &r, &[]).unwrap_err()), field, "{r:?}");
        }
        let blog = rec("blog", "CNAME", "host.example.net");
        let a = rec("blog", "A", "192.0.2.1");
        assert_eq!(
            field_of(check(&zone, &a, std::slice::from_ref(&blog)).unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(check(&zone, &blog, std::slice::from_ref(&a)).unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(check(&zone, &a, std::slice::from_ref(&a)).unwrap_err()),
            "value"
        );
        assert!(check(&zone, &a, &[rec("blog", "AAAA", "2001:db8::1")]).is_ok());
        assert!(check(&zone, &rec("@", "TXT", "google-site-verification=x"), &[]).is_ok());
    }

    #[test]
    fn the_full_name_must_fit() {
        let long_zone =
            DomainName::parse(&format!("{}.{}.org", "a".repeat(63), "b".repeat(63))).unwrap();
        let owner = format!("{}.{}", "c".repeat(63), "d".repeat(60));
        let r = rec(&owner, "A", "192.0.2.1");
        assert_eq!(field_of(check(&long_zone, &r, &[]).unwrap_err()), "name");
        let short = DomainName::parse("example.org").unwrap();
        assert!(check(&short, &r, &[]).is_ok());
    }
}
