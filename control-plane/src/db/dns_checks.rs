//! What the monitor's rounds saw of every server of every zone (`dns_checks`, and the DS
//! records of `domain_dns_status`), and the zones it checks.

use std::net::SocketAddr;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;
use crate::model::nameservers::Role;

/// An active zone whose member has a node (nobody serves the others).
pub struct ActiveZone {
    pub id: Uuid,
    pub name: String,
    pub node_id: Uuid,
}

/// Every active zone served by a node, by name.
pub async fn active_zones(pool: &PgPool) -> Result<Vec<ActiveZone>> {
    Ok(sqlx::query!(
        "select d.id, d.name, m.node_id as \"node_id!\"
         from domains d join members m on m.id = d.member_id
         where d.status = 'active' and m.node_id is not null
         order by d.name"
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| ActiveZone {
        id: r.id,
        name: r.name,
        node_id: r.node_id,
    })
    .collect())
}

/// What one round saw of one zone.
#[derive(Debug)]
pub struct ZoneReport {
    pub domain_id: Uuid,
    /// Every listed server's name, so that rows of servers that left can be deleted.
    pub listed: Vec<String>,
    /// One per server with an address.
    pub checks: Vec<Check>,
    /// The primary's CDS as DS text; `None` when the primary did not answer authoritatively
    /// (then the stored DS are left as they are).
    pub ds: Option<Vec<String>>,
}

/// One row of `dns_checks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub server: String,
    pub address: SocketAddr,
    pub role: Role,
    pub serial_udp: Option<u32>,
    pub serial_tcp: Option<u32>,
    pub authoritative: Option<bool>,
    pub signature_expires_at: Option<OffsetDateTime>,
    pub fault: Option<String>,
}

/// Writes a round: one upsert for every check, one delete for rows of servers no longer listed,
/// one upsert for the DS of zones whose primary answered. One transaction, so pages never show
/// half a round.
pub async fn write_round(pool: &PgPool, reports: &[ZoneReport]) -> Result<()> {
    let mut domain = Vec::new();
    let mut server = Vec::new();
    let mut address = Vec::new();
    let mut role = Vec::new();
    let mut serial_udp = Vec::new();
    let mut serial_tcp = Vec::new();
    let mut authoritative = Vec::new();
    let mut expires = Vec::new();
    let mut fault = Vec::new();
    for r in reports {
        for c in &r.checks {
            domain.push(r.domain_id);
            server.push(c.server.clone());
            address.push(c.address.to_string());
            role.push(c.role.as_str().to_owned());
            serial_udp.push(c.serial_udp.map(i64::from));
            serial_tcp.push(c.serial_tcp.map(i64::from));
            authoritative.push(c.authoritative);
            expires.push(c.signature_expires_at);
            fault.push(c.fault.clone());
        }
    }
    let mut listed_domain = Vec::new();
    let mut listed_server = Vec::new();
    for r in reports {
        for s in &r.listed {
            listed_domain.push(r.domain_id);
            listed_server.push(s.clone());
        }
    }
    let checked: Vec<Uuid> = reports.iter().map(|r| r.domain_id).collect();
    let mut ds_domain = Vec::new();
    let mut ds_text = Vec::new();
    for r in reports {
        if let Some(ds) = &r.ds {
            ds_domain.push(r.domain_id);
            // Postgres arrays of arrays must be rectangular: one text per zone, split below.
            ds_text.push(ds.join("\n"));
        }
    }

    let mut tx = pool.begin().await?;
    sqlx::query!(
        "insert into dns_checks (domain_id, server, address, role, serial_udp, serial_tcp,
                                authoritative, signature_expires_at, fault, checked_at)
         select domain_id, server, address, role, serial_udp, serial_tcp, authoritative,
                signature_expires_at, fault, now()
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                     $7::bool[], $8::timestamptz[], $9::text[])
             as t(domain_id, server, address, role, serial_udp, serial_tcp, authoritative,
                  signature_expires_at, fault)
         -- A zone deleted during the round has no row to check any more.
         where exists (select 1 from domains d where d.id = t.domain_id)
         on conflict (domain_id, server) do update
             set address = excluded.address, role = excluded.role,
                 serial_udp = excluded.serial_udp, serial_tcp = excluded.serial_tcp,
                 authoritative = excluded.authoritative,
                 signature_expires_at = excluded.signature_expires_at,
                 fault = excluded.fault, checked_at = excluded.checked_at",
        &domain,
        &server,
        &address,
        &role,
        &serial_udp as &[Option<i64>],
        &serial_tcp as &[Option<i64>],
        &authoritative as &[Option<bool>],
        &expires as &[Option<OffsetDateTime>],
        &fault as &[Option<String>],
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "delete from dns_checks c
         where c.domain_id = any($1::uuid[])
           and (c.domain_id, c.server) not in
               (select * from unnest($2::uuid[], $3::text[]))",
        &checked,
        &listed_domain,
        &listed_server,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into domain_dns_status (domain_id, ds)
         select t.domain_id, case when t.ds = '' then '{}'::text[]
                                  else string_to_array(t.ds, E'\\n') end
         from unnest($1::uuid[], $2::text[]) as t(domain_id, ds)
         where exists (select 1 from domains d where d.id = t.domain_id)
         on conflict (domain_id) do update set ds = excluded.ds",
        &ds_domain,
        &ds_text,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
