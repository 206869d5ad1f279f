//! Rendering: the node's desired state in, the daemons' files out. Pure — nothing here reads or
//! writes the disk or runs a command; [`crate::apply`] does that.
//!
//! Every path is relative to the [`Layout`]'s root (`/` in production, a temporary directory in
//! tests), and every value taken from the desired state is a typed name from `protocol::names`
//! or a typed DNS value from `protocol::dns` (records, TSIG keys), whose stored form cannot hold
//! a line break or an unbalanced quote. Renderers still never concatenate free text: they write
//! names through per-format helpers only, and add files through [`put`].
//!
//! This module holds what every renderer shares: [`File`], [`RelPath`], [`OnChange`], the
//! [`Layout`], the node's material and [`put`]. Each daemon's own renderer lives in its folder
//! under [`crate::services`]; [`render`] asks each one in turn. Nothing here names a daemon.
//!
//! A change costs what it changes: most of a node's bytes are lines of node-wide files that
//! come from one member each (a lookup table's entries, a user list, a map), or files that are
//! one member's alone (a zone file). A service renders those per member
//! ([`crate::services::Daemon::render_member`]: [`MemberLines`], from the member's part of the
//! document and its [`MemberMaterial`] only), and its node-wide files from every member's lines
//! in document order ([`Members`]). A [`Renderer`] keeps each member's lines until that member
//! (or its material) changes, so a one-mailbox change renders one member and copies the rest.
//! A domain name is served for one member only (`DesiredState::served`), so no key is in two
//! members' lines.
//!
//! Property tests in `tests/render.rs`: rendering again gives the files a rendering afresh gives,
//! whatever changed (`rendering_again_gives_what_rendering_afresh_gives`), and no line break,
//! quote or extra field comes out of any input.

mod contents;
pub mod layout;
pub mod mta_sts;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use protocol::desired::{Delta, DesiredState, Dns, Tenant, Zone};
use protocol::names::DomainName;

pub mod tls;

pub use contents::Contents;
pub use layout::{Layout, MessageLimit, Ports};
pub use mta_sts::MxCertificate;

use crate::services::Service;

/// The first line of every rendered configuration file.
pub const HEADER: &str =
    "# Rendered by the Ruche node agent; do not edit: it is rewritten on every change.\n";

/// What a daemon needs after one of its files changed. The engine knows these three; what a
/// service's own step does is the service's (`crate::services::Daemon::plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OnChange {
    /// Configuration: the service's check runs, then the service is reloaded.
    Reload,
    /// Data the daemon re-reads by itself (Dovecot's passwd-file, rspamd's maps): written with a
    /// modification time later than the file it replaces, nothing else.
    Nothing,
    /// Data the service loads with a step of its own, named here (Postfix's `postmap` of a
    /// lookup table, Knot's `zone-reload` of a zone file); the service plans it.
    Step(&'static str),
}

/// One file to put on disk.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    pub service: Service,
    /// Unix permission bits, e.g. `0o644`; keys are `0o600` or `0o640`.
    pub mode: u32,
    pub on_change: OnChange,
    pub contents: Contents,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contents may hold a private key: never print them.
        f.debug_struct("File")
            .field("service", &self.service)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("on_change", &self.on_change)
            .field("bytes", &self.contents.len())
            .finish()
    }
}

