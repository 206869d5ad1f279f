//! Nodes as the admin manages them: a node added waiting to join, and its join token renewed
//! (a node that lost its credential joins again). Each is one audited transaction
//! (`db::nodes`); the token is shown once.

use sqlx::PgPool;

use crate::db;
use crate::db::audit::Actor;
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::model::secret::Token;

/// How long a join token works.
pub const JOIN_HOURS: i64 = 24;

/// Adds a node waiting to join: its id and one-time join token.
pub async fn create(pool: &PgPool, actor: &Actor, name: &str) -> Result<(NodeId, Token), Error> {
    db::nodes::create(pool, actor, name, JOIN_HOURS).await
}

/// A new one-time join token for `node` (its old credential stops working when it is used).
pub async fn rotate(pool: &PgPool, actor: &Actor, node: NodeId) -> Result<Token, Error> {
    db::nodes::rotate(pool, actor, node, JOIN_HOURS).await
}
