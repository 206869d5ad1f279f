//! `node-agent join`: trade a one-time join token for the node's identity, keep it in
//! `node.json`, and report once.

use std::net::IpAddr;

use protocol::node::JoinRequest;
use url::Url;

use crate::capacity::{CapacityError, Host};
use crate::client::{Client, ClientError};
use crate::error_chain;
use crate::heartbeat;
use crate::identity::{NodeState, StateDir, StateError};
use crate::secret::Secret;

/// What `join` needs to know.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    pub control_plane_url: Url,
    /// The one-time token an admin created for this node.
    pub token: Secret,
    /// The name shown to admins; the host name when `None`.
    pub name: Option<String>,
    /// The addresses this node serves on; at least one.
    pub addresses: Vec<IpAddr>,
    /// Replace an existing `node.json`.
    pub force: bool,
}

/// Why the node did not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("give at least one address this node serves on (--address IP)")]
    NoAddress,
    #[error("the node's name must not be empty")]
    EmptyName,
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The token is spent but the credential could not be kept: only a new token helps.
    #[error(
        "joined as {node_id}, but the node's credential could not be saved, so this node cannot \
         use it; fix the cause below, then join again with a new join token"
    )]
    NotSaved {
        node_id: String,
        #[source]
        source: StateError,
    },
}

/// Joins the collective: checks that this machine has not joined already (so a token is not
/// spent for nothing), gathers the machine's capacity, asks the control plane, saves
/// `node.json` and sends a first heartbeat. A failed first heartbeat is only logged: the node has
/// joined, and `node-agent run` keeps trying.
#[tracing::instrument(skip_all)]
pub async fn join(
    options: &JoinOptions,
    state_dir: &StateDir,
    host: &Host,
) -> Result<NodeState, JoinError> {
    let addresses = addresses(&options.addresses)?;
    let name = match &options.name {
        Some(name) => name.trim().to_owned(),
        None => host.host_name()?,
    };
    if name.is_empty() {
        return Err(JoinError::EmptyName);
    }
    state_dir.create()?;
    if !options.force {
        state_dir.check_not_joined()?;
    }
    let capacity = host.capacity(state_dir.path())?;
    let url = &options.control_plane_url;
    if url.scheme() == "http" && !is_loopback(url) {
        tracing::warn!(
            control_plane = %url,
            "the control plane URL is plain http: the node's credential will cross the network \
             unencrypted"
        );
    }
    tracing::info!(
        control_plane = %url,
        name,
        ?addresses,
        cpus = capacity.cpus,
        memory_bytes = capacity.memory_bytes,
        disk_bytes = capacity.disk_bytes,
        "joining"
    );
    let client = Client::new(url.clone())?;
    let request = JoinRequest {
        token: options.token.expose().to_owned(),
        name,
        addresses,
        capacity,
        version: heartbeat::VERSION.to_owned(),
    };
    let joined = client.join(&request).await?;
    let state = NodeState {
        control_plane_url: url.clone(),
        node_id: joined.node_id,
        credential: Secret::new(joined.credential),
    };
    if let Err(source) = state_dir.save(&state, options.force) {
        return Err(JoinError::NotSaved {
            node_id: state.node_id,
            source,
        });
    }
    tracing::info!(node_id = state.node_id, path = %state_dir.node_file().display(), "joined");

    let node = client.with_credential(state.credential.clone());
    match node.heartbeat(&heartbeat::heartbeat()).await {
        Ok(()) => tracing::info!("first heartbeat taken"),
        Err(err) => tracing::warn!(
            error = %error_chain(&err),
            "the first heartbeat failed; `node-agent run` will keep trying"
        ),
    }
    Ok(state)
}

/// The addresses as text, without repeats, in the order given.
fn addresses(given: &[IpAddr]) -> Result<Vec<String>, JoinError> {
    let mut seen = Vec::new();
    for address in given {
        if !seen.contains(address) {
            seen.push(*address);
        }
    }
    if seen.is_empty() {
        return Err(JoinError::NoAddress);
    }
    Ok(seen.iter().map(IpAddr::to_string).collect())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> JoinOptions {
        JoinOptions {
            control_plane_url: Url::parse(url).unwrap(),
            token: Secret::new("t"),
            name: Some("node-a".to_owned()),
            addresses: vec!["127.0.0.2".parse().unwrap()],
            force: false,
        }
    }

    #[test]
    fn addresses_are_canonical_and_unique() {
        let given: Vec<IpAddr> = ["192.0.2.1", "2001:db8:0:0::1", "192.0.2.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(addresses(&given).unwrap(), ["192.0.2.1", "2001:db8::1"]);
        assert!(matches!(addresses(&[]), Err(JoinError::NoAddress)));
    }

    #[test]
    fn knows_loopback_urls() {
        for url in ["http://localhost:1", "http://127.0.0.1", "http://[::1]:8"] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in ["http://example.org", "http://192.0.2.1"] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }

    /// An existing node.json stops the join before the token is sent anywhere (the URL below
    /// does not resolve, so any request would fail differently).
    #[tokio::test]
    async fn an_existing_node_file_keeps_the_token_unspent() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path().join("state"));
        dir.create().unwrap();
        let existing = NodeState {
            control_plane_url: Url::parse("https://cp.invalid").unwrap(),
            node_id: "n0".to_owned(),
            credential: Secret::new("c0"),
        };
        dir.save(&existing, false).unwrap();
        let err = join(&options("https://cp.invalid"), &dir, &Host::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, JoinError::State(StateError::AlreadyJoined { .. })),
            "{err}"
        );
        assert_eq!(dir.load().unwrap(), existing);
    }

    #[tokio::test]
    async fn an_empty_name_is_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path().join("state"));
        let mut options = options("https://cp.invalid");
        options.name = Some("  ".to_owned());
        let err = join(&options, &dir, &Host::default()).await.unwrap_err();
        assert!(matches!(err, JoinError::EmptyName), "{err}");
        assert!(!dir.path().exists());
    }
}
