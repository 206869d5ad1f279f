//! nginx: the node's web front for its members' names, rendered only when agent.toml has
//! `[web]` (and `[commands.nginx]`, which goes with it).
//!
//! - `nginx.conf` holds the node's settings: the pid file, logs and temporary files under the
//!   root, no version in answers, and the node's TLS profile (`render::tls`, Mozilla's
//!   "intermediate") for every HTTPS server.
//! - `ruche/hosts.conf` holds the servers. The default HTTP server answers any name the node
//!   does not serve: ACME HTTP-01 challenges (the node's own names are certified too), 404 for
//!   everything else; the default HTTPS server refuses the handshake. Each served domain of an
//!   active member has an HTTP server for its web names (the domain, `www.`, `autoconfig.`,
//!   `mta-sts.` and `autodiscover.` under it: `platform::web_names`): ACME challenges, and once the domain has a
//!   certificate ([`crate::certs`]) a redirect to HTTPS for everything else; and, with the
//!   certificate, an HTTPS server for the names on it, with HSTS, where under `/.well-known/`
//!   only the registry's paths answer. A suspended member's names fall to the defaults.
//! - `ruche/discovery.conf` (at the `http` level) says which file under `var/lib/ruche/web`
//!   answers a request to a member's HTTPS server ([`discovery`]): the MTA-STS policy on
//!   `mta-sts.`, the autoconfiguration on `autoconfig.` and the domain, the autodiscover answer
//!   on `autodiscover.`; nothing else there answers. A domain's autoconfiguration file goes
//!   when the domain stops being served here, after the reload that stopped it (the `remove`
//!   step).
//! - ACME challenges are files under `var/lib/ruche/acme/.well-known/acme-challenge/`, the
//!   path the `.well-known` registry (`protocol::well_known`) gives the ACME owner; nginx serves
//!   that path and nothing else there on plain HTTP.
//!
//! Names reach the configuration only through [`server_names`], as typed `DomainName`s (ASCII,
//! lowercase, letters, digits, `-` and `.`), so no member value can open a block, end a
//! directive or add one. Addresses and paths are the operator's (`[web]`, the layout).

use std::fmt::Write as _;
use std::net::SocketAddr;

use protocol::desired::{DesiredState, Tenant};
use protocol::dns::platform;
use protocol::names::DomainName;
use protocol::well_known;

use crate::certs::{CertKey, Installed};
use crate::render::{
    put, tls, Contents, Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial,
    OnChange, WebSettings, HEADER,
};
use crate::services::Service;

mod daemon;
pub mod discovery;
mod portal;
pub mod webfinger;

pub use daemon::{Nginx, REMOVE};

/// nginx's id in the registry, the journal and agent.toml.
pub const SERVICE: Service = Service::new("nginx");

pub const NGINX_CONF: &str = "etc/nginx/nginx.conf";
pub const HOSTS_CONF: &str = "etc/nginx/ruche/hosts.conf";
/// The map of the discovery files every member domain's HTTPS server answers from.
pub const DISCOVERY_CONF: &str = "etc/nginx/ruche/discovery.conf";
/// The directory the ACME challenges are served from (nginx's `root` for their location).
pub const ACME_ROOT: &str = "var/lib/ruche/acme";
/// Not rendered: made by [`Nginx`]'s `prepare` (nginx makes none of them).
pub const DIRECTORIES: [&str; 5] = [
    "var/log/nginx",
    "var/lib/nginx",
    "run",
    "var/lib/ruche/acme/.well-known/acme-challenge",
    discovery::AUTOCONFIG_DIR,
];
pub const PID_FILE: &str = "run/nginx.pid";

/// `server_name`'s arguments: each name once, each a typed domain name's text, which holds
/// only `[a-z0-9.-]` (checked again here: a name that does not is left out and logged).
pub(super) fn server_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = String::new();
    for name in names {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !plain {
            tracing::error!(
                name,
                "nginx: a name that cannot be a server name is left out"
            );
            continue;
        }
        if seen.insert(name) {
            out.push(' ');
            out.push_str(name);
        }
    }
    out
}

/// The `.well-known` directory of the ACME challenges, from the registry.
fn acme_path() -> String {
    format!("{}/", well_known::ACME.path())
}

/// The location serving ACME challenge files: a token is one path segment, served as text.
pub(super) fn acme_location(layout: &Layout) -> String {
    format!(
        "    location ^~ {path} {{\n        root {root};\n        default_type text/plain;\n        \
         try_files $uri =404;\n    }}\n",
        path = acme_path(),
        root = layout.path_text(ACME_ROOT),
    )
}

