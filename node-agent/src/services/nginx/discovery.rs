//! What mail clients and sending servers fetch from a member's web names, as files nginx serves
//! from [`WEB_ROOT`] (mode 0644, its directories 0755: nginx's workers read them):
//!
//! - `https://mta-sts.<domain>/.well-known/mta-sts.txt`: the node's MTA-STS policy
//!   ([`crate::render::mta_sts`]), one file for every domain, as `text/plain`;
//! - `https://autoconfig.<domain>/mail/config-v1.1.xml` and
//!   `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`: Thunderbird's
//!   autoconfiguration (Mozilla's ISPDB format, `clientConfig` version 1.1), one file per domain
//!   (it names the domain), as `text/xml`;
//! - `https://autodiscover.<domain>/autodiscover/autodiscover.xml`: Outlook's autodiscover
//!   answer (the 2006 "outlook" response schema), one file for every domain (it names nothing
//!   of the domain), to GET and to the POST Outlook sends, as `text/xml`.
//!
//! One HTTPS server holds all of a domain's web names, and sets `$ruche_domain` to its typed
//! domain name; one node-wide `map` ([`map`], `ruche/discovery.conf`) says which file answers
//! from the host, that domain and the path, so each document answers only on its own host and
//! every other path is 404. The map costs nothing per domain: locations of their own in each
//! server (and the `if` a host check takes there) cost nginx 67 KiB per domain, 65 MiB at
//! 1,000 domains. Paths under `/.well-known/` are the registry's (`protocol::well_known`), the
//! two others its constants beside it.
//!
//! The clients are told only what the node offers: IMAP over implicit TLS and submission on
//! both ports, which exist only while the node has a certificate for its host name
//! (`NodeMaterial::offers_tls`, as Postfix and Dovecot decide); without one there is nothing
//! to configure, so neither document nor route is rendered. Logins are the full address
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

/// The nginx variable each member domain's HTTPS server sets to its domain.
pub const DOMAIN_VARIABLE: &str = "$ruche_domain";
/// The variable [`map`] sets: the file under [`WEB_ROOT`] that answers the request.
pub const FILE_VARIABLE: &str = "$ruche_discovery";
/// [`FILE_VARIABLE`] for every other request: a name no file under [`WEB_ROOT`] has.
const NO_FILE: &str = "none";

/// Where a document is asked for: on the domain itself or on a label under it, at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None`: the domain itself; else the platform label (`mta-sts`, …) under it.
    pub label: Option<&'static str>,
    pub path: String,
    /// Relative to [`WEB_ROOT`], possibly naming [`DOMAIN_VARIABLE`].
    pub file: String,
}

/// Every document nginx answers for a member domain: the MTA-STS policy, and with `mail` (the
/// node offers mail clients TLS) the autoconfiguration twice and the autodiscover answer.
/// Paths under `/.well-known/` are the registry's entries, the others its host paths.
pub fn routes(mail: bool) -> Vec<Route> {
    let mut routes = vec![Route {
        label: Some(platform::MTA_STS_HOST),
        path: well_known::MTA_STS.path(),
        file: file_name(MTA_STS_FILE),
    }];
    if mail {
        let autoconfig = format!("{}/{DOMAIN_VARIABLE}.xml", file_name(AUTOCONFIG_DIR));
        routes.extend([
            Route {
                label: None,
                path: well_known::AUTOCONFIG.path(),
                file: autoconfig.clone(),
            },
            Route {
                label: Some(platform::AUTOCONFIG),
                path: well_known::AUTOCONFIG_HOST_PATH.to_owned(),
                file: autoconfig,
            },
            Route {
                label: Some(platform::AUTODISCOVER),
                path: well_known::AUTODISCOVER_PATH.to_owned(),
                file: file_name(AUTODISCOVER_FILE),
            },
        ]);
    }
    routes
}

/// `path` (under [`WEB_ROOT`]) relative to it.
fn file_name(path: &str) -> String {
    path.strip_prefix(WEB_ROOT)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
        .to_owned()
}