/// A path relative to the layout's root: no leading `/`, no `.` or `..` component, no empty
/// component. Built only from constants and typed names.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    pub fn new(path: &str) -> Result<RelPath, String> {
        let ok = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
        if ok {
            Ok(RelPath(path.to_owned()))
        } else {
            Err(format!("not a relative path: {path:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RelPath {
    type Error = String;
    fn try_from(s: String) -> Result<RelPath, String> {
        RelPath::new(&s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything rendered for one node: every file the agent owns, by path.
pub type Files = BTreeMap<RelPath, File>;

/// Material that is not in the desired state but lives on the node, read at the I/O edge and
/// handed to the renderers.
#[derive(Clone, Default)]
pub struct NodeMaterial {
    /// The mail host's certificate chain and key (PEM), as given to the agent.
    pub tls: Option<TlsPair>,
    /// The DKIM selector of each domain that signs (a served domain of an active member) and
    /// whose private key exists on disk. A domain without a key is not in the selector map
    /// (rspamd would send its mail unsigned with only a log line); the agent generates the key
    /// first.
    pub dkim_selectors: BTreeMap<protocol::names::DomainName, String>,
    /// The DKIM key (the domain id it belongs to, selector and public half) of each domain whose
    /// key exists on disk: rspamd's path map names its file, the zones publish it.
    pub dkim_keys: BTreeMap<protocol::names::DomainName, crate::dkim::Key>,
    /// This node's name server, from agent.toml `[dns]`. `None`: the node serves no zone.
    pub dns: Option<DnsSettings>,
    /// This node's web front (nginx), from agent.toml `[web]`. `None`: the node serves no web
    /// name and renders no nginx file.
    pub web: Option<WebSettings>,
    /// The certificates obtained by ACME ([`crate::certs`]), by what they are filed under.
    pub certs: BTreeMap<crate::certs::CertKey, crate::certs::Installed>,
    /// ACME DNS-01 values to publish, by the name being certified (`_acme-challenge.<name>`).
    pub acme_challenges: BTreeMap<protocol::names::DomainName, Vec<String>>,
    /// Whether the certificate of [`NodeMaterial::host_cert`] is valid now: the MTA-STS
    /// policy's mode ([`mta_sts`]), so every zone's `_mta-sts` id.
    pub mx_certificate: MxCertificate,
}

impl NodeMaterial {
    /// The node's own certificate, for its host name: `[tls]`'s files as copied by `service`
    /// (`copies`: their paths), else the one obtained by ACME. Paths relative to the root.
    pub fn host_cert(
        &self,
        hostname: &DomainName,
        copies: (&str, &str),
    ) -> Option<(String, String)> {
        if self.tls.is_some() {
            return Some((copies.0.to_owned(), copies.1.to_owned()));
        }
        self.certs
            .get(&crate::certs::CertKey::Node(hostname.clone()))
            .map(|i| (i.chain(), i.key()))
    }

    /// Whether the node has a certificate for its host name ([`NodeMaterial::host_cert`]): what
    /// Postfix's submission and Dovecot's IMAPS are offered with, and mail clients told of.
    pub fn offers_tls(&self, hostname: &DomainName) -> bool {
        self.tls.is_some()
            || self
                .certs
                .contains_key(&crate::certs::CertKey::Node(hostname.clone()))
    }

    /// The MTA-STS policy of every domain this node serves, whose MX is `hostname`.
    pub fn mta_sts<'a>(&self, hostname: &'a DomainName) -> mta_sts::Policy<'a> {
        mta_sts::Policy::new(hostname, self.mx_certificate)
    }

    /// What the mail daemons present by SNI: each member domain whose certificate names the
    /// domain itself, with that certificate. Only the domain: its web names (`www.`,
    /// `autoconfig.`, …) are not mail servers, and Dovecot's configuration check grows faster
    /// than its `local_name` blocks (`doveconf -n`: 3.8 s for 5,115 blocks, 0.35 s for 1,023).
    pub fn mail_sni(&self) -> impl Iterator<Item = (&DomainName, &crate::certs::Installed)> {
        self.certs.iter().filter_map(|(key, installed)| match key {
            crate::certs::CertKey::Domain(domain) if installed.names.contains(domain) => {
                Some((domain, installed))
            }
            _ => None,
        })
    }
}

/// agent.toml `[web]`: where nginx listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Plain HTTP: ACME challenges, and redirects to `https`. Port 80 on a real node.
    pub http: SocketAddr,
    /// HTTPS. Port 443 on a real node.
    pub https: SocketAddr,
    /// The collective's portal, served here under its own name.
    pub portal: Option<Portal>,
}

/// agent.toml `[web.portal]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    pub name: DomainName,
    /// The control plane's plain-HTTP address.
    pub upstream: SocketAddr,
}

/// agent.toml `[dns]`, with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Where the node's name server answers (UDP and TCP); reported to the control plane.
    pub listen: SocketAddr,
    /// The web addresses the zones point to.
    pub addresses: Vec<IpAddr>,
}

