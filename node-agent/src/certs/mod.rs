//! Certificates by ACME (RFC 8555) for every name the node serves: its host name and each
//! served member domain's web names ([`wanted`]), made and renewed by the agent when
//! agent.toml has `[acme]` (with `[web]`, whose nginx answers HTTP-01).
//!
//! - [`wanted`] (pure): which certificates, and how the CA checks each (DNS-01 through our own
//!   Knot for the zones this node is primary for, HTTP-01 through nginx otherwise);
//! - [`store`]: the certificates on disk, each version its own directory, installed whole or
//!   not at all, and only when its key matches;
//! - [`acme`]: the account and one order; [`resolve`]: the DNS questions asked first;
//! - [`mx`]: whether the node's own certificate is valid for its host name (MTA-STS's mode);
//! - [`Manager`] (here): the task that keeps each wanted certificate current. A name is asked
//!   for once the world resolves it to this node (HTTP-01) — a certificate holds the names
//!   that do — or at once (DNS-01). A failure is retried with backoff (from
//!   `[acme] retry_after_seconds`, doubling to six hours), the error kept for the heartbeat;
//!   the certificate in place keeps being served meanwhile. A certificate is renewed two thirds
//!   into its lifetime, or earlier when the CA's renewal information (ARI, RFC 9773) says so.
//!
//! The reconcile reads what [`Shared`] holds (the installed certificates, the DNS-01 values
//! to publish) into the node's material; the renderers name the certificate files, and a new
//! certificate is a new directory, so the daemons take it through the usual write, check and
//! graceful reload: no connection is dropped.

pub mod acme;
pub mod mx;
pub mod resolve;
pub mod store;
pub mod wanted;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use protocol::desired::DesiredState;
use protocol::names::DomainName;
use protocol::node::{CertificateReport, CertificateState, Challenge};
use tokio::sync::Notify;

pub use mx::mx_certificate;
pub use store::{Installed, Store, CERTS};
pub use wanted::{wanted, CertKey, Wanted};

use crate::config::AcmeConfig;

/// The longest wait between two failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The longest the manager sleeps without looking again.
const LOOK_EVERY: Duration = Duration::from_secs(3600);
/// How long an order waits for our own name server to serve its DNS-01 values.
const DNS_PUBLISH: Duration = Duration::from_secs(60);
/// Cap of an error's text in a report.
const ERROR_LEN: usize = 300;

/// What the manager and the reconcile share.
#[derive(Default)]
pub struct Shared {
    /// The certificate each key is served with: the newest installed.
    installed: RwLock<BTreeMap<CertKey, Installed>>,
    /// DNS-01 values to publish, by name certified, while an order waits for the CA.
    challenges: Mutex<BTreeMap<DomainName, Vec<String>>>,
    /// Each wanted certificate as it stands, for the heartbeat.
    reports: Mutex<Vec<CertificateReport>>,
}

impl Shared {
    /// Starts from what the store holds (the newest version of each certificate), so the first
    /// reconcile after a restart serves what the last one did.
    pub fn load(store: &Store) -> Result<Shared, store::StoreError> {
        let installed = store
            .scan()?
            .into_iter()
            .filter_map(|(key, versions)| versions.into_iter().next().map(|i| (key, i)))
            .collect();
        Ok(Shared {
            installed: RwLock::new(installed),
            ..Shared::default()
        })
    }

