//! TSIG keys: one per pair of nodes that transfer zones between them, made here (32 random bytes,
//! hmac-sha256) and handed to both in their desired states. Rotating a node's keys replaces every
//! key it shares; both ends get the new one in their next desired state.

use base64::Engine as _;
use protocol::dns::{TsigAlgorithm, TsigKey, TsigSecret};
use protocol::names::DomainName;
use rand::RngCore as _;
use sqlx::{PgConnection, PgPool};

use super::topology::reparse;
use crate::config::DnsConfig;
use crate::db::audit::{self, Actor};
use crate::domain::ids::NodeId;
use crate::error::{Error, Result};

/// A fresh secret: 32 bytes from the OS's generator, standard base64.
pub fn generate_secret() -> TsigSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    #[allow(clippy::expect_used)] // 44 base64 characters always parse
    TsigSecret::parse(&text).expect("32 random bytes in base64 are a valid TSIG secret")
}

/// The pair's key name: `ns<low>-ns<high>.tsig.<platform domain>`.
fn pair_name(config: &DnsConfig, a: i32, b: i32) -> Result<DomainName> {
    let (low, high) = (a.min(b), a.max(b));
    DomainName::parse(&format!("ns{low}-ns{high}.tsig.{}", config.platform_domain))
        .map_err(|e| Error::Internal(anyhow::anyhow!("TSIG key name: {e}")))
}

/// The key `a` and `b` share, made now if they have none.
pub async fn pair_key(
    conn: &mut PgConnection,
    config: &DnsConfig,
    a: NodeId,
    b: NodeId,
) -> Result<TsigKey> {
    let (low, high) = if a.0 < b.0 { (a, b) } else { (b, a) };
    let numbers = sqlx::query!(
        "select (select ns_number from nodes where id = $1) as \"low!\",
                (select ns_number from nodes where id = $2) as \"high!\"",
        low.0,
        high.0
    )
    .fetch_one(&mut *conn)
    .await?;
    let name = pair_name(config, numbers.low, numbers.high)?;
    let fresh = generate_secret();
    // Concurrent callers (two control planes) agree on whichever row was inserted first.
    let row = sqlx::query!(
        "insert into dns_tsig_keys (node_a, node_b, name, secret) values ($1, $2, $3, $4)
         on conflict (node_a, node_b) do update set node_a = excluded.node_a
         returning name, secret",
        low.0,
        high.0,
        name.as_str(),
        fresh.expose()
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(TsigKey {
        name: reparse("TSIG key name", DomainName::parse(&row.name))?,
        algorithm: TsigAlgorithm::HmacSha256,
        secret: reparse("TSIG secret", TsigSecret::parse(&row.secret))?,
    })
}

/// The key `a` and `b` share, if they have one (read-only; for building desired states).
pub async fn existing_pair_key(
    conn: &mut PgConnection,
    a: NodeId,
    b: NodeId,
) -> Result<Option<TsigKey>> {
    let (low, high) = if a.0 < b.0 { (a, b) } else { (b, a) };
    let row = sqlx::query!(
        "select name, secret from dns_tsig_keys where node_a = $1 and node_b = $2",
        low.0,
        high.0
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TsigKey {
            name: reparse("TSIG key name", DomainName::parse(&r.name))?,
            algorithm: TsigAlgorithm::HmacSha256,
            secret: reparse("TSIG secret", TsigSecret::parse(&r.secret))?,
        })
    })
    .transpose()
}

/// Replaces every key `node` shares with another node. Transfers between the two ends fail until
/// both have applied the new key (seconds); secondaries keep serving meanwhile.
pub async fn rotate_node(pool: &PgPool, actor: &Actor, node: NodeId) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let pairs = sqlx::query!(
        "select node_a, node_b from dns_tsig_keys where node_a = $1 or node_b = $1 for update",
        node.0
    )
    .fetch_all(&mut *tx)
    .await?;
    for p in &pairs {
        let secret = generate_secret();
        sqlx::query!(
            "update dns_tsig_keys set secret = $3, created_at = now()
             where node_a = $1 and node_b = $2",
            p.node_a,
            p.node_b,
            secret.expose()
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        "dns.rotate_keys",
        None,
        serde_json::json!({ "node": node, "keys": pairs.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(pairs.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_base64_of_32_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.expose())
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn pair_names_do_not_depend_on_order() {
        let config = DnsConfig::default();
        assert_eq!(
            pair_name(&config, 3, 1).unwrap(),
            pair_name(&config, 1, 3).unwrap()
        );
        assert_eq!(
            pair_name(&config, 1, 3).unwrap().as_str(),
            "ns1-ns3.tsig.ruche.invalid"
        );
    }
}
