//! The node API: how a node joins the collective and reports in.
//!
//! Changes here are additive only (new optional fields, new types): a node agent one version
//! behind the control plane must keep working. Every request after the join carries the node's
//! credential as `Authorization: Bearer <credential>`.

use serde::{Deserialize, Serialize};

use crate::names::{DomainName, EmailAddress, ObjectId};

/// Path prefix of the node API on the control plane.
pub const API_PREFIX: &str = "/node-api/v1";

/// `POST /node-api/v1/join`: exchanges a one-time join token (created by an admin) for the
/// node's long-lived credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token: String,
    /// A short name the admin will recognise, e.g. the machine's host name.
    pub name: String,
    /// Addresses the node serves on (IPv4 or IPv6, as text).
    pub addresses: Vec<String>,
    pub capacity: Capacity,
    /// The agent's version.
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Capacity {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
}

/// The answer to a join. The credential is shown this once; the control plane keeps a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    pub node_id: String,
    pub credential: String,
}

/// `POST /node-api/v1/heartbeat`: the node is alive, runs this version, and its services are in
/// this state. Answered with 204.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub version: String,
    /// The generation of desired state the node has applied, once it applies any.
    #[serde(default)]
    pub observed_generation: Option<u64>,
    #[serde(default)]
    pub services: Vec<ServiceHealth>,
    /// The DKIM public keys of the domains this node signs for, generated on the node (the
    /// private halves never leave it). The control plane publishes them in DNS. A key not
    /// listed is kept as it is: a node lists its keys when they changed since the control
    /// plane last took them, and every few minutes anyway.
    #[serde(default)]
    pub dkim_keys: Vec<DkimKey>,
    /// Bytes stored per mailbox, as last measured. Mailboxes not listed were not measured
    /// anew: a node lists usage when its measurement changed since the control plane last took
    /// it, and every few minutes anyway.
    #[serde(default)]
    pub usage: Vec<MailboxUsage>,
    /// The node's name server, once it runs one.
    #[serde(default)]
    pub dns: Option<DnsReport>,
    /// Every certificate the node wants (its own host name's and one per served member
    /// domain), as it stands. `None`: not reported in this heartbeat (kept as it is); a node
    /// without a web front or ACME reports none.
    #[serde(default)]
    pub certificates: Option<Vec<CertificateReport>>,
}

/// One certificate the node obtains by ACME, as it stands: what the member and the admin see
/// ("certificate: waiting for DNS", "valid until …", "failed: …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateReport {
    /// The member domain whose names it covers; `None` for the node's own host name.
    #[serde(default)]
    pub domain: Option<DomainName>,
    /// That domain's id (as for DKIM keys): the control plane files the report only under the
    /// domain with this id, never under a later holder of the same name.
    #[serde(default)]
    pub domain_id: Option<ObjectId>,
    /// The names on it (or to be on it), the first the one it is filed under.
    pub names: Vec<DomainName>,
    /// How the CA checks them.
    pub challenge: Challenge,
    pub state: CertificateState,
    /// When the certificate served now expires, in seconds since the Unix epoch.
    #[serde(default)]
    pub not_after: Option<i64>,
    /// Why the last attempt failed (the CA's or the resolver's words, never a key or token).
    #[serde(default)]
    pub error: Option<String>,
    /// When the node tries again after a failure, in seconds since the Unix epoch.
    #[serde(default)]
    pub retry_at: Option<i64>,
}

/// How the CA checks a name (RFC 8555 §8), spelt as the RFC spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Challenge {
    /// A file nginx serves on port 80: the name must resolve to the node.
    #[serde(rename = "http-01")]
    Http01,
    /// A TXT record in the zone the node's own name server is primary for.
    #[serde(rename = "dns-01")]
    Dns01,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateState {
    /// Not asked for yet: a name does not resolve to this node (HTTP-01).
    WaitingForDns,
    /// Being asked for, or due for renewal and being renewed.
    Pending,
    /// Served, valid until `not_after` (a renewal error, if any, is in `error`).
    Valid,
    /// No valid certificate; the last attempt failed (`error`), retried at `retry_at`.
    Failed,
}

/// Where the node's name server answers (UDP and TCP): peers transfer zones from it and the
/// control plane checks it there. Port 53 on a real node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    pub address: std::net::SocketAddr,
}

/// One domain's DKIM public key: the record `<selector>._domainkey.<domain> TXT "v=DKIM1; k=rsa;
/// p=<public_key>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimKey {
    pub domain: DomainName,
    /// The id of the domain the key was made for (keys are bound to ids, not names): the control
    /// plane stores the key only for the domain with this id.
    #[serde(default)]
    pub domain_id: Option<ObjectId>,
    /// A DNS label: letters, digits and `-`.
    pub selector: String,
    /// The SubjectPublicKeyInfo, DER, base64 (the `p=` tag).
    pub public_key: String,
}

/// How much one mailbox stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxUsage {
    pub address: EmailAddress,
    pub bytes: u64,
    pub messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// e.g. "postfix", "dovecot".
    pub name: String,
    pub healthy: bool,
    /// What is wrong, when unhealthy. Never contains a secret.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_fields_added_later_are_optional() {
        // An agent that knows only `version` still talks to a newer control plane.
        let h: Heartbeat = serde_json::from_str(r#"{"version":"0.1.0"}"#).unwrap();
        assert_eq!(h.observed_generation, None);
        assert!(h.services.is_empty());
    }

    #[test]
    fn challenges_are_spelt_as_rfc_8555_spells_them() {
        assert_eq!(
            serde_json::to_string(&Challenge::Http01).unwrap(),
            "\"http-01\""
        );
        assert_eq!(
            serde_json::to_string(&Challenge::Dns01).unwrap(),
            "\"dns-01\""
        );
        assert_eq!(
            serde_json::to_string(&CertificateState::WaitingForDns).unwrap(),
            "\"waiting-for-dns\""
        );
    }

    #[test]
    fn join_round_trips() {
        let r = JoinRequest {
            token: "t".into(),
            name: "node-a".into(),
            addresses: vec!["127.0.0.2".into()],
            capacity: Capacity {
                cpus: 2,
                memory_bytes: 1 << 30,
                disk_bytes: 1 << 40,
            },
            version: "0.1.0".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<JoinRequest>(&json).unwrap(), r);
    }
}