    pub fn installed(&self) -> BTreeMap<CertKey, Installed> {
        self.installed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn challenges(&self) -> BTreeMap<DomainName, Vec<String>> {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn reports(&self) -> Vec<CertificateReport> {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_reports(&self, reports: Vec<CertificateReport>) {
        *self.reports.lock().unwrap_or_else(|e| e.into_inner()) = reports;
    }

    fn set_installed(&self, key: &CertKey, installed: Option<Installed>) {
        let mut map = self.installed.write().unwrap_or_else(|e| e.into_inner());
        match installed {
            Some(i) => map.insert(key.clone(), i),
            None => map.remove(key),
        };
    }

    fn set_challenges(&self, responses: &[acme::Response], on: bool) {
        let mut map = self.challenges.lock().unwrap_or_else(|e| e.into_inner());
        for r in responses {
            let values = map.entry(r.name.clone()).or_default();
            values.retain(|v| v != &r.value);
            if on {
                values.push(r.value.clone());
            }
            if values.is_empty() {
                map.remove(&r.name);
            }
        }
    }
}

/// `[acme]` with its defaults applied and the node's settings it needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub acme: AcmeConfig,
    pub state_dir: PathBuf,
    pub root: PathBuf,
    pub hostname: DomainName,
    /// The portal's name, when this node serves it (`[web.portal]`).
    pub portal: Option<DomainName>,
    /// The addresses a name must resolve to for HTTP-01.
    pub addresses: Vec<IpAddr>,
    /// Our own name server, when the node runs one (DNS-01 is then used for its zones).
    pub own_dns: Option<SocketAddr>,
}

/// How one wanted certificate stands.
#[derive(Debug, Clone)]
struct Tracked {
    wanted: Wanted,
    state: CertificateState,
    error: Option<String>,
    failures: u32,
    /// When to try again after a failure or a wait for DNS (seconds since the epoch).
    retry_at: Option<i64>,
    /// The CA's suggested renewal time (ARI), and when to ask again.
    ari_renew_at: Option<i64>,
    ari_next: i64,
}

impl Tracked {
    fn new(wanted: Wanted) -> Tracked {
        Tracked {
            wanted,
            state: CertificateState::Pending,
            error: None,
            failures: 0,
            retry_at: None,
            ari_renew_at: None,
            ari_next: 0,
        }
    }
}

/// Keeps the wanted certificates current; see the module's comment.
pub struct Manager {
    settings: Settings,
    store: Store,
    shared: Arc<Shared>,
    resolver: resolve::Resolver,
    own_dns: Option<resolve::Resolver>,
    tracked: BTreeMap<CertKey, Tracked>,
    account: Option<instant_acme::Account>,
    /// False once the CA said it has no renewal information.
    ari: bool,
    /// Wakes the reconcile worker: a certificate was installed, a DNS-01 value is to be
    /// published or withdrawn.
    reconcile: Arc<Notify>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `text` without control characters, at most [`ERROR_LEN`] characters.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_LEN)
        .collect()
}

impl Manager {
    pub fn new(
        settings: Settings,
        shared: Arc<Shared>,
        reconcile: Arc<Notify>,
    ) -> Result<Manager, String> {
        let resolver = resolve::Resolver::new(&settings.acme.resolvers)?;
        let own_dns = settings
            .own_dns
            .map(|address| resolve::Resolver::new(&[address]))
            .transpose()?;
        Ok(Manager {
            store: Store::new(&settings.root),
            settings,
            shared,
            resolver,
            own_dns,
            tracked: BTreeMap::new(),
            account: None,
            ari: true,
            reconcile,
        })
    }

    /// Runs until `stopped`: looks again when `applied` says the node applied another
    /// document, when a certificate falls due or a retry is due, and at least hourly.
    pub async fn run(
        mut self,
        applied: impl Fn() -> Option<Arc<DesiredState>>,
        changed: Arc<Notify>,
        report_now: Arc<Notify>,
        stopped: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stopped);
        loop {
            if let Some(desired) = applied() {
                self.round(&desired, &report_now).await;
            }
            let wait = self.next_look(now());
            tokio::select! {
                () = &mut stopped => return,
                () = changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One look at every wanted certificate.
    pub async fn round(&mut self, desired: &DesiredState, report_now: &Notify) {
        let node_names: Vec<DomainName> = std::iter::once(self.settings.hostname.clone())
            .chain(self.settings.portal.clone())
            .collect();
        let wanted = wanted(desired, &node_names, self.settings.own_dns.is_some());
        self.forget_unwanted(&wanted);
        for w in wanted {
            let key = w.key.clone();
            let tracked = self
                .tracked
                .entry(key.clone())
                .or_insert_with(|| Tracked::new(w.clone()));
            if tracked.wanted != w {
                // Another challenge or other names: look again at once.
                *tracked = Tracked::new(w);
            }
            let before = self.report_of(&key);
            self.look(&key, report_now).await;
            if self.report_of(&key) != before {
                self.publish_reports();
                report_now.notify_one();
            }
        }
        self.publish_reports();
    }

    /// Stops tracking what is no longer wanted and removes its files (a domain that left the
    /// node leaves no key behind). The reconcile that applied the document without it no
    /// longer names them.
    fn forget_unwanted(&mut self, wanted: &[Wanted]) {
        let keys: BTreeSet<&CertKey> = wanted.iter().map(|w| &w.key).collect();
        self.tracked.retain(|k, _| keys.contains(k));
        let on_disk = match self.store.keys() {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "certificates: cannot read the store");
                return;
            }
        };
        for key in on_disk.iter().filter(|k| !keys.contains(k)) {
            self.shared.set_installed(key, None);
            match self.store.remove(key) {
                Ok(()) => {
                    tracing::info!(certificate = %key, "certificate removed: no longer served")
                }
                Err(e) => {
                    tracing::warn!(certificate = %key, error = %e, "certificate: cannot remove")
                }
            }
        }
    }

