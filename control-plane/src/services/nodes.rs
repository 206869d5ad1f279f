//! Nodes as the admin manages them: a node added waiting to join, its credential revoked, its
//! join token renewed (a node that lost its credential joins again); and a node joining with its
//! token. Each is one transaction with its audit entry; tokens and credentials are shown once.

use sqlx::PgPool;

use crate::db::audit::{self, Actor};
use crate::db::nodes::{self, Joining};
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::secret::Token;

/// How long a join token works.
pub const JOIN_HOURS: i64 = 24;

/// Adds a node waiting to join: its id and one-time join token.
pub async fn create(pool: &PgPool, actor: &Actor, name: &str) -> Result<(NodeId, Token)> {
    let id = NodeId::new();
    let token = Token::generate_join();
    let mut tx = pool.begin().await?;
    nodes::insert(&mut tx, id, name, &token, JOIN_HOURS).await?;
    audit::record(
        &mut *tx,
        actor,
        "node.create",
        None,
        serde_json::json!({ "node": id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// A node joins with its one-time join token (`Gone` if it is unknown, used or expired): its id
/// and its credential. A node that joins again with a token from a rotation keeps its id,
/// members and DNS role; its new credential replaces the old one.
pub async fn join(
    pool: &PgPool,
    token: &str,
    node: &Joining,
    ip: Option<String>,
) -> Result<(NodeId, Token)> {
    let credential = Token::generate();
    let mut tx = pool.begin().await?;
    let (id, name) = nodes::join(&mut tx, token, &credential, node)
        .await?
        .ok_or(Error::Gone)?;
    // Members created while no node existed (the first admin of a new box) go to the first
    // node that joins.
    nodes::host_unplaced_members(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        &Actor {
            member_id: None,
            email: Some(format!("(node {name})")),
            ip,
        },
        "node.join",
        None,
        serde_json::json!({ "node": id, "addresses": node.addresses, "version": node.version }),
    )
    .await?;
    tx.commit().await?;
    Ok((id, credential))
}

/// Revokes the node's credential (and any join token out for it) at once: its polls and
/// heartbeats get 401 from now on, it leaves DNS placement and hosts no new members. It keeps
/// serving what it last applied; [`rotate`] lets it join again.
pub async fn revoke(pool: &PgPool, actor: &Actor, node: NodeId) -> Result<()> {
    let mut tx = pool.begin().await?;
    let name = nodes::revoke(&mut tx, node).await?;
    audit::record(
        &mut *tx,
        actor,
        "node.revoke",
        None,
        serde_json::json!({ "node": node, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new one-time join token for `node`, valid [`JOIN_HOURS`]. The node's current credential,
/// if any, keeps working until the token is used: `node-agent join --force` with it replaces
/// the credential, so a routine rotation has no gap. A credential thought stolen is revoked
/// first ([`revoke`]), then rotated.
pub async fn rotate(pool: &PgPool, actor: &Actor, node: NodeId) -> Result<Token> {
    let token = Token::generate_join();
    let mut tx = pool.begin().await?;
    let name = nodes::rotate(&mut tx, node, &token, JOIN_HOURS).await?;
    audit::record(
        &mut *tx,
        actor,
        "node.rotate",
        None,
        serde_json::json!({ "node": node, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}
