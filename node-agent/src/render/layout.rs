//! Where the node's daemons live and listen: everything a renderer needs that is not in the
//! desired state. Production uses `/` as the root and the standard ports; tests use a temporary
//! directory, a 127.0.0.x address and high ports.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use protocol::names::DomainName;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Absolute. Every file the agent renders and every path the daemons are told is under it.
    pub root: PathBuf,
    /// The node's mail host name: Postfix's `myhostname`, the name on the TLS certificate.
    pub hostname: DomainName,
    /// Where the public services (SMTP, submission, IMAP) listen.
    pub listen: IpAddr,
    /// Where the internal services (LMTP, SASL, quota policy, milter, Redis) listen. Loopback.
    pub internal: IpAddr,
    pub ports: Ports,
    /// The agent's auth broker, which Dovecot's Lua passdb asks over HTTP. Loopback.
    pub broker: SocketAddr,
    /// The owner of the mail store (Debian has no `vmail` user: the install creates one).
    pub vmail_uid: u32,
    pub vmail_gid: u32,
    /// Outbound messages each member may send, across all their mailboxes.
    pub send_limit: MessageLimit,
    /// Messages from elsewhere that each member's aliases and catch-alls may forward off the
    /// node (a message counts once per member whose forwarding it reaches).
    #[serde(default = "MessageLimit::forwarding")]
    pub forward_limit: MessageLimit,
    /// Where every outbound message goes instead of the recipient domain's MX: a relay that
    /// accepts this node by its address (for a network whose port 25 is closed). Tests point it
    /// at their own SMTP server. `None`: straight to each domain's MX.
    #[serde(default)]
    pub relayhost: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
    pub lmtp: u16,
    pub sasl: u16,
    pub quota_status: u16,
    pub milter: u16,
    pub rspamd_controller: u16,
    pub rspamd_normal: u16,
    pub redis: u16,
    /// postsrsd's forward (sender to SRS) and reverse (SRS to sender) tables.
    #[serde(default = "Ports::default_srs_forward")]
    pub srs_forward: u16,
    #[serde(default = "Ports::default_srs_reverse")]
    pub srs_reverse: u16,
    /// Postfix's internal listener that forwarded mail passes through to have its envelope
    /// sender rewritten (see `services/postfix/mod.rs`).
    #[serde(default = "Ports::default_reinject")]
    pub reinject: u16,
}

impl Default for Ports {
    /// The standard public ports; the internal ones are only on `internal`.
    fn default() -> Ports {
        Ports {
            smtp: 25,
            submission: 587,
            submissions: 465,
            imap: 143,
            imaps: 993,
            lmtp: 24,
            sasl: 12345,
            quota_status: 12340,
            milter: 11332,
            rspamd_controller: 11334,
            rspamd_normal: 11333,
            redis: 6379,
            srs_forward: Ports::default_srs_forward(),
            srs_reverse: Ports::default_srs_reverse(),
            reinject: Ports::default_reinject(),
        }
    }
}

impl Ports {
    // postsrsd's own defaults.
    fn default_srs_forward() -> u16 {
        10001
    }
    fn default_srs_reverse() -> u16 {
        10002
    }
    fn default_reinject() -> u16 {
        10025
    }
}

/// `messages` per `minutes`, per member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageLimit {
    pub messages: u32,
    pub minutes: u32,
}

impl Default for MessageLimit {
    fn default() -> MessageLimit {
        MessageLimit {
            messages: 200,
            minutes: 60,
        }
    }
}

impl MessageLimit {
    /// The default `forward_limit`.
    pub fn forwarding() -> MessageLimit {
        MessageLimit {
            messages: 100,
            minutes: 60,
        }
    }
}

impl Layout {
    /// The absolute path of `relative` under the root, as the daemons must be told it.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The same, as text for a config file. The root comes from the operator's configuration,
    /// never from a member; [`Layout::check`] refused one that a config file could not hold.
    pub fn path_text(&self, relative: &str) -> String {
        self.path(relative).to_string_lossy().into_owned()
    }

    /// Refuses a root that could not be written into a config file as it is.
    pub fn check(&self) -> Result<(), String> {
        let root = self.root.to_str().ok_or("the root is not UTF-8")?;
        if !Path::new(root).is_absolute() {
            return Err(format!("the root {root:?} is not absolute"));
        }
        if let Some(c) = root
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/._-".contains(*c)))
        {
            return Err(format!(
                "the root {root:?} holds {c:?}: use letters, digits and / . _ - only"
            ));
        }
        Ok(())
    }
}
