//! Server-side sessions. The cookie holds a random token; the table holds its digest.

use sqlx::PgPool;
use time::OffsetDateTime;

use super::members::{to_member, Member};
use crate::error::Result;
use crate::model::ids::MemberId;
use crate::model::secret::{self, Token};

pub struct Session {
    pub member_id: MemberId,
    pub mfa_pending: bool,
    pub last_seen_at: OffsetDateTime,
}

pub async fn create(
    pool: &PgPool,
    member: MemberId,
    mfa_pending: bool,
    hours: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Token> {
    let token = Token::generate();
    // A session still owing its second factor lives ten minutes at most.
    let minutes = if mfa_pending { 10 } else { hours * 60 };
    sqlx::query!(
        "insert into sessions (token_hash, member_id, mfa_pending, expires_at, ip, user_agent)
         values ($1, $2, $3, now() + make_interval(mins => $4::int), $5, $6)",
        token.digest(),
        member.0,
        mfa_pending,
        i32::try_from(minutes).unwrap_or(i32::MAX),
        ip,
        user_agent.map(|ua| ua.chars().take(300).collect::<String>())
    )
    .execute(pool)
    .await?;
    Ok(token)
}

/// The live session for a presented cookie value, if any. Sessions of members who are not
/// active are not live.
pub async fn find(db: impl sqlx::PgExecutor<'_>, token: &str) -> Result<Option<Session>> {
    let r = sqlx::query!(
        "select s.member_id, s.mfa_pending, s.last_seen_at from sessions s
         join members m on m.id = s.member_id
         where s.token_hash = $1 and s.expires_at > now() and m.status = 'active'",
        secret::digest(token)
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| Session {
        member_id: MemberId(r.member_id),
        mfa_pending: r.mfa_pending,
        last_seen_at: r.last_seen_at,
    }))
}

/// A live session and its member.
pub struct SignedIn {
    pub member: Member,
    /// The session passed the password but still owes its second factor.
    pub mfa_pending: bool,
    pub last_seen_at: OffsetDateTime,
}

/// The live session for a presented cookie value, with its member: one query, since every
/// signed-in page asks. Sessions of members who are not active are not live.
pub async fn signed_in(db: impl sqlx::PgExecutor<'_>, token: &str) -> Result<Option<SignedIn>> {
    let r = sqlx::query!(
        "select s.mfa_pending, s.last_seen_at,
                m.id, m.email, m.display_name, m.is_admin, m.plan_id, p.name as \"plan_name?\",
                m.status, m.delete_after, m.totp_enabled_at is not null as \"totp_enabled!\",
                m.locale, m.node_id, m.created_at
         from sessions s join members m on m.id = s.member_id
         left join plans p on p.id = m.plan_id
         where s.token_hash = $1 and s.expires_at > now() and m.status = 'active'",
        secret::digest(token)
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| SignedIn {
        mfa_pending: r.mfa_pending,
        last_seen_at: r.last_seen_at,
        member: to_member!(r),
    }))
}

pub async fn touch(db: impl sqlx::PgExecutor<'_>, token: &str) -> Result<()> {
    sqlx::query!(
        "update sessions set last_seen_at = now() where token_hash = $1",
        secret::digest(token)
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(pool: &PgPool, token: &str) -> Result<()> {
    sqlx::query!(
        "delete from sessions where token_hash = $1",
        secret::digest(token)
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn prune(pool: &PgPool) -> Result<u64> {
    Ok(
        sqlx::query!("delete from sessions where expires_at < now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub struct SessionInfo {
    pub token_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The member's live, fully signed-in sessions, most recently active first.
pub async fn list(pool: &PgPool, member: MemberId) -> Result<Vec<SessionInfo>> {
    Ok(sqlx::query_as!(
        SessionInfo,
        "select token_hash, created_at, last_seen_at, ip, user_agent from sessions
         where member_id = $1 and not mfa_pending and expires_at > now()
         order by last_seen_at desc",
        member.0
    )
    .fetch_all(pool)
    .await?)
}

/// Signs the member out everywhere but the session `keep` (its token digest): how many
/// sessions ended.
pub async fn delete_others(
    db: impl sqlx::PgExecutor<'_>,
    member: MemberId,
    keep: &[u8],
) -> Result<u64> {
    Ok(sqlx::query!(
        "delete from sessions where member_id = $1 and token_hash <> $2",
        member.0,
        keep
    )
    .execute(db)
    .await?
    .rows_affected())
}
