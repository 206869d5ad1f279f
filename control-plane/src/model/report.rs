//! What a node reports in its heartbeat besides its health: DKIM public keys and mailbox usage.
//! Checked here before anything is stored; a bad entry is skipped (and named in the log), never
//! a reason to refuse the whole heartbeat, so one odd mailbox cannot stop a node reporting in.

use std::collections::BTreeMap;

use base64::Engine;
use protocol::node::{DkimKey, MailboxUsage};

use super::LocalPart;

/// Bounds of the base64 `p=` value: a 1024-bit RSA key is 216 characters, a 4096-bit one 736;
/// 100..=2000 leaves room for other key types and sizes without letting a report fill a page.
pub const PUBLIC_KEY_CHARS: std::ops::RangeInclusive<usize> = 100..=2000;

/// Standard base64 with padding that decodes, within [`PUBLIC_KEY_CHARS`]. Its alphabet has no
/// quote, backslash, semicolon or space, so it cannot break out of a TXT string or a tag.
pub fn valid_public_key(s: &str) -> bool {
    PUBLIC_KEY_CHARS.contains(&s.len())
        && base64::engine::general_purpose::STANDARD
            .decode(s)
            .is_ok_and(|der| !der.is_empty())
}

/// The DNS record that publishes a domain's DKIM key, exactly as it must be entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    pub selector: String,
    /// `<selector>._domainkey.<domain>` (ASCII form of the domain), a TXT record.
    pub name: String,
    /// `v=DKIM1; k=rsa; p=<public key>`.
    pub value: String,
}

impl DkimRecord {
    pub fn new(selector: &str, domain_ascii: &str, public_key: &str) -> Self {
        DkimRecord {
            selector: selector.to_owned(),
            name: format!("{selector}._domainkey.{domain_ascii}"),
            value: format!("v=DKIM1; k=rsa; p={public_key}"),
        }
    }

    /// The record as a zone-file line. A TXT string holds at most 255 characters (RFC 1035
    /// §3.3), and a 2048-bit key's value is about 410, so it is split into several strings,
    /// which receivers join back (RFC 6376 §3.6.2.2). The value is base64 and ASCII, so the
    /// split never cuts a character and nothing needs escaping.
    pub fn zone_line(&self) -> String {
        let strings: Vec<String> = self
            .value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        format!("{}. IN TXT {}", self.name, strings.join(" "))
    }
}

/// One domain's key, checked: domain (ASCII), selector, public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub domain: String,
    /// The domain id the node made the key for (an agent older than ids sends none): the key is
    /// stored only for the domain with that id, so a key made for a former holder of the name
    /// never becomes the next holder's.
    pub domain_id: Option<String>,
    pub selector: String,
    pub public_key: String,
}

/// One mailbox's usage, checked: domain (ASCII), local part, bytes, messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    pub domain: String,
    pub local_part: String,
    pub bytes: i64,
    pub messages: i64,
}

/// A heartbeat's keys and usage, checked, with what was skipped and why (for the log; no entry
/// holds a secret, a public key is not shown anyway).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// At most one per domain: the last one listed wins.
    pub keys: Vec<Key>,
    /// At most one per address: the last one listed wins.
    pub usage: Vec<Used>,
    pub skipped: Vec<String>,
}

