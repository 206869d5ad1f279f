//! WebFinger (RFC 7033) and host-meta (RFC 6415) on each member domain's HTTPS server.
//!
//! Only the accounts a member marked public answer (`public` in the desired state; default
//! not public): `GET https://<domain>/.well-known/webfinger?resource=acct:<local>@<domain>`
//! gives a JRD naming the account and its mail and XMPP addresses, nothing else about the
//! member. The answers live in one node-wide map (`ruche/webfinger.map`, at the `http` level),
//! from `"<host>|<resource as sent>"` to the JRD itself, so no file per account is left behind
//! when an account stops being public: the map is rewritten and reloaded. An unknown resource
//! is 404; an absent one, or one that is not a URI, 400; CORS `*` (RFC 7033 §5).
//!
//! nginx's `$arg_resource` is the query's raw text: a client may percent-encode `:` and `@`
//! (`acct%3Aalice%40example.org`; the map ignores case), so each account is listed under each
//! spelling.
//! Local parts, XMPP nodes and domains are typed (`[a-z0-9._-]`, `[a-z0-9.-]`): no spelling or
//! JRD holds a quote, a backslash or a `$`, and none can end a string or a directive; a hostile
//! resource never reaches a file, it only fails to match.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use protocol::desired::DesiredState;
use protocol::names::DomainName;
use protocol::well_known;

use crate::render::NodeMaterial;

/// The map, included in `http {}` by nginx.conf.
pub const MAP: &str = "etc/nginx/ruche/webfinger.map";
/// The variable the map sets: the JRD, empty when none.
const VARIABLE: &str = "$ruche_webfinger";

/// Whether `text` holds only what a typed local part or domain holds.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// One public account: a local part with a mailbox, an XMPP account, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub mailbox: bool,
    pub xmpp: bool,
}

/// The JRD of `local@domain`: its `acct:` subject and, as aliases, its mail and XMPP
/// addresses.
pub fn document(domain: &DomainName, local: &str, account: &Account) -> String {
    let address = format!("{local}@{domain}");
    let mut aliases = Vec::new();
    if account.mailbox {
        aliases.push(format!("mailto:{address}"));
    }
    if account.xmpp {
        aliases.push(format!("xmpp:{address}"));
    }
    serde_json::json!({ "subject": format!("acct:{address}"), "aliases": aliases }).to_string()
}

/// Every spelling of `acct:<local>@<domain>` a client may send: `:` and `@` as they are or
/// percent-encoded (nginx's map compares case-insensitively: `%3A` covers `%3a`).
pub fn spellings(domain: &DomainName, local: &str) -> Vec<String> {
    let mut out = Vec::new();
    for colon in [":", "%3A"] {
        for at in ["@", "%40"] {
            out.push(format!("acct{colon}{local}{at}{domain}"));
        }
    }
    out
}

/// The public accounts of the active members' domains that have a certificate (an HTTPS
/// server), by domain and local part.
fn accounts(
    desired: &DesiredState,
    material: &NodeMaterial,
) -> BTreeMap<DomainName, BTreeMap<String, Account>> {
    let mut out: BTreeMap<DomainName, BTreeMap<String, Account>> = BTreeMap::new();
    for domain in desired
        .tenants
        .iter()
        .filter(|t| t.active)
        .flat_map(|t| &t.domains)
    {
        let served = material
            .certs
            .contains_key(&crate::certs::CertKey::Domain(domain.name.clone()));
        if !served {
            continue;
        }
        let entry = out.entry(domain.name.clone()).or_default();
        for mailbox in domain.mailboxes.iter().filter(|m| m.public) {
            entry
                .entry(mailbox.local_part.as_str().to_owned())
                .or_default()
                .mailbox = true;
        }
        for account in domain.xmpp_accounts.iter().filter(|x| x.public) {
            entry
                .entry(account.node.as_str().to_owned())
                .or_default()
                .xmpp = true;
        }
    }
    out.retain(|_, accounts| !accounts.is_empty());
    out
}

