//! The collective's portal behind the node's HTTPS front (`[web.portal]`): its name on plain
//! HTTP answers ACME challenges (the node certifies it by HTTP-01, as its own name) and, once
//! the certificate is there, redirects to HTTPS; before, 503: the portal is never served over
//! plain HTTP, where a password would travel in clear. On HTTPS every request goes to the
//! control plane (which sends its own security headers, HSTS included, knowing its public URL is
//! HTTPS), and trusts the client address nginx gives it (`X-Forwarded-For`, set, never appended
//! to: `trust_forwarded_for` takes its last entry).
//!
//! The name is a typed `DomainName` and the upstream a socket address: nothing a member typed.

use std::collections::BTreeMap;

use crate::certs::{CertKey, Installed};
use crate::render::{Layout, WebSettings};

use super::{acme_location, listen, port_suffix, server_names};

/// The portal's two servers, or nothing when the node does not serve it.
pub fn servers(web: &WebSettings, layout: &Layout, certs: &BTreeMap<CertKey, Installed>) -> String {
    let Some(portal) = &web.portal else {
        return String::new();
    };
    let names = server_names([portal.name.as_str()]);
    if names.is_empty() {
        return String::new();
    }
    let cert = certs.get(&CertKey::Node(portal.name.clone()));
    let answer = match cert {
        Some(_) => format!(
            "return 301 https://$host{}$request_uri",
            port_suffix(web.https.port(), 443)
        ),
        None => "return 503".to_owned(),
    };
    let mut text = format!(
        "# the portal\nserver {{\n{listen}    server_name{names};\n{acme}    location / {{\n        \
         {answer};\n    }}\n}}\n",
        listen = listen(web.http, ""),
        acme = acme_location(layout),
    );
    if let Some(cert) = cert {
        text.push_str(&format!(
            "server {{\n{listen}    server_name{names};\n    ssl_certificate {chain};\n    \
             ssl_certificate_key {key};\n    client_max_body_size 1m;\n    location / {{\n        proxy_pass http://{upstream};\n        \
             proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $remote_addr;\n        \
             proxy_set_header X-Forwarded-Proto https;\n        proxy_read_timeout 60s;\n    }}\n}}\n",
            listen = listen(web.https, " ssl http2"),
            chain = layout.path_text(&cert.chain()),
            key = layout.path_text(&cert.key()),
            upstream = portal.upstream,
        ));
    }
    text
}
