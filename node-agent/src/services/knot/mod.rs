//! Knot DNS: `etc/knot/knot.conf` and the zone files ([`zone`]) of the zones this node
//! is primary for. Rendered only when agent.toml has a `[dns]` section; without a desired
//! `dns` (the control plane has not assigned one yet) knot.conf holds the server alone, so
//! knotd can start and answer REFUSED.
//!
//! What the rendered configuration does, and what was verified with knotd 3.2.6:
//! - Everything lives under the layout's root: `rundir` `run/knot` (pid file; knotd does not
//!   create it, the agent does), control socket `run/knot/knot.sock` (`knotc -c knot.conf` finds
//!   it there), `storage` `var/lib/knot` (journal, KASP keys, timers, catalog database), zone
//!   files in `var/lib/knot/zones`. knotd logs to stderr. No `user:` is rendered: in tests knotd
//!   runs as root; in production systemd runs it as `knot` (Debian's knot.service), which needs
//!   `/etc/knot` and `/var/lib/knot` group `knot` (the package's), knot.conf readable by that
//!   group (the agent gives it the group of its directory, mode 0640: it holds TSIG secrets)
//!   and `/run/knot` (systemd's `RuntimeDirectory=knot`).
//! - Primary zones (template `primary`): `dnssec-signing: on` with policy `ruche` (one
//!   combined key, single-type-signing, ECDSA P-256; signatures valid 14 days, refreshed 7 days
//!   before they expire; CDS/CDNSKEY always published for the parent), `zonefile-load:
//!   difference-no-serial` (the rendered file is the input; Knot applies the difference and
//!   sets the serial, `serial-policy: unixtime`), `journal-content: all` and `zonefile-sync: -1`
//!   (the signed zone and its serial live in the journal; Knot never writes the rendered file
//!   back, which would fight the agent), NOTIFY to every secondary and a transfer ACL for each
//!   secondary's TSIG key, and `catalog-role: member` of this node's catalog.
//! - This node's catalog zone (RFC 9432): `catalog-role: generate`, with the same NOTIFY and
//!   ACL, for the external secondaries (friendly collectives' servers configured with the catalog
//!   alone). Their configuration is theirs and trusts each catalog it is given, so a node's
//!   catalog can still add names there: a residual risk, bounded by keys: each external
//!   secondary holds a different key per node (`dns_external_keys`, `ns<N>.<suffix>`), a key for
//!   one node transfers nothing from another, a node's desired state carries only its own key
//!   for each peer, and one node's key can be replaced alone.
//! - For each node in `primaries`: a remote (named by its name server name, with the pair's
//!   key), a NOTIFY ACL for the key, a template `secondary.<name server>` (that master and ACL,
//!   kept in the journal only: `zonefile-load: none`), and one zone with that template for each
//!   zone the control plane says that node is primary for, and no other. This node does not
//!   consume other nodes' catalogs: Knot 3.2 configures every member a catalog lists
//!   (`catalog-template` picks a template, `catalog-group` a template among several; nothing
//!   filters members), so a node that put another member's domain, or any name, in its catalog
//!   would have its secondaries serve its copy. A new or removed domain reaches secondaries as
//!   their next desired state (the control plane bumps them with the primary); a new zone whose
//!   primary has not loaded it yet is transferred when the primary's NOTIFY comes. Explicit
//!   zones keep what the catalog gave: NOTIFY and IXFR with TSIG per zone, removal by purge, and
//!   the monitor's pending → active promotion of a new secondary. A zone that leaves knot.conf
//!   is purged like any other (see [`configured_zones`]); so is a catalog consumed before this
//!   change, with `+orphan`. Not verified with knotd yet: whether that purge
//!   also drops the journal of a former member that is now configured explicitly (if it does,
//!   the zone is transferred again at its next refresh or NOTIFY).
//! - A primary's remote has `block-notify-after-transfer: on`. Without it, each transfer into a
//!   secondary zone schedules a NOTIFY one second later (to this node's own secondaries, of
//!   which it has none for that zone), and Knot 3.2 times zone events in whole seconds: the
//!   evsched timer is armed 1,000 ms out, and a NOTIFY from the primary that arrives in the
//!   next second asks for a refresh "now", which is that same second, so no earlier timer is
//!   armed and the refresh waits for the pending one (measured in `tests/bench/dns.sh`: about
//!   one change in ten took 1.0 s to reach the secondaries; the p95 of a change reaching every
//!   secondary, with 1,001 zones, went from 1,005 to 224 ms with this option).
//! - ACLs name TSIG keys only, not addresses: a transfer arrives from whatever source address
//!   the peer's kernel picks (on loopback 127.0.0.1, not the peer's listen address). A transfer
//!   without the key is answered NOTAUTH, with a wrong key BADSIG.
//! - Every section or item with no value is left out (`zone: []` does not parse). With no zone
//!   at all, knotd starts and answers REFUSED.
//! - A zone file change reaches a secondary in milliseconds: `knotc zone-reload <zone>` →
//!   difference applied, re-signed, new unixtime serial, NOTIFY, IXFR. A full `knotc reload` also
//!   re-reads zone files whose mtime changed. `zone-reload` of a zone knotd does not have fails
//!   ("no such zone found"); `zone-purge` of one it never had succeeds.
//! - A zone removed from knot.conf keeps its journal, timers and keys until
//!   `knotc -f zone-purge <zone> +orphan` (3.2 accepts `+orphan` after the zones; `-f` is
//!   required); after it `keymgr <zone> list` prints nothing. A re-added zone gets a new key.
//! - Knot logs "KSK submission, waiting for confirmation" for each new key: no `ksk-submission`
//!   is configured (the combined key never rolls over: `ksk-lifetime` 0) so nothing waits on it;
//!   the parent's DS comes from the member's registrar (CDS/CDNSKEY show the key).
//! - A zone this node is primary for that is also listed under a primary (a member moving to
//!   this node, if two documents ever disagreed) is configured as this node's own zone; the
//!   secondary entry is left out and logged.
//!
//! Every value written is typed: [`DomainName`] (zones, remotes, keys), [`SocketAddr`],
//! [`protocol::dns::TsigKey`] (its secret is base64 by construction), the layout's paths (whose
//! characters [`Layout::check`] restricts).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use protocol::desired::{DesiredState, Dns, Tenant, Zone};
use protocol::dns::TsigKey;
use protocol::names::DomainName;