    fn installed(&self, key: &CertKey) -> Option<Installed> {
        self.shared
            .installed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Brings one certificate forward if it is due and its retry time has come.
    async fn look(&mut self, key: &CertKey, report_now: &Notify) {
        let now = now();
        let installed = self.installed(key);
        let Some(tracked) = self.tracked.get(key).cloned() else {
            return;
        };
        if tracked.retry_at.is_some_and(|at| now < at) {
            return;
        }
        // Nothing to do while the certificate in place holds every wanted name and is not due
        // (no DNS question either: a thousand domains cost nothing between renewals).
        if let Some(current) = &installed {
            self.ask_renewal_info(key, current, now).await;
        }
        let fresh = |i: &Installed, names: &[DomainName], tracked: Option<&Tracked>| {
            let ari = tracked.and_then(|t| t.ari_renew_at);
            let renew_at = ari.map_or(i.renew_at(), |a| a.min(i.renew_at()));
            i.valid_at(now) && i.covers(names) && now < renew_at
        };
        if installed
            .as_ref()
            .is_some_and(|i| fresh(i, &tracked.wanted.names, self.tracked.get(key)))
        {
            self.settled(key, None);
            return;
        }
        // Which names to ask for.
        let names = match tracked.wanted.challenge {
            Challenge::Dns01 => tracked.wanted.names.clone(),
            Challenge::Http01 => match self.resolving_here(&tracked.wanted.names).await {
                Ok(names) => names,
                Err(e) => {
                    self.failed(key, installed.as_ref(), e, now, true);
                    return;
                }
            },
        };
        if names.is_empty() {
            let error = format!(
                "waiting for DNS: no name resolves to this node ({})",
                self.settings
                    .addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.failed(key, installed.as_ref(), error, now, true);
            return;
        }
        if installed
            .as_ref()
            .is_some_and(|i| fresh(i, &names, self.tracked.get(key)))
        {
            // It holds every name that resolves here; look again later for the others.
            self.settled(
                key,
                Some(now + i64::try_from(LOOK_EVERY.as_secs()).unwrap_or(3600)),
            );
            return;
        }
        if let Some(t) = self.tracked.get_mut(key) {
            t.state = CertificateState::Pending;
        }
        self.publish_reports();
        report_now.notify_one();
        let outcome = self.obtain(&names, tracked.wanted.challenge).await;
        let installed = outcome.and_then(|(chain, pem)| {
            self.store
                .install(key, chain.as_bytes(), &pem, now)
                .map_err(|e| e.to_string())
        });
        match installed {
            Ok(new) => {
                tracing::info!(certificate = %key, names = ?new.names, not_after = new.not_after, "certificate installed");
                let previous = self.installed(key);
                let mut keep = vec![new.dir.as_str()];
                if let Some(p) = &previous {
                    // The configuration applied now may still name it until the next reconcile.
                    keep.push(p.dir.as_str());
                }
                if let Err(e) = self.store.prune(key, &keep) {
                    tracing::warn!(certificate = %key, error = %e, "certificate: old versions not removed");
                }
                self.shared.set_installed(key, Some(new));
                self.reconcile.notify_one();
                self.settled(key, None);
                if let Some(t) = self.tracked.get_mut(key) {
                    t.ari_renew_at = None;
                    t.ari_next = 0;
                }
            }
            Err(error) => {
                tracing::warn!(certificate = %key, %error, "certificate not obtained");
                self.failed(key, self.installed(key).as_ref(), error, now, false);
            }
        }
    }

    /// Records that the certificate in place is the one wanted; `recheck`: when to look again
    /// at names that did not resolve here.
    fn settled(&mut self, key: &CertKey, recheck: Option<i64>) {
        if let Some(t) = self.tracked.get_mut(key) {
            t.state = CertificateState::Valid;
            t.error = None;
            t.failures = 0;
            t.retry_at = recheck;
        }
    }

    /// Records a failure (or a wait for DNS) and when to try again.
    fn failed(
        &mut self,
        key: &CertKey,
        installed: Option<&Installed>,
        error: String,
        now: i64,
        waiting_for_dns: bool,
    ) {
        let base = self.settings.acme.retry_after_seconds.max(1);
        let Some(t) = self.tracked.get_mut(key) else {
            return;
        };
        let backoff = base
            .saturating_mul(1u64 << t.failures.min(20))
            .min(MAX_BACKOFF.as_secs());
        t.failures = t.failures.saturating_add(1);
        t.retry_at = Some(now + i64::try_from(backoff).unwrap_or(i64::MAX / 2));
        t.error = Some(clean(&error));
        t.state = match installed {
            Some(i) if i.valid_at(now) => CertificateState::Valid,
            _ if waiting_for_dns => CertificateState::WaitingForDns,
            _ => CertificateState::Failed,
        };
    }

    /// Those of `names` the world resolves to one of the node's addresses.
    async fn resolving_here(&self, names: &[DomainName]) -> Result<Vec<DomainName>, String> {
        let mut here = Vec::new();
        let mut unanswered = None;
        for name in names {
            match self.resolver.addresses(name).await {
                Ok(addresses) => {
                    if addresses
                        .iter()
                        .any(|a| self.settings.addresses.contains(a))
                    {
                        here.push(name.clone());
                    }
                }
                Err(e) => unanswered = Some(e),
            }
        }
        match unanswered {
            Some(e) if here.is_empty() => Err(format!("waiting for DNS: {e}")),
            _ => Ok(here),
        }
    }

    /// Asks the CA when to renew `current` (ARI), at most as often as it says.
    async fn ask_renewal_info(&mut self, key: &CertKey, current: &Installed, now: i64) {
        if !self.ari || self.tracked.get(key).is_some_and(|t| now < t.ari_next) {
            return;
        }
        let Ok(account) = self.account().await else {
            return;
        };
        let der = rustls_pki_types::CertificateDer::from(current.leaf.to_vec());
        let Ok(id) = instant_acme::CertificateIdentifier::try_from(&der) else {
            return;
        };
        match account.renewal_info(&id).await {
            Ok((info, again)) => {
                let start = info.suggested_window.start.unix_timestamp();
                if let Some(t) = self.tracked.get_mut(key) {
                    t.ari_renew_at = Some(start);
                    // At most every six hours, as Let's Encrypt suggests.
                    t.ari_next =
                        now + i64::try_from(again.as_secs().max(6 * 3600)).unwrap_or(6 * 3600);
                }
            }
            Err(instant_acme::Error::Unsupported(_)) => self.ari = false,
            Err(e) => {
                tracing::debug!(certificate = %key, error = %e, "ACME renewal information not read");
                if let Some(t) = self.tracked.get_mut(key) {
                    t.ari_next = now + 3600;
                }
            }
        }
    }

    async fn account(&mut self) -> Result<instant_acme::Account, String> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let acme = &self.settings.acme;
        let account = acme::account(
            &self.settings.state_dir,
            acme.directory.as_str(),
            acme.directory_root.as_deref(),
            acme.contact.as_ref().map(|c| c.as_str()),
        )
        .await?;
        self.account = Some(account.clone());
        Ok(account)
    }

    async fn obtain(
        &mut self,
        names: &[DomainName],
        challenge: Challenge,
    ) -> Result<(String, String), String> {
        let account = self.account().await?;
        let solver = NodeSolver {
            shared: &self.shared,
            reconcile: &self.reconcile,
            own_dns: self.own_dns.as_ref(),
            challenge_dir: self
                .settings
                .root
                .join(crate::services::nginx::ACME_ROOT)
                .join(".well-known/acme-challenge"),
        };
        let result = acme::order(&account, names, challenge, &solver).await;
        if let Err(e) = &result {
            self.account = None;
            if e.contains("accountDoesNotExist") {
                // The CA forgot the account (a test CA restarted, an account deactivated):
                // the next attempt makes a new one.
                let path = acme::account_path(&self.settings.state_dir);
                if let Err(e) = crate::atomic::remove(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "ACME: the forgotten account stays");
                }
            }
        }
        result
    }

