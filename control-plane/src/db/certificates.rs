//! The certificates nodes report (`node_certificates`, `migrations/*_node_certificates.sql`):
//! the latest report per node and certificate, written by heartbeats, read by the member's
//! domain views (`db::domains`, `db::members::overview`, which join the row of the node that
//! hosts the member now) and the admin's node and overview pages (here).
//!
//! A node may write rows only for the verified domains of members it hosts, the domains its
//! desired state lists (`db::desired`), and for its own host name; what it says of any other
//! domain is returned as ignored, for the log. Like DKIM keys, a row is keyed by the domain's
//! id, not its name, so it goes with the domain and is never a later holder's; and a member is
//! shown only the row of the node hosting them now.

use protocol::node::{CertificateState, Challenge};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::model::certificate::{self, Certificate};
use crate::model::ids::{DomainId, NodeId};

/// A certificate as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// ASCII, the first the one it is filed under.
    pub names: Vec<String>,
    pub challenge: Challenge,
    pub state: CertificateState,
    pub not_after: Option<OffsetDateTime>,
    /// Cleaned when stored (`model::certificate::ErrorText`): one line, at most 300 characters.
    pub error: Option<String>,
    pub retry_at: Option<OffsetDateTime>,
    /// When it was first reported as it stands, or last re-confirmed (within ten minutes while
    /// the node keeps reporting it).
    pub reported_at: OffsetDateTime,
}

impl Stored {
    /// A row's columns, re-read: a value the migration's checks let through always parses, so
    /// failing here means the database was changed behind our back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_columns(
        names: Vec<String>,
        challenge: &str,
        state: &str,
        not_after: Option<OffsetDateTime>,
        error: Option<String>,
        retry_at: Option<OffsetDateTime>,
        reported_at: OffsetDateTime,
    ) -> Result<Stored> {
        let unknown = |what: &str, value: &str| {
            Error::Internal(anyhow::anyhow!(
                "stored certificate {what} {value:?} is unknown"
            ))
        };
        Ok(Stored {
            names,
            challenge: certificate::parse_challenge(challenge)
                .ok_or_else(|| unknown("challenge", challenge))?,
            state: certificate::parse_state(state).ok_or_else(|| unknown("state", state))?,
            not_after,
            error,
            retry_at,
            reported_at,
        })
    }
}

/// Makes the node's rows the list it reported (checked by `model::certificate::check`): rows
/// for domains it placed on the list are written, rows for anything else of this node are
/// deleted. Returns the domains it may not report (not verified, not a member's it hosts, or
/// unknown), which are not stored. One statement whatever the list's length; a row is written
/// only when it changed or was last confirmed more than ten minutes ago, so steady reports cost
/// reads. No trigger: nothing here bumps a generation.
pub async fn replace(
    conn: &mut PgConnection,
    node: NodeId,
    certificates: &[Certificate],
) -> Result<Vec<String>> {
    let n = certificates.len();
    let mut domain_ids = Vec::with_capacity(n);
    let (mut domains, mut names, mut challenges, mut states) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut not_after, mut errors, mut retry_at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in certificates {
        domains.push(c.domain.as_deref());
        // '' when the node did not say (an older agent): then the name alone decides.
        domain_ids.push(c.domain_id.as_deref().unwrap_or(""));
        // A DomainName holds only [a-z0-9.-], so one space separates them unambiguously.
        names.push(c.names.join(" "));
        challenges.push(certificate::challenge_name(c.challenge));
        states.push(certificate::state_name(c.state));
        not_after.push(c.not_after);
        errors.push(c.error.as_ref().map(certificate::ErrorText::as_str));
        retry_at.push(c.retry_at);
    }
    // `placed`: the node's own certificate, and those of the verified domains of members it
    // hosts (exactly the domains of its desired state). The upsert writes those, the delete
    // removes every other row of the node; the two touch different rows, so one statement
    // (one snapshot) does both.
    Ok(sqlx::query_scalar!(
        r#"with c as (
               select * from unnest($2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::timestamptz[], $7::text[], $8::timestamptz[], $9::text[])
                   as c(domain, names, challenge, state, not_after, error, retry_at, said_id)
           ), placed as (
               select d.id as domain_id, c.* from c
               left join domains d on d.name = c.domain and d.status = 'active'
                   and (c.said_id = '' or d.id::text = c.said_id)
                   and exists (select 1 from members m where m.id = d.member_id and m.node_id = $1)
               where c.domain is null or d.id is not null
           ), stored as (
               insert into node_certificates as nc
                   (node_id, domain_id, names, challenge, state, not_after, error, retry_at)
               select $1, domain_id, string_to_array(names, ' '), challenge, state, not_after,
                      error, retry_at
               from placed
               on conflict (node_id, domain_id) do update
                   set names = excluded.names, challenge = excluded.challenge,
                       state = excluded.state, not_after = excluded.not_after,
                       error = excluded.error, retry_at = excluded.retry_at, reported_at = now()
                   where (nc.names, nc.challenge, nc.state, nc.not_after, nc.error, nc.retry_at)
                             is distinct from (excluded.names, excluded.challenge, excluded.state,
                                               excluded.not_after, excluded.error, excluded.retry_at)
                      or nc.reported_at < now() - interval '10 minutes'
           ), gone as (
               delete from node_certificates nc
               where nc.node_id = $1
                 and not exists (select 1 from placed p where p.domain_id is not distinct from nc.domain_id)
           )
           select c.domain as "domain!" from c
           where c.domain is not null
             and not exists (select 1 from placed p where p.domain = c.domain)"#,
        node.0,
        &domains as &[Option<&str>],
        &names,
        &challenges as &[&str],
        &states as &[&str],
        &not_after as &[Option<OffsetDateTime>],
        &errors as &[Option<&str>],
        &retry_at as &[Option<OffsetDateTime>],
        &domain_ids as &[&str]
    )
    .fetch_all(conn)
    .await?)
}