#[derive(Clone)]
pub struct TlsPair {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Adds one file to `files`: the helper every renderer writes through. `path` is a constant or
/// is built from typed names; one that is not a [`RelPath`] is left out and logged (a test
/// renders every path).
pub fn put(
    files: &mut Files,
    service: Service,
    path: &str,
    mode: u32,
    on_change: OnChange,
    contents: impl Into<Contents>,
) {
    match RelPath::new(path) {
        Ok(path) => {
            let file = File {
                service,
                mode,
                on_change,
                contents: contents.into(),
            };
            files.insert(path, file);
        }
        Err(problem) => tracing::error!(%service, %problem, "not rendered"),
    }
}

/// Renders every file of every service ([`crate::services::ALL`]), every member afresh.
pub fn render(desired: &DesiredState, layout: &Layout, material: &NodeMaterial) -> Files {
    Renderer::default().render(desired, layout, material)
}

/// The lines one member adds to a service's node-wide files, by path: what
/// [`crate::services::Daemon::render_member`] returns. A service may also keep, under a name
/// of its own, lines it assembles into something node-wide other than a file (rspamd: the
/// alias entries its forwarding map follows across members).
///
/// Kept by the [`Renderer`] for every member until that member changes, so kept small: a
/// fixed path is not copied, and each text is held at its length, not its capacity
/// (`tests/bench/memory.sh`). Each text is shared with the files made of it ([`Contents`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemberLines(Vec<(Cow<'static, str>, Arc<str>)>);

impl MemberLines {
    /// Sets the member's lines of the file at `path` (each line ending in `\n`), or the whole of
    /// a file only this member has (a zone file).
    pub fn set(&mut self, path: impl Into<Cow<'static, str>>, lines: String) {
        let path = path.into();
        let lines = Arc::from(lines);
        match self.0.iter_mut().find(|(p, _)| *p == path) {
            Some((_, text)) => *text = lines,
            None => self.0.push((path, lines)),
        }
    }

    /// The member's lines of the file at `path`.
    pub fn get(&self, path: &str) -> &str {
        self.shared(path).map_or("", |text| text)
    }

    fn shared(&self, path: &str) -> Option<&Arc<str>> {
        self.0
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, text)| text)
    }
}

/// Every member's lines for one service, in the document's member order.
pub struct Members<'a>(Vec<&'a MemberLines>);

impl<'a> Members<'a> {
    /// Every member's lines, by path, one member after another.
    pub fn all(&self) -> impl Iterator<Item = (&'a str, &'a Arc<str>)> + '_ {
        self.0
            .iter()
            .flat_map(|m| m.0.iter().map(|(p, t)| (p.as_ref(), t)))
    }

    /// The file at `path`: `head`, then every member's lines of it, one member after another,
    /// shared with the lines kept.
    pub fn file(&self, head: &[&str], path: &str) -> Contents {
        let shared = self.0.iter().filter_map(|m| m.shared(path)).cloned();
        Contents::new(head.concat(), shared.filter(|t| !t.is_empty()).collect())
    }

    /// [`Members::file`] as one text (a copy), for a file made from the members' lines
    /// rather than of them.
    pub fn text(&self, head: &[&str], path: &str) -> String {
        let size = head.iter().map(|h| h.len()).sum::<usize>()
            + self.0.iter().map(|m| m.get(path).len()).sum::<usize>();
        let mut text = String::with_capacity(size);
        for part in head {
            text.push_str(part);
        }
        for member in &self.0 {
            text.push_str(member.get(path));
        }
        text
    }
}

/// What a member's lines may depend on besides the member's own part of the document: the
/// layout, the DKIM selector, key, certificate and ACME challenges of the member's own
/// domains, their zones, and the node's DNS settings, web settings, MTA-STS policy and DNS part
/// but its zones. Nothing else reaches them, so the [`Renderer`] knows when to render them
/// again.
pub struct MemberMaterial<'a> {
    tenant: &'a Tenant,
    material: &'a NodeMaterial,
    dns: Option<&'a Dns>,
    /// The zones of `dns`, by name.
    zones: &'a Zones<'a>,
}

/// The zones of a document's DNS part, by name.
pub type Zones<'a> = HashMap<&'a DomainName, &'a Zone>;

/// The zones of `desired`'s DNS part, by name.
pub fn zones(desired: &DesiredState) -> Zones<'_> {
    desired
        .dns
        .iter()
        .flat_map(|d| &d.zones)
        .map(|z| (&z.name, &**z))
        .collect()
}

