//! One reconcile: desired state in, daemons converged (or the reason why not) out.
//!
//! Level-triggered: it never learns why it runs, and running it twice changes nothing. It reads
//! the node's own material (the TLS certificate, the DKIM keys: in the running agent those that
//! exist, the missing ones being made aside by [`dkim::Maker`]), renders every file, plans
//! against the disk, applies, and on success records the state as applied and hands the auth
//! broker the new verifiers. Blocking: run it on a blocking thread, one at a time.
//!
//! The observed generation (`Status::observed_generation`, which the heartbeat reports)
//! advances only when every service took the change: an incomplete apply leaves it where it was.
//!
//! A change costs what it changes. The delta from the applied state to the new one is worked
//! out once (`DesiredState::delta_to`, one walk through both member lists) and names the
//! members whose lines are rendered again ([`Renderer`]), whose broker credentials (kept per
//! member) are rebuilt and whose stores named the old way are adopted; it is appended to
//! `applied.log` ([`crate::saved`]) and says which mailbox homes and DKIM keys left, the only
//! ones the sweep after the apply looks at (the whole mail store and key directory are read at
//! the first complete apply after start and then hourly). The state applied before is freed on
//! a thread of its own, so freeing a whole document does not lengthen the reconcile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::desired::{Delta, DesiredState, Tenant};
use protocol::names::{DomainName, ObjectId};
use protocol::node::{DkimKey, MailboxUsage, ServiceHealth};
use tokio::sync::watch;

use crate::apply::{self, ApplyError, Outcome, ServiceOutcome, Target};
use crate::broker::Credentials;
use crate::config::Config;
use crate::dkim::{self, DkimError, Keys};
use crate::plan;
use crate::render::{self, NodeMaterial, Renderer, TlsPair};
use crate::saved::{Saved, SavedError};
use crate::services::{Service, ALL};

/// What the agent reports: overwritten after each reconcile with what was observed.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The generation fully applied, if any.
    pub observed_generation: Option<u64>,
    pub services: BTreeMap<Service, ServiceOutcome>,
    /// Why the last reconcile failed before reaching the daemons.
    pub error: Option<String>,
    /// Replaced, never changed in place, so a heartbeat can tell them from what it sent last by
    /// pointer ([`Arc::ptr_eq`]).
    pub dkim_keys: Arc<Vec<DkimKey>>,
    /// A measurement of the mail store the control plane has not taken yet; dropped once a
    /// heartbeat carried it (10,000 mailboxes' figures are 1.5 MiB).
    pub usage: Option<Arc<Vec<MailboxUsage>>>,
}