/// `listen` for an address (IPv6 in brackets) with `options` (each with its leading space).
pub(super) fn listen(addr: SocketAddr, options: &str) -> String {
    format!("    listen {addr}{options};\n")
}

/// The member's servers, one pair per served domain: on plain HTTP every web name of the
/// domain answers ACME challenges, and once the domain has a certificate redirects everything
/// else to the same name on HTTPS (before, 404: there is no HTTPS to send anyone to); on HTTPS
/// the names on the certificate answer, with HSTS.
pub fn render_member(
    tenant: &Tenant,
    layout: &Layout,
    material: &MemberMaterial<'_>,
) -> MemberLines {
    let mut lines = MemberLines::default();
    let Some(web) = material.web() else {
        return lines;
    };
    if !tenant.active || tenant.domains.is_empty() {
        return lines;
    }
    let mut text = String::new();
    // The node's own names (the portal's) are never a member's server name.
    let portal = web.portal.as_ref().map(|p| &p.name);
    for domain in &tenant.domains {
        let web_names: Vec<DomainName> = platform::web_names(&domain.name)
            .into_iter()
            .filter(|n| Some(n) != portal)
            .collect();
        let names = server_names(web_names.iter().map(DomainName::as_str));
        if names.is_empty() {
            continue;
        }
        let cert = material.cert(&domain.name);
        let _ = write!(
            text,
            "# {domain}\nserver {{\n{listen}    server_name{names};\n{acme}    location / {{\n        {answer};\n    }}\n}}\n",
            listen = listen(web.http, ""),
            acme = acme_location(layout),
            domain = domain.name,
            answer = match cert {
                Some(_) => format!("return 301 https://$host{}$request_uri", port_suffix(web.https.port(), 443)),
                None => "return 404".to_owned(),
            },
        );
        if let Some(cert) = cert {
            // The names on the certificate that are web names of the domain.
            let served = server_names(
                cert.names
                    .iter()
                    .filter(|n| web_names.contains(n))
                    .map(DomainName::as_str),
            );
            // The domain itself, as `$ruche_domain` (checked like every server name).
            let own = server_names([domain.name.as_str()]);
            if !served.is_empty() && !own.is_empty() {
                text.push_str(&https_server(web, layout, own.trim_start(), &served, cert));
            }
        }
    }
    lines.set(HOSTS_CONF, text);
    lines
}

/// `:port` unless `port` is the scheme's own.
pub(super) fn port_suffix(port: u16, default: u16) -> String {
    if port == default {
        String::new()
    } else {
        format!(":{port}")
    }
}

/// One HTTPS server of `domain` (a checked server name): `names` (already `server_name`'s
/// arguments) with `cert`. Under `/.well-known/`, as everywhere but `/`, only the discovery
/// files answer, each on its own host ([`discovery::server_lines`]), so no member file can
/// ever shadow a registered path.
fn https_server(
    web: &WebSettings,
    layout: &Layout,
    domain: &str,
    names: &str,
    cert: &Installed,
) -> String {
    format!(
        "server {{\n{listen}    server_name{names};\n    ssl_certificate {chain};\n    \
         ssl_certificate_key {key};\n    add_header Strict-Transport-Security \"{HSTS}\" always;\n\
         {webfinger}{discovery}    location = / {{\n        default_type text/html;\n        \
         return 200 \"{INDEX}\";\n    }}\n}}\n",
        listen = listen(web.https, " ssl http2"),
        chain = layout.path_text(&cert.chain()),
        key = layout.path_text(&cert.key()),
        discovery = discovery::server_lines(layout, domain),
        webfinger = webfinger::locations(HSTS),
    )
}

/// Two years, as hstspreload.org asks; not `includeSubDomains`: a member's other names may
/// be served elsewhere, over plain HTTP.
const HSTS: &str = "max-age=63072000";

/// What a domain's HTTPS root answers until the member publishes something there.
const INDEX: &str = "<!doctype html><meta charset=utf-8><title>Ruche</title>\
<p>This name is hosted by a Ruche collective. Nothing is published here yet.</p>";

/// nginx.conf, hosts.conf (the default server, then each member's), discovery.conf and the
/// files it serves, when the node has a web front.
pub fn render(
    desired: &DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
    members: &Members<'_>,
    files: &mut Files,
) {
    let Some(web) = material.web.as_ref() else {
        return;
    };
    if let Err(problem) = layout.check() {
        tracing::error!(%problem, "nginx: the layout cannot be written into a config file");
        return;
    }
    let reload = OnChange::Reload;
    put(
        files,
        SERVICE,
        NGINX_CONF,
        0o644,
        reload,
        nginx_conf(layout),
    );
    let default = default_server(web, layout);
    let portal = portal::servers(web, layout, &material.certs);
    let hosts = members.file(&[HEADER, &default, &portal], HOSTS_CONF);
    put(files, SERVICE, HOSTS_CONF, 0o644, reload, hosts);
    render_discovery(desired, layout, material, files);
    put(
        files,
        SERVICE,
        webfinger::MAP,
        0o644,
        reload,
        HEADER.to_owned() + &webfinger::map(desired, material),
    );
}

