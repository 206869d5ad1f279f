//! The secondaries of each node's zones, as stored (`dns_secondaries`), and what placing them
//! reads: the nodes that run a name server and whether a pending secondary caught up with its
//! primary (from the monitor's checks). What to change is the model's
//! ([`crate::model::placement`]).

use std::collections::BTreeSet;

use protocol::names::DomainName;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::model::ids::NodeId;
use crate::model::nameservers::{address, nameserver};
use crate::model::placement::{network, Assignment, Candidate, Change, State};

/// Takes the transaction-level lock that keeps several control planes from placing at once;
/// whether it was free.
pub async fn try_lock_placement(conn: &mut PgConnection) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "select pg_try_advisory_xact_lock(hashtext('ruche_dns_placement')) as \"l!\""
    )
    .fetch_one(conn)
    .await?)
}

/// Every joined node that reported its name server, in name-server order.
pub async fn candidates(conn: &mut PgConnection) -> Result<Vec<Candidate>> {
    Ok(sqlx::query!(
        "select id, operator, dns_address from nodes
         where credential_hash is not null and dns_address is not null order by ns_number"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| Candidate {
        id: r.id,
        operator: r.operator,
        network: address(r.dns_address.as_deref()).map(|a| network(&a)),
    })
    .collect())
}

/// Every assignment, with whether each pending one caught up (`platform`: the collective's
/// platform domain, which names the servers the monitor checked).
pub async fn assignments(
    conn: &mut PgConnection,
    platform: &DomainName,
) -> Result<Vec<Assignment>> {
    let rows = sqlx::query!(
        "select s.primary_node_id, s.secondary_node_id, s.state,
                extract(epoch from now() - s.since)::bigint as \"age!\",
                p.ns_number as primary_number, n.ns_number as secondary_number
         from dns_secondaries s
         join nodes p on p.id = s.primary_node_id
         join nodes n on n.id = s.secondary_node_id"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut current = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(state) = State::parse(&r.state) else {
            continue;
        };
        let caught_up = if state == State::Pending {
            let primary = nameserver(platform, r.primary_number)?;
            let secondary = nameserver(platform, r.secondary_number)?;
            caught_up(conn, NodeId(r.primary_node_id), &primary, &secondary).await?
        } else {
            false
        };
        current.push(Assignment {
            primary: r.primary_node_id,
            secondary: r.secondary_node_id,
            state,
            age_seconds: u64::try_from(r.age).unwrap_or(0),
            caught_up,
        });
    }
    Ok(current)
}

/// Writes `changes`; the pairs it added (which need a TSIG key).
pub async fn write(conn: &mut PgConnection, changes: &[Change]) -> Result<BTreeSet<(Uuid, Uuid)>> {
    let mut added = BTreeSet::new();
    for change in changes {
        match *change {
            Change::Add { primary, secondary } => {
                sqlx::query!(
                    "insert into dns_secondaries (primary_node_id, secondary_node_id, state)
                     values ($1, $2, 'pending') on conflict do nothing",
                    primary,
                    secondary
                )
                .execute(&mut *conn)
                .await?;
                added.insert((primary, secondary));
            }
            Change::Promote { primary, secondary } | Change::Retire { primary, secondary } => {
                let state = if matches!(change, Change::Promote { .. }) {
                    State::Active
                } else {
                    State::Retiring
                };
                sqlx::query!(
                    "update dns_secondaries set state = $3, since = now()
                     where primary_node_id = $1 and secondary_node_id = $2",
                    primary,
                    secondary,
                    state.as_str()
                )
                .execute(&mut *conn)
                .await?;
            }
            Change::Drop { primary, secondary } => {
                sqlx::query!(
                    "delete from dns_secondaries where primary_node_id = $1 and secondary_node_id = $2",
                    primary,
                    secondary
                )
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(added)
}

/// Whether `secondary` served every active zone of `primary` at the primary's serial in the
/// monitor's latest round (trivially true for a primary with no zones yet).
async fn caught_up(
    conn: &mut PgConnection,
    primary: NodeId,
    primary_ns: &DomainName,
    secondary_ns: &DomainName,
) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        "select not exists (
             select 1 from domains d join members m on m.id = d.member_id
             left join dns_checks p on p.domain_id = d.id and p.server = $2
             left join dns_checks s on s.domain_id = d.id and s.server = $3
             where m.node_id = $1 and d.status = 'active'
               and (p.serial_tcp is null or s.serial_tcp is null
                    or s.serial_tcp < p.serial_tcp or s.fault is not null)
         ) as \"ok!\"",
        primary.0,
        primary_ns.as_str(),
        secondary_ns.as_str()
    )
    .fetch_one(conn)
    .await?)
}