impl Status {
    pub fn health(&self) -> Vec<ServiceHealth> {
        let mut health: Vec<ServiceHealth> = self
            .services
            .iter()
            .map(|(service, outcome)| ServiceHealth {
                name: service.name().to_owned(),
                healthy: *outcome == ServiceOutcome::Ok,
                message: match outcome {
                    ServiceOutcome::Ok => None,
                    ServiceOutcome::CheckFailed(m) => {
                        Some(format!("configuration check failed: {m}"))
                    }
                    ServiceOutcome::StepFailed(m) => Some(m.clone()),
                    ServiceOutcome::ReloadFailed(m) => Some(format!("reload failed: {m}")),
                },
            })
            .collect();
        if let Some(error) = &self.error {
            health.push(ServiceHealth {
                name: "agent".to_owned(),
                healthy: false,
                message: Some(error.clone()),
            });
        }
        health
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Saved(#[from] SavedError),
    #[error(transparent)]
    Dkim(#[from] DkimError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot read {what} {path}")]
    Read {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a thread of the agent's")]
    Thread(#[source] std::io::Error),
    #[error("the daemons did not all take generation {generation}: {summary}")]
    Incomplete {
        generation: u64,
        summary: String,
        /// Every file is in place and checked; only reloads failed (a daemon not running yet).
        reloads_only: bool,
    },
}

pub struct Reconciler {
    pub config: Config,
    pub saved: Saved,
    keys: Arc<Keys>,
    /// Makes missing DKIM keys aside; `None`: they are made in line (the one-shot reconcile).
    maker: Option<dkim::Maker>,
    credentials: watch::Sender<Arc<Credentials>>,
    pub status: Arc<Mutex<Status>>,
    /// `applied.json`, kept in memory: read once at start, replaced after each full apply.
    applied: Mutex<Option<Arc<DesiredState>>>,
    /// When [`Reconciler::forget_what_left`] last read the whole mail store and key directory;
    /// `None`: at the next complete apply (the first since start, or after a sweep failed).
    full_sweep: Mutex<Option<Instant>>,
    /// Keeps each member's rendered lines until that member changes.
    renderer: Mutex<Renderer>,
    /// The certificates obtained by ACME and the DNS-01 values to publish, shared with the
    /// certificate manager ([`crate::certs::Manager`]).
    pub certs: Arc<crate::certs::Shared>,
    garbage: Garbage,
}

/// A thread that frees what it is given, so that freeing a whole document does not lengthen a
/// reconcile, then gives the heap's free pages back ([`crate::heap::trim`]).
struct Garbage(std::sync::mpsc::Sender<Box<dyn Send>>);

impl Garbage {
    fn start() -> Result<Garbage, ReconcileError> {
        let (sender, receiver) = std::sync::mpsc::channel::<Box<dyn Send>>();
        std::thread::Builder::new()
            .name("garbage".to_owned())
            .spawn(move || {
                for value in receiver.iter() {
                    drop(value);
                    // Once per burst: what reconciles in a row left is trimmed together.
                    receiver.try_iter().for_each(drop);
                    crate::heap::trim();
                }
            })
            .map_err(ReconcileError::Thread)?;
        Ok(Garbage(sender))
    }

    fn drop_aside(&self, value: Box<dyn Send>) {
        // The thread lives as long as the sender; if it ever did not, this drops here.
        let _ = self.0.send(value);
    }
}

/// How often the whole mail store and key directory are read for what no longer belongs
/// there (what a crash between an apply and its sweep left, retired homes past their time);
/// between two such sweeps only what an apply removed is looked at.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(3600);

impl Reconciler {
    /// Sets up from `config`; the broker's credentials start from the last applied state.
    pub fn new(config: Config) -> Result<Reconciler, ReconcileError> {
        let saved = Saved::new(&config.state_dir);
        let keys = Keys::new(&config.layout.root, &config.commands.dkim_group)?;
        let applied = saved.load_applied()?;
        // What an older agent saved may name what is not served (pending domains).
        let credentials = applied
            .as_ref()
            .map(|a| Credentials::from_desired(&a.served()))
            .unwrap_or_default();
        let status = Status {
            observed_generation: applied.as_ref().map(|a| a.generation),
            ..Status::default()
        };
        // What the store holds is served from the first reconcile on, so a restart serves
        // the same certificates; without `[acme]` nothing is read.
        let certs = match &config.acme {
            Some(_) => crate::certs::Shared::load(&crate::certs::Store::new(&config.layout.root))
                .map_err(|source| ReconcileError::Read {
                what: "the certificates under",
                path: config
                    .layout
                    .root
                    .join(crate::certs::CERTS)
                    .display()
                    .to_string(),
                source: std::io::Error::other(source.to_string()),
            })?,
            None => crate::certs::Shared::default(),
        };
        Ok(Reconciler {
            config,
            saved,
            keys: Arc::new(keys),
            maker: None,
            credentials: watch::Sender::new(Arc::new(credentials)),
            status: Arc::new(Mutex::new(status)),
            applied: Mutex::new(applied.map(Arc::new)),
            full_sweep: Mutex::new(None),
            renderer: Mutex::new(Renderer::default()),
            certs: Arc::new(certs),
            garbage: Garbage::start()?,
        })
    }

    /// From now on, missing DKIM keys are made on their own thread, which calls `made` when it
    /// made some ([`dkim::Maker`]): a domain waiting for its key holds up no other change, and
    /// signs from the reconcile that follows.
    pub fn make_keys_aside(
        mut self,
        made: impl Fn() + Send + 'static,
    ) -> Result<Reconciler, ReconcileError> {
        let maker = dkim::Maker::start(self.keys.clone(), made).map_err(ReconcileError::Thread)?;
        self.maker = Some(maker);
        Ok(self)
    }

    /// The last fully applied desired state.
    pub fn applied(&self) -> Option<Arc<DesiredState>> {
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The broker's view of who may log in: follows every successful reconcile.
    pub fn credentials(&self) -> watch::Receiver<Arc<Credentials>> {
        self.credentials.subscribe()
    }

    /// Brings the node to `desired`, recording the outcome in [`Reconciler::status`]. Only what
    /// the document lets the node serve is rendered, authenticated and kept
    /// ([`DesiredState::served`]: verified domains and mailboxes with ids).
    pub fn reconcile(&self, desired: &DesiredState) -> Result<Outcome, ReconcileError> {
        self.reconcile_served(Arc::new(desired.served()), names_ids(desired))
    }

    /// [`Reconciler::reconcile`] of a document the caller shares: kept as the applied state
    /// without a copy when all of it is served (as the control plane sends it).
    pub fn reconcile_shared(&self, desired: &Arc<DesiredState>) -> Result<Outcome, ReconcileError> {
        let served = if desired.serves_all() {
            Arc::clone(desired)
        } else {
            Arc::new(desired.served())
        };
        self.reconcile_served(served, names_ids(desired))
    }

    fn reconcile_served(
        &self,
        served: Arc<DesiredState>,
        names_ids: bool,
    ) -> Result<Outcome, ReconcileError> {
        let result = self.reconcile_inner(served, names_ids);
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(outcome) => {
                status.services = outcome.services.clone();
                status.error = None;
            }
            Err(ReconcileError::Incomplete { .. }) => {}
            Err(err) => status.error = Some(crate::error_chain(err)),
        }
        result
    }

    fn reconcile_inner(
        &self,
        desired: Arc<DesiredState>,
        names_ids: bool,
    ) -> Result<Outcome, ReconcileError> {
        let started = std::time::Instant::now();
        let layout = &self.config.layout;
        let material = Arc::new(self.material(&desired)?);
        let material_done = started.elapsed();
        let applied = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // What changed since the last applied state: the members rendered again (unless the
        // last rendering was of another state), where stores may need adopting, what is
        // appended to applied.json's log, whose logins are rebuilt and what the sweep after the
        // apply looks at.
        let delta = applied.as_deref().map(|before| before.delta_to(&desired));
        let since = applied.as_ref().zip(delta.as_ref());
        let rendered = self
            .renderer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .render_kept(Arc::clone(&desired), layout, Arc::clone(&material), since);
        let render_done = started.elapsed();
        let last_good = || {
            applied
                .as_deref()
                .map(|applied| render::render(applied, layout, &material))
        };
        let (on_disk, stale) =
            apply::read_disk(&layout.root, &rendered).map_err(|source| ReconcileError::Read {
                what: "the files under",
                path: layout.root.display().to_string(),
                source,
            })?;
        let plan = plan::plan(&rendered, &on_disk, &stale);
        let plan_done = started.elapsed();
        let changed = delta.as_ref().map_or(&desired.tenants, |d| &d.tenants);
        self.prepare_mail_store(changed)?;
        for daemon in ALL {
            daemon
                .prepare(layout, &material)
                .map_err(|source| ReconcileError::Read {
                    what: "the directories of",
                    path: daemon.service().to_string(),
                    source,
                })?;
        }
        let target = Target {
            root: &layout.root,
            commands: &self.config.commands,
            saved: &self.saved,
        };
        let outcome = apply::apply(&target, &plan, &on_disk, last_good)?;
        {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status.services = outcome.services.clone();
        }
        tracing::info!(
            generation = desired.generation,
            files = rendered.len(),
            written = outcome.written,
            reloaded = ?outcome.reloaded,
            steps = ?outcome.steps,
            complete = outcome.complete(),
            elapsed = ?started.elapsed(),
            // Where the time went: keys and certificate read; rendered; disk read and planned.
            material = ?material_done,
            render = ?(render_done - material_done),
            plan = ?(plan_done - render_done),
            "reconciled"
        );
        if !outcome.complete() {
            let summary = outcome
                .services
                .iter()
                .filter(|(_, o)| **o != ServiceOutcome::Ok)
                .map(|(s, o)| format!("{s}: {o:?}"))
                .collect::<Vec<_>>()
                .join("; ");
            let reloads_only = outcome
                .services
                .values()
                .all(|o| matches!(o, ServiceOutcome::Ok | ServiceOutcome::ReloadFailed(_)));
            return Err(ReconcileError::Incomplete {
                generation: desired.generation,
                summary,
                reloads_only,
            });
        }
        self.saved.save_applied(&desired, delta.as_ref())?;
        let generation = desired.generation;
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&desired));
        // Only the members that changed since the last applied state are built again.
        let credentials = self.credentials.borrow().next(delta.as_ref(), &desired);
        let replaced = self.credentials.send_replace(Arc::new(credentials));
        // Only now do no daemon and no login name what follows: remove it.
        if names_ids {
            let before = applied.as_deref().zip(delta.as_ref());
            self.forget_what_left(&desired, before)?;
        } else {
            tracing::warn!(
                "the desired state names no ids (a control plane older than this agent): \
                 removed mailboxes' stores and domains' keys are kept until it does"
            );
        }
        {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status.observed_generation = Some(generation);
        }
        // The state applied before and its logins, freed off this path: about ten thousand
        // strings at 10,000 mailboxes, and the change is applied already.
        self.garbage.drop_aside(Box::new((applied, replaced)));
        Ok(outcome)
    }

    /// The certificate as given, a DKIM key for every domain of an active member and every zone
    /// this node is primary for, and the name server's settings.
    fn material(&self, desired: &DesiredState) -> Result<NodeMaterial, ReconcileError> {
        let tls = match &self.config.tls {
            Some(files) => {
                let read = |what, path: &std::path::Path| {
                    std::fs::read(path).map_err(|source| ReconcileError::Read {
                        what,
                        path: path.display().to_string(),
                        source,
                    })
                };
                Some(TlsPair {
                    chain_pem: read("the certificate chain", &files.chain)?,
                    key_pem: read("the private key", &files.key)?,
                })
            }
            None => None,
        };
        let dns = self.config.dns_settings();
        // Keys are made per domain id. Every served domain of an active member signs; every
        // zone this node is primary for publishes its domain's key (a suspended member's too).
        let ids: BTreeMap<&DomainName, &ObjectId> = desired
            .tenants
            .iter()
            .flat_map(|t| &t.domains)
            .filter_map(|d| d.id.as_ref().map(|id| (&d.name, id)))
            .collect();
        let signing: BTreeSet<&DomainName> = desired
            .tenants
            .iter()
            .filter(|t| t.active)
            .flat_map(|t| t.domains.iter().map(|d| &d.name))
            .collect();
        let published = desired
            .dns
            .iter()
            .filter(|_| dns.is_some())
            .flat_map(|d| d.zones.iter().map(|z| &z.name));
        let wanted: BTreeMap<&DomainName, &ObjectId> = signing
            .iter()
            .copied()
            .chain(published)
            .filter_map(|name| ids.get(name).map(|id| (name, *id)))
            .collect();
        let by_id = match &self.maker {
            Some(maker) => {
                let (have, missing) = self.keys.available(wanted.values().copied())?;
                maker.want(missing);
                have
            }
            None => self.keys.ensure(
                wanted.values().copied(),
                &dkim::selector_for(std::time::SystemTime::now()),
            )?,
        };
        let keys: BTreeMap<DomainName, dkim::Key> = wanted
            .iter()
            .filter_map(|(name, id)| by_id.get(*id).map(|k| ((*name).clone(), k.clone())))
            .collect();
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        // Reported as they are, copied only when they changed (a key made, a domain gone).
        let reported = status.dkim_keys.len() == keys.len()
            && status
                .dkim_keys
                .iter()
                .zip(&keys)
                .all(|(r, (domain, key))| {
                    r.domain == *domain
                        && r.domain_id.as_ref() == Some(&key.domain_id)
                        && r.selector == key.selector
                        && *r.public_key == *key.public_key
                });
        if !reported {
            status.dkim_keys = Arc::new(
                keys.iter()
                    .map(|(domain, key)| DkimKey {
                        domain: domain.clone(),
                        domain_id: Some(key.domain_id.clone()),
                        selector: key.selector.clone(),
                        public_key: key.public_key.to_string(),
                    })
                    .collect(),
            );
        }
        let certs = self.certs.installed();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mx_certificate = crate::certs::mx_certificate(
            tls.as_ref().map(|pair| pair.chain_pem.as_slice()),
            &certs,
            &self.config.layout.hostname,
            now,
        );
        Ok(NodeMaterial {
            web: self.config.web_settings(),
            tls,
            dkim_selectors: keys
                .iter()
                .filter(|(domain, _)| signing.contains(domain))
                .map(|(domain, key)| (domain.clone(), key.selector.clone()))
                .collect(),
            dkim_keys: keys,
            dns,
            certs,
            acme_challenges: self.certs.challenges(),
            mx_certificate,
        })
    }

    /// After a complete apply: deletes the DKIM keys of domains that left the node and retires
    /// the stores of mailboxes that are gone ([`crate::mail_store`]). Not for a document from a
    /// control plane that sends no ids ([`names_ids`]), which would make every store look gone.
    ///
    /// `before` is the state applied before this one and the delta from it: only the ids the
    /// delta's members held before and hold no more are looked at, unless a full sweep is due
    /// ([`FULL_SWEEP_EVERY`]), which reads the whole store.
    fn forget_what_left(
        &self,
        served: &DesiredState,
        before: Option<(&DesiredState, &Delta)>,
    ) -> Result<(), ReconcileError> {
        let mut full_sweep = self.full_sweep.lock().unwrap_or_else(|e| e.into_inner());
        let due = full_sweep.is_none_or(|last| last.elapsed() >= FULL_SWEEP_EVERY);
        // Until this sweep succeeds, the next one is a full one.
        let last = full_sweep.take();
        match before {
            Some((before, delta)) if !due => {
                let gone = Gone::between(before, delta);
                if !gone.is_empty() {
                    self.forget(served, &gone)?;
                }
                *full_sweep = last;
            }
            _ => {
                self.sweep(served)?;
                *full_sweep = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// Deletes the keys of the domains `gone` and retires the homes of its mailboxes.
    fn forget(&self, served: &DesiredState, gone: &Gone) -> Result<(), ReconcileError> {
        if !gone.domains.is_empty() {
            self.keys.retain(&served_domains(served))?;
        }
        if !gone.mailboxes.is_empty() {
            let root = &self.config.layout.root;
            let moved = crate::mail_store::retire_gone(
                root,
                &gone.mailboxes,
                std::time::SystemTime::now(),
                self.config.mail_store.keep_removed(),
            )
            .map_err(|source| ReconcileError::Read {
                what: "the mail stores under",
                path: root.display().to_string(),
                source,
            })?;
            tracing::info!(moved, "mail stores of removed mailboxes");
        }
        Ok(())
    }

    /// Reads the whole key directory and mail store and removes what `served` does not name.
    fn sweep(&self, served: &DesiredState) -> Result<(), ReconcileError> {
        let root = &self.config.layout.root;
        let io = |what: &'static str| {
            move |source| ReconcileError::Read {
                what,
                path: root.display().to_string(),
                source,
            }
        };
        self.keys.retain(&served_domains(served))?;
        let retired = crate::mail_store::retire(
            root,
            &crate::mail_store::served_mailboxes(served),
            std::time::SystemTime::now(),
            self.config.mail_store.keep_removed(),
        )
        .map_err(io("the mail stores under"))?;
        if retired != crate::mail_store::Retired::default() {
            tracing::info!(
                moved = retired.moved,
                deleted = retired.deleted,
                "mail stores of removed mailboxes"
            );
        }
        Ok(())
    }

    /// The mail store's top directory, owned by the mail user (Dovecot creates the homes), and
    /// the stores still named after addresses adopted by the ids of the mailboxes of `changed`
    /// (the members that changed since the last apply).
    fn prepare_mail_store(&self, changed: &[Arc<Tenant>]) -> Result<(), ReconcileError> {
        let layout = &self.config.layout;
        let io = |source| ReconcileError::Read {
            what: "the mail store under",
            path: layout.root.display().to_string(),
            source,
        };
        crate::mail_store::prepare(&layout.root, layout.vmail_uid, layout.vmail_gid).map_err(io)?;
        crate::mail_store::adopt_legacy(&layout.root, changed).map_err(io)?;
        Ok(())
    }
}

/// The ids of the domains `served` holds. Every served domain keeps its DKIM key, a suspended
/// member's too (its record stays valid for when it signs again); only domains that left the
/// node lose theirs.
fn served_domains(served: &DesiredState) -> BTreeSet<ObjectId> {
    served
        .tenants
        .iter()
        .flat_map(|t| &t.domains)
        .filter_map(|d| d.id.clone())
        .collect()
}

/// The domains and mailboxes (by id) that left the node in one delta.
#[derive(Debug, Default, PartialEq, Eq)]
struct Gone {
    domains: BTreeSet<ObjectId>,
    mailboxes: BTreeSet<ObjectId>,
}

impl Gone {
    /// What the members `delta` changes or removes held in `before` and none of them holds
    /// after it. Members the delta does not name hold what they held.
    fn between(before: &DesiredState, delta: &Delta) -> Gone {
        let named: BTreeSet<&str> = delta
            .tenants
            .iter()
            .map(|t| t.member_id.as_str())
            .chain(delta.removed_tenants.iter().map(String::as_str))
            .collect();
        let held = |tenants: &mut dyn Iterator<Item = &Arc<Tenant>>| {
            let mut ids = Gone::default();
            for domain in tenants.flat_map(|t| &t.domains) {
                ids.domains.extend(domain.id.clone());
                ids.mailboxes
                    .extend(domain.mailboxes.iter().filter_map(|m| m.id.clone()));
            }
            ids
        };
        let mut was = held(
            &mut before
                .tenants
                .iter()
                .filter(|t| named.contains(t.member_id.as_str())),
        );
        let now = held(&mut delta.tenants.iter());
        was.domains.retain(|id| !now.domains.contains(id));
        was.mailboxes.retain(|id| !now.mailboxes.contains(id));
        was
    }

    fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.mailboxes.is_empty()
    }
}

/// Whether every domain and mailbox of `desired` carries its id: a control plane older than ids
/// sends none, and then nothing may be taken for gone.
fn names_ids(desired: &DesiredState) -> bool {
    desired
        .tenants
        .iter()
        .flat_map(|t| &t.domains)
        .all(|d| d.id.is_some() && d.mailboxes.iter().all(|m| m.id.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::desired::{Domain, Mailbox, Tenant};
    use protocol::names::{DomainName, LocalPart};

    fn id(s: &str) -> ObjectId {
        ObjectId::parse(s).unwrap()
    }

    /// A document whose members each hold one domain (`(member, domain id, mailbox ids)`).
    fn doc(generation: u64, members: &[(&str, &str, &[&str])]) -> DesiredState {
        let tenants = members
            .iter()
            .map(|(member, domain, mailboxes)| Tenant {
                member_id: (*member).to_owned(),
                active: true,
                domains: vec![Domain {
                    id: Some(id(domain)),
                    name: DomainName::parse(&format!("{domain}.example")).unwrap(),
                    verified: true,
                    mailboxes: mailboxes
                        .iter()
                        .map(|m| Mailbox {
                            id: Some(id(m)),
                            local_part: LocalPart::parse(m).unwrap(),
                            password_hash: "".into(),
                            quota_bytes: 1,
                            public: false,
                        })
                        .collect(),
                    aliases: vec![],
                    xmpp_accounts: vec![],
                }],
                app_passwords: vec![],
                contact: None,
            })
            .map(Arc::new)
            .collect();
        DesiredState {
            schema: 1,
            generation,
            node_id: "n".to_owned(),
            tenants,
            dns: None,
        }
    }

    #[test]
    fn gone_is_what_the_changed_members_held_and_nobody_holds_now() {
        let before = doc(
            1,
            &[
                ("a", "d1", &["m1", "m2"]),
                ("b", "d2", &["m3"]),
                ("c", "d3", &["m4"]),
            ],
        );
        // a loses m2; b leaves the node; d3 moves from c to a new member d.
        let after = doc(2, &[("a", "d1", &["m1"]), ("d", "d3", &["m4", "m5"])]);
        let gone = Gone::between(&before, &before.delta_to(&after));
        assert_eq!(gone.domains, BTreeSet::from([id("d2")]));
        assert_eq!(gone.mailboxes, BTreeSet::from([id("m2"), id("m3")]));
        // Nothing left: nothing to look at.
        let again = doc(3, &[("a", "d1", &["m1", "m9"]), ("d", "d3", &["m4", "m5"])]);
        assert!(Gone::between(&after, &after.delta_to(&again)).is_empty());
    }
}
