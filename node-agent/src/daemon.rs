//! `node-agent run --config …`: everything a node does, as concurrent tasks until SIGTERM.
//!
//! - the **auth broker** answers Dovecot from the last applied state;
//! - the **reconcile worker** applies the latest desired state, one reconcile at a time; it
//!   starts with the one saved on disk, so the node serves at once with or without the control
//!   plane; failures are retried with backoff, and every ten minutes it runs again anyway
//!   (level-triggered: drift on disk is put right);
//! - the **poller** long-polls the control plane for the next generation (asking for only what
//!   changed, which it applies to the document it holds) and saves each one; it asks for the
//!   whole document every hour, and at once whenever a delta does not apply;
//! - the **usage** task measures the mail store every minute;
//! - with `[acme]`, the **certificate manager** ([`crate::certs::Manager`]) keeps the node's
//!   certificates current, looking after each applied document; a certificate installed or a
//!   DNS-01 value to publish wakes the reconcile worker, as a DKIM key made aside does;
//! - the **heartbeat** reports version, observed generation, health, DKIM keys, usage, the
//!   certificates as they stand and, with `[dns]`, where the node's name server answers; every
//!   interval, and at once when a generation was applied, a new measurement waits or a
//!   certificate changed. Keys, usage and certificates go only when they changed since the
//!   control plane last took a heartbeat, and every five minutes anyway (`Reporter`); what a
//!   heartbeat does not list, the control plane keeps as it is.

use std::sync::Arc;
use std::time::Duration;

use protocol::desired::{DesiredState, Update};
use protocol::node::{CertificateReport, DkimKey, Heartbeat, MailboxUsage};
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::broker;
use crate::client::{ClientError, NodeClient};
use crate::config::Config;
use crate::error_chain;
use crate::heartbeat::{self, VERSION};
use crate::identity::StateDir;
use crate::reconcile::{ReconcileError, Reconciler, Status};

/// How often the poller asks for the whole desired state rather than what changed.
const WHOLE_EVERY: Duration = Duration::from_secs(3600);

/// How long one long poll waits for a change.
const POLL_WAIT: Duration = Duration::from_secs(25);
/// A reconcile runs at least this often, changes or not.
const RESYNC: Duration = Duration::from_secs(600);
/// How often the mail store is measured.
const USAGE_EVERY: Duration = Duration::from_secs(60);

pub async fn run(config: Config, interval: Duration) -> anyhow::Result<()> {
    let node = StateDir::new(&config.state_dir).load()?;
    let client = NodeClient::new(&node)?;
    let broker_address = config.layout.broker;
    // A DKIM key made aside, or a certificate installed (or a DNS-01 value to publish), wakes
    // the reconcile worker, which then uses it.
    let material_made = Arc::new(tokio::sync::Notify::new());
    let reconciler = {
        let material_made = material_made.clone();
        Arc::new(Reconciler::new(config)?.make_keys_aside(move || material_made.notify_one())?)
    };
    let saved = reconciler.saved.load_desired()?.map(Arc::new);
    tracing::info!(
        node_id = node.node_id,
        control_plane = %node.control_plane_url,
        saved_generation = saved.as_ref().map(|d| d.generation),
        "starting"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let (desired_tx, desired_rx) = watch::channel(saved.clone());
    // Wakes the certificate manager after each applied document.
    let certs_look = Arc::new(tokio::sync::Notify::new());

    // Loopback only: Config::parse refuses any other broker address.
    let listener = tokio::net::TcpListener::bind(broker_address).await?;
    tracing::info!(address = %broker_address, "auth broker listening");
    let router = broker::router(reconciler.credentials(), desired_rx.clone());
    let broker_stopped = stopped();
    let broker = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(broker_stopped)
            .await
    });

    // Wakes the heartbeat when there is news: a generation applied, a usage measured.
    let report_now = Arc::new(tokio::sync::Notify::new());
    let worker = tokio::spawn(reconcile_worker(
        reconciler.clone(),
        desired_rx,
        material_made.clone(),
        [report_now.clone(), certs_look.clone()],
        stopped(),
    ));
    // With `[acme]`: keeps the node's certificates current; a certificate installed or a DNS-01
    // value to publish wakes the reconcile worker like a DKIM key made.
    let certs = match reconciler.config.certs_settings() {
        Some(settings) => {
            let manager = crate::certs::Manager::new(
                settings,
                reconciler.certs.clone(),
                material_made.clone(),
            )
            .map_err(|e| anyhow::anyhow!("certificates: {e}"))?;
            let r = reconciler.clone();
            Some(tokio::spawn(manager.run(
                move || r.applied(),
                certs_look,
                report_now.clone(),
                stopped(),
            )))
        }
        None => None,
    };
    let poller = tokio::spawn(poll(
        client.clone(),
        reconciler.clone(),
        saved.map_or(0, |d| d.generation),
        desired_tx,
        stopped(),
    ));
    let usage = tokio::spawn(measure_usage(
        reconciler.clone(),
        report_now.clone(),
        stopped(),
    ));

    let shutdown = heartbeat::shutdown_signal()?;
    let status = reconciler.status.clone();
    let dns = reconciler
        .config
        .dns
        .as_ref()
        .map(|dns| protocol::node::DnsReport {
            address: dns.listen,
        });
    heartbeat::run(
        &client,
        interval,
        rand::random::<f64>,
        Reporter::new(status, dns, reconciler.certs.clone()),
        &report_now,
        shutdown,
    )
    .await;
    let _ = stop_tx.send(true);
    for task in [worker, poller, usage].into_iter().chain(certs) {
        let _ = task.await;
    }
    let _ = broker.await;
    Ok(())
}