/// The map: each spelling of each public account, on its domain's own host, to its JRD.
pub fn map(desired: &DesiredState, material: &NodeMaterial) -> String {
    let mut text = format!(
        "# WebFinger (services/nginx/webfinger.rs): \"<host>|<resource>\" to the account's JRD.\n\
         map \"$host|$arg_resource\" {VARIABLE} {{\n    default \"\";\n"
    );
    for (domain, accounts) in accounts(desired, material) {
        if !plain(domain.as_str()) {
            continue;
        }
        for (local, account) in accounts.iter().filter(|(l, _)| plain(l)) {
            let jrd = document(&domain, local, account);
            for spelling in spellings(&domain, local) {
                let _ = writeln!(text, "    \"{domain}|{spelling}\" '{jrd}';");
            }
        }
    }
    text.push_str("}\n");
    text
}

/// The locations of an HTTPS server: WebFinger and host-meta (XRD and JSON), paths from the
/// registry. `hsts`: the server's header, repeated (a location's `add_header` replaces the
/// server's).
pub fn locations(hsts: &str) -> String {
    let headers = format!(
        "        add_header Access-Control-Allow-Origin \"*\" always;\n        \
         add_header Strict-Transport-Security \"{hsts}\" always;\n"
    );
    let lrdd = "https://$host/.well-known/webfinger?resource={uri}";
    format!(
        "    location = {webfinger} {{\n{headers}        default_type application/jrd+json;\n        \
         if ($arg_resource = \"\") {{\n            return 400;\n        }}\n        \
         if ($arg_resource !~* \"^[a-z][a-z0-9+.-]*(:|%3a)\") {{\n            return 400;\n        }}\n        \
         if ({VARIABLE} = \"\") {{\n            return 404;\n        }}\n        \
         return 200 {VARIABLE};\n    }}\n    \
         location = {host_meta} {{\n{headers}        default_type application/xrd+xml;\n        \
         return 200 '<?xml version=\"1.0\" encoding=\"UTF-8\"?><XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\"><Link rel=\"lrdd\" template=\"{lrdd}\"/></XRD>';\n    }}\n    \
         location = {host_meta_json} {{\n{headers}        default_type application/json;\n        \
         return 200 '{{\"links\":[{{\"rel\":\"lrdd\",\"template\":\"{lrdd}\"}}]}}';\n    }}\n",
        webfinger = well_known::WEBFINGER.path(),
        host_meta = well_known::HOST_META.path(),
        host_meta_json = well_known::HOST_META_JSON.path(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> DomainName {
        DomainName::parse("example.org").unwrap()
    }

    #[test]
    fn the_document_names_the_account_and_its_addresses_only() {
        let jrd = document(
            &domain(),
            "alice",
            &Account {
                mailbox: true,
                xmpp: true,
            },
        );
        let value: serde_json::Value = serde_json::from_str(&jrd).unwrap();
        assert_eq!(value["subject"], "acct:alice@example.org");
        assert_eq!(
            value["aliases"],
            serde_json::json!(["mailto:alice@example.org", "xmpp:alice@example.org"])
        );
        assert_eq!(value.as_object().unwrap().len(), 2);
        assert!(!jrd.contains('\''));
    }

    #[test]
    fn every_spelling_of_an_account() {
        let all = spellings(&domain(), "alice");
        assert_eq!(all.len(), 4);
        for spelling in [
            "acct:alice@example.org",
            "acct%3Aalice%40example.org",
            "acct%3Aalice@example.org",
        ] {
            assert!(all.contains(&spelling.to_owned()), "{spelling}");
        }
    }

    #[test]
    fn locations_take_their_paths_from_the_registry() {
        let text = locations("max-age=1");
        for entry in [
            well_known::WEBFINGER,
            well_known::HOST_META,
            well_known::HOST_META_JSON,
        ] {
            assert!(text.contains(&format!("location = {} {{", entry.path())));
        }
    }
}
