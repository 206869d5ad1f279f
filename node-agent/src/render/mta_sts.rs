//! The node's MTA-STS policy (RFC 8461): one text for every domain the node serves, since all
//! their mail goes to one MX, the node's host name. nginx serves it at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` (`services::nginx`); each zone's
//! `_mta-sts` TXT record carries its [`Policy::id`] (`services::knot::zone`), a digest of the
//! text itself, so the id changes exactly when the policy does: a sender fetches the policy
//! again only when the id it sees in DNS changes (RFC 8461 §3.1, §5.1).
//!
//! The mode is `testing` until the host's certificate is valid ([`MxCertificate`], read at the
//! I/O edge, `reconcile`), then `enforce`: a sender that enforced a policy while the MX had no
//! certificate it accepts would hold the domain's mail back. `max_age` is a day while testing,
//! so a sender picks up `enforce` soon, and a week once enforced (RFC 8461 §3.2 suggests weeks;
//! a week keeps a node's change of host name from holding mail back for longer).

use std::fmt::Write as _;

use protocol::names::DomainName;
use sha2::{Digest, Sha256};

/// Whether the node's own certificate for its host name (the MX of every domain it serves) is
/// one a sending MTA can check: within its validity period and naming the host. Worked out at
/// the I/O edge (`crate::certs::mx_certificate`), not by a renderer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MxCertificate {
    /// None, expired, not yet valid, or for other names.
    #[default]
    NotValid,
    Valid,
}

/// RFC 8461 §3.2's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Testing,
    Enforce,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Testing => "testing",
            Mode::Enforce => "enforce",
        }
    }
}

/// Seconds a sender may cache the policy: a day while testing, a week once enforced.
const MAX_AGE_TESTING: u32 = 86_400;
const MAX_AGE_ENFORCE: u32 = 604_800;

/// The policy of a node whose host name is `mx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy<'a> {
    mode: Mode,
    mx: &'a DomainName,
}

impl<'a> Policy<'a> {
    pub fn new(mx: &'a DomainName, certificate: MxCertificate) -> Policy<'a> {
        let mode = match certificate {
            MxCertificate::Valid => Mode::Enforce,
            MxCertificate::NotValid => Mode::Testing,
        };
        Policy { mode, mx }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn max_age(&self) -> u32 {
        match self.mode {
            Mode::Testing => MAX_AGE_TESTING,
            Mode::Enforce => MAX_AGE_ENFORCE,
        }
    }

    /// The policy file (RFC 8461 §3.2: `key: value` lines; LF ends a line as well as CRLF
    /// does). The host name is a typed name (`[a-z0-9.-]`), the rest constants.
    pub fn text(&self) -> String {
        format!(
            "version: STSv1\nmode: {}\nmx: {}\nmax_age: {}\n",
            self.mode.as_str(),
            self.mx.as_str(),
            self.max_age()
        )
    }

    /// The id the zones publish (`v=STSv1; id=<id>`): 32 hex digits of the SHA-256 of
    /// [`Policy::text`] (RFC 8461 §3.1: 1 to 32 letters and digits).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.text().as_bytes());
        digest[..16].iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> DomainName {
        DomainName::parse(name).unwrap()
    }

    #[test]
    fn testing_until_the_certificate_is_valid_then_enforce() {
        let mx = host("mail.example.net");
        let testing = Policy::new(&mx, MxCertificate::NotValid);
        assert_eq!(
            testing.text(),
            "version: STSv1\nmode: testing\nmx: mail.example.net\nmax_age: 86400\n"
        );
        let enforce = Policy::new(&mx, MxCertificate::Valid);
        assert_eq!(enforce.mode(), Mode::Enforce);
        assert_eq!(
            enforce.text(),
            "version: STSv1\nmode: enforce\nmx: mail.example.net\nmax_age: 604800\n"
        );
        assert_eq!(MxCertificate::default(), MxCertificate::NotValid);
    }

    /// Every field RFC 8461 §3.2 requires, once each, and nothing else.
    #[test]
    fn the_text_has_each_field_once() {
        let mx = host("mail.example.net");
        for certificate in [MxCertificate::NotValid, MxCertificate::Valid] {
            let text = Policy::new(&mx, certificate).text();
            let keys: Vec<&str> = text
                .lines()
                .map(|l| l.split_once(": ").expect("key: value").0)
                .collect();
            assert_eq!(keys, ["version", "mode", "mx", "max_age"]);
            assert!(text.ends_with('\n') && !text.contains('\r'));
        }
    }

    /// The id follows the text: it changes when the mode flips and when the host changes, and
    /// stays put otherwise.
    #[test]
    fn the_id_changes_exactly_when_the_policy_does() {
        let (a, b) = (host("mail.example.net"), host("mx.example.net"));
        let ids = [
            Policy::new(&a, MxCertificate::NotValid).id(),
            Policy::new(&a, MxCertificate::Valid).id(),
            Policy::new(&b, MxCertificate::NotValid).id(),
            Policy::new(&b, MxCertificate::Valid).id(),
        ];
        for (i, x) in ids.iter().enumerate() {
            assert_eq!(x.len(), 32);
            assert!(x.bytes().all(|c| c.is_ascii_hexdigit()), "{x}");
            for y in &ids[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(Policy::new(&a, MxCertificate::Valid).id(), ids[1]);
    }
}
