//! A member's own DNS records: one created, changed or deleted, each in one transaction with its
//! audit entry. What a lone record cannot tell is checked here, with the domain row locked so two
//! concurrent changes cannot both pass: the platform's own names, the CNAME rule against the
//! domain's other records, the full name's length, and at most [`MAX_PER_DOMAIN`] records.

use protocol::dns::{conflicts_with, platform_owned, Record, RecordData, RecordField, RecordText};
use sqlx::PgPool;
use uuid::Uuid;
use web::Reason;

use crate::db::audit::{self, Actor};
use crate::db::dns_records::{self, DnsRecord};
use crate::db::{domains, members};
use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MemberId, RecordId};
use crate::model::DomainName;

/// Enough for any real zone; keeps a zone (and every node's desired state) small.
pub const MAX_PER_DOMAIN: i64 = 200;

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

/// Adds `record` to the member's domain, if it fits among the domain's other records; the
/// stored record.
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
    let (zone, others) = dns_records::lock_zone(&mut tx, member, domain, None).await?;
    if others.len() as i64 >= MAX_PER_DOMAIN {
        return Err(Error::Conflict(Reason::TooManyRecords {
            max: MAX_PER_DOMAIN,
        }));
    }
    check(&zone, record, &others)?;
    let r = stored(RecordId(Uuid::new_v4()), record);
    dns_records::insert(&mut tx, domain, &r).await?;
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

/// Replaces the member's record `id` by `record`, if it fits among the domain's other records;
/// the stored record. The audit entry keeps what it was before.
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
    let (zone, others) = dns_records::lock_zone(&mut tx, member, domain, Some(id)).await?;
    check(&zone, record, &others)?;
    let r = stored(id, record);
    let before = dns_records::on_domain(&mut tx, domain, id).await?;
    dns_records::update(&mut tx, domain, &r).await?;
    let mut audit_details = details(zone.as_str(), &r);
    audit_details["before"] = serde_json::json!({
        "name": before.name, "type": before.kind, "ttl": before.ttl, "value": before.value,
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

/// Deletes the member's record `id` from the member's domain.
pub async fn delete(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    id: RecordId,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let zone = domains::lock_owned(&mut tx, member, domain).await?;
    let r = dns_records::delete(&mut tx, domain, id).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::dns_records::parse;

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
