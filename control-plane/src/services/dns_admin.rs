//! The collective's DNS as the admin runs it: external secondaries (added with one key per
//! node, their keys rotated or shown once, removed), a node's TSIG keys rotated, who runs a
//! node. Each change is one transaction with its audit entry. The admin pages and the JSON API
//! both call these.

use std::net::{IpAddr, SocketAddr};

use protocol::names::DomainName;
use sqlx::PgPool;
use uuid::Uuid;
use web::Reason;

use crate::config::{DnsConfig, Platform};
use crate::db::audit::{self, Actor};
use crate::db::dns_admin as store;
use crate::db::tsig_keys::{self as keys, ExternalNodeKey};
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::model::requests::Fields;

/// An external secondary as typed in the form or sent to the API; empty optional fields are
/// the same as absent ones.
pub struct ExternalInput<'a> {
    pub nameserver: &'a str,
    pub address: &'a str,
    /// Its keys are `ns<N>.<suffix>`; generated when absent.
    pub key_suffix: Option<&'a str>,
    /// Refused when given: one secret for every node is what per-node keys replace.
    pub tsig_secret: Option<&'a str>,
}

/// The added secondary, with its key for every joined node: the only time the secrets are shown.
pub struct CreatedExternal {
    pub id: Uuid,
    pub nameserver: DomainName,
    pub address: SocketAddr,
    pub keys: Vec<ExternalNodeKey>,
}

