//! The node's daemons, one folder each, behind one trait: [`Daemon`].
//!
//! A folder holds everything about its daemon: its renderer(s) and their golden files, its
//! commands (check, reload), its own named steps (Postfix's `postmap`, Knot's `zone-reload`,
//! `zone-purge` and the `kzonecheck` a zone file passes before it replaces the old one), and
//! the DNS names it serves in members' zones. [`ALL`] is the registry: the only list that names
//! every daemon. The engine ([`crate::plan`], [`crate::apply`], [`crate::saved`],
//! [`crate::config`], [`crate::reconcile`], the shared parts of [`crate::render`]) knows the
//! trait and the registry, never a particular daemon.
//!
//! The engine speaks of four kinds of work: write a file, check a service's configuration,
//! reload a service, and run a service's own named [`Step`] with one argument (a table's path,
//! a zone's name). What a step does, when it runs ([`Phase`]) and how it fails is the service's.
//!
//! Adding a service: see CONTRIBUTING.md, "Adding a service".

pub mod dovecot;
pub mod knot;
pub mod nginx;
pub mod postfix;
pub mod rspamd;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use protocol::desired::{DesiredState, Tenant};
use serde::{Deserialize, Serialize};

use crate::apply::{ApplyError, ServiceOutcome};
use crate::config::{Argv, Commands, Config, ServiceCommands};
use crate::plan::{OnDisk, Plan, TableEdit};
use crate::render::{
    Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial, Ports, RelPath,
};

/// The registry: every daemon the agent renders, checks and reloads, in the order it does so.
pub static ALL: [&dyn Daemon; 5] = [
    &postfix::Postfix,
    &dovecot::Dovecot,
    &rspamd::Rspamd,
    &knot::Knot,
    &nginx::Nginx,
];

/// One daemon of the node, as the engine sees it.
pub trait Daemon: Sync {
    /// Its id: its name in the journal, in the status and in agent.toml's `[commands.<name>]`.
    fn service(&self) -> Service;

    /// The lines `tenant` adds to its node-wide files (a lookup table's entries, the member's
    /// users, a map's entries), by path. Pure, and a function of its arguments alone: the
    /// engine renders a member again only when its part of the document or its domains' keys
    /// changed ([`crate::render::Renderer`]). Lines of two members never share a key: a
    /// domain belongs to one member ([`DesiredState::served`]).
    fn render_member(
        &self,
        _tenant: &Tenant,
        _layout: &Layout,
        _material: &MemberMaterial<'_>,
    ) -> MemberLines {
        MemberLines::default()
    }

    /// Adds its files to `files` (through [`crate::render::put`]), its node-wide files from
    /// `members`' lines. Pure.
    fn render(
        &self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    );

    /// Its keys in agent.toml's `[commands]` (`<name>.check`, or a key of its own beside the
    /// tables, like `postmap`), each an argv.
    fn command_keys(&self) -> CommandKeys;

    /// Its configuration check and reload; `None` when this node does not run it (then it is
    /// not reported either).
    fn commands(&self, commands: &Commands) -> Option<ServiceCommands>;

    /// Whatever else it asks of agent.toml (Knot: `[commands.knot]` goes with `[dns]`).
    fn check_config(&self, _config: &Config) -> Result<(), String> {
        Ok(())
    }

    /// The journal fields of agents older than named steps that held its steps' arguments:
    /// (field, step name). An old journal is finished with them.
    fn older_journal_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Before each apply, what the rendered files do not say: directories its daemon needs and
    /// does not make, files an earlier version wrote that must go.
    fn prepare(&self, _layout: &Layout, _material: &NodeMaterial) -> std::io::Result<()> {
        Ok(())
    }

    /// What its steps need to know of the disk beyond the rendered files: files it owns that
    /// are no longer rendered (Knot's left-over zone files), and `stale` ones whose step must
    /// run even if they did not change (a lookup table with no current compiled form).
    fn read_disk(
        &self,
        _root: &Path,
        _rendered: &Files,
        _on_disk: &mut OnDisk,
        _stale: &mut BTreeSet<RelPath>,
    ) -> std::io::Result<()> {
        Ok(())
    }

    /// Adds its named steps to `plan`, whose writes, checks and reloads are already planned.
    fn plan(
        &self,
        _rendered: &Files,
        _on_disk: &OnDisk,
        _stale: &BTreeSet<RelPath>,
        _plan: &mut Plan<'_>,
    ) {
    }

    /// A check a new file must pass before it replaces the old one (Knot: `kzonecheck` on a
    /// zone file); `None` when the file is simply written. `Err`: the file cannot be checked
    /// here, so it is refused.
    fn new_file_check(
        &self,
        _commands: &Commands,
        _path: &RelPath,
    ) -> Option<Result<NewFileCheck, String>> {
        None
    }

    /// Sets what it needs on a file just written (Knot: the group of its directory).
    fn after_write(&self, _full: &Path) -> std::io::Result<()> {
        Ok(())
    }

    /// Runs its pending steps of `phase` ([`StepRun::pending`]): a step done leaves the set, a
    /// step that failed stays (and stays in the journal).
    fn run_steps(&self, _phase: Phase, _run: &mut StepRun<'_>) -> Result<(), ApplyError> {
        Ok(())
    }

    /// The SRV names it serves in members' zones (`protocol::dns::platform`), with the port
    /// from the layout.
    fn srv_ports(&self, _ports: &Ports) -> Vec<(&'static str, u16)> {
        Vec::new()
    }
}

/// A daemon's id: its name. Ordered as [`ALL`] is, so services are checked and reloaded in
/// the registry's order. Serialized as its name; deserializing takes only a registered name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Service(&'static str);