/// `text` (a label or a path: `[a-z0-9./-]`) as a regular expression matching it alone.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if !(c.is_ascii_alphanumeric() || c == '/' || c == '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `ruche/discovery.conf`, at nginx's `http` level: which file under [`WEB_ROOT`] answers a
/// request to a member domain's HTTPS server, from the request's host, the server's domain
/// ([`DOMAIN_VARIABLE`]) and the path. A route matches only when the host is its label under
/// that very domain (`\1`: the same text twice), so one domain's names never reach another's
/// file; anything else is [`NO_FILE`], which the server answers 404. The files are nginx's to
/// name from its own `mime.types`: `.txt` is `text/plain`, `.xml` `text/xml`.
pub fn map(mail: bool) -> String {
    let mut out = format!(
        "# The file under {WEB_ROOT} that answers a request to a member domain's HTTPS server\n\
         # (services/nginx/discovery.rs): the host must be the route's name under the server's\n\
         # own domain.\nmap \"$host {DOMAIN_VARIABLE} $uri\" {FILE_VARIABLE} {{\n    \
         default {NO_FILE};\n"
    );
    for route in routes(mail) {
        let host = match route.label {
            Some(label) => format!("{}\\.", literal(label)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "    \"~^{host}(\\S+) \\1 {path}$\" {file};",
            path = literal(&route.path),
            file = route.file,
        );
    }
    out.push_str("}\n");
    out
}

/// The locations of a member domain's HTTPS server, for its domain `domain` (a checked server
/// name): `/.well-known/` and everything but `/` answer from [`map`]'s file, else 404. Outlook
/// POSTs its request (the address it looks for), and the answer is the same for every
/// address: nginx refuses POST to a file (405), so that refusal is answered by fetching the
/// autodiscover path again as GET (the map's answer is kept for the request).
pub fn server_lines(layout: &Layout, domain: &str) -> String {
    let files = format!(
        "        root {root};\n        try_files /{FILE_VARIABLE} =404;\n",
        root = layout.path_text(WEB_ROOT)
    );
    format!(
        "    set {DOMAIN_VARIABLE} {domain};\n    location ^~ {prefix} {{\n{files}    }}\n",
        prefix = well_known::PREFIX,
    ) + &format!(
        "    location / {{\n{files}        error_page 405 =200 {autodiscover};\n    }}\n",
        autodiscover = well_known::AUTODISCOVER_PATH,
    )
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

    /// Every route under `/.well-known/` is a registered path of the expected owner, the
    /// others are the two host paths, each on its own host.
    #[test]
    fn routes_take_their_paths_from_the_registry() {
        let routes = routes(true);
        let summary: Vec<(Option<&str>, &str, Option<well_known::Owner>)> = routes
            .iter()
            .map(|r| {
                let owner = well_known::owner(&r.path).map(|e| e.owner);
                (r.label, r.path.as_str(), owner)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Some("mta-sts"),
                    "/.well-known/mta-sts.txt",
                    Some(well_known::Owner::MtaSts)
                ),
                (
                    None,
                    "/.well-known/autoconfig/mail/config-v1.1.xml",
                    Some(well_known::Owner::Autoconfig)
                ),
                (Some("autoconfig"), "/mail/config-v1.1.xml", None),
                (Some("autodiscover"), "/autodiscover/autodiscover.xml", None),
            ]
        );
        let files: Vec<&str> = routes.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "mta-sts.txt",
                "autoconfig/$ruche_domain.xml",
                "autoconfig/$ruche_domain.xml",
                "autodiscover.xml"
            ]
        );
        // Without TLS on the node, only the MTA-STS policy.
        assert_eq!(super::routes(false), routes[..1]);
    }

    /// The map's patterns: the label, the server's own domain twice, the path, each literal.
    #[test]
    fn the_map_matches_a_host_under_the_server_s_own_domain() {
        let map = map(true);
        let entries: Vec<&str> = map
            .lines()
            .filter(|l| l.trim_start().starts_with("\"~"))
            .map(str::trim)
            .collect();
        assert_eq!(
            entries,
            [
                r#""~^mta-sts\.(\S+) \1 /\.well-known/mta-sts\.txt$" mta-sts.txt;"#,
                r#""~^(\S+) \1 /\.well-known/autoconfig/mail/config-v1\.1\.xml$" autoconfig/$ruche_domain.xml;"#,
                r#""~^autoconfig\.(\S+) \1 /mail/config-v1\.1\.xml$" autoconfig/$ruche_domain.xml;"#,
                r#""~^autodiscover\.(\S+) \1 /autodiscover/autodiscover\.xml$" autodiscover.xml;"#,
            ]
        );
        assert!(map
            .contains("map \"$host $ruche_domain $uri\" $ruche_discovery {\n    default none;\n"));
        assert_eq!(super::map(false).matches("\"~").count(), 1);
    }
}
