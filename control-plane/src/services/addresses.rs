//! The addresses of a member's domain: a mailbox, an alias or an XMPP account created within the
//! member's plan, each in one transaction that locks the member's limits and the domain, checks
//! them, stores the address and writes its audit entry; each deleted, audited; and mailboxes and
//! XMPP accounts made public (WebFinger answers for them on the node) or not, audited.

use sqlx::{PgConnection, PgPool};

use crate::db::aliases::{self, Alias};
use crate::db::audit::{self, Actor};
use crate::db::mailboxes::{self, Mailbox};
use crate::db::xmpp::{self, XmppAccount};
use crate::db::{domains, members};
use crate::error::Result;
use crate::model::ids::{AliasId, DomainId, MailboxId, MemberId, XmppAccountId};
use crate::model::plan::Resource;
use crate::model::{AliasSource, EmailAddress, LocalPart, XmppNode};

/// Locks the member's limits and its domain `domain` (another member's is not found), and
/// checks that one more `resource` (of `quota_bytes`) fits the plan: the domain's name.
async fn room_for(
    conn: &mut PgConnection,
    member: MemberId,
    domain: DomainId,
    resource: Resource,
    quota_bytes: i64,
    address: Option<&str>,
) -> Result<String> {
    let limits = members::lock_limits(&mut *conn, member).await?;
    let domain_name = domains::lock_owned(&mut *conn, member, domain).await?;
    if let Some(local) = address {
        domains::address_free(&mut *conn, domain, local).await?;
    }
    let usage = members::usage(&mut *conn, member).await?;
    limits.check(&usage, resource, quota_bytes)?;
    Ok(domain_name)
}

pub async fn create_mailbox(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    local: &LocalPart,
    password_hash: &str,
    quota_bytes: i64,
) -> Result<Mailbox> {
    let mut tx = pool.begin().await?;
    let domain_name = room_for(
        &mut tx,
        member,
        domain,
        Resource::Mailbox,
        quota_bytes,
        Some(local.as_str()),
    )
    .await?;
    let id = MailboxId::new();
    let created_at = mailboxes::insert(
        &mut tx,
        member,
        domain,
        id,
        local,
        password_hash,
        quota_bytes,
    )
    .await?;
    let address = format!("{}@{}", local.as_str(), domain_name);
    audit::record(
        &mut *tx,
        actor,
        "mailbox.create",
        Some(member),
        serde_json::json!({ "mailbox": id, "address": address, "quota_bytes": quota_bytes }),
    )
    .await?;
    tx.commit().await?;
    Ok(Mailbox {
        id,
        domain_id: domain,
        address,
        local_part: local.as_str().to_owned(),
        quota_bytes,
        used_bytes: None,
        used_messages: None,
        usage_at: None,
        public: false,
        created_at,
    })
}

pub async fn create_alias(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    source: &AliasSource,
    targets: &[EmailAddress],
) -> Result<Alias> {
    let source = source.to_string();
    let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let mut tx = pool.begin().await?;
    let domain_name = room_for(&mut tx, member, domain, Resource::Alias, 0, Some(&source)).await?;
    let id = AliasId::new();
    let created_at = aliases::insert(&mut tx, member, domain, id, &source, &targets).await?;
    audit::record(
        &mut *tx,
        actor,
        "alias.create",
        Some(member),
        serde_json::json!({ "alias": id, "source": format!("{source}@{domain_name}"), "targets": targets }),
    )
    .await?;
    tx.commit().await?;
    Ok(Alias {
        id,
        domain_id: domain,
        source,
        targets,
        created_at,
    })
}

