//! What mail clients and sending servers fetch from a member's web names, as files nginx serves
//! (under [`WEB_ROOT`], mode 0644) and the locations that serve them (`ruche/discovery.conf`,
//! included in each member domain's HTTPS server):
//!
//! - `https://mta-sts.<domain>/.well-known/mta-sts.txt`: the node's MTA-STS policy
//!   ([`crate::render::mta_sts`]), one file for every domain, as `text/plain`;
//! - `https://autoconfig.<domain>/mail/config-v1.1.xml` and
//!   `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`: Thunderbird's
//!   autoconfiguration (Mozilla's ISPDB format, `clientConfig` version 1.1), one file per domain
//!   (it names the domain), as `application/xml`;
//! - `https://autodiscover.<domain>/autodiscover/autodiscover.xml`: Outlook's autodiscover
//!   answer (the 2006 "outlook" response schema), one file for every domain (it names nothing
//!   of the domain), to GET and to the POST Outlook sends, as `application/xml`.
//!
//! Each answers only on its own host: the server holds all of a domain's web names, so each
//! location first refuses (404) any other `$host`. The member server sets `$ruche_domain` to
//! its typed domain name; the paths under `/.well-known/` are the registry's
//! (`protocol::well_known`), the others `protocol::well_known`'s constants beside it.
//!
//! The clients are told only what the node offers: IMAP over implicit TLS and submission on
//! both ports, which exist only while the node has a certificate for its host name
//! (`NodeMaterial::offers_tls`, as Postfix and Dovecot decide); without one there is nothing
//! to configure, so neither document nor location is rendered. Logins are the full address
//! (`%EMAILADDRESS%` for Thunderbird; Outlook's answer names no login, which the static file
//! could only do by echoing what the request says).
//!
//! Every value written is a typed domain name (`[a-z0-9.-]`), a port number or a constant;
//! [`xml_text`] escapes anyway, so no value could open an element.

use std::fmt::Write as _;

use protocol::dns::platform;
use protocol::names::DomainName;
use protocol::well_known;

use crate::render::Layout;

/// The directory of the files nginx serves here, under the root.
pub const WEB_ROOT: &str = "var/lib/ruche/web";
/// One autoconfiguration file per domain: `<domain>.xml`.
pub const AUTOCONFIG_DIR: &str = "var/lib/ruche/web/autoconfig";
pub const MTA_STS_FILE: &str = "var/lib/ruche/web/mta-sts.txt";
pub const AUTODISCOVER_FILE: &str = "var/lib/ruche/web/autodiscover.xml";

/// The autoconfiguration file of `domain`.
pub fn autoconfig_path(domain: &DomainName) -> String {
    format!("{AUTOCONFIG_DIR}/{}.xml", domain.as_str())
}

/// The domain whose autoconfiguration file `path` is, if it is one ([`autoconfig_path`]'s
/// inverse: a canonical domain name and `.xml`).
pub fn autoconfig_domain(path: &str) -> Option<DomainName> {
    let name = path
        .strip_prefix(AUTOCONFIG_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".xml")?;
    let domain = DomainName::parse(name).ok()?;
    (domain.as_str() == name).then_some(domain)
}

/// Where mail clients reach the node: its host name and ports, from the layout.
#[derive(Debug, Clone, Copy)]
pub struct MailServers<'a> {
    pub hostname: &'a DomainName,
    /// IMAP over implicit TLS (RFC 8314).
    pub imaps: u16,
    /// Submission over implicit TLS, then with STARTTLS.
    pub submissions: u16,
    pub submission: u16,
}