use crate::render::mta_sts::Policy;
use crate::render::{
    put, Contents, DnsSettings, Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial,
    OnChange, HEADER,
};
use crate::services::Service;

pub mod zone;

mod daemon;

pub use daemon::{Knot, ZONE_PURGE, ZONE_RELOAD};
use zone::ZONES_DIR;

/// Knot's id in the registry, the journal and agent.toml.
pub const SERVICE: Service = Service::new("knot");

pub const KNOT_CONF: &str = "etc/knot/knot.conf";
/// knotd's rundir (pid file); the control socket is in it.
pub const RUN_DIRECTORY: &str = "run/knot";
pub const CONTROL_SOCKET: &str = "run/knot/knot.sock";
/// Journal, KASP database (DNSSEC keys), timers, catalog database.
pub const STORAGE: &str = "var/lib/knot";
/// The DNSSEC policy of every primary zone.
pub const POLICY: &str = "ruche";
/// The template of the zones this node is primary for.
pub const PRIMARY_TEMPLATE: &str = "primary";

/// How each zone starts in knot.conf; [`configured_zones`] reads it back.
const ZONE_ITEM: &str = "  - domain: ";

/// The zone files of a member's domains that this node is primary for: each one the member's
/// alone, kept until the member, its zones, its keys or the node's DNS settings change.
pub fn render_member(
    tenant: &Tenant,
    layout: &Layout,
    material: &MemberMaterial<'_>,
) -> MemberLines {
    let mut lines = MemberLines::default();
    let Some((dns, settings)) = material.dns() else {
        return lines;
    };
    if layout.check().is_err() {
        return lines;
    }
    let node = NodeZones {
        dns,
        layout,
        settings,
        srv_ports: crate::services::srv_ports(&layout.ports),
        mta_sts: material.mta_sts(&layout.hostname),
    };
    for zone in tenant.domains.iter().filter_map(|d| material.zone(&d.name)) {
        let dkim = material.dkim_key(&zone.name);
        let acme = material.acme_challenges(&zone.name);
        lines.set(zone::path_of(&zone.name), node.zone_text(zone, dkim, &acme));
    }
    lines
}