pub async fn create_xmpp(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    node: &XmppNode,
    password_hash: &str,
) -> Result<XmppAccount> {
    let mut tx = pool.begin().await?;
    let domain_name = room_for(&mut tx, member, domain, Resource::XmppAccount, 0, None).await?;
    let id = XmppAccountId::new();
    let created_at = xmpp::insert(&mut tx, member, domain, id, node, password_hash).await?;
    let jid = format!("{}@{}", node.as_str(), domain_name);
    audit::record(
        &mut *tx,
        actor,
        "xmpp.create",
        Some(member),
        serde_json::json!({ "account": id, "jid": jid }),
    )
    .await?;
    tx.commit().await?;
    Ok(XmppAccount {
        id,
        domain_id: domain,
        jid,
        node: node.as_str().to_owned(),
        public: false,
        created_at,
    })
}

/// Deletes one of the member's mailboxes (another member's is not found): the domain it was
/// on, whose page the member goes back to.
pub async fn delete_mailbox(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    id: MailboxId,
) -> Result<DomainId> {
    let mut tx = pool.begin().await?;
    let (local, domain) = mailboxes::delete(&mut tx, member, id).await?;
    audit::record(
        &mut *tx,
        actor,
        "mailbox.delete",
        Some(member),
        serde_json::json!({ "mailbox": id, "local_part": local }),
    )
    .await?;
    tx.commit().await?;
    Ok(domain)
}

/// Deletes one of the member's aliases (another member's is not found): the domain it was on.
pub async fn delete_alias(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    id: AliasId,
) -> Result<DomainId> {
    let mut tx = pool.begin().await?;
    let (source, domain) = aliases::delete(&mut tx, member, id).await?;
    audit::record(
        &mut *tx,
        actor,
        "alias.delete",
        Some(member),
        serde_json::json!({ "alias": id, "source": source }),
    )
    .await?;
    tx.commit().await?;
    Ok(domain)
}

/// Deletes one of the member's XMPP accounts (another member's is not found): the domain it was
/// on.
pub async fn delete_xmpp(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    id: XmppAccountId,
) -> Result<DomainId> {
    let mut tx = pool.begin().await?;
    let (node, domain) = xmpp::delete(&mut tx, member, id).await?;
    audit::record(
        &mut *tx,
        actor,
        "xmpp.delete",
        Some(member),
        serde_json::json!({ "account": id, "node": node }),
    )
    .await?;
    tx.commit().await?;
    Ok(domain)
}

/// Makes one of the member's mailboxes on their domain `domain` public (WebFinger on the node
/// answers for it) or not (another member's, or one on another domain, is not found): the
/// mailbox as it is now. Setting the value it already has changes nothing, so it bumps no
/// generation and writes no audit entry.
pub async fn set_mailbox_public(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    id: MailboxId,
    public: bool,
) -> Result<Mailbox> {
    let mut tx = pool.begin().await?;
    let mut mailbox = mailboxes::lock_owned(&mut tx, member, domain, id).await?;
    if mailbox.public != public {
        mailboxes::set_public(&mut tx, member, id, public).await?;
        audit::record(
            &mut *tx,
            actor,
            "mailbox.public",
            Some(member),
            serde_json::json!({ "mailbox": id, "address": mailbox.address, "public": public }),
        )
        .await?;
        mailbox.public = public;
    }
    tx.commit().await?;
    Ok(mailbox)
}

/// Makes one of the member's XMPP accounts on their domain `domain` public or not, as
/// [`set_mailbox_public`] does a mailbox: the account as it is now.
pub async fn set_xmpp_public(
    pool: &PgPool,
    actor: &Actor,
    member: MemberId,
    domain: DomainId,
    id: XmppAccountId,
    public: bool,
) -> Result<XmppAccount> {
    let mut tx = pool.begin().await?;
    let mut account = xmpp::lock_owned(&mut tx, member, domain, id).await?;
    if account.public != public {
        xmpp::set_public(&mut tx, member, id, public).await?;
        audit::record(
            &mut *tx,
            actor,
            "xmpp.public",
            Some(member),
            serde_json::json!({ "account": id, "jid": account.jid, "public": public }),
        )
        .await?;
        account.public = public;
    }
    tx.commit().await?;
    Ok(account)
}