/// How often a heartbeat carries the DKIM keys, and the usage task hands on a measurement,
/// even when they did not change: well within the ten minutes after which the control plane
/// refreshes its copies.
const REPORT_ALL_EVERY: Duration = Duration::from_secs(300);

/// Makes the heartbeats. The DKIM keys go with one only when they are not what the control
/// plane last took (or every [`REPORT_ALL_EVERY`]); the usage only while a measurement waits
/// to be taken ([`Status::usage`]). With 10,000 mailboxes the two are about 2.5 MB, which the
/// node otherwise sent every interval. The control plane keeps what a heartbeat does not list.
struct Reporter {
    status: Arc<std::sync::Mutex<Status>>,
    dns: Option<protocol::node::DnsReport>,
    /// The certificates as they stand; sent when they changed since the control plane last
    /// took them, and every [`REPORT_ALL_EVERY`].
    certs: Arc<crate::certs::Shared>,
    certs_taken: Option<(Vec<CertificateReport>, tokio::time::Instant)>,
    /// What the heartbeat in flight carries (or leaves as the control plane has it).
    sending: Option<Sent>,
    /// The keys the control plane has, and when they were last sent.
    taken: Option<(Arc<Vec<DkimKey>>, tokio::time::Instant)>,
}

struct Sent {
    certificates: Option<Vec<CertificateReport>>,
    dkim_keys: Arc<Vec<DkimKey>>,
    keys_sent_at: tokio::time::Instant,
    usage: Option<Arc<Vec<MailboxUsage>>>,
}

impl Reporter {
    fn new(
        status: Arc<std::sync::Mutex<Status>>,
        dns: Option<protocol::node::DnsReport>,
        certs: Arc<crate::certs::Shared>,
    ) -> Self {
        Reporter {
            status,
            dns,
            certs,
            certs_taken: None,
            sending: None,
            taken: None,
        }
    }
}

impl heartbeat::Reports for Reporter {
    fn next(&mut self) -> Heartbeat {
        let status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        let taken = self
            .taken
            .as_ref()
            .filter(|(keys, at)| {
                Arc::ptr_eq(keys, &status.dkim_keys) && now.duration_since(*at) < REPORT_ALL_EVERY
            })
            .map(|(_, at)| *at);
        let reports = self.certs.reports();
        let certificates = match &self.certs_taken {
            Some((taken, at))
                if *taken == reports && now.duration_since(*at) < REPORT_ALL_EVERY =>
            {
                None
            }
            _ => Some(reports),
        };
        self.sending = Some(Sent {
            certificates: certificates.clone(),
            dkim_keys: Arc::clone(&status.dkim_keys),
            keys_sent_at: taken.unwrap_or(now),
            usage: status.usage.clone(),
        });
        Heartbeat {
            version: VERSION.to_owned(),
            observed_generation: status.observed_generation,
            services: status.health(),
            dkim_keys: match taken {
                Some(_) => Vec::new(),
                None => status.dkim_keys.to_vec(),
            },
            usage: status.usage.as_deref().cloned().unwrap_or_default(),
            dns: self.dns,
            certificates,
        }
    }