    /// When to look again: the earliest retry, renewal or ARI question, at most an hour away.
    fn next_look(&self, now: i64) -> Duration {
        let installed = self.shared.installed();
        let mut next = now + i64::try_from(LOOK_EVERY.as_secs()).unwrap_or(3600);
        for (key, t) in &self.tracked {
            if let Some(at) = t.retry_at {
                next = next.min(at);
            } else if let Some(i) = installed.get(key) {
                next = next.min(t.ari_renew_at.map_or(i.renew_at(), |a| a.min(i.renew_at())));
            } else {
                next = now;
            }
        }
        Duration::from_secs(u64::try_from((next - now).max(1)).unwrap_or(1))
    }

    fn report_of(&self, key: &CertKey) -> Option<CertificateReport> {
        let t = self.tracked.get(key)?;
        let installed = self.installed(key);
        Some(CertificateReport {
            domain: match key {
                CertKey::Domain(d) => Some(d.clone()),
                CertKey::Node(_) => None,
            },
            domain_id: t.wanted.domain_id.clone(),
            names: installed
                .as_ref()
                .filter(|i| t.state == CertificateState::Valid && !i.names.is_empty())
                .map_or_else(|| t.wanted.names.clone(), |i| i.names.clone()),
            challenge: t.wanted.challenge,
            state: t.state,
            not_after: installed.map(|i| i.not_after),
            error: t.error.clone(),
            retry_at: t.retry_at,
        })
    }