/// One of a node's certificates; `domain_id` is `None` for the node's own host name.
#[derive(Debug, Clone)]
pub struct OfNode {
    pub domain_id: Option<DomainId>,
    pub certificate: Stored,
}

/// The node's certificates: its own first, then by name.
pub async fn of_node(db: impl sqlx::PgExecutor<'_>, node: NodeId) -> Result<Vec<OfNode>> {
    sqlx::query!(
        "select domain_id, names, challenge, state, not_after, error, retry_at, reported_at
         from node_certificates where node_id = $1
         order by domain_id is not null, names[1]",
        node.0
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        Ok(OfNode {
            domain_id: r.domain_id.map(DomainId),
            certificate: Stored::from_columns(
                r.names,
                &r.challenge,
                &r.state,
                r.not_after,
                r.error,
                r.retry_at,
                r.reported_at,
            )?,
        })
    })
    .collect()
}

/// A certificate in trouble, with its node.
#[derive(Debug, Clone)]
pub struct Trouble {
    pub node_id: NodeId,
    pub node_name: String,
    /// `None` for the node's own host name.
    pub domain_id: Option<DomainId>,
    pub certificate: Stored,
}

/// Certificates in trouble across every node: failed, or with an error from their last attempt
/// (a served one whose renewal fails, one waiting for DNS that the CA could not check). The
/// latest reports first, at most `limit`; and how many there are in all.
pub async fn in_trouble(db: impl sqlx::PgExecutor<'_>, limit: i64) -> Result<(Vec<Trouble>, i64)> {
    let rows = sqlx::query!(
        r#"select c.node_id, n.name as node_name, c.domain_id, c.names, c.challenge, c.state, c.not_after,
                  c.error, c.retry_at, c.reported_at, count(*) over () as "total!"
           from node_certificates c join nodes n on n.id = c.node_id
           where c.state = 'failed' or c.error is not null
           order by c.reported_at desc, n.name, c.names[1]
           limit $1"#,
        limit
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let troubles = rows
        .into_iter()
        .map(|r| {
            Ok(Trouble {
                node_id: NodeId(r.node_id),
                node_name: r.node_name,
                domain_id: r.domain_id.map(DomainId),
                certificate: Stored::from_columns(
                    r.names,
                    &r.challenge,
                    &r.state,
                    r.not_after,
                    r.error,
                    r.retry_at,
                    r.reported_at,
                )?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((troubles, total))
}