impl<'a> MemberMaterial<'a> {
    /// `zones`: those of `desired`'s DNS part ([`zones`]).
    pub fn new(
        tenant: &'a Tenant,
        desired: &'a DesiredState,
        zones: &'a Zones<'a>,
        material: &'a NodeMaterial,
    ) -> MemberMaterial<'a> {
        MemberMaterial {
            tenant,
            material,
            dns: desired.dns.as_ref(),
            zones,
        }
    }

    /// The zone of `domain` (a domain of this member) this node is primary for.
    pub fn zone(&self, domain: &DomainName) -> Option<&'a Zone> {
        self.zones
            .get(domain)
            .copied()
            .filter(|_| self.holds(domain))
    }

    /// The node's web front, when it has one.
    pub fn web(&self) -> Option<&'a WebSettings> {
        self.material.web.as_ref()
    }

    /// The MTA-STS policy (node-wide: a change of it renders every member again).
    pub fn mta_sts<'h>(&self, hostname: &'h DomainName) -> mta_sts::Policy<'h> {
        self.material.mta_sts(hostname)
    }

    /// The node's DNS part and its name server's settings, when it serves zones. Only their
    /// fields other than the zones reach a member's lines.
    pub fn dns(&self) -> Option<(&'a Dns, &'a DnsSettings)> {
        self.dns.zip(self.material.dns.as_ref())
    }

    fn holds(&self, domain: &DomainName) -> bool {
        self.tenant.domains.iter().any(|d| &d.name == domain)
    }

    /// The selector `domain` signs with (a domain of this member that has a key and signs).
    pub fn dkim_selector(&self, domain: &DomainName) -> Option<&'a str> {
        let selector = self.material.dkim_selectors.get(domain);
        selector.filter(|_| self.holds(domain)).map(String::as_str)
    }

    /// The DKIM key of `domain` (a domain of this member), if it exists.
    pub fn dkim_key(&self, domain: &DomainName) -> Option<&'a crate::dkim::Key> {
        self.material
            .dkim_keys
            .get(domain)
            .filter(|_| self.holds(domain))
    }

    /// The certificate of `domain` (a domain of this member), once obtained.
    pub fn cert(&self, domain: &DomainName) -> Option<&'a crate::certs::Installed> {
        self.material
            .certs
            .get(&crate::certs::CertKey::Domain(domain.clone()))
            .filter(|_| self.holds(domain))
    }

    /// The ACME DNS-01 values to publish in the zone of `domain` (a domain of this member):
    /// the names certified under it, each with its values.
    pub fn acme_challenges(&self, domain: &DomainName) -> Vec<(&'a DomainName, &'a [String])> {
        if !self.holds(domain) {
            return Vec::new();
        }
        self.material
            .acme_challenges
            .iter()
            .filter(|(name, _)| *name == domain || name.is_subdomain_of(domain))
            .map(|(name, values)| (name, values.as_slice()))
            .collect()
    }

    /// Whether the member's domains have the same selectors, keys, zones, certificates and
    /// challenges in `self` and `other`.
    fn same_as(&self, other: &MemberMaterial<'_>) -> bool {
        self.tenant.domains.iter().all(|d| {
            other.holds(&d.name)
                && self.dkim_selector(&d.name) == other.dkim_selector(&d.name)
                && self.dkim_key(&d.name) == other.dkim_key(&d.name)
                && self.zone(&d.name) == other.zone(&d.name)
                && self.cert(&d.name) == other.cert(&d.name)
                && self.acme_challenges(&d.name) == other.acme_challenges(&d.name)
        })
    }
}

/// Whether two DNS parts are the same but for their zones, and the name server's settings,
/// the web front's and the MTA-STS policy's mode too: what every member's lines depend on
/// beyond the member's own part.
fn same_dns_but_zones(a: (Option<&Dns>, &NodeMaterial), b: (Option<&Dns>, &NodeMaterial)) -> bool {
    let same_part = match (a.0, b.0) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_but_zones(b),
        _ => false,
    };
    same_part
        && a.1.dns == b.1.dns
        && a.1.web == b.1.web
        && a.1.mx_certificate == b.1.mx_certificate
}

/// Renders the node's files, keeping each member's lines ([`MemberLines`], one per service)
/// from one rendering to the next: a member is not rendered again while its part of the
/// document, its domains' keys and zones, and the node's DNS settings ([`MemberMaterial`]) stay
/// the same. Valid for one layout: the agent's, fixed at start.
#[derive(Default)]
pub struct Renderer {
    /// The document and material rendered last, and each of its members' lines.
    last: Option<Last>,
}

