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
    pub send_limit: SendLimit,
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
        }
    }
}

/// `messages` per `minutes`, per member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendLimit {
    pub messages: u32,
    pub minutes: u32,
}

impl Default for SendLimit {
    fn default() -> SendLimit {
        SendLimit {
            messages: 200,
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
