//! Member domains. A domain is unique across the collective and starts as
//! `pending_verification`; the DNS issue adds the check that activates it.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::audit::{self, Actor};
use super::members;
use crate::domain::ids::{DomainId, MemberId};
use crate::domain::plan::Resource;
use crate::domain::report::DkimRecord;
use crate::domain::secret::Token;
use crate::domain::text::Text;
use crate::domain::DomainName;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Domain {
    pub id: DomainId,
    /// ASCII (punycode) form.
    pub name: String,
    /// Unicode form, for display.
    pub display_name: String,
    /// `pending_verification` or `active`.
    pub status: String,
    /// Value of the TXT record `_ruche-challenge.<domain>` that proves ownership.
    pub verification_token: String,
    /// The DKIM record to publish: a TXT record `name` with `value`. Null until the node that
    /// hosts the domain has made its key and reported it.
    pub dkim: Option<DkimRecord>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
}

/// The DKIM key is shown only when the node that reported it hosts the member now: after a
/// move, the old node's key no longer signs anything.
fn dkim(name: &str, selector: Option<String>, public_key: Option<String>) -> Option<DkimRecord> {
    match (selector, public_key) {
        (Some(s), Some(k)) => Some(DkimRecord::new(&s, name, &k)),
        _ => None,
    }
}

fn display(name: &str) -> String {
    DomainName::parse(name)
        .map(|d| d.to_unicode())
        .unwrap_or_else(|_| name.to_owned())
}

pub async fn list(pool: &PgPool, member: MemberId) -> Result<Vec<Domain>> {
    let rows = sqlx::query!(
        "select d.id, d.name, d.status, d.verification_token, d.created_at,
                k.selector as \"selector?\", k.public_key as \"public_key?\"
         from domains d join members m on m.id = d.member_id
         left join dkim_keys k on k.domain_id = d.id and k.node_id = m.node_id
         where d.member_id = $1 order by d.name",
        member.0
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Domain {
            id: DomainId(r.id),
            display_name: display(&r.name),
            dkim: dkim(&r.name, r.selector, r.public_key),
            name: r.name,
            status: r.status,
            verification_token: r.verification_token,
            created_at: r.created_at,
        })
        .collect())
}

/// A member's own domain; another member's domain is simply not found.
pub async fn get(pool: &PgPool, member: MemberId, id: DomainId) -> Result<Domain> {
    let r = sqlx::query!(
        "select d.id, d.name, d.status, d.verification_token, d.created_at,
                k.selector as \"selector?\", k.public_key as \"public_key?\"
         from domains d join members m on m.id = d.member_id
         left join dkim_keys k on k.domain_id = d.id and k.node_id = m.node_id
         where d.id = $1 and d.member_id = $2",
        id.0,
        member.0
    )
    .fetch_one(pool)
    .await?;
    Ok(Domain {
        id: DomainId(r.id),
        display_name: display(&r.name),
        dkim: dkim(&r.name, r.selector, r.public_key),
        name: r.name,
        status: r.status,
        verification_token: r.verification_token,
        created_at: r.created_at,
    })
}

/// Locks a member's own domain row for the transaction and returns its name. Creating an
/// address takes this lock, so the check that a name is free in both mailboxes and aliases
/// cannot race with another creation on the same domain.
pub async fn lock_owned(conn: &mut PgConnection, member: MemberId, id: DomainId) -> Result<String> {
    Ok(sqlx::query_scalar!(
        "select name from domains where id = $1 and member_id = $2 for update",
        id.0,
        member.0
    )
    .fetch_one(conn)
    .await?)
}

/// Fails with a conflict when `local` is already a mailbox or an alias on the domain.
pub async fn address_free(conn: &mut PgConnection, id: DomainId, local: &str) -> Result<()> {
    let taken = sqlx::query_scalar!(
        "select exists (select 1 from mailboxes where domain_id = $1 and local_part = $2)
             or exists (select 1 from aliases where domain_id = $1 and source = $2) as \"t!\"",
        id.0,
        local
    )
    .fetch_one(conn)
    .await?;
    if taken {
        return Err(Error::Conflict(Text::new(
            "this address is already taken",
            "cette adresse est déjà prise",
        )));
    }
    Ok(())
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    name: &DomainName,
) -> Result<Domain> {
    let mut tx = pool.begin().await?;
    let limits = members::lock_limits(&mut tx, member).await?;
    let usage = members::usage(&mut tx, member).await?;
    limits.check(&usage, Resource::Domain, 0)?;
    let id = DomainId::new();
    let challenge = format!("ruche-verify={}", Token::generate().expose());
    let created_at = sqlx::query_scalar!(
        "insert into domains (id, member_id, name, verification_token) values ($1, $2, $3, $4)
         returning created_at",
        id.0,
        member.0,
        name.as_str(),
        challenge
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "domain.create",
        Some(member),
        serde_json::json!({ "domain": id, "name": name.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Domain {
        id,
        name: name.as_str().to_owned(),
        display_name: name.to_unicode(),
        status: "pending_verification".to_owned(),
        verification_token: challenge,
        dkim: None,
        created_at,
    })
}

/// Removes a domain with every mailbox, alias and XMPP account on it.
pub async fn delete(pool: &PgPool, actor: &Actor, member: MemberId, id: DomainId) -> Result<()> {
    let mut tx = pool.begin().await?;
    let name = sqlx::query_scalar!(
        "delete from domains where id = $1 and member_id = $2 returning name",
        id.0,
        member.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    audit::record(
        &mut *tx,
        actor,
        "domain.delete",
        Some(member),
        serde_json::json!({ "domain": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
