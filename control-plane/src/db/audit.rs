//! The audit log: every state change, who did it, from where, written in the same transaction
//! as the change itself so the log and the data never disagree. Background rounds sign their
//! entries `Actor::round` (secondary placement, keys made for new nodes, domains verified); what
//! is only observed (the monitor's DNS checks, a heartbeat's usage and keys) is not audited.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;
use crate::model::ids::MemberId;

/// Who is acting: a signed-in member (or an API token's owner), the operator's CLI, or an
/// anonymous visitor (setup, accepting an invitation), with the client address when known.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub member_id: Option<MemberId>,
    pub email: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// A background round of the control plane (`what` names it in the log).
    pub fn round(what: &str) -> Self {
        Self {
            member_id: None,
            email: Some(format!("({what})")),
            ip: None,
        }
    }

    pub fn cli() -> Self {
        Self {
            member_id: None,
            email: Some("(command line)".to_owned()),
            ip: None,
        }
    }
}

pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    action: &str,
    subject: Option<MemberId>,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query!(
        "insert into audit_log (actor_id, actor_email, ip, action, subject_member_id, details)
         values ($1, $2, $3, $4, $5, $6)",
        actor.member_id.map(|m| m.0),
        actor.email,
        actor.ip,
        action,
        subject.map(|m| m.0),
        details,
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub subject_member_id: Option<Uuid>,
    pub details: serde_json::Value,
}

/// Newest first; `before` is the id of the last entry of the previous page (keyset paging).
pub async fn list(pool: &PgPool, before: Option<i64>, limit: i64) -> Result<Vec<Entry>> {
    Ok(sqlx::query_as!(
        Entry,
        "select id, at, actor_email, ip, action, subject_member_id, details from audit_log
         where ($1::bigint is null or id < $1) order by id desc limit $2",
        before,
        limit
    )
    .fetch_all(pool)
    .await?)
}

pub async fn list_for_member(pool: &PgPool, member: MemberId, limit: i64) -> Result<Vec<Entry>> {
    Ok(sqlx::query_as!(
        Entry,
        "select id, at, actor_email, ip, action, subject_member_id, details from audit_log
         where subject_member_id = $1 order by id desc limit $2",
        member.0,
        limit
    )
    .fetch_all(pool)
    .await?)
}