    fn taken(&mut self) {
        let Some(sent) = self.sending.take() else {
            return;
        };
        // Taken: the measurement need not be kept, unless a newer one came meanwhile.
        if let Some(usage) = &sent.usage {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            if status.usage.as_ref().is_some_and(|u| Arc::ptr_eq(u, usage)) {
                status.usage = None;
            }
        }
        if let Some(reports) = sent.certificates {
            self.certs_taken = Some((reports, tokio::time::Instant::now()));
        }
        self.taken = Some((sent.dkim_keys, sent.keys_sent_at));
    }
}

/// Applies the latest desired state whenever it changes or DKIM keys were made, on failure
/// after a backoff, and every [`RESYNC`] anyway.
async fn reconcile_worker(
    reconciler: Arc<Reconciler>,
    mut desired: watch::Receiver<Option<Arc<DesiredState>>>,
    material_made: Arc<tokio::sync::Notify>,
    applied: [Arc<tokio::sync::Notify>; 2],
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut backoff = Backoff::new();
    loop {
        let latest = desired.borrow_and_update().clone();
        let delay = match latest {
            None => RESYNC,
            Some(doc) => {
                let r = reconciler.clone();
                let result = tokio::task::spawn_blocking(move || r.reconcile_shared(&doc)).await;
                match result {
                    Ok(Ok(_)) => {
                        backoff.reset();
                        // Report the new observed generation now, not at the next interval,
                        // and let the certificate manager look at the document.
                        applied.iter().for_each(|n| n.notify_one());
                        RESYNC
                    }
                    Ok(Err(err)) => {
                        let delay = backoff.next_delay(rand::random());
                        let level_error = !matches!(err, ReconcileError::Incomplete { .. });
                        if level_error {
                            tracing::error!(error = %error_chain(&err), retry_in = ?delay, "reconcile failed");
                        } else {
                            tracing::warn!(error = %error_chain(&err), retry_in = ?delay, "reconcile incomplete");
                        }
                        delay
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "the reconcile task panicked");
                        backoff.next_delay(rand::random())
                    }
                }
            }
        };
        tokio::select! {
            biased;
            () = &mut stopped => return,
            changed = desired.changed() => if changed.is_err() { return },
            () = material_made.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Long-polls the control plane for generations after `after`, saving each before handing it
/// to the worker (so a restart serves it at once).
async fn poll(
    client: NodeClient,
    reconciler: Arc<Reconciler>,
    mut after: u64,
    desired: watch::Sender<Option<Arc<DesiredState>>>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut backoff = Backoff::new();
    // The document deltas apply to: the last one received, and whether it is the one on disk.
    let mut current = desired.borrow().clone();
    let mut saved_current = current.is_some();
    let mut last_whole = tokio::time::Instant::now();
    loop {
        // Now and then the whole document, so whatever a delta could have missed is put right.
        if last_whole.elapsed() >= WHOLE_EVERY {
            after = 0;
        }
        if after == 0 {
            last_whole = tokio::time::Instant::now();
        }
        let result = tokio::select! {
            biased;
            () = &mut stopped => return,
            result = client.update(after, POLL_WAIT) => result,
        };
        // The next document, and the delta that led to it from `current` (none when the
        // control plane sent the whole document).
        let result = result.map(|update| match update {
            Some(Update::Full(doc)) => Some(Ok((doc, None))),
            Some(Update::Delta(delta)) => Some(match current.as_deref() {
                Some(doc) => doc
                    .apply(&delta)
                    .map(|doc| (doc, Some(delta)))
                    .map_err(|e| e.to_string()),
                None => Err("no document to apply it to".to_owned()),
            }),
            None => None,
        });
        let delay = match result {
            Ok(Some(Err(why))) => {
                // Ask for the whole document at once.
                tracing::warn!(%why, "cannot apply the delta; fetching the whole desired state");
                after = 0;
                Duration::ZERO
            }
            Ok(Some(Ok((doc, delta)))) => {
                backoff.reset();
                // How many members the control plane sent: all of them in a whole document.
                let sent = delta.as_ref().map_or(doc.tenants.len(), |d| {
                    d.tenants.len() + d.removed_tenants.len()
                });
                tracing::info!(
                    generation = doc.generation,
                    members = doc.tenants.len(),
                    sent,
                    "new desired state"
                );
                after = doc.generation;
                // A delta is saved only on top of the document saved last.
                let delta = delta.filter(|_| saved_current);
                saved_current = match reconciler.saved.save_desired(&doc, delta.as_ref()) {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::error!(error = %error_chain(&err), "cannot save the desired state");
                        false
                    }
                };
                let doc = Arc::new(doc);
                current = Some(Arc::clone(&doc));
                desired.send_replace(Some(doc));
                Duration::ZERO
            }
            Ok(None) => {
                backoff.reset();
                Duration::ZERO
            }
            Err(err) => {
                let delay = backoff.next_delay(rand::random());
                let unauthorized = matches!(err, ClientError::Unauthorized { .. });
                tracing::warn!(error = %error_chain(&err), retry_in = ?delay, unauthorized, "cannot fetch the desired state");
                delay
            }
        };
        tokio::select! {
            biased;
            () = &mut stopped => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn measure_usage(
    reconciler: Arc<Reconciler>,
    report_now: Arc<tokio::sync::Notify>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    // The digest of the last measurement handed on, and when: a measurement is handed to the
    // heartbeat only when it differs (or every REPORT_ALL_EVERY), and not kept afterwards.
    let mut handed: Option<(u64, tokio::time::Instant)> = None;
    loop {
        let r = reconciler.clone();
        let measured = tokio::task::spawn_blocking(move || {
            let applied = r.applied()?;
            Some(crate::usage::measure(&r.config.layout.root, &applied))
        })
        .await;
        if let Ok(Some(usage)) = measured {
            let digest = crate::usage::digest(&usage);
            let now = tokio::time::Instant::now();
            let fresh = handed.is_some_and(|(last, at)| {
                last == digest && now.duration_since(at) < REPORT_ALL_EVERY
            });
            if !fresh {
                handed = Some((digest, now));
                let mut status = reconciler.status.lock().unwrap_or_else(|e| e.into_inner());
                status.usage = Some(Arc::new(usage));
                // Sent now rather than at the next interval: the measurement (about 1.5 MiB
                // at 10,000 mailboxes) is kept only until a heartbeat took it.
                report_now.notify_one();
            }
        }
        tokio::select! {
            biased;
            () = &mut stopped => return,
            () = tokio::time::sleep(USAGE_EVERY) => {}
        }
    }
}

/// `node-agent reconcile`: one pass. The desired state comes from the control plane when it
/// answers, else from the copy on disk. A reload that failed (the daemon is not running yet) is
/// not an error here: it stays in the journal for `run`.
pub async fn reconcile_once(config: Config) -> anyhow::Result<()> {
    let node = StateDir::new(&config.state_dir).load()?;
    let client = NodeClient::new(&node)?;
    let reconciler = Reconciler::new(config)?;
    let desired = match client.desired(0, Duration::ZERO).await {
        Ok(Some(doc)) => {
            reconciler.saved.save_desired(&doc, None)?;
            doc
        }
        Ok(None) => anyhow::bail!("the control plane has no desired state for this node"),
        Err(err) => {
            tracing::warn!(error = %error_chain(&err), "using the desired state saved on disk");
            reconciler.saved.load_desired()?.ok_or_else(|| {
                anyhow::anyhow!("the control plane is away and no desired state is saved yet")
            })?
        }
    };
    let result = tokio::task::spawn_blocking(move || reconciler.reconcile(&desired)).await?;
    match result {
        Ok(outcome) => {
            println!("applied: {} files written", outcome.written);
            Ok(())
        }
        Err(ReconcileError::Incomplete {
            generation,
            summary,
            reloads_only: true,
        }) => {
            println!("written, reloads pending (generation {generation}): {summary}");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat::Reports;
    use protocol::names::EmailAddress;

    fn usage(bytes: u64) -> Option<Arc<Vec<MailboxUsage>>> {
        Some(Arc::new(vec![MailboxUsage {
            address: EmailAddress::parse("alice@example.org").unwrap(),
            bytes,
            messages: 1,
        }]))
    }

    fn key(selector: &str) -> Arc<Vec<DkimKey>> {
        Arc::new(vec![DkimKey {
            domain: protocol::names::DomainName::parse("example.org").unwrap(),
            domain_id: None,
            selector: selector.to_owned(),
            public_key: "MIIB".to_owned(),
        }])
    }

    /// (keys listed, usage entries listed) of the next heartbeat, taken or not.
    fn beat(reporter: &mut Reporter, taken: bool) -> (usize, usize) {
        let heartbeat = reporter.next();
        if taken {
            reporter.taken();
        }
        (heartbeat.dkim_keys.len(), heartbeat.usage.len())
    }

    #[tokio::test(start_paused = true)]
    async fn keys_and_usage_are_sent_until_the_control_plane_took_them() {
        let status = Arc::new(std::sync::Mutex::new(Status {
            dkim_keys: key("a"),
            usage: usage(1),
            ..Default::default()
        }));
        let mut reporter = Reporter::new(status.clone(), None, Arc::default());
        // The first heartbeat carries both; one that failed does not count as sent.
        assert_eq!(beat(&mut reporter, false), (1, 1));
        assert_eq!(beat(&mut reporter, true), (1, 1));
        // Taken: nothing again until something changes, and the measurement is not kept.
        assert!(status.lock().unwrap().usage.is_none());
        assert_eq!(beat(&mut reporter, true), (0, 0));
        status.lock().unwrap().usage = usage(2);
        assert_eq!(beat(&mut reporter, true), (0, 1));
        status.lock().unwrap().dkim_keys = key("b");
        assert_eq!(beat(&mut reporter, true), (1, 0));
        assert_eq!(beat(&mut reporter, true), (0, 0));
        // A measurement that arrives while a heartbeat is in flight waits for the next one.
        let _in_flight = reporter.next();
        status.lock().unwrap().usage = usage(3);
        reporter.taken();
        assert_eq!(beat(&mut reporter, true), (0, 1));
        // The keys again now and then, changed or not.
        tokio::time::advance(REPORT_ALL_EVERY).await;
        assert_eq!(beat(&mut reporter, true), (1, 0));
        assert_eq!(beat(&mut reporter, true), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn certificates_are_sent_when_they_changed_and_now_and_then() {
        let status = Arc::new(std::sync::Mutex::new(Status::default()));
        let certs = Arc::new(crate::certs::Shared::default());
        let mut reporter = Reporter::new(status, None, certs.clone());
        let sent = |reporter: &mut Reporter| {
            let heartbeat = reporter.next();
            reporter.taken();
            heartbeat.certificates
        };
        // The first heartbeat says what stands (nothing yet), then nothing until it changes.
        assert_eq!(sent(&mut reporter), Some(vec![]));
        assert_eq!(sent(&mut reporter), None);
        let report = CertificateReport {
            domain: None,
            domain_id: None,
            names: vec![protocol::names::DomainName::parse("h.test").unwrap()],
            challenge: protocol::node::Challenge::Http01,
            state: protocol::node::CertificateState::Pending,
            not_after: None,
            error: None,
            retry_at: None,
        };
        certs.set_reports(vec![report.clone()]);
        // One not taken (the control plane did not answer) is sent again.
        let _lost = reporter.next();
        assert_eq!(sent(&mut reporter), Some(vec![report.clone()]));
        assert_eq!(sent(&mut reporter), None);
        tokio::time::advance(REPORT_ALL_EVERY).await;
        assert_eq!(sent(&mut reporter), Some(vec![report]));
    }
}