/// Counters beyond `i64::MAX` cannot be real; they are stored as the maximum.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn check(keys: &[DkimKey], usage: &[MailboxUsage]) -> Report {
    let mut skipped = Vec::new();
    let mut by_domain: BTreeMap<&str, Key> = BTreeMap::new();
    for k in keys {
        let domain = k.domain.as_str();
        if !protocol::dns::is_dkim_selector(&k.selector) {
            skipped.push(format!(
                "DKIM key of {domain}: the selector is not a DNS label"
            ));
        } else if !valid_public_key(&k.public_key) {
            skipped.push(format!(
                "DKIM key of {domain}: the public key is not base64 of {}..={} characters",
                PUBLIC_KEY_CHARS.start(),
                PUBLIC_KEY_CHARS.end()
            ));
        } else {
            by_domain.insert(
                domain,
                Key {
                    domain: domain.to_owned(),
                    domain_id: k.domain_id.as_ref().map(|id| id.as_str().to_owned()),
                    selector: k.selector.clone(),
                    public_key: k.public_key.clone(),
                },
            );
        }
    }
    let mut by_address: BTreeMap<(&str, String), Used> = BTreeMap::new();
    for u in usage {
        let domain = u.address.domain().as_str();
        match LocalPart::parse(u.address.local()) {
            Ok(local) => {
                let local = local.as_str().to_owned();
                by_address.insert(
                    (domain, local.clone()),
                    Used {
                        domain: domain.to_owned(),
                        local_part: local,
                        bytes: clamp(u.bytes),
                        messages: clamp(u.messages),
                    },
                );
            }
            Err(_) => skipped.push(format!(
                "usage of {}: not the address of a mailbox",
                u.address
            )),
        }
    }
    Report {
        keys: by_domain.into_values().collect(),
        usage: by_address.into_values().collect(),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::names::{DomainName, EmailAddress};

    fn key(domain: &str, selector: &str, public_key: &str) -> DkimKey {
        DkimKey {
            domain: DomainName::parse(domain).unwrap(),
            domain_id: None,
            selector: selector.to_owned(),
            public_key: public_key.to_owned(),
        }
    }

    fn b64(n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![0x30u8; n])
    }

    #[test]
    fn public_keys_are_bounded_base64() {
        assert!(valid_public_key(&b64(75))); // 100 characters
        assert!(valid_public_key(&b64(1500))); // 2000 characters
        assert!(!valid_public_key(&b64(72))); // 96
        assert!(!valid_public_key(&b64(1503))); // 2004
        let good = b64(300);
        for bad in [
            format!("{good}\""),
            format!("{}; x=1", &good[..200]),
            format!("{} {}", &good[..100], &good[100..200]),
            good.replace('M', "-"),
            format!("{}=", &good[..201]),
        ] {
            assert!(!valid_public_key(&bad), "{bad}");
        }
    }

    #[test]
    fn the_record_is_exact() {
        let r = DkimRecord::new("ruche1", "xn--bcher-kva.example", "MIIB");
        assert_eq!(r.name, "ruche1._domainkey.xn--bcher-kva.example");
        assert_eq!(r.value, "v=DKIM1; k=rsa; p=MIIB");
        assert_eq!(r.selector, "ruche1");
        assert_eq!(
            r.zone_line(),
            "ruche1._domainkey.xn--bcher-kva.example. IN TXT \"v=DKIM1; k=rsa; p=MIIB\""
        );
        let long = DkimRecord::new("s", "a.test", &"A".repeat(400));
        let line = long.zone_line();
        let txt = line
            .strip_prefix("s._domainkey.a.test. IN TXT \"")
            .and_then(|l| l.strip_suffix('"'))
            .unwrap();
        let parts: Vec<&str> = txt.split("\" \"").collect();
        let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lengths, vec![255, long.value.len() - 255]);
        assert_eq!(parts.concat(), long.value);
    }

    #[test]
    fn bad_entries_are_skipped_and_the_last_one_wins() {
        let good = b64(300);
        let newer = b64(301);
        let usage = |a: &str, bytes: u64| MailboxUsage {
            address: EmailAddress::parse(a).unwrap(),
            bytes,
            messages: 3,
        };
        let r = check(
            &[
                key("a.test", "s1", &good),
                key("b.test", "Bad_Selector", &good),
                key("c.test", "s1", "not base64!"),
                key("a.test", "s2", &newer),
            ],
            &[
                usage("Alice@a.test", 10),
                usage("o'brien@a.test", 5),
                usage("alice@a.test", u64::MAX),
            ],
        );
        assert_eq!(
            r.keys,
            vec![Key {
                domain: "a.test".into(),
                domain_id: None,
                selector: "s2".into(),
                public_key: newer
            }]
        );
        assert_eq!(
            r.usage,
            vec![Used {
                domain: "a.test".into(),
                local_part: "alice".into(),
                bytes: i64::MAX,
                messages: 3
            }]
        );
        assert_eq!(r.skipped.len(), 3, "{:?}", r.skipped);
        assert!(r.skipped[0].contains("b.test") && r.skipped[1].contains("c.test"));
        assert!(r.skipped[2].contains("o'brien@a.test"));
    }
}