    fn publish_reports(&self) {
        let reports: Vec<CertificateReport> = self
            .tracked
            .keys()
            .filter_map(|k| self.report_of(k))
            .collect();
        self.shared.set_reports(reports);
    }
}

/// Answers challenges on this node: HTTP-01 as files nginx serves, DNS-01 as TXT records the
/// next reconcile writes into our zone.
struct NodeSolver<'a> {
    shared: &'a Shared,
    reconcile: &'a Notify,
    own_dns: Option<&'a resolve::Resolver>,
    challenge_dir: PathBuf,
}

impl acme::Solver for NodeSolver<'_> {
    async fn publish(
        &self,
        challenge: Challenge,
        responses: &[acme::Response],
    ) -> Result<(), String> {
        match challenge {
            Challenge::Http01 => {
                for r in responses {
                    // The token was checked to be base64url (acme::token_is_safe).
                    let path = self.challenge_dir.join(&r.token);
                    crate::atomic::write(&path, &[r.value.as_bytes()], 0o644)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                }
                Ok(())
            }
            Challenge::Dns01 => {
                let Some(own) = self.own_dns else {
                    return Err("DNS-01 without a name server on this node".to_owned());
                };
                self.shared.set_challenges(responses, true);
                self.reconcile.notify_one();
                let deadline = tokio::time::Instant::now() + DNS_PUBLISH;
                for r in responses {
                    let name = format!("{}.{}", protocol::dns::platform::ACME_CHALLENGE, r.name);
                    loop {
                        let served = own.txt(&name).await.unwrap_or_default();
                        if served.contains(&r.value) {
                            break;
                        }
                        if tokio::time::Instant::now() > deadline {
                            return Err(format!(
                                "our name server did not serve {name} within {}s",
                                DNS_PUBLISH.as_secs()
                            ));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                Ok(())
            }
        }
    }

    async fn withdraw(&self, challenge: Challenge, responses: &[acme::Response]) {
        match challenge {
            Challenge::Http01 => {
                for r in responses {
                    let path = self.challenge_dir.join(&r.token);
                    if let Err(e) = crate::atomic::remove(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "ACME challenge file not removed");
                    }
                }
            }
            Challenge::Dns01 => {
                self.shared.set_challenges(responses, false);
                self.reconcile.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_capped_line() {
        let long = format!("a\nb\r<script>{}", "x".repeat(5000));
        let cleaned = clean(&long);
        assert_eq!(cleaned.chars().count(), ERROR_LEN);
        assert!(cleaned.starts_with("a b <script>"));
        assert!(!cleaned.contains('\n'));
    }

    #[test]
    fn challenges_are_published_and_withdrawn_by_value() {
        let shared = Shared::default();
        let name = DomainName::parse("a.test").unwrap();
        let r = |v: &str| acme::Response {
            name: name.clone(),
            token: String::new(),
            value: v.to_owned(),
        };
        shared.set_challenges(&[r("one"), r("two")], true);
        assert_eq!(shared.challenges()[&name], ["one", "two"]);
        shared.set_challenges(&[r("one")], false);
        assert_eq!(shared.challenges()[&name], ["two"]);
        shared.set_challenges(&[r("two")], false);
        assert!(shared.challenges().is_empty());
    }
}
