//! TSIG keys: one per pair of nodes that transfer zones between them, and one per external
//! secondary and node, all made here (32 random bytes, hmac-sha256). A pair's key goes to both
//! nodes in their desired states; an external secondary's key for node N goes to node N alone (and,
//! once, to the admin, who hands it to the secondary's operator), so a key for one node transfers
//! nothing from another. Rotating a node's keys replaces every key it shares with other nodes;
//! rotating an external secondary's keys replaces its key for every node, or for one.
//!
//! Keys are stored and sent as they are (a shared secret both ends must hold) and never printed
//! (`TsigSecret`). An external secondary's key for a node is shown to the admin once: when the
//! admin makes it, or, for a node that joined later, when the admin asks for it (`shown_at`).

use base64::Engine as _;
use protocol::dns::{TsigAlgorithm, TsigKey, TsigSecret};
use protocol::names::DomainName;
use rand::RngCore as _;
use sqlx::PgConnection;
use uuid::Uuid;

use super::topology::reparse;
use crate::config::Platform;
use crate::error::{Error, Result};
use crate::model::ids::NodeId;
use crate::model::nameservers;

/// A fresh secret: 32 bytes from the OS's generator, standard base64.
pub fn generate_secret() -> TsigSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    #[allow(clippy::expect_used)] // 44 base64 characters always parse
    TsigSecret::parse(&text).expect("32 random bytes in base64 are a valid TSIG secret")
}

/// The pair's key name: `ns<low>-ns<high>.tsig.<platform domain>`.
fn pair_name(config: &Platform, a: i32, b: i32) -> Result<DomainName> {
    let (low, high) = (a.min(b), a.max(b));
    DomainName::parse(&format!("ns{low}-ns{high}.tsig.{}", config.platform_domain))
        .map_err(|e| Error::Internal(anyhow::anyhow!("TSIG key name: {e}")))
}

/// The key `a` and `b` share, made now if they have none.
pub async fn pair_key(
    conn: &mut PgConnection,
    config: &Platform,
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

/// Replaces every key `node` shares with another node (their rows locked): how many.
pub async fn replace_node_keys(conn: &mut PgConnection, node: NodeId) -> Result<u64> {
    let pairs = sqlx::query!(
        "select node_a, node_b from dns_tsig_keys where node_a = $1 or node_b = $1 for update",
        node.0
    )
    .fetch_all(&mut *conn)
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
        .execute(&mut *conn)
        .await?;
    }
    Ok(pairs.len() as u64)
}

/// An external secondary's key for one node: what its operator configures to transfer that
/// node's catalog and zones.
#[derive(Debug, Clone)]
pub struct ExternalNodeKey {
    pub node_id: NodeId,
    pub node_name: String,
    /// The node's name server, the primary to transfer from.
    pub nameserver: DomainName,
    /// Where that name server answers; `None` before the node reports it.
    pub address: Option<std::net::SocketAddr>,
    /// The node's catalog zone.
    pub catalog: DomainName,
    pub key: TsigKey,
}

/// `ns<N>.<suffix>`: the key an external secondary holds for node N. Its first label has no
/// `-`, so it never equals a node pair's `ns<a>-ns<b>.tsig.…`.
pub fn external_key_name(suffix: &DomainName, ns_number: i32) -> Result<DomainName> {
    DomainName::parse(&format!("ns{ns_number}.{suffix}"))
        .map_err(|e| Error::Internal(anyhow::anyhow!("external TSIG key name: {e}")))
}

/// The longest key suffix: room for `ns<10 digits>.` in front of it.
pub const MAX_KEY_SUFFIX: usize = 240;

/// Makes the keys of `external` for every joined node (or for `node` alone): new secrets that
/// replace the old ones, or, with `only_missing`, keys only for nodes that have none. `shown`
/// records that the admin sees them now. Returns the keys made. `NotFound` if the external
/// secondary (or the joined node asked for) does not exist.
pub async fn issue_external_keys(
    conn: &mut PgConnection,
    config: &Platform,
    external: Uuid,
    node: Option<NodeId>,
    shown: bool,
    only_missing: bool,
) -> Result<Vec<ExternalNodeKey>> {
    let suffix = sqlx::query_scalar!(
        "select key_suffix from dns_external_secondaries where id = $1 for update",
        external
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)?;
    let suffix = reparse("external key suffix", DomainName::parse(&suffix))?;
    let nodes = sqlx::query!(
        "select id, name, ns_number, dns_address from nodes
         where credential_hash is not null and ($1::uuid is null or id = $1)
         order by ns_number",
        node.map(|n| n.0)
    )
    .fetch_all(&mut *conn)
    .await?;
    if node.is_some() && nodes.is_empty() {
        return Err(Error::NotFound);
    }
    let mut made = Vec::with_capacity(nodes.len());
    for n in nodes {
        let name = external_key_name(&suffix, n.ns_number)?;
        let secret = generate_secret();
        let stored = sqlx::query_scalar!(
            "insert into dns_external_keys (external_id, node_id, name, secret, shown_at)
             values ($1, $2, $3, $4, case when $5 then now() end)
             on conflict (external_id, node_id) do update
                 set name = excluded.name, secret = excluded.secret, created_at = now(),
                     shown_at = excluded.shown_at
                 where not $6
             returning node_id",
            external,
            n.id,
            name.as_str(),
            secret.expose(),
            shown,
            only_missing
        )
        .fetch_optional(&mut *conn)
        .await?;
        if stored.is_none() {
            continue;
        }
        made.push(ExternalNodeKey {
            node_id: NodeId(n.id),
            node_name: n.name,
            nameserver: nameservers::nameserver(&config.platform_domain, n.ns_number)?,
            address: nameservers::address(n.dns_address.as_deref()),
            catalog: nameservers::catalog(&config.platform_domain, n.ns_number)?,
            key: TsigKey {
                name,
                algorithm: TsigAlgorithm::HmacSha256,
                secret,
            },
        });
    }
    Ok(made)
}