/// discovery.conf and the files it serves: the MTA-STS policy, and when the node offers mail
/// clients TLS, the autodiscover answer and each domain's autoconfiguration (of the active
/// members' domains that have a certificate, so an HTTPS server). Node-wide, from the whole
/// document each time: a domain's file is its name and one copy of the servers, shared.
fn render_discovery(
    desired: &DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
    files: &mut Files,
) {
    let mail = material.offers_tls(&layout.hostname);
    let data = |files: &mut Files, path: &str, contents: Contents| {
        // nginx reads them at each request: nothing to reload.
        put(files, SERVICE, path, 0o644, OnChange::Nothing, contents);
    };
    let conf = HEADER.to_owned() + &discovery::map(mail);
    put(
        files,
        SERVICE,
        DISCOVERY_CONF,
        0o644,
        OnChange::Reload,
        conf,
    );
    let policy = material.mta_sts(&layout.hostname).text();
    data(files, discovery::MTA_STS_FILE, policy.into());
    if !mail {
        return;
    }
    let servers = discovery::MailServers::of(layout);
    data(
        files,
        discovery::AUTODISCOVER_FILE,
        discovery::autodiscover(&servers).into(),
    );
    let shared: std::sync::Arc<str> = discovery::autoconfig_servers(&servers).into();
    let domains = desired
        .tenants
        .iter()
        .filter(|t| t.active)
        .flat_map(|t| &t.domains)
        .filter(|d| {
            material
                .certs
                .contains_key(&CertKey::Domain(d.name.clone()))
        });
    for domain in domains {
        let head = discovery::autoconfig_head(&domain.name);
        let contents = Contents::new(head, vec![std::sync::Arc::clone(&shared)]);
        data(files, &discovery::autoconfig_path(&domain.name), contents);
    }
}

/// The default servers: on HTTP any name the node does not serve gets ACME challenges (the
/// node's own names are certified too) and 404; on HTTPS a name without a certificate here is
/// refused at the handshake, rather than shown another name's certificate.
///
/// The default HTTP server also declares the discovery map's domain variable: nginx refuses a
/// map naming a variable no server sets, and a node without domains has no other server.
fn default_server(web: &WebSettings, layout: &Layout) -> String {
    format!(
        "# any name this node does not serve\nserver {{\n{listen}    server_name _;\n    \
         set {domain} \"\";\n{acme}    location / {{\n        return 404;\n    }}\n}}\n\
         server {{\n{tls}    server_name _;\n    ssl_reject_handshake on;\n}}\n",
        listen = listen(web.http, " default_server"),
        tls = listen(web.https, " ssl http2 default_server"),
        acme = acme_location(layout),
        domain = discovery::DOMAIN_VARIABLE,
    )
}

fn nginx_conf(layout: &Layout) -> String {
    let path = |p: &str| layout.path_text(p);
    format!(
        "{HEADER}\
worker_processes auto;
pid {pid};
error_log {log}/error.log;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    access_log {log}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    ssl_protocols {protocols};
    ssl_ciphers {ciphers};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:ruche:10m;
    ssl_session_tickets off;

    include {discovery};
    include {webfinger};
    include {hosts};
}}
",
        pid = path(PID_FILE),
        log = path("var/log/nginx"),
        tmp = path("var/lib/nginx"),
        discovery = path(DISCOVERY_CONF),
        webfinger = path(webfinger::MAP),
        hosts = path(HOSTS_CONF),
        protocols = tls::NGINX_PROTOCOLS,
        ciphers = tls::CIPHERS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_plain_and_once() {
        assert_eq!(
            server_names(["example.org", "www.example.org", "example.org"]),
            " example.org www.example.org"
        );
        assert_eq!(
            server_names(["a;b", "x{", "ok.example", "", "A.example"]),
            " ok.example"
        );
    }

    #[test]
    fn the_acme_path_comes_from_the_registry() {
        assert_eq!(acme_path(), "/.well-known/acme-challenge/");
        assert_eq!(
            well_known::owner("/.well-known/acme-challenge/token").map(|e| e.owner),
            Some(well_known::Owner::Acme)
        );
    }
}