/// What every zone file takes from the node: its DNS part, the layout, the name server's
/// settings, the SRV ports and the MTA-STS policy.
struct NodeZones<'a> {
    dns: &'a Dns,
    layout: &'a Layout,
    settings: &'a DnsSettings,
    srv_ports: BTreeMap<&'static str, u16>,
    mta_sts: Policy<'a>,
}

impl NodeZones<'_> {
    /// The zone file of `zone`, whether a member's or the node's.
    fn zone_text(
        &self,
        zone: &Zone,
        dkim: Option<&crate::dkim::Key>,
        acme: &[(&DomainName, &[String])],
    ) -> String {
        let context = zone::Context {
            dns: self.dns,
            hostname: &self.layout.hostname,
            addresses: &self.settings.addresses,
            dkim,
            srv_ports: &self.srv_ports,
            acme,
            mta_sts: &self.mta_sts,
        };
        zone::zone_file(zone, &context)
    }
}

pub fn render(
    desired: &DesiredState,
    layout: &Layout,
    material: &NodeMaterial,
    members: &Members<'_>,
    files: &mut Files,
) {
    let Some(settings) = &material.dns else {
        return;
    };
    if let Err(problem) = layout.check() {
        tracing::error!(%problem, "knot: the layout cannot be written into a config file");
        return;
    }
    let config = Config::new(desired.dns.as_ref());
    // 0640: it holds TSIG secrets.
    let conf = knot_conf(&config, layout, settings);
    put(files, SERVICE, KNOT_CONF, 0o640, OnChange::Reload, conf);
    let Some(dns) = desired.dns.as_ref() else {
        return;
    };
    let node = NodeZones {
        dns,
        layout,
        settings,
        srv_ports: crate::services::srv_ports(&layout.ports),
        mta_sts: material.mta_sts(&layout.hostname),
    };
    // Most zone files are a member's ([`render_member`]); a zone no served member holds is
    // rendered here.
    let by_member: std::collections::HashMap<&str, &Arc<str>> = members.all().collect();
    for zone in &config.zones {
        let path = zone::path_of(&zone.name);
        let text = match by_member.get(path.as_str()) {
            // Shared with the member's lines, not copied.
            Some(text) => Contents::from(Arc::clone(text)),
            None => {
                let dkim = material.dkim_keys.get(&zone.name);
                // No member holds it: no certificate is asked for under it either.
                Contents::from(node.zone_text(zone, dkim, &[]))
            }
        };
        put(
            files,
            SERVICE,
            &path,
            0o644,
            OnChange::Step(ZONE_RELOAD),
            text,
        );
    }
}

/// The zones knot.conf (as rendered here) configures: every `- domain:` item. The agent
/// compares the file on disk with the new one to know which zones to purge.
pub fn configured_zones(knot_conf: &[u8]) -> BTreeSet<DomainName> {
    String::from_utf8_lossy(knot_conf)
        .lines()
        .filter_map(|line| line.strip_prefix(ZONE_ITEM))
        .filter_map(|name| DomainName::parse(name).ok())
        .collect()
}

/// A remote server: its address and the key that signs what goes to it.
struct Remote<'a> {
    address: SocketAddr,
    key: &'a DomainName,
}

/// The desired DNS state, checked for what would make knot.conf invalid (a name used twice, a
/// key name with two secrets, this node as its own peer); what is left out is logged.
struct Config<'a> {
    catalog: Option<&'a DomainName>,
    keys: BTreeMap<&'a DomainName, &'a TsigKey>,
    remotes: BTreeMap<&'a DomainName, Remote<'a>>,
    /// Secondaries (remote ids) and the keys they transfer with.
    secondaries: BTreeSet<&'a DomainName>,
    transfer_keys: BTreeSet<&'a DomainName>,
    /// The nodes this node is a secondary of: remote id -> the key they NOTIFY with.
    primaries: BTreeMap<&'a DomainName, &'a DomainName>,
    /// Zones served as a secondary: zone -> its primary's remote id.
    secondary_zones: BTreeMap<&'a DomainName, &'a DomainName>,
    zones: Vec<&'a protocol::desired::Zone>,
}