impl<'a> MailServers<'a> {
    pub fn of(layout: &'a Layout) -> MailServers<'a> {
        MailServers {
            hostname: &layout.hostname,
            imaps: layout.ports.imaps,
            submissions: layout.ports.submissions,
            submission: layout.ports.submission,
        }
    }
}

/// `text` for an XML element or attribute.
fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The start of `domain`'s autoconfiguration, up to its servers: the part that names it.
pub fn autoconfig_head(domain: &DomainName) -> String {
    let d = xml_text(domain.as_str());
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <clientConfig version=\"1.1\">\n\
         \x20 <emailProvider id=\"{d}\">\n\
         \x20   <domain>{d}</domain>\n\
         \x20   <displayName>{d}</displayName>\n\
         \x20   <displayShortName>{d}</displayShortName>\n"
    )
}

/// The rest of every domain's autoconfiguration: the servers, the same for all (one copy is
/// shared by every domain's file).
pub fn autoconfig_servers(servers: &MailServers<'_>) -> String {
    let host = xml_text(servers.hostname.as_str());
    let server = |element: &str, kind: &str, port: u16, socket: &str| {
        format!(
            "    <{element} type=\"{kind}\">\n\
             \x20     <hostname>{host}</hostname>\n\
             \x20     <port>{port}</port>\n\
             \x20     <socketType>{socket}</socketType>\n\
             \x20     <username>%EMAILADDRESS%</username>\n\
             \x20     <authentication>password-cleartext</authentication>\n\
             \x20   </{element}>\n"
        )
    };
    let mut out = server("incomingServer", "imap", servers.imaps, "SSL");
    out.push_str(&server(
        "outgoingServer",
        "smtp",
        servers.submissions,
        "SSL",
    ));
    out.push_str(&server(
        "outgoingServer",
        "smtp",
        servers.submission,
        "STARTTLS",
    ));
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// Outlook's autodiscover answer: the node's IMAP and SMTP servers, both over implicit TLS
/// (the schema's `SSL`; its `SPA` is Windows' own authentication, off: passwords go inside
/// TLS).
pub fn autodiscover(servers: &MailServers<'_>) -> String {
    let host = xml_text(servers.hostname.as_str());
    let protocol = |kind: &str, port: u16| {
        format!(
            "      <Protocol>\n\
             \x20       <Type>{kind}</Type>\n\
             \x20       <Server>{host}</Server>\n\
             \x20       <Port>{port}</Port>\n\
             \x20       <DomainRequired>off</DomainRequired>\n\
             \x20       <SPA>off</SPA>\n\
             \x20       <SSL>on</SSL>\n\
             \x20       <AuthRequired>on</AuthRequired>\n\
             \x20     </Protocol>\n"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n\
         \x20 <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n\
         \x20   <Account>\n\
         \x20     <AccountType>email</AccountType>\n\
         \x20     <Action>settings</Action>\n\
         {imap}{smtp}\
         \x20   </Account>\n\
         \x20 </Response>\n\
         </Autodiscover>\n",
        imap = protocol("IMAP", servers.imaps),
        smtp = protocol("SMTP", servers.submissions),
    )
}

/// One exact location answering only on `host` (an nginx expression: a constant label and
/// `$ruche_domain`) with the file `file` (under the root, possibly naming `$ruche_domain`) as
/// `content_type`; `extra`: more directives, each a line.
fn location(path: &str, host: &str, file: &str, content_type: &str, extra: &[&str]) -> String {
    let mut out = format!(
        "location = {path} {{\n    if ($host != {host}) {{\n        return 404;\n    }}\n    \
         alias {file};\n    types {{ }}\n    default_type {content_type};\n"
    );
    for line in extra {
        let _ = writeln!(out, "    {line}");
    }
    out.push_str("}\n");
    out
}

/// The nginx variable each member domain's HTTPS server sets to its domain.
pub const DOMAIN_VARIABLE: &str = "$ruche_domain";

/// `ruche/discovery.conf`: the locations above, for the server whose `$ruche_domain` is set.
/// `mail`: whether the node offers mail clients anything (else only MTA-STS).
pub fn locations(layout: &Layout, mail: bool) -> String {
    let under = |label: &str| format!("{label}.{DOMAIN_VARIABLE}");
    let mut out = String::from(
        "# Discovery documents of the member domain named by $ruche_domain, each only on its\n\
         # own host (services/nginx/discovery.rs).\n",
    );
    out.push_str(&location(
        &well_known::MTA_STS.path(),
        &under(platform::MTA_STS_HOST),
        &layout.path_text(MTA_STS_FILE),
        "text/plain",
        &[],
    ));
    if !mail {
        return out;
    }
    let autoconfig = layout.path_text(&format!("{AUTOCONFIG_DIR}/{DOMAIN_VARIABLE}.xml"));
    out.push_str(&location(
        &well_known::AUTOCONFIG.path(),
        DOMAIN_VARIABLE,
        &autoconfig,
        "application/xml",
        &[],
    ));
    out.push_str(&location(
        well_known::AUTOCONFIG_HOST_PATH,
        &under(platform::AUTOCONFIG),
        &autoconfig,
        "application/xml",
        &[],
    ));
    out.push_str(&location(
        well_known::AUTODISCOVER_PATH,
        &under(platform::AUTODISCOVER),
        &layout.path_text(AUTODISCOVER_FILE),
        "application/xml",
        // Outlook POSTs its request (the address it looks for); the answer is the same for
        // every address. nginx refuses POST to a file (405): that refusal is answered with
        // the file itself, fetched again as GET.
        &["error_page 405 =200 $uri;"],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{MessageLimit, Ports};

    fn layout() -> Layout {
        Layout {
            root: "/srv/ruche".into(),
            hostname: DomainName::parse("mail.example.net").unwrap(),
            listen: "203.0.113.25".parse().unwrap(),
            internal: "127.0.0.1".parse().unwrap(),
            ports: Ports {
                imaps: 2993,
                submission: 2587,
                submissions: 2465,
                ..Ports::default()
            },
            broker: "127.0.0.1:8025".parse().unwrap(),
            vmail_uid: 5000,
            vmail_gid: 5000,
            send_limit: MessageLimit::default(),
            forward_limit: MessageLimit::forwarding(),
            relayhost: None,
        }
    }

    fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        node.children()
            .find(|c| c.has_tag_name(name))
            .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
    }

    fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> String {
        child(node, name).text().unwrap_or_default().to_owned()
    }

    /// A server element: (type, hostname, port, socketType, username, authentication).
    fn server(node: roxmltree::Node<'_, '_>) -> [String; 6] {
        [
            node.attribute("type").unwrap_or_default().to_owned(),
            text_of(node, "hostname"),
            text_of(node, "port"),
            text_of(node, "socketType"),
            text_of(node, "username"),
            text_of(node, "authentication"),
        ]
    }

    #[test]
    fn autoconfig_names_the_domain_and_the_node_s_real_servers() {
        let layout = layout();
        let domain = DomainName::parse("bücher.example").unwrap();
        let text = autoconfig_head(&domain) + &autoconfig_servers(&MailServers::of(&layout));
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name("clientConfig"));
        assert_eq!(root.attribute("version"), Some("1.1"));
        let provider = child(root, "emailProvider");
        assert_eq!(provider.attribute("id"), Some("xn--bcher-kva.example"));
        assert_eq!(text_of(provider, "domain"), "xn--bcher-kva.example");
        assert_eq!(text_of(provider, "displayName"), "xn--bcher-kva.example");
        let incoming: Vec<[String; 6]> = provider
            .children()
            .filter(|c| c.has_tag_name("incomingServer"))
            .map(server)
            .collect();
        let outgoing: Vec<[String; 6]> = provider
            .children()
            .filter(|c| c.has_tag_name("outgoingServer"))
            .map(server)
            .collect();
        let expect = |kind: &str, port: &str, socket: &str| {
            [
                kind,
                "mail.example.net",
                port,
                socket,
                "%EMAILADDRESS%",
                "password-cleartext",
            ]
            .map(str::to_owned)
        };
        assert_eq!(incoming, [expect("imap", "2993", "SSL")]);
        assert_eq!(
            outgoing,
            [
                expect("smtp", "2465", "SSL"),
                expect("smtp", "2587", "STARTTLS")
            ]
        );
    }

    #[test]
    fn autodiscover_follows_the_outlook_schema() {
        let layout = layout();
        let text = autodiscover(&MailServers::of(&layout));
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        let ns = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
        assert_eq!(root.tag_name().namespace(), Some(ns));
        assert!(root.has_tag_name("Autodiscover"));
        let response = child(root, "Response");
        assert_eq!(
            response.tag_name().namespace(),
            Some("http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a")
        );
        let account = child(response, "Account");
        assert_eq!(text_of(account, "AccountType"), "email");
        assert_eq!(text_of(account, "Action"), "settings");
        let protocols: Vec<Vec<(String, String)>> = account
            .children()
            .filter(|c| c.has_tag_name("Protocol"))
            .map(|p| {
                p.children()
                    .filter(|c| c.is_element())
                    .map(|c| {
                        let name = c.tag_name().name().to_owned();
                        (name, c.text().unwrap_or_default().to_owned())
                    })
                    .collect()
            })
            .collect();
        let expect = |kind: &str, port: &str| {
            [
                ("Type", kind),
                ("Server", "mail.example.net"),
                ("Port", port),
                ("DomainRequired", "off"),
                ("SPA", "off"),
                ("SSL", "on"),
                ("AuthRequired", "on"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
        };
        assert_eq!(protocols, [expect("IMAP", "2993"), expect("SMTP", "2465")]);
    }

    #[test]
    fn xml_text_escapes_markup() {
        assert_eq!(xml_text("a<b>&\"c'\n"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn autoconfig_paths_are_canonical_domains() {
        let domain = DomainName::parse("example.org").unwrap();
        let path = autoconfig_path(&domain);
        assert_eq!(path, "var/lib/ruche/web/autoconfig/example.org.xml");
        assert_eq!(autoconfig_domain(&path), Some(domain));
        for other in [
            "var/lib/ruche/web/autoconfig/Example.org.xml",
            "var/lib/ruche/web/autoconfig/example.org.xml.tmp",
            "var/lib/ruche/web/autoconfig/../x.xml",
            "var/lib/ruche/web/autoconfig/a/b.xml",
            "var/lib/ruche/web/mta-sts.txt",
        ] {
            assert_eq!(autoconfig_domain(other), None, "{other}");
        }
    }

    /// Every `/.well-known/` location is a registered path of the expected owner; the others
    /// are the two host paths; each answers on one host only.
    #[test]
    fn locations_take_their_paths_from_the_registry() {
        let layout = layout();
        let text = locations(&layout, true);
        let paths: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("location = "))
            .filter_map(|l| l.strip_suffix(" {"))
            .collect();
        assert_eq!(
            paths,
            [
                "/.well-known/mta-sts.txt",
                "/.well-known/autoconfig/mail/config-v1.1.xml",
                "/mail/config-v1.1.xml",
                "/autodiscover/autodiscover.xml"
            ]
        );
        let owners: Vec<Option<well_known::Owner>> = paths
            .iter()
            .map(|p| well_known::owner(p).map(|e| e.owner))
            .collect();
        assert_eq!(
            owners,
            [
                Some(well_known::Owner::MtaSts),
                Some(well_known::Owner::Autoconfig),
                None,
                None
            ]
        );
        let hosts: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("if ($host != "))
            .collect();
        assert_eq!(
            hosts,
            [
                "mta-sts.$ruche_domain) {",
                "$ruche_domain) {",
                "autoconfig.$ruche_domain) {",
                "autodiscover.$ruche_domain) {"
            ]
        );
        // Without TLS on the node, only the MTA-STS policy.
        let policy_only = locations(&layout, false);
        assert_eq!(policy_only.matches("location = ").count(), 1);
        assert!(policy_only.contains("location = /.well-known/mta-sts.txt {"));
    }
}
