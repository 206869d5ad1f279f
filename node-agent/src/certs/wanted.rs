//! Which certificates the node wants, and how each is checked: a pure function of the applied
//! document and the node's settings.

use std::fmt;

use protocol::desired::DesiredState;
use protocol::dns::platform;
use protocol::names::{DomainName, ObjectId};
use protocol::node::Challenge;

/// What a certificate is filed under: the node's own host name, or a member domain (whose web
/// names it covers). Two kinds, so a member domain can never be mistaken for the node's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertKey {
    Node(DomainName),
    Domain(DomainName),
}

impl CertKey {
    /// Its directory under the certificate store: `node/<name>` or `domain/<name>` (a typed
    /// name: `[a-z0-9.-]`, never `.` or `..` alone).
    pub fn dir(&self) -> String {
        match self {
            CertKey::Node(name) => format!("node/{name}"),
            CertKey::Domain(name) => format!("domain/{name}"),
        }
    }

    pub fn name(&self) -> &DomainName {
        match self {
            CertKey::Node(name) | CertKey::Domain(name) => name,
        }
    }
}

impl fmt::Display for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir())
    }
}

/// One certificate the node wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub key: CertKey,
    /// The member domain's id (none for the node's name): reports name it.
    pub domain_id: Option<ObjectId>,
    /// Every name it should hold; with HTTP-01 only those the world resolves to the node are
    /// asked for.
    pub names: Vec<DomainName>,
    pub challenge: Challenge,
}

/// The certificates the node wants for `desired` (what it serves): one for each of its own
/// names (`node_names`: the host name, the portal's), and one per served domain of every member,
/// active or suspended (a suspended member's certificate is kept current, so reactivation
/// serves at once), holding the domain's web names.
///
/// The challenge, per certificate (ARCHITECTURE.md, "Decisions"): DNS-01 when `dns_served`
/// (this node runs a name server) and this node is primary for the domain's zone — the TXT
/// record goes into our own Knot, so the name is certified before its A record points here
/// and without port 80 reachable; HTTP-01 otherwise (a zone elsewhere, the node's own name in
/// the operator's zone), through nginx's challenge directory.
pub fn wanted(desired: &DesiredState, node_names: &[DomainName], dns_served: bool) -> Vec<Wanted> {
    let primary = |name: &DomainName| {
        dns_served
            && desired
                .dns
                .iter()
                .flat_map(|d| &d.zones)
                .any(|z| &z.name == name)
    };
    let mut out: Vec<Wanted> = node_names
        .iter()
        .map(|name| Wanted {
            key: CertKey::Node(name.clone()),
            domain_id: None,
            names: vec![name.clone()],
            challenge: Challenge::Http01,
        })
        .collect();
    for domain in desired.tenants.iter().flat_map(|t| &t.domains) {
        // The node's own names are never a member's (a member who claimed the portal's name
        // gets no certificate for it).
        let names: Vec<DomainName> = platform::web_names(&domain.name)
            .into_iter()
            .filter(|n| !node_names.contains(n))
            .collect();
        if names.first() != Some(&domain.name) {
            continue;
        }
        out.push(Wanted {
            key: CertKey::Domain(domain.name.clone()),
            domain_id: domain.id.clone(),
            names,
            challenge: if primary(&domain.name) {
                Challenge::Dns01
            } else {
                Challenge::Http01
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::desired::{Dns, Domain, Tenant, Zone};
    use std::sync::Arc;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    fn domain(n: &str) -> Domain {
        Domain {
            id: None,
            name: name(n),
            verified: true,
            mailboxes: vec![],
            aliases: vec![],
            xmpp_accounts: vec![],
        }
    }

    fn desired(zones: &[&str]) -> DesiredState {
        let tenant = |id: &str, active, domains: Vec<Domain>| {
            Arc::new(Tenant {
                member_id: id.into(),
                active,
                domains,
                app_passwords: vec![],
                contact: None,
            })
        };
        DesiredState {
            schema: protocol::desired::SCHEMA,
            generation: 1,
            node_id: "n1".into(),
            tenants: vec![
                tenant("a", true, vec![domain("a.test"), domain("b.test")]),
                tenant("c", false, vec![domain("c.test")]),
            ],
            dns: Some(Dns {
                nameserver: name("ns1.host.test"),
                catalog: name("catalog.host.test"),
                zone_nameservers: vec![],
                zones: zones
                    .iter()
                    .map(|z| {
                        Arc::new(Zone {
                            name: name(z),
                            records: vec![],
                        })
                    })
                    .collect(),
                secondaries: vec![],
                primaries: vec![],
                caa_issuers: vec![],
            }),
        }
    }

    #[test]
    fn the_node_and_every_served_domain_are_certified() {
        let host = name("mail.host.test");
        let got = wanted(&desired(&["a.test"]), std::slice::from_ref(&host), true);
        let summary: Vec<(String, Challenge)> = got
            .iter()
            .map(|w| (w.key.to_string(), w.challenge))
            .collect();
        assert_eq!(
            summary,
            [
                ("node/mail.host.test".to_owned(), Challenge::Http01),
                ("domain/a.test".to_owned(), Challenge::Dns01),
                ("domain/b.test".to_owned(), Challenge::Http01),
                ("domain/c.test".to_owned(), Challenge::Http01),
            ]
        );
        assert_eq!(
            got[1].names,
            [
                name("a.test"),
                name("www.a.test"),
                name("autoconfig.a.test"),
                name("mta-sts.a.test"),
                name("autodiscover.a.test")
            ]
        );
        assert_eq!(got[0].names, [host]);
    }

    #[test]
    fn without_a_name_server_every_name_is_checked_over_http() {
        let got = wanted(
            &desired(&["a.test"]),
            &[name("h.test"), name("portal.h.test")],
            false,
        );
        assert!(got.iter().all(|w| w.challenge == Challenge::Http01));
        assert_eq!(got[1].key, CertKey::Node(name("portal.h.test")));
    }

    #[test]
    fn a_node_name_is_never_on_a_members_certificate() {
        // The portal is `www.a.test`, the host name `c.test`: a.test's certificate leaves the
        // portal's name out, c.test gets none.
        let got = wanted(&desired(&[]), &[name("c.test"), name("www.a.test")], false);
        let a = got
            .iter()
            .find(|w| w.key == CertKey::Domain(name("a.test")))
            .unwrap();
        let web_names = platform::web_names(&name("a.test"));
        assert!(!a.names.contains(&name("www.a.test")) && a.names.len() == web_names.len() - 1);
        assert!(got.iter().all(|w| w.key != CertKey::Domain(name("c.test"))));
    }
}
