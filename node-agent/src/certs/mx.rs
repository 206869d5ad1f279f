//! Whether the node's own certificate is one a sending MTA would accept for its host name, the
//! MX of every domain it serves: what turns the MTA-STS policy from `testing` to `enforce`
//! ([`crate::render::mta_sts`]). Read at the I/O edge (the reconcile's material), with the
//! time passed in, so a renderer only sees the answer.
//!
//! The certificate is the one the mail daemons present (`NodeMaterial::host_cert`):
//! agent.toml's `[tls]` files when there are, else the one ACME obtained for the host name.
//! Valid means within its validity period and naming the host among its DNS names (RFC 6125
//! §6.4: exactly, or by a wildcard standing for its first label, as MTA-STS senders match it,
//! RFC 8461 §4.1). Whether a sender trusts its issuer is not something the node can know; a
//! certificate the node does not use is not looked at. A certificate that expires between two
//! reconciles is seen at the next one (every ten minutes at most, `daemon::RESYNC`).

use std::collections::BTreeMap;

use protocol::names::DomainName;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use super::{CertKey, Installed};
use crate::render::MxCertificate;

/// `tls_chain`: `[tls]`'s chain (PEM, the leaf first), when agent.toml has one; `installed`:
/// ACME's certificates; `now`: seconds since the epoch.
pub fn mx_certificate(
    tls_chain: Option<&[u8]>,
    installed: &BTreeMap<CertKey, Installed>,
    hostname: &DomainName,
    now: i64,
) -> MxCertificate {
    let valid = match tls_chain {
        Some(chain) => match leaf(chain) {
            Ok(leaf) => {
                leaf.not_before <= now
                    && now < leaf.not_after
                    && leaf.dns_names.iter().any(|n| names_host(n, hostname))
            }
            Err(why) => {
                tracing::warn!(%why, "the [tls] certificate does not parse: MTA-STS stays in testing");
                false
            }
        },
        None => installed
            .get(&CertKey::Node(hostname.clone()))
            .is_some_and(|i| i.valid_at(now) && i.covers([hostname])),
    };
    if valid {
        MxCertificate::Valid
    } else {
        MxCertificate::NotValid
    }
}

/// What a sender looks at in the leaf.
struct Leaf {
    /// As written in its subject alternative names (wildcards included).
    dns_names: Vec<String>,
    not_before: i64,
    not_after: i64,
}

/// The first certificate of a PEM chain.
fn leaf(chain: &[u8]) -> Result<Leaf, String> {
    let blocks = Pem::iter_from_buffer(chain)
        .collect::<Result<Vec<Pem>, _>>()
        .map_err(|e| format!("the chain is not PEM: {e}"))?;
    let pem = blocks
        .iter()
        .find(|p| p.label == "CERTIFICATE")
        .ok_or("the chain holds no certificate")?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("the leaf does not parse: {e}"))?;
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(text) = name {
                dns_names.push((*text).to_owned());
            }
        }
    }
    Ok(Leaf {
        dns_names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether the DNS name `pattern` of a certificate names `host`: the same name (in any case,
/// with or without the root's dot), or `*.` and the name `host` has after its first label.
fn names_host(pattern: &str, host: &DomainName) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let host = host.as_str();
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(_, rest)| !parent.is_empty() && rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::store::tests::{name, self_signed};

    const NOW: i64 = 1_800_000_000;

    fn tls(names: &[&str], from: i64, until: i64) -> Vec<u8> {
        self_signed(names, from, until).0.into_bytes()
    }

    fn acme(names: &[&str], not_before: i64, not_after: i64) -> BTreeMap<CertKey, Installed> {
        BTreeMap::from([(
            CertKey::Node(name("mail.example.net")),
            Installed {
                names: names.iter().map(|n| name(n)).collect(),
                dir: "var/lib/ruche/certs/node/mail.example.net/0011223344556677".to_owned(),
                not_before,
                not_after,
                leaf: std::sync::Arc::from(Vec::new()),
            },
        )])
    }

    #[test]
    fn the_operator_s_certificate_counts_when_it_is_current_and_names_the_host() {
        let host = name("mail.example.net");
        let none = BTreeMap::new();
        let check = |chain: &[u8]| mx_certificate(Some(chain), &none, &host, NOW);
        let current = tls(&["mail.example.net"], NOW - 10, NOW + 10);
        assert_eq!(check(&current), MxCertificate::Valid);
        let wildcard = tls(&["other.test", "*.example.net"], NOW - 10, NOW + 10);
        assert_eq!(check(&wildcard), MxCertificate::Valid);
        for chain in [
            tls(&["mail.example.net"], NOW - 100, NOW),
            tls(&["mail.example.net"], NOW + 1, NOW + 100),
            tls(&["mx.example.net"], NOW - 10, NOW + 10),
            tls(&["*.mail.example.net", "example.net"], NOW - 10, NOW + 10),
            b"not a certificate".to_vec(),
        ] {
            assert_eq!(check(&chain), MxCertificate::NotValid);
        }
        // [tls] is what the daemons present: ACME's certificate does not stand in for it.
        let valid = acme(&["mail.example.net"], NOW - 10, NOW + 10);
        let expired = tls(&["mail.example.net"], NOW - 100, NOW - 1);
        assert_eq!(
            mx_certificate(Some(&expired), &valid, &host, NOW),
            MxCertificate::NotValid
        );
    }

    #[test]
    fn without_tls_files_acme_s_certificate_for_the_host_counts_while_current() {
        let host = name("mail.example.net");
        let check = |certs: &BTreeMap<CertKey, Installed>| mx_certificate(None, certs, &host, NOW);
        assert_eq!(check(&BTreeMap::new()), MxCertificate::NotValid);
        assert_eq!(
            check(&acme(&["mail.example.net"], NOW - 10, NOW + 10)),
            MxCertificate::Valid
        );
        assert_eq!(
            check(&acme(&["mail.example.net"], NOW - 100, NOW)),
            MxCertificate::NotValid
        );
        assert_eq!(
            check(&acme(&["other.example.net"], NOW - 10, NOW + 10)),
            MxCertificate::NotValid
        );
    }

    #[test]
    fn names_match_as_rfc_6125_says() {
        let host = name("mail.example.net");
        for yes in [
            "mail.example.net",
            "MAIL.Example.net",
            "mail.example.net.",
            "*.example.net",
        ] {
            assert!(names_host(yes, &host), "{yes}");
        }
        for no in [
            "example.net",
            "*.net",
            "*.mail.example.net",
            "*.",
            "*",
            "m*.example.net",
        ] {
            assert!(!names_host(no, &host), "{no}");
        }
    }
}