struct Last {
    desired: Arc<DesiredState>,
    material: Arc<NodeMaterial>,
    members: HashMap<String, Arc<Vec<MemberLines>>>,
}

impl Renderer {
    /// Renders every file of every service for `desired`.
    pub fn render(
        &mut self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
    ) -> Files {
        let (files, _) = self.render_members(desired, layout, material, None);
        files
    }

    /// As [`Renderer::render`], keeping `desired` and `material` (shared, not copied) to
    /// compare the next rendering's members with. `since`: a document and the delta from it to
    /// `desired`, which says which members changed without comparing them, when the last
    /// rendering was of that very document.
    pub fn render_kept(
        &mut self,
        desired: Arc<DesiredState>,
        layout: &Layout,
        material: Arc<NodeMaterial>,
        since: Option<(&Arc<DesiredState>, &Delta)>,
    ) -> Files {
        let named = since
            .filter(|(base, _)| {
                self.last
                    .as_ref()
                    .is_some_and(|last| Arc::ptr_eq(&last.desired, base))
            })
            .map(|(_, delta)| delta.members());
        let (files, members) = self.render_members(&desired, layout, &material, named);
        self.last = Some(Last {
            desired,
            material,
            members,
        });
        files
    }

    /// `changed`: the members that may differ from the last rendering's (`None`: any may, so
    /// each is compared).
    fn render_members(
        &self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        changed: Option<std::collections::HashSet<&str>>,
    ) -> (Files, HashMap<String, Arc<Vec<MemberLines>>>) {
        // The same keys, certificates and challenges for every domain: no member's need
        // comparing.
        let same_keys = self.last.as_ref().is_some_and(|last| {
            last.material.dkim_selectors == material.dkim_selectors
                && last.material.dkim_keys == material.dkim_keys
                && last.material.certs == material.certs
                && last.material.acme_challenges == material.acme_challenges
        });
        // What every member's zone files depend on: when it changed, every member is rendered.
        let same_dns = self.last.as_ref().is_some_and(|last| {
            same_dns_but_zones(
                (last.desired.dns.as_ref(), &last.material),
                (desired.dns.as_ref(), material),
            )
        });
        let zones_now = zones(desired);
        let zones_before = match &self.last {
            Some(last) if !same_keys || changed.is_none() => zones(&last.desired),
            _ => Zones::new(),
        };
        let last: HashMap<&str, (&Tenant, &Arc<Vec<MemberLines>>, &Last)> = self
            .last
            .iter()
            .filter(|_| same_dns)
            .flat_map(|last| {
                last.desired.tenants.iter().filter_map(move |t| {
                    let lines = last.members.get(&t.member_id)?;
                    Some((t.member_id.as_str(), (&**t, lines, last)))
                })
            })
            .collect();
        // Each member's lines, in document order: kept, or rendered now.
        let lines: Vec<Arc<Vec<MemberLines>>> = desired
            .tenants
            .iter()
            .map(|tenant| {
                let now = MemberMaterial::new(tenant, desired, &zones_now, material);
                let kept = last
                    .get(tenant.member_id.as_str())
                    .filter(|(was, _, last)| {
                        // The delta counts a member whose zones changed as changed.
                        let (same, zones_compared) = match &changed {
                            Some(changed) => (!changed.contains(tenant.member_id.as_str()), true),
                            // A member both documents share is the same without a comparison.
                            None => (std::ptr::eq(*was, &**tenant) || *was == &**tenant, false),
                        };
                        let before = || {
                            MemberMaterial::new(was, &last.desired, &zones_before, &last.material)
                        };
                        same && ((same_keys && zones_compared) || now.same_as(&before()))
                    });
                match kept {
                    Some((_, lines, _)) => Arc::clone(lines),
                    None => Arc::new(
                        crate::services::ALL
                            .iter()
                            .map(|daemon| daemon.render_member(tenant, layout, &now))
                            .collect(),
                    ),
                }
            })
            .collect();
        let mut files = Files::new();
        for (i, daemon) in crate::services::ALL.iter().enumerate() {
            let members = Members(lines.iter().map(|l| &l[i]).collect());
            daemon.render(desired, layout, material, &members, &mut files);
        }
        let members = desired
            .tenants
            .iter()
            .zip(lines)
            .map(|(t, l)| (t.member_id.clone(), l))
            .collect();
        (files, members)
    }
}
