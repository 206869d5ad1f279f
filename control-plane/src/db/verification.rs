//! Ownership verification as stored: the domains a round looks at, what it saw of each
//! (`domain_dns_status`), and a pending domain made active (audited by
//! `services::domains::activate`).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Result;
use crate::model::claims::Observation;
use crate::model::ids::MemberId;

/// One domain as a round sees it.
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: Uuid,
    pub name: String,
    pub pending: bool,
    pub token: String,
    pub node: Option<Uuid>,
    /// The DS records the monitor read from the zone's primary.
    pub ds: Vec<String>,
}

/// Every domain, with its member's node and the DS records the monitor read.
pub async fn subjects(pool: &PgPool) -> Result<Vec<Subject>> {
    Ok(sqlx::query!(
        "select d.id, d.name, d.status, d.verification_token, m.node_id,
                coalesce(s.ds, '{}') as \"ds!\"
         from domains d join members m on m.id = d.member_id
         left join domain_dns_status s on s.domain_id = d.id
         order by d.id"
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Subject {
        id: r.id,
        name: r.name,
        pending: r.status == "pending_verification",
        token: r.verification_token,
        node: r.node_id,
        ds: r.ds,
    })
    .collect())
}

/// Marks a pending domain active, if its token is still the one that was seen: its member and
/// name; `None` if it was not pending with that token (another control plane may have been
/// first).
pub async fn activate(
    conn: &mut PgConnection,
    id: Uuid,
    token: &str,
) -> Result<Option<(MemberId, String)>> {
    Ok(sqlx::query!(
        "update domains set status = 'active', verified_at = now()
         where id = $1 and status = 'pending_verification' and verification_token = $2
         returning member_id, name",
        id,
        token
    )
    .fetch_optional(conn)
    .await?
    .map(|row| (MemberId(row.member_id), row.name)))
}

/// Stores what a round saw; the DS list (the monitor's) is left alone. Domains deleted in the
/// meantime are skipped.
pub async fn write_seen(pool: &PgPool, seen: &[(Uuid, Observation)]) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = seen.iter().map(|(id, _)| *id).collect();
    let txt: Vec<Option<bool>> = seen.iter().map(|(_, o)| o.txt_seen).collect();
    let ns: Vec<Option<bool>> = seen.iter().map(|(_, o)| o.ns_seen).collect();
    let ds: Vec<Option<bool>> = seen.iter().map(|(_, o)| o.ds_seen).collect();
    sqlx::query!(
        "insert into domain_dns_status (domain_id, txt_seen, ns_seen, ds_seen, checked_at)
         select u.id, u.txt, u.ns, u.ds, now()
         from unnest($1::uuid[], $2::bool[], $3::bool[], $4::bool[]) as u (id, txt, ns, ds)
         join domains d on d.id = u.id
         on conflict (domain_id) do update set txt_seen = excluded.txt_seen,
             ns_seen = excluded.ns_seen, ds_seen = excluded.ds_seen, checked_at = now()",
        &ids,
        &txt as &[Option<bool>],
        &ns as &[Option<bool>],
        &ds as &[Option<bool>],
    )
    .execute(pool)
    .await?;
    Ok(())
}