/// Parses, stores and audits an external secondary and its keys; shared by the page and the API.
pub async fn add_external(
    pool: &PgPool,
    base: &DnsConfig,
    actor: &Actor,
    input: &ExternalInput<'_>,
) -> Result<CreatedExternal, Error> {
    let config = dns_config(pool, base).await?;
    let (nameserver, address, suffix) = parse_external(&config, input)?;
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    store::insert_external(&mut tx, id, &nameserver, address, &suffix).await?;
    // A new key for every joined node, returned to be shown once; every joined node then
    // serves the secondary its catalog with its own key.
    let made = keys::issue_external_keys(&mut tx, &config, id, None, true, false)
        .await
        .map_err(|e| match e {
            // Another key already has one of these names.
            Error::Conflict(_) => store::suffix_taken(),
            other => other,
        })?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.create",
        None,
        serde_json::json!({
            "id": id,
            "nameserver": nameserver.as_str(),
            "address": address.to_string(),
            "keys": made.iter().map(|k| k.key.name.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedExternal {
        id,
        nameserver,
        address,
        keys: made,
    })
}

/// New secrets for an external secondary's keys (every joined node's, or one node's), shown to
/// the admin now; shared by the page and the API. Transfers to that secondary fail until its
/// operator configures the new keys.
pub async fn rotate_external_keys(
    pool: &PgPool,
    base: &DnsConfig,
    actor: &Actor,
    external: Uuid,
    node: Option<NodeId>,
) -> Result<Vec<ExternalNodeKey>, Error> {
    let config = dns_config(pool, base).await?;
    let mut tx = pool.begin().await?;
    let made = keys::issue_external_keys(&mut tx, &config, external, node, true, false).await?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.rotate_keys",
        None,
        serde_json::json!({
            "id": external,
            "keys": made.iter().map(|k| k.key.name.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(made)
}

/// The external secondary's keys not shown yet (made by the upgrade to per-node keys, or for a
/// node that joined later), shown now and never again; shared by the page and the API.
pub async fn reveal_external_keys(
    pool: &PgPool,
    base: &DnsConfig,
    actor: &Actor,
    external: Uuid,
) -> Result<Vec<ExternalNodeKey>, Error> {
    let config = dns_config(pool, base).await?;
    let mut tx = pool.begin().await?;
    let keys = keys::reveal_external(&mut tx, &config, external).await?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.reveal_keys",
        None,
        serde_json::json!({
            "id": external,
            "keys": keys.iter().map(|k| k.key.name.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(keys)
}

/// Removes an external secondary and its keys: no node serves it any more; shared by the page
/// and the API.
pub async fn remove_external(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let nameserver = store::delete_external(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        "dns.external_secondary.delete",
        None,
        serde_json::json!({ "id": id, "nameserver": nameserver }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The `[dns]` configuration with the platform domain named at setup (there is an admin, so
/// setup happened).
pub async fn dns_config(pool: &PgPool, base: &DnsConfig) -> Result<Platform, Error> {
    crate::db::setup::dns_config(pool, base)
        .await?
        .ok_or(Error::NotFound)
}

/// Every field checked, every problem reported with its field. A key suffix not given is made
/// here; a secret cannot be given (each node's key is made here).
pub fn parse_external(
    config: &Platform,
    input: &ExternalInput<'_>,
) -> Result<(DomainName, SocketAddr, DomainName), Error> {
    let mut f = Fields::default();
    let nameserver = f.check("nameserver", nameserver(config, input.nameserver.trim()));
    let address = f.check("address", address(input.address.trim()));
    let suffix = match given(input.key_suffix) {
        Some(n) => f.check("key_suffix", key_suffix(config, n)),
        None => Some(generated_suffix(config)?),
    };
    if given(input.tsig_secret).is_some() {
        let _: Option<()> = f.check("tsig_secret", Err::<(), _>(Reason::KeyIsMadeHere));
    }
    let value = match (nameserver, address, suffix) {
        (Some(n), Some(a), Some(s)) => Some((n, a, s)),
        _ => None,
    };
    Ok(f.finish(value)?)
}

/// An optional field as a form or the API gives it: empty (after trimming) is absent.
pub fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A host name, but not one of the nodes' own `ns<N>.<platform domain>`: those are derived,
/// and a second server under the same name would be listed twice in every zone.
fn nameserver(config: &Platform, input: &str) -> Result<DomainName, Reason> {
    let name = DomainName::parse(input)?;
    let node_label = name
        .as_str()
        .strip_suffix(&format!(".{}", config.platform_domain))
        .and_then(|label| label.strip_prefix("ns"))
        .is_some_and(all_digits);
    if node_label {
        return Err(Reason::NodeNameServer);
    }
    Ok(name)
}

/// `ip:port`, or an IP address alone for port 53.
fn address(input: &str) -> Result<SocketAddr, Reason> {
    let parsed = input
        .parse::<SocketAddr>()
        .or_else(|_| input.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
    match parsed {
        Ok(a) if a.port() != 0 && !a.ip().is_unspecified() => Ok(a),
        _ => Err(Reason::NotSocketAddress),
    }
}

/// The suffix of the secondary's key names: a domain name short enough for `ns<N>.` in front,
/// and not under the names of the keys nodes share (`ns<a>-ns<b>.tsig.<platform domain>`), so
/// one name never stands for two secrets in a node's configuration.
fn key_suffix(config: &Platform, input: &str) -> Result<DomainName, Reason> {
    let name = DomainName::parse(input)?;
    if name.as_str().len() > keys::MAX_KEY_SUFFIX {
        return Err(Reason::TooLong { max: 240 });
    }
    let pair = name
        .as_str()
        .strip_suffix(&format!(".tsig.{}", config.platform_domain))
        .and_then(|rest| rest.rsplit('.').next())
        .and_then(|label| label.split_once('-'))
        .is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|n| n.strip_prefix("ns").is_some_and(all_digits))
        });
    if pair {
        return Err(Reason::KeyNameReserved);
    }
    Ok(name)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `ext-<8 random hex digits>.tsig.<platform domain>`.
fn generated_suffix(config: &Platform) -> Result<DomainName, Error> {
    let n: u32 = rand::random();
    DomainName::parse(&format!("ext-{n:08x}.tsig.{}", config.platform_domain))
        .map_err(|e| Error::Internal(anyhow::anyhow!("TSIG key suffix: {e}")))
}

/// Replaces every TSIG key the node shares with another node: how many; shared by the page and
/// the API. Transfers between the two ends fail until both have applied the new key (seconds);
/// secondaries keep serving meanwhile.
pub async fn rotate_keys(pool: &PgPool, actor: &Actor, node: NodeId) -> Result<u64, Error> {
    store::ensure_node(pool, node).await?;
    let mut tx = pool.begin().await?;
    let n = keys::replace_node_keys(&mut tx, node).await?;
    audit::record(
        &mut *tx,
        actor,
        "dns.rotate_keys",
        None,
        serde_json::json!({ "node": node, "keys": n }),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Sets or clears (`None`, or an empty form field) who runs a node; shared by the page and the
/// API. Placement reads it at its next round; nothing a node serves changes until then.
pub async fn set_operator(
    pool: &PgPool,
    actor: &Actor,
    node: NodeId,
    operator: Option<&str>,
) -> Result<(), Error> {
    let operator = match operator {
        Some(o) => Some(crate::model::requests::label("operator", o)?),
        None => None,
    };
    let operator = operator.as_ref().map(|o| o.as_str());
    let mut tx = pool.begin().await?;
    store::update_operator(&mut tx, node, operator).await?;
    audit::record(
        &mut *tx,
        actor,
        "node.operator",
        None,
        serde_json::json!({ "node": node, "operator": operator }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Platform {
        DnsConfig::default().with_platform("ruche.test").unwrap()
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Invalid(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_missing_key_suffix_is_generated() {
        let (ns, addr, suffix) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: " ns1.friends.example ",
                address: "192.0.2.7",
                key_suffix: Some(""),
                tsig_secret: None,
            },
        )
        .unwrap();
        assert_eq!(ns.as_str(), "ns1.friends.example");
        assert_eq!(addr, "192.0.2.7:53".parse().unwrap());
        let name = suffix.as_str();
        assert!(
            name.starts_with("ext-") && name.ends_with(".tsig.ruche.test"),
            "{name}"
        );
        assert_eq!(name.len(), "ext-12345678.tsig.ruche.test".len());
    }

    #[test]
    fn a_given_suffix_is_kept_and_a_given_secret_refused() {
        let (_, addr, suffix) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "ns.friends.example",
                address: "[2001:db8::1]:5353",
                key_suffix: Some("friends.key.example"),
                tsig_secret: Some("  "),
            },
        )
        .unwrap();
        assert_eq!(addr.port(), 5353);
        assert_eq!(suffix.as_str(), "friends.key.example");
        let e = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "ns.friends.example",
                address: "192.0.2.7",
                key_suffix: None,
                tsig_secret: Some("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="),
            },
        )
        .unwrap_err();
        assert_eq!(fields(e), ["tsig_secret"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "not a name",
                address: "192.0.2.1:0",
                key_suffix: Some("bad name"),
                tsig_secret: Some("short"),
            },
        )
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["nameserver", "address", "key_suffix", "tsig_secret"]
        );
        for bad in [
            "",
            "example.org",
            "0.0.0.0:53",
            "192.0.2.1:99999",
            "1.2.3.4:53\n",
        ] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.example", vec!["a".repeat(60); 4].join("."));
        assert!(key_suffix(&config(), &long).is_err());
    }

    #[test]
    fn node_names_are_reserved() {
        let c = config();
        assert!(nameserver(&c, "ns3.ruche.test").is_err());
        assert!(nameserver(&c, "ns.ruche.test").is_ok());
        assert!(nameserver(&c, "ns3.other.test").is_ok());
        assert!(key_suffix(&c, "ns1-ns2.tsig.ruche.test").is_err());
        assert!(key_suffix(&c, "ext-1.tsig.ruche.test").is_ok());
        assert!(key_suffix(&c, "ns1-ns2.tsig.other.test").is_ok());
    }
}
