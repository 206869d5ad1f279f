//! Member accounts: lookup, admin listing, plan changes, suspension, two-step deletion,
//! password and second-factor state, and usage against the plan.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;
use web::Reason;

use super::domains::Summary;
use super::nodes::NodeStatus;
use crate::error::{Error, Result};
use crate::model::ids::{DomainId, MemberId, NodeId, PlanId};
use crate::model::plan::{Limits, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Suspended,
    Deleting,
}

impl Status {
    pub(super) fn from_db(s: &str) -> Self {
        match s {
            "suspended" => Status::Suspended,
            "deleting" => Status::Deleting,
            _ => Status::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Deleting => "deleting",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: MemberId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub plan_id: Option<PlanId>,
    pub plan_name: Option<String>,
    pub status: Status,
    pub delete_after: Option<OffsetDateTime>,
    pub totp_enabled: bool,
    pub locale: Option<String>,
    /// The node that serves the member's mail; null until a node has joined.
    pub node_id: Option<NodeId>,
    pub created_at: OffsetDateTime,
}

// Every query that reads a member (here, and with a session or an API token in `sessions` and
// `api_tokens`) selects the same columns; this maps them.
macro_rules! to_member {
    ($r:expr) => {
        $crate::db::members::Member {
            id: $crate::model::ids::MemberId($r.id),
            email: $r.email,
            display_name: $r.display_name,
            is_admin: $r.is_admin,
            plan_id: $r.plan_id.map($crate::model::ids::PlanId),
            plan_name: $r.plan_name,
            status: $crate::db::members::Status::from_db(&$r.status),
            delete_after: $r.delete_after,
            totp_enabled: $r.totp_enabled,
            locale: $r.locale,
            node_id: $r.node_id.map($crate::model::ids::NodeId),
            created_at: $r.created_at,
        }
    };
}
pub(super) use to_member;

pub async fn get(db: impl sqlx::PgExecutor<'_>, id: MemberId) -> Result<Member> {
    let r = sqlx::query!(
        "select m.id, m.email, m.display_name, m.is_admin, m.plan_id, p.name as \"plan_name?\",
                m.status, m.delete_after, m.totp_enabled_at is not null as \"totp_enabled!\",
                m.locale, m.node_id, m.created_at
         from members m left join plans p on p.id = m.plan_id where m.id = $1",
        id.0
    )
    .fetch_one(db)
    .await?;
    Ok(to_member!(r))
}

/// The password hash and second-factor state needed to log a member in.
pub struct Credentials {
    pub id: MemberId,
    pub password_hash: String,
    pub status: Status,
    pub totp_enabled: bool,
}

pub async fn credentials_by_email(pool: &PgPool, email: &str) -> Result<Option<Credentials>> {
    let r = sqlx::query!(
        "select id, password_hash, status, totp_enabled_at is not null as \"totp!\"
         from members where lower(email) = lower($1)",
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(r.map(|r| Credentials {
        id: MemberId(r.id),
        password_hash: r.password_hash,
        status: Status::from_db(&r.status),
        totp_enabled: r.totp,
    }))
}

pub async fn password_hash(pool: &PgPool, id: MemberId) -> Result<String> {
    Ok(
        sqlx::query_scalar!("select password_hash from members where id = $1", id.0)
            .fetch_one(pool)
            .await?,
    )
}

pub struct Page {
    pub members: Vec<Member>,
    pub total: i64,
}

/// Members a page of the list shows (pages, the API and the command line alike).
pub const PAGE_SIZE: i64 = 50;

/// Admin listing: search in address and name, ordered by address, paged, with the number of
/// members found. One query on the page's connection: without a search, an index scan of the
/// page (`members_email_key`) and a count of the table; with one, a single pass over the
/// members that match. A page past the end asks for the count alone.
pub async fn list(pool: &PgPool, query: &str, offset: i64, limit: i64) -> Result<Page> {
    let mut conn = pool.acquire().await?;
    let (members, total) = if query.is_empty() {
        let rows = sqlx::query!(
            "select m.id, m.email, m.display_name, m.is_admin, m.plan_id, p.name as \"plan_name?\",
                    m.status, m.delete_after, m.totp_enabled_at is not null as \"totp_enabled!\",
                    m.locale, m.node_id, m.created_at,
                    (select count(*) from members) as \"total!\"
             from members m left join plans p on p.id = m.plan_id
             order by lower(m.email) offset $1 limit $2",
            offset,
            limit
        )
        .fetch_all(&mut *conn)
        .await?;
        let total = rows.first().map(|r| r.total);
        (rows.into_iter().map(|r| to_member!(r)).collect(), total)
    } else {
        let pattern = like_pattern(query);
        let rows = sqlx::query!(
            "select m.id, m.email, m.display_name, m.is_admin, m.plan_id, p.name as \"plan_name?\",
                    m.status, m.delete_after, m.totp_enabled_at is not null as \"totp_enabled!\",
                    m.locale, m.node_id, m.created_at, count(*) over () as \"total!\"
             from members m left join plans p on p.id = m.plan_id
             where m.email ilike $1 or m.display_name ilike $1
             order by lower(m.email) offset $2 limit $3",
            pattern,
            offset,
            limit
        )
        .fetch_all(&mut *conn)
        .await?;
        let total = rows.first().map(|r| r.total);
        (rows.into_iter().map(|r| to_member!(r)).collect(), total)
    };
    let total = match total {
        Some(n) => n,
        None => count_matching(&mut conn, query).await?,
    };
    Ok(Page { members, total })
}

/// `query` as an ILIKE pattern that finds it anywhere, its own `%`, `_` and `\` taken literally.
fn like_pattern(query: &str) -> String {
    format!(
        "%{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// How many members the admin listing finds for `query` (every member for an empty one).
async fn count_matching(conn: &mut PgConnection, query: &str) -> Result<i64> {
    let pattern = like_pattern(query);
    Ok(sqlx::query_scalar!(
        "select count(*) from members where email ilike $1 or display_name ilike $1",
        pattern
    )
    .fetch_one(conn)
    .await?
    .unwrap_or(0))
}

pub async fn count(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar!("select count(*) from members")
        .fetch_one(pool)
        .await?
        .unwrap_or(0))
}

/// Inserts a member inside a caller's transaction (setup, invitation acceptance). The member
/// is placed on the joined node hosting the fewest members, if any node has joined yet.
pub async fn insert(
    conn: &mut PgConnection,
    id: MemberId,
    email: &str,
    display_name: &str,
    password_hash: &str,
    is_admin: bool,
    plan: Option<PlanId>,
) -> Result<()> {
    sqlx::query!(
        "insert into members (id, email, display_name, password_hash, is_admin, plan_id, node_id)
         values ($1, $2, $3, $4, $5, $6,
                 (select n.id from nodes n where n.credential_hash is not null
                  order by (select count(*) from members m where m.node_id = n.id), n.created_at, n.id
                  limit 1))",
        id.0,
        email,
        display_name,
        password_hash,
        is_admin,
        plan.map(|p| p.0)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the member row for the rest of the transaction and returns its plan's limits. Every
/// creation that counts against the plan takes this lock first, so two concurrent requests
/// cannot both take the last slot. `for no key update`, like [`super::domains::lock_owned`]:
/// rows that only refer to the member are not held up by it.
pub async fn lock_limits(conn: &mut PgConnection, member: MemberId) -> Result<Limits> {
    let r = sqlx::query!(
        "select p.max_domains as \"d?\", p.max_mailboxes as \"m?\", p.max_aliases as \"a?\",
                p.max_xmpp_accounts as \"x?\", p.storage_bytes as \"s?\", m.status
         from members m left join plans p on p.id = m.plan_id where m.id = $1
         for no key update of m",
        member.0
    )
    .fetch_one(&mut *conn)
    .await?;
    if r.status != "active" {
        return Err(Error::Forbidden(Reason::Suspended));
    }
    Ok(match (r.d, r.m, r.a, r.x, r.s) {
        (Some(d), Some(m), Some(a), Some(x), Some(s)) => Limits {
            max_domains: d.into(),
            max_mailboxes: m.into(),
            max_aliases: a.into(),
            max_xmpp_accounts: x.into(),
            storage_bytes: s,
        },
        _ => Limits::NONE,
    })
}

pub async fn usage(db: &mut PgConnection, member: MemberId) -> Result<Usage> {
    let r = sqlx::query!(
        "select
            (select count(*) from domains where member_id = $1) as \"domains!\",
            (select count(*) from mailboxes where member_id = $1) as \"mailboxes!\",
            (select count(*) from aliases where member_id = $1) as \"aliases!\",
            (select count(*) from xmpp_accounts where member_id = $1) as \"xmpp!\",
            (select coalesce(sum(quota_bytes), 0)::bigint from mailboxes where member_id = $1) as \"storage!\",
            (select sum(used_bytes)::bigint from mailboxes where member_id = $1) as stored",
        member.0
    )
    .fetch_one(db)
    .await?;
    Ok(Usage {
        domains: r.domains,
        mailboxes: r.mailboxes,
        aliases: r.aliases,
        xmpp_accounts: r.xmpp,
        storage_bytes: r.storage,
        stored_bytes: r.stored,
    })
}

/// What a member holds against their plan, where their changes stand on their node, and their
/// domains (the dashboard's list). A page, not a decision: changes check their limits under
/// `lock_limits`.
pub struct Overview {
    pub usage: Usage,
    pub limits: Limits,
    /// `None` while no node hosts the member.
    pub node: Option<NodeStatus>,
    /// By name.
    pub domains: Vec<Summary>,
}

/// The member's [`Overview`]: one query (the dashboard, `GET /api/v1/me` and the admin's view
/// of a member each show it on every request). A member without a plan has
/// [`Limits::NONE`]; a member that is gone has nothing.
pub async fn overview(db: impl sqlx::PgExecutor<'_>, member: MemberId) -> Result<Overview> {
    let Some(r) = sqlx::query!(
        r#"select p.max_domains as "max_domains?", p.max_mailboxes as "max_mailboxes?",
                  p.max_aliases as "max_aliases?", p.max_xmpp_accounts as "max_xmpp?",
                  p.storage_bytes as "max_storage?",
                  n.desired_generation as "desired_generation?", n.observed_generation,
                  d.count as "domains!", d.ids as "domain_ids!", d.names as "domain_names!",
                  d.statuses as "domain_statuses!",
                  d.cert_states as "cert_states!: Vec<Option<String>>",
                  d.cert_not_after as "cert_not_after!: Vec<Option<OffsetDateTime>>",
                  mb.count as "mailboxes!", mb.quota as "storage!", mb.used as stored,
                  (select count(*) from aliases where member_id = m.id) as "aliases!",
                  (select count(*) from xmpp_accounts where member_id = m.id) as "xmpp!"
           from members m
           left join plans p on p.id = m.plan_id
           left join nodes n on n.id = m.node_id
           cross join lateral (
               -- At most one certificate row per domain and node (its unique key).
               select count(*) as count,
                      coalesce(array_agg(dd.id order by dd.name), '{}') as ids,
                      coalesce(array_agg(dd.name order by dd.name), '{}') as names,
                      coalesce(array_agg(dd.status order by dd.name), '{}') as statuses,
                      coalesce(array_agg(nc.state order by dd.name), '{}') as cert_states,
                      coalesce(array_agg(nc.not_after order by dd.name), '{}') as cert_not_after
               from domains dd
               left join node_certificates nc on nc.domain_id = dd.id and nc.node_id = m.node_id
               where dd.member_id = m.id) d
           cross join lateral (
               select count(*) as count, coalesce(sum(quota_bytes), 0)::bigint as quota,
                      sum(used_bytes)::bigint as used
               from mailboxes where member_id = m.id) mb
           where m.id = $1"#,
        member.0
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(Overview {
            usage: Usage::default(),
            limits: Limits::NONE,
            node: None,
            domains: Vec::new(),
        });
    };
    let limits = match (
        r.max_domains,
        r.max_mailboxes,
        r.max_aliases,
        r.max_xmpp,
        r.max_storage,
    ) {
        (Some(d), Some(m), Some(a), Some(x), Some(s)) => Limits {
            max_domains: d.into(),
            max_mailboxes: m.into(),
            max_aliases: a.into(),
            max_xmpp_accounts: x.into(),
            storage_bytes: s,
        },
        _ => Limits::NONE,
    };
    Ok(Overview {
        usage: Usage {
            domains: r.domains,
            mailboxes: r.mailboxes,
            aliases: r.aliases,
            xmpp_accounts: r.xmpp,
            storage_bytes: r.storage,
            stored_bytes: r.stored,
        },
        limits,
        node: r
            .desired_generation
            .map(|desired| NodeStatus::new(desired, r.observed_generation)),
        domains: r
            .domain_ids
            .into_iter()
            .zip(r.domain_names)
            .zip(r.domain_statuses)
            .zip(r.cert_states.iter().zip(r.cert_not_after))
            .map(|(((id, name), status), (state, not_after))| {
                let certificate = state.as_deref().map(|s| (s, not_after));
                Summary::new(DomainId(id), &name, status, certificate)
            })
            .collect::<Result<_>>()?,
    })
}

/// Gives `member` the plan `plan`; whether the member exists.
pub async fn update_plan(conn: &mut PgConnection, member: MemberId, plan: PlanId) -> Result<bool> {
    let n = sqlx::query!(
        "update members set plan_id = $2 where id = $1",
        member.0,
        plan.0
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Whether `node` has joined (`None`: no such node), share-locked so it cannot vanish before a
/// member row points at it.
pub async fn node_joined(conn: &mut PgConnection, node: NodeId) -> Result<Option<bool>> {
    Ok(sqlx::query_scalar!(
        "select credential_hash is not null as \"joined!\" from nodes where id = $1 for share",
        node.0
    )
    .fetch_optional(conn)
    .await?)
}

/// Locks the member's row: the node hosting it (`None` inside: none yet); not found if there
/// is no such member.
pub async fn lock_node(conn: &mut PgConnection, member: MemberId) -> Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select node_id from members where id = $1 for update",
        member.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

/// Hosts `member` on `node` (the placement trigger bumps both nodes' generations).
pub async fn update_node(conn: &mut PgConnection, member: MemberId, node: NodeId) -> Result<()> {
    sqlx::query!(
        "update members set node_id = $2 where id = $1",
        member.0,
        node.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a non-admin member from status `from` to `to`; whether it was in `from`.
pub async fn update_status(
    conn: &mut PgConnection,
    member: MemberId,
    from: &str,
    to: &str,
) -> Result<bool> {
    let n = sqlx::query!(
        "update members set status = $3 where id = $1 and status = $2 and not is_admin",
        member.0,
        from,
        to
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Signs the member out everywhere.
pub async fn delete_sessions(conn: &mut PgConnection, member: MemberId) -> Result<()> {
    sqlx::query!("delete from sessions where member_id = $1", member.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every API token the member holds: how many.
pub async fn revoke_api_tokens(conn: &mut PgConnection, member: MemberId) -> Result<u64> {
    Ok(sqlx::query!(
        "update api_tokens set revoked_at = now() where member_id = $1 and revoked_at is null",
        member.0
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes every app password the member holds: how many. They leave the node's desired state
/// at once (the placement trigger bumps the node).
pub async fn revoke_app_passwords(conn: &mut PgConnection, member: MemberId) -> Result<u64> {
    Ok(sqlx::query!(
        "update app_passwords set revoked_at = now() where member_id = $1 and revoked_at is null",
        member.0
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Schedules a non-admin member not yet being deleted for purge after `grace_days`: when
/// (`None`: an admin, or already being deleted).
pub async fn schedule_deletion(
    conn: &mut PgConnection,
    member: MemberId,
    grace_days: i64,
) -> Result<Option<OffsetDateTime>> {
    Ok(sqlx::query_scalar!(
        "update members set status = 'deleting',
                delete_after = now() + make_interval(days => $2::int)
         where id = $1 and status <> 'deleting' and not is_admin returning delete_after",
        member.0,
        i32::try_from(grace_days).unwrap_or(i32::MAX)
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Takes a member being deleted back (suspended); whether it was being deleted.
pub async fn unschedule_deletion(conn: &mut PgConnection, member: MemberId) -> Result<bool> {
    let n = sqlx::query!(
        "update members set status = 'suspended', delete_after = null
         where id = $1 and status = 'deleting'",
        member.0
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Locks one member whose deletion grace period is over, skipping those another control plane
/// is purging: its id and email; `None` when there is none left.
pub async fn lock_due_for_purge(conn: &mut PgConnection) -> Result<Option<(MemberId, String)>> {
    Ok(sqlx::query!(
        "select id, email from members where status = 'deleting' and delete_after <= now()
             limit 1 for update skip locked"
    )
    .fetch_optional(conn)
    .await?
    .map(|due| (MemberId(due.id), due.email)))
}

/// Deletes the member `member` for good.
pub async fn delete(conn: &mut PgConnection, member: MemberId) -> Result<()> {
    sqlx::query!("delete from members where id = $1", member.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the member's password (its hash).
pub async fn update_password(
    conn: &mut PgConnection,
    member: MemberId,
    password_hash: &str,
) -> Result<()> {
    sqlx::query!(
        "update members set password_hash = $2 where id = $1",
        member.0,
        password_hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Signs the member out everywhere but the session `keep` (its token digest), if given.
pub async fn delete_sessions_but(
    conn: &mut PgConnection,
    member: MemberId,
    keep: Option<&[u8]>,
) -> Result<()> {
    sqlx::query!(
        "delete from sessions where member_id = $1 and ($2::bytea is null or token_hash <> $2)",
        member.0,
        keep
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_locale(pool: &PgPool, member: MemberId, locale: &str) -> Result<()> {
    sqlx::query!(
        "update members set locale = $2 where id = $1",
        member.0,
        locale
    )
    .execute(pool)
    .await?;
    Ok(())
}