impl<'a> Config<'a> {
    fn new(dns: Option<&'a Dns>) -> Config<'a> {
        let mut config = Config {
            catalog: None,
            keys: BTreeMap::new(),
            remotes: BTreeMap::new(),
            secondaries: BTreeSet::new(),
            transfer_keys: BTreeSet::new(),
            primaries: BTreeMap::new(),
            secondary_zones: BTreeMap::new(),
            zones: Vec::new(),
        };
        let Some(dns) = dns else {
            return config;
        };
        let mut names: BTreeSet<&DomainName> = BTreeSet::new();
        names.insert(&dns.catalog);
        config.catalog = Some(&dns.catalog);

        for peer in &dns.secondaries {
            if config.add_peer(dns, &peer.nameserver, peer.address, &peer.tsig) {
                config.secondaries.insert(&peer.nameserver);
                config.transfer_keys.insert(&peer.tsig.name);
            }
        }
        // This node's own zones first: a name listed both here and under a primary is ours.
        for zone in &dns.zones {
            if names.insert(&zone.name) {
                config.zones.push(zone);
            } else {
                tracing::error!(
                    zone = zone.name.as_str(),
                    "knot: a zone is named like another zone or a catalog: left out"
                );
            }
        }
        config.zones.sort_by(|a, b| a.name.cmp(&b.name));
        for primary in &dns.primaries {
            if !config.add_peer(dns, &primary.nameserver, primary.address, &primary.tsig) {
                continue;
            }
            config
                .primaries
                .insert(&primary.nameserver, &primary.tsig.name);
            for zone in &primary.zones {
                if names.insert(zone) {
                    config.secondary_zones.insert(zone, &primary.nameserver);
                } else {
                    tracing::error!(
                        zone = zone.as_str(),
                        primary = primary.nameserver.as_str(),
                        "knot: a secondary zone is named like another zone or a catalog: left out"
                    );
                }
            }
        }
        config
    }

    /// Adds a remote and its key; false if it cannot be configured as given.
    fn add_peer(
        &mut self,
        dns: &Dns,
        nameserver: &'a DomainName,
        address: SocketAddr,
        tsig: &'a TsigKey,
    ) -> bool {
        if *nameserver == dns.nameserver {
            tracing::error!(
                nameserver = nameserver.as_str(),
                "knot: this node is listed as its own peer: left out"
            );
            return false;
        }
        if let Some(known) = self.keys.get(&tsig.name) {
            if known.secret != tsig.secret || known.algorithm != tsig.algorithm {
                tracing::error!(
                    key = tsig.name.as_str(),
                    "knot: a TSIG key name has two secrets: the peer using the second is left out"
                );
                return false;
            }
        }
        if let Some(remote) = self.remotes.get(nameserver) {
            if remote.address != address || remote.key != &tsig.name {
                tracing::error!(
                    nameserver = nameserver.as_str(),
                    "knot: a peer is listed with two addresses or keys: the second is left out"
                );
                return false;
            }
        }
        self.keys.insert(&tsig.name, tsig);
        self.remotes.insert(
            nameserver,
            Remote {
                address,
                key: &tsig.name,
            },
        );
        true
    }
}

/// `ip@port`, Knot's form of a socket address.
fn knot_address(address: SocketAddr) -> String {
    format!("{}@{}", address.ip(), address.port())
}

/// `[a, b]` for a multi-valued item.
fn list(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    format!("[{}]", names.join(", "))
}

fn transfer_acl(key: &DomainName) -> String {
    format!("transfer.{}", key.as_str())
}

fn notify_acl(key: &DomainName) -> String {
    format!("notify.{}", key.as_str())
}

fn secondary_template(primary: &DomainName) -> String {
    format!("secondary.{}", primary.as_str())
}

fn knot_conf(
    config: &Config<'_>,
    layout: &Layout,
    settings: &crate::render::DnsSettings,
) -> String {
    let mut out = String::from(HEADER);
    let path = |p: &str| format!("\"{}\"", layout.path_text(p));
    let zones_dir = path(ZONES_DIR);

    let _ = write!(
        out,
        "\nserver:\n    rundir: {}\n    listen: {}\n",
        path(RUN_DIRECTORY),
        knot_address(settings.listen)
    );
    let _ = write!(out, "\ncontrol:\n    listen: {}\n", path(CONTROL_SOCKET));
    out.push_str("\nlog:\n  - target: stderr\n    any: info\n");
    let _ = write!(out, "\ndatabase:\n    storage: {}\n", path(STORAGE));

    if !config.keys.is_empty() {
        out.push_str("\nkey:\n");
        for key in config.keys.values() {
            let _ = write!(
                out,
                "  - id: {}\n    algorithm: {}\n    secret: {}\n",
                key.name.as_str(),
                key.algorithm.as_str(),
                key.secret.expose()
            );
        }
    }
    if !config.remotes.is_empty() {
        out.push_str("\nremote:\n");
        for (id, remote) in &config.remotes {
            let _ = write!(
                out,
                "  - id: {}\n    address: {}\n    key: {}\n",
                id.as_str(),
                knot_address(remote.address),
                remote.key.as_str()
            );
            // This node never passes a primary's zone on (its secondary templates NOTIFY no
            // one), and the NOTIFY Knot would schedule after each transfer from it holds the
            // zone's next refresh back by up to a second (see the module docs).
            if config.primaries.contains_key(id) {
                out.push_str("    block-notify-after-transfer: on\n");
            }
        }
    }
    let notify_keys: BTreeSet<&DomainName> = config.primaries.values().copied().collect();
    if !config.transfer_keys.is_empty() || !notify_keys.is_empty() {
        out.push_str("\nacl:\n");
        for key in &config.transfer_keys {
            let _ = write!(
                out,
                "  - id: {}\n    key: {}\n    action: transfer\n",
                transfer_acl(key),
                key.as_str()
            );
        }
        for key in &notify_keys {
            let _ = write!(
                out,
                "  - id: {}\n    key: {}\n    action: notify\n",
                notify_acl(key),
                key.as_str()
            );
        }
    }

    let Some(catalog) = config.catalog else {
        return out;
    };
    let _ = write!(
        out,
        "\npolicy:\n  - id: {POLICY}\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n    \
         rrsig-lifetime: 14d\n    rrsig-refresh: 7d\n    cds-cdnskey-publish: always\n"
    );

    // To the secondaries: NOTIFY, and transfers with their keys.
    let mut outgoing = String::new();
    if !config.secondaries.is_empty() {
        let _ = write!(
            outgoing,
            "    notify: {}\n    acl: {}\n",
            list(config.secondaries.iter().map(|s| s.as_str().to_owned())),
            list(config.transfer_keys.iter().map(|k| transfer_acl(k)))
        );
    }
    // Journal only, never a file: catalogs and secondary zones.
    let journal_only = format!(
        "    storage: {zones_dir}\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n"
    );

    out.push_str("\ntemplate:\n");
    let _ = write!(out, "  - id: default\n{journal_only}");
    let _ = write!(
        out,
        "  - id: {PRIMARY_TEMPLATE}\n    storage: {zones_dir}\n    file: \"%s.zone\"\n    \
         zonefile-sync: -1\n    zonefile-load: difference-no-serial\n    journal-content: all\n    \
         serial-policy: unixtime\n    dnssec-signing: on\n    dnssec-policy: {POLICY}\n\
         {outgoing}    catalog-role: member\n    catalog-zone: {}\n",
        catalog.as_str()
    );
    for (primary, key) in &config.primaries {
        let _ = write!(
            out,
            "  - id: {}\n{journal_only}    master: {}\n    acl: {}\n",
            secondary_template(primary),
            primary.as_str(),
            notify_acl(key)
        );
    }

    out.push_str("\nzone:\n");
    let _ = write!(
        out,
        "{ZONE_ITEM}{}\n    catalog-role: generate\n{outgoing}",
        catalog.as_str()
    );
    for zone in &config.zones {
        let _ = write!(
            out,
            "{ZONE_ITEM}{}\n    template: {PRIMARY_TEMPLATE}\n",
            zone.name.as_str()
        );
    }
    for (zone, primary) in &config.secondary_zones {
        let _ = write!(
            out,
            "{ZONE_ITEM}{}\n    template: {}\n",
            zone.as_str(),
            secondary_template(primary)
        );
    }
    out
}