/// The keys of `external` the admin has not seen yet (made by the upgrade to per-node keys, or
/// for a node that joined later), marked shown now: they are never shown again. `NotFound` if
/// the external secondary does not exist.
pub async fn reveal_external(
    conn: &mut PgConnection,
    config: &Platform,
    external: Uuid,
) -> Result<Vec<ExternalNodeKey>> {
    sqlx::query_scalar!(
        "select id from dns_external_secondaries where id = $1 for update",
        external
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)?;
    let rows = sqlx::query!(
        "update dns_external_keys k set shown_at = now()
         from nodes n
         where n.id = k.node_id and k.external_id = $1 and k.shown_at is null
         returning k.node_id, k.name, k.secret, n.name as node_name, n.ns_number, n.dns_address",
        external
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        keys.push(ExternalNodeKey {
            node_id: NodeId(r.node_id),
            node_name: r.node_name,
            nameserver: nameservers::nameserver(&config.platform_domain, r.ns_number)?,
            address: nameservers::address(r.dns_address.as_deref()),
            catalog: nameservers::catalog(&config.platform_domain, r.ns_number)?,
            key: TsigKey {
                name: reparse("TSIG key name", DomainName::parse(&r.name))?,
                algorithm: TsigAlgorithm::HmacSha256,
                secret: reparse("TSIG secret", TsigSecret::parse(&r.secret))?,
            },
        });
    }
    keys.sort_by(|a, b| a.nameserver.cmp(&b.nameserver));
    Ok(keys)
}

/// Makes the keys that joined nodes lack for each external secondary (a node that joined after
/// the secondary was added), unseen until the admin asks for them: the names of the keys made.
/// Part of the DNS round.
pub async fn make_missing_external_keys(
    conn: &mut PgConnection,
    config: &Platform,
) -> Result<Vec<String>> {
    let missing = sqlx::query!(
        "select distinct e.id from dns_external_secondaries e cross join nodes n
         where n.credential_hash is not null
           and not exists (select 1 from dns_external_keys k
                           where k.external_id = e.id and k.node_id = n.id)"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut made = Vec::new();
    for e in missing {
        match issue_external_keys(conn, config, e.id, None, false, true).await {
            Ok(keys) => made.extend(keys.into_iter().map(|k| k.key.name.to_string())),
            // A suffix from before per-node keys too long for `ns<N>.` in front: that secondary
            // is left without this node's key, and the round goes on.
            Err(Error::Internal(problem)) => {
                tracing::warn!(external = %e.id, %problem, "external secondary's key not made");
            }
            Err(other) => return Err(other),
        }
    }
    Ok(made)
}

/// The key `node` holds for each external secondary, with the secondary (the desired state's
/// part: a node never learns another node's key for the same peer).
pub async fn external_keys_of_node(
    conn: &mut PgConnection,
    node: NodeId,
) -> Result<Vec<(nameservers::External, TsigKey)>> {
    let rows = sqlx::query!(
        "select e.id, e.nameserver, e.address, k.name, k.secret
         from dns_external_keys k join dns_external_secondaries e on e.id = k.external_id
         where k.node_id = $1 order by e.nameserver",
        node.0
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                nameservers::External {
                    id: r.id,
                    nameserver: reparse("nameserver", DomainName::parse(&r.nameserver))?,
                    address: reparse("address", r.address.parse())?,
                },
                TsigKey {
                    name: reparse("TSIG key name", DomainName::parse(&r.name))?,
                    algorithm: TsigAlgorithm::HmacSha256,
                    secret: reparse("TSIG secret", TsigSecret::parse(&r.secret))?,
                },
            ))
        })
        .collect()
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
    fn external_key_names_never_look_like_pair_names() {
        let config = crate::config::DnsConfig::default()
            .with_platform("ruche.invalid")
            .unwrap();
        let suffix = DomainName::parse("ext-0a1b2c3d.tsig.ruche.invalid").unwrap();
        let one = external_key_name(&suffix, 1).unwrap();
        let two = external_key_name(&suffix, 2).unwrap();
        assert_eq!(one.as_str(), "ns1.ext-0a1b2c3d.tsig.ruche.invalid");
        assert_ne!(one, two);
        assert_ne!(one, pair_name(&config, 1, 2).unwrap());
        // The longest suffix the admin page accepts still leaves room for any node number.
        let long = DomainName::parse(&format!("{}.ex", vec!["a".repeat(58); 4].join("."))).unwrap();
        assert!(long.as_str().len() <= MAX_KEY_SUFFIX);
        assert!(external_key_name(&long, i32::MAX).is_ok());
    }

    #[test]
    fn pair_names_do_not_depend_on_order() {
        let config = crate::config::DnsConfig::default()
            .with_platform("ruche.invalid")
            .unwrap();
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
