//! What an admin does to a member: give them a plan, host them on a node, suspend or restore
//! them, schedule their deletion or take it back; and the purge once the grace period is over.
//! Each is one transaction with its audit entry; the admin pages and the API both call these.

use sqlx::PgPool;
use time::OffsetDateTime;
use web::Reason;

use crate::db::audit::{self, Actor};
use crate::db::members;
use crate::error::{Error, Result};
use crate::model::ids::{MemberId, NodeId, PlanId};

/// The actions on a member's status, as their paths name them
/// (`/admin/members/{id}/{action}`, and the API's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Suspend,
    Unsuspend,
    Delete,
    CancelDelete,
}

impl Action {
    pub fn parse(name: &str) -> Option<Action> {
        match name {
            "suspend" => Some(Action::Suspend),
            "unsuspend" => Some(Action::Unsuspend),
            "delete" => Some(Action::Delete),
            "cancel-delete" => Some(Action::CancelDelete),
            _ => None,
        }
    }
}

/// Does `action` to `member`; a deletion waits `grace_days` before the purge.
pub async fn act(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    action: Action,
    grace_days: i64,
) -> Result<()> {
    match action {
        Action::Suspend => set_suspended(pool, actor, member, true).await,
        Action::Unsuspend => set_suspended(pool, actor, member, false).await,
        Action::Delete => request_deletion(pool, actor, member, grace_days)
            .await
            .map(|_| ()),
        Action::CancelDelete => cancel_deletion(pool, actor, member).await,
    }
}

pub async fn set_plan(pool: &PgPool, actor: &Actor, member: MemberId, plan: PlanId) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !members::update_plan(&mut tx, member, plan).await? {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut *tx,
        actor,
        "member.plan",
        Some(member),
        serde_json::json!({ "plan": plan }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves the member to another node (or hosts them there for the first time). Only a node that
/// has joined can host anyone. The placement trigger bumps both nodes' generations: the old one
/// stops serving the member, the new one starts.
pub async fn set_node(pool: &PgPool, actor: &Actor, member: MemberId, node: NodeId) -> Result<()> {
    let mut tx = pool.begin().await?;
    match members::node_joined(&mut tx, node).await? {
        None => return Err(Error::field("node_id", Reason::NoSuchNode)),
        Some(false) => return Err(Error::field("node_id", Reason::NodeNotJoined)),
        Some(true) => {}
    }
    let from = members::lock_node(&mut tx, member).await?;
    members::update_node(&mut tx, member, node).await?;
    audit::record(
        &mut *tx,
        actor,
        "member.node",
        Some(member),
        serde_json::json!({ "from": from, "to": node }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Suspending signs the member out everywhere and revokes nothing else: unsuspending restores
/// the account as it was.
async fn set_suspended(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    suspended: bool,
) -> Result<()> {
    let (from, to) = if suspended {
        ("active", "suspended")
    } else {
        ("suspended", "active")
    };
    let mut tx = pool.begin().await?;
    if !members::update_status(&mut tx, member, from, to).await? {
        return Err(Error::Conflict(if suspended {
            Reason::CannotSuspend
        } else {
            Reason::CannotReactivate
        }));
    }
    members::delete_sessions(&mut tx, member).await?;
    audit::record(
        &mut *tx,
        actor,
        if suspended {
            "member.suspend"
        } else {
            "member.unsuspend"
        },
        Some(member),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Step one of deletion: the account is locked and scheduled for purge after the grace
/// period; an admin can cancel until then. (Step two is the housekeeping's [`purge_due`].)
async fn request_deletion(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    grace_days: i64,
) -> Result<OffsetDateTime> {
    let mut tx = pool.begin().await?;
    let after = members::schedule_deletion(&mut tx, member, grace_days)
        .await?
        .ok_or_else(|| Error::Conflict(Reason::AdminOrBeingDeleted))?;
    members::delete_sessions(&mut tx, member).await?;
    members::revoke_api_tokens(&mut tx, member).await?;
    audit::record(
        &mut *tx,
        actor,
        "member.delete.request",
        Some(member),
        serde_json::json!({ "purge_after": after.unix_timestamp() }),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

async fn cancel_deletion(pool: &PgPool, actor: &Actor, member: MemberId) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !members::unschedule_deletion(&mut tx, member).await? {
        return Err(Error::Conflict(Reason::NotBeingDeleted));
    }
    audit::record(
        &mut *tx,
        actor,
        "member.delete.cancel",
        Some(member),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Step two of deletion, run by the housekeeping: purges the members whose grace period is
/// over, each in its own transaction with its audit entry; `skip locked` lets several control
/// planes share the work. How many went.
pub async fn purge_due(pool: &PgPool) -> Result<u64> {
    let mut purged = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some((member, email)) = members::lock_due_for_purge(&mut tx).await? else {
            tx.commit().await?;
            return Ok(purged);
        };
        members::delete(&mut tx, member).await?;
        audit::record(
            &mut *tx,
            &Actor {
                email: Some("(scheduled purge)".to_owned()),
                ..Actor::default()
            },
            "member.delete.purge",
            Some(member),
            serde_json::json!({ "email": email }),
        )
        .await?;
        tx.commit().await?;
        purged += 1;
    }
}
