//! Plans, defined by the admin.

use sqlx::PgPool;

use crate::error::Result;
use crate::model::ids::PlanId;
use crate::model::plan::{Limits, Plan};

pub struct NewPlan {
    pub name: String,
    pub limits: Limits,
}

fn to_plan(id: uuid::Uuid, name: String, d: i32, m: i32, a: i32, x: i32, s: i64) -> Plan {
    Plan {
        id: PlanId(id),
        name,
        limits: Limits {
            max_domains: d.into(),
            max_mailboxes: m.into(),
            max_aliases: a.into(),
            max_xmpp_accounts: x.into(),
            storage_bytes: s,
        },
    }
}

pub async fn list(pool: &PgPool) -> Result<Vec<Plan>> {
    let rows = sqlx::query!(
        "select id, name, max_domains, max_mailboxes, max_aliases, max_xmpp_accounts, storage_bytes
         from plans order by name"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            to_plan(
                r.id,
                r.name,
                r.max_domains,
                r.max_mailboxes,
                r.max_aliases,
                r.max_xmpp_accounts,
                r.storage_bytes,
            )
        })
        .collect())
}

pub async fn get(pool: &PgPool, id: PlanId) -> Result<Plan> {
    let r = sqlx::query!(
        "select id, name, max_domains, max_mailboxes, max_aliases, max_xmpp_accounts, storage_bytes
         from plans where id = $1",
        id.0
    )
    .fetch_one(pool)
    .await?;
    Ok(to_plan(
        r.id,
        r.name,
        r.max_domains,
        r.max_mailboxes,
        r.max_aliases,
        r.max_xmpp_accounts,
        r.storage_bytes,
    ))
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> Result<Option<PlanId>> {
    Ok(
        sqlx::query_scalar!("select id from plans where name = $1", name)
            .fetch_optional(pool)
            .await?
            .map(PlanId),
    )
}

fn clamp(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Stores a new plan `id`.
pub async fn insert(executor: impl sqlx::PgExecutor<'_>, id: PlanId, plan: &NewPlan) -> Result<()> {
    let l = &plan.limits;
    sqlx::query!(
        "insert into plans (id, name, max_domains, max_mailboxes, max_aliases, max_xmpp_accounts, storage_bytes)
         values ($1, $2, $3, $4, $5, $6, $7)",
        id.0,
        plan.name,
        clamp(l.max_domains),
        clamp(l.max_mailboxes),
        clamp(l.max_aliases),
        clamp(l.max_xmpp_accounts),
        l.storage_bytes
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Renames the plan `id` and sets its limits; whether it exists.
pub async fn update(
    executor: impl sqlx::PgExecutor<'_>,
    id: PlanId,
    plan: &NewPlan,
) -> Result<bool> {
    let l = &plan.limits;
    let updated = sqlx::query!(
        "update plans set name = $2, max_domains = $3, max_mailboxes = $4, max_aliases = $5,
         max_xmpp_accounts = $6, storage_bytes = $7 where id = $1",
        id.0,
        plan.name,
        clamp(l.max_domains),
        clamp(l.max_mailboxes),
        clamp(l.max_aliases),
        clamp(l.max_xmpp_accounts),
        l.storage_bytes
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(updated > 0)
}
