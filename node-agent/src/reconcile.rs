//! One reconcile: desired state in, daemons converged (or the reason why not) out.
//!
//! Level-triggered: it never learns why it runs, and running it twice changes nothing. It reads
//! the node's own material (the TLS certificate, the DKIM keys: in the running agent those that
//! exist, the missing ones being made aside by [`dkim::Maker`]), renders every file, plans
//! against the disk, applies, and on success records the state as applied and hands the auth
//! broker the new verifiers. Blocking: run it on a blocking thread, one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use protocol::desired::DesiredState;
use protocol::names::{DomainName, ObjectId};
use protocol::node::{DkimKey, MailboxUsage, ServiceHealth};
use tokio::sync::watch;

use crate::apply::{self, ApplyError, Outcome, ServiceOutcome, Target};
use crate::broker::Credentials;
use crate::config::Config;
use crate::dkim::{self, DkimError, Keys};
use crate::plan;
use crate::render::{self, NodeMaterial, TlsPair};
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
    pub dkim_keys: Vec<DkimKey>,
    pub usage: Vec<MailboxUsage>,
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
    #[error("cannot start the thread that makes DKIM keys")]
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
}

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
        Ok(Reconciler {
            config,
            saved,
            keys: Arc::new(keys),
            maker: None,
            credentials: watch::Sender::new(Arc::new(credentials)),
            status: Arc::new(Mutex::new(status)),
            applied: Mutex::new(applied.map(Arc::new)),
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
        let result = self.reconcile_inner(&desired.served(), names_ids(desired));
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
        desired: &DesiredState,
        names_ids: bool,
    ) -> Result<Outcome, ReconcileError> {
        let started = std::time::Instant::now();
        let layout = &self.config.layout;
        let material = self.material(desired)?;
        let material_done = started.elapsed();
        let rendered = render::render(desired, layout, &material);
        let render_done = started.elapsed();
        let applied = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let last_good = || applied.map(|applied| render::render(&applied, layout, &material));
        let (on_disk, stale) =
            apply::read_disk(&layout.root, &rendered).map_err(|source| ReconcileError::Read {
                what: "the files under",
                path: layout.root.display().to_string(),
                source,
            })?;
        let plan = plan::plan(&rendered, &on_disk, &stale);
        let plan_done = started.elapsed();
        self.prepare_mail_store(desired)?;
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
        self.saved.save_applied(desired)?;
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(desired.clone()));
        self.credentials
            .send_replace(Arc::new(Credentials::from_desired(desired)));
        // Only now do no daemon and no login name what follows: remove it.
        if names_ids {
            self.forget_what_left(desired)?;
        } else {
            tracing::warn!(
                "the desired state names no ids (a control plane older than this agent): \
                 removed mailboxes' stores and domains' keys are kept until it does"
            );
        }
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.observed_generation = Some(desired.generation);
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
        status.dkim_keys = keys
            .iter()
            .map(|(domain, key)| DkimKey {
                domain: domain.clone(),
                domain_id: Some(key.domain_id.clone()),
                selector: key.selector.clone(),
                public_key: key.public_key.clone(),
            })
            .collect();
        Ok(NodeMaterial {
            tls,
            dkim_selectors: keys
                .iter()
                .filter(|(domain, _)| signing.contains(domain))
                .map(|(domain, key)| (domain.clone(), key.selector.clone()))
                .collect(),
            dkim_keys: keys,
            dns,
        })
    }

    /// After a complete apply: deletes the DKIM keys of domains that left the node and retires
    /// the stores of mailboxes that are gone ([`crate::mail_store`]). Not for a document from a
    /// control plane that sends no ids ([`names_ids`]), which would make every store look gone.
    fn forget_what_left(&self, served: &DesiredState) -> Result<(), ReconcileError> {
        let root = &self.config.layout.root;
        let io = |what: &'static str| {
            move |source| ReconcileError::Read {
                what,
                path: root.display().to_string(),
                source,
            }
        };
        // Every served domain keeps its key, a suspended member's too (its record stays valid
        // for when it signs again); only domains that left the node lose theirs.
        let keep: BTreeSet<ObjectId> = served
            .tenants
            .iter()
            .flat_map(|t| &t.domains)
            .filter_map(|d| d.id.clone())
            .collect();
        self.keys.retain(&keep)?;
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
    /// the stores still named after addresses adopted by their mailboxes' ids.
    fn prepare_mail_store(&self, served: &DesiredState) -> Result<(), ReconcileError> {
        let layout = &self.config.layout;
        let io = |source| ReconcileError::Read {
            what: "the mail store under",
            path: layout.root.display().to_string(),
            source,
        };
        crate::mail_store::prepare(&layout.root, layout.vmail_uid, layout.vmail_gid).map_err(io)?;
        crate::mail_store::adopt_legacy(&layout.root, served).map_err(io)?;
        Ok(())
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