impl Service {
    pub const fn new(name: &'static str) -> Service {
        Service(name)
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    /// The registered service of that name.
    pub fn named(name: &str) -> Option<Service> {
        ALL.iter().map(|d| d.service()).find(|s| s.0 == name)
    }

    /// Its daemon in the registry.
    pub fn daemon(self) -> Option<&'static dyn Daemon> {
        ALL.iter().copied().find(|d| d.service() == self)
    }

    fn rank(self) -> usize {
        ALL.iter()
            .position(|d| d.service() == self)
            .unwrap_or(ALL.len())
    }
}

impl Ord for Service {
    fn cmp(&self, other: &Service) -> std::cmp::Ordering {
        (self.rank(), self.0).cmp(&(other.rank(), other.0))
    }
}

impl PartialOrd for Service {
    fn partial_cmp(&self, other: &Service) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Service, D::Error> {
        let name = String::deserialize(deserializer)?;
        Service::named(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown service {name:?}")))
    }
}

/// One of a service's own named steps, with its argument: `postfix postmap
/// etc/postfix/ruche/mailboxes`, `knot zone-reload example.org`. What the plan and the journal
/// hold besides writes, checks and reloads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Step {
    pub service: Service,
    pub name: String,
    pub arg: String,
}

impl Step {
    pub fn new(service: Service, name: &str, arg: &str) -> Step {
        Step {
            service,
            name: name.to_owned(),
            arg: arg.to_owned(),
        }
    }
}

/// A service's keys in `[commands]`.
pub struct CommandKeys {
    /// Each an argv: `<service>.<key>` for its table, or a key of its own beside the tables.
    pub keys: &'static [&'static str],
    /// All absent is allowed (the node does not run it); else all must be given.
    pub optional: bool,
}

/// When a service's named steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After every check, before any reload (Postfix's tables, which smtpd reads afresh).
    BeforeReload,
    /// After the service's reload, and only once its daemon runs the configuration on disk
    /// (its reload is not owed): Knot loads or purges zones of the knot.conf it runs.
    AfterReload,
}

/// What a service's steps run with, and what they report.
pub struct StepRun<'a> {
    pub root: &'a Path,
    pub commands: &'a Commands,
    /// The service's steps still owed (planned now, or left by an earlier apply).
    pub pending: BTreeSet<Step>,
    /// The steps an interrupted apply left: what it did of them is not known.
    pub owed: &'a BTreeSet<Step>,
    /// The cheaper form of some planned steps (a table's changed entries), valid only on top of
    /// what the plan saw: not for an owed step, nor after [`StepRun::restored`].
    pub edits: &'a BTreeMap<Step, TableEdit>,
    /// The service's check refused its new files in this apply: its last good files are back.
    pub restored: bool,
    /// The first failure, reported as the service's outcome (unless its check failed).
    pub failure: Option<ServiceOutcome>,
    /// How many arguments each step name handled.
    pub done: BTreeMap<String, usize>,
}

impl StepRun<'_> {
    /// The pending steps named `name`, in order.
    pub fn pending_named(&self, name: &str) -> Vec<Step> {
        self.pending
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// Records a failure; the first one is reported.
    pub fn failed(&mut self, outcome: ServiceOutcome) {
        self.failure.get_or_insert(outcome);
    }

    /// Counts `n` arguments handled by step `name`.
    pub fn count(&mut self, name: &str, n: usize) {
        *self.done.entry(name.to_owned()).or_default() += n;
    }
}

/// A command a new file must pass before it replaces the old one.
pub struct NewFileCheck {
    /// Run with the candidate file's path appended.
    pub argv: Argv,
    /// What is refused, for the message (`zone example.org`).
    pub what: String,
    /// The step that would load the file: dropped when the file is refused.
    pub loads: Option<Step>,
}

/// The SRV names the registered services serve, each with its port from `ports`.
pub fn srv_ports(ports: &Ports) -> BTreeMap<&'static str, u16> {
    ALL.iter().flat_map(|d| d.srv_ports(ports)).collect()
}

/// The service and step an old journal field held arguments of.
pub fn older_journal_field(field: &str) -> Option<(Service, &'static str)> {
    ALL.iter().find_map(|d| {
        d.older_journal_fields()
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, step)| (d.service(), *step))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::dns::platform::{SrvPort, SRV_NAMES};

    #[test]
    fn names_are_unique_and_ordered_as_registered() {
        let names: Vec<&str> = ALL.iter().map(|d| d.service().name()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        let mut sorted: Vec<Service> = ALL.iter().map(|d| d.service()).collect();
        sorted.reverse();
        sorted.sort();
        let order: Vec<&str> = sorted.iter().map(|s| s.name()).collect();
        assert_eq!(order, names);
        for name in names {
            let json = serde_json::to_string(&Service::named(name).unwrap()).unwrap();
            assert_eq!(json, format!("\"{name}\""));
        }
        assert!(serde_json::from_str::<Service>("\"no-such-daemon\"").is_err());
    }

    /// Every SRV name the platform serves from the node has exactly one service giving its
    /// port, and services give ports only for names the platform owns.
    #[test]
    fn every_node_srv_name_has_one_service() {
        let ports = Ports::default();
        let given: Vec<&str> = ALL
            .iter()
            .flat_map(|d| d.srv_ports(&ports))
            .map(|(name, _)| name)
            .collect();
        for srv in SRV_NAMES {
            let count = given.iter().filter(|n| **n == srv.owner).count();
            let expected = usize::from(srv.port == SrvPort::Node);
            assert_eq!(count, expected, "{}", srv.owner);
        }
        for name in given {
            assert!(SRV_NAMES.iter().any(|s| s.owner == name), "{name}");
        }
    }
}

#[cfg(test)]
mod engine_tests;
