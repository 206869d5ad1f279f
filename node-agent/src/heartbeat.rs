//! The heartbeat loop: reports to the control plane every interval until told to stop (one of the
//! tasks [`crate::daemon`] runs), and the shutdown signal.
//!
//! The loop's only dependencies are parameters: the control plane ([`Report`]), the randomness of
//! the backoff, and the shutdown signal. Its clock is Tokio's, which tests pause and advance.
//!
//! - A heartbeat taken: wait the normal interval.
//! - The control plane is away or failing (connection refused, timeout, 5xx, …): wait with
//!   exponential backoff ([`crate::backoff`]), then back to the interval after a success.
//! - 401: the control plane no longer knows the credential; say so loudly and retry at the capped
//!   delay (an admin may restore the node; otherwise the operator joins again).

use std::future::Future;
use std::time::Duration;

use protocol::node::Heartbeat;

use crate::backoff::{self, Backoff};
use crate::client::{ClientError, NodeClient};
use crate::error_chain;

/// This agent's version, as reported to the control plane.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The normal time between two heartbeats.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The control plane, as the loop sees it.
pub trait Report {
    fn heartbeat(&self, heartbeat: &Heartbeat) -> impl Future<Output = Result<(), ClientError>>;
}

impl Report for NodeClient {
    fn heartbeat(&self, heartbeat: &Heartbeat) -> impl Future<Output = Result<(), ClientError>> {
        NodeClient::heartbeat(self, heartbeat)
    }
}

/// A heartbeat that says only that the node is alive and which version it runs.
pub fn heartbeat() -> Heartbeat {
    Heartbeat {
        version: VERSION.to_owned(),
        observed_generation: None,
        services: Vec::new(),
        dkim_keys: Vec::new(),
        usage: Vec::new(),
        dns: None,
        certificates: None,
    }
}

/// What one heartbeat attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Taken: the next one after the interval.
    Interval(Duration),
    /// Failed: try again after this backoff delay.
    Retry(Duration),
    /// The credential was refused: try again after the capped delay.
    Unauthorized(Duration),
}

impl Next {
    pub fn delay(self) -> Duration {
        match self {
            Next::Interval(d) | Next::Retry(d) | Next::Unauthorized(d) => d,
        }
    }
}

/// Decides what follows one heartbeat's `result`, logging it. Pure apart from the log.
pub fn after(
    result: &Result<(), ClientError>,
    interval: Duration,
    backoff: &mut Backoff,
    random: f64,
) -> Next {
    match result {
        Ok(()) => {
            if backoff.failures() > 0 {
                tracing::info!(
                    failed = backoff.failures(),
                    "the control plane takes heartbeats again"
                );
            } else {
                tracing::debug!("heartbeat taken");
            }
            backoff.reset();
            Next::Interval(interval)
        }
        Err(ClientError::Unauthorized { message }) => {
            backoff.reset();
            tracing::error!(
                control_plane_said = %message,
                retry_in = ?backoff::MAX,
                "the control plane no longer knows this node's credential; join again \
                 (node-agent join --force <control-plane-url> <new-join-token> --address …)"
            );
            Next::Unauthorized(backoff::MAX)
        }
        Err(err) => {
            let delay = backoff.next_delay(random);
            tracing::warn!(
                error = %error_chain(err),
                failed = backoff.failures(),
                retry_in = ?delay,
                "heartbeat failed"
            );
            Next::Retry(delay)
        }
    }
}

/// What the loop reports: each heartbeat, made when it is sent, and word that the control
/// plane took the last one (so that what it already has need not be sent again). A closure
/// making heartbeats is one.
pub trait Reports {
    fn next(&mut self) -> Heartbeat;
    fn taken(&mut self) {}
}

impl<F: FnMut() -> Heartbeat> Reports for F {
    fn next(&mut self) -> Heartbeat {
        self()
    }
}

/// Reports to `control_plane` every `interval` until `shutdown` completes. `random` gives
/// numbers in `[0, 1)` for the backoff's jitter; `report` says what to report, each time;
/// `wake` cuts a normal interval short (a reconcile finished: the portal should know now).
pub async fn run<R, F, H, S>(
    control_plane: &R,
    interval: Duration,
    mut random: F,
    mut report: H,
    wake: &tokio::sync::Notify,
    shutdown: S,
) where
    R: Report,
    F: FnMut() -> f64,
    H: Reports,
    S: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut backoff = Backoff::new();
    loop {
        let heartbeat = report.next();
        let result = tokio::select! {
            biased;
            () = &mut shutdown => break,
            result = control_plane.heartbeat(&heartbeat) => result,
        };
        // Not kept through the wait that follows: it may list every mailbox's usage.
        let carried = !heartbeat.usage.is_empty() || !heartbeat.dkim_keys.is_empty();
        drop(heartbeat);
        if result.is_ok() {
            report.taken();
        }
        if carried {
            // A measurement of every mailbox, its copy and its body (about 4 MiB at 10,000
            // mailboxes) were freed in the middle of the heap: give the pages back now rather
            // than after the next reconcile, which may be hours away.
            tokio::task::spawn_blocking(crate::heap::trim);
        }
        let next = after(&result, interval, &mut backoff, random());
        // Only a normal wait is cut short: a failing control plane keeps its backoff.
        let woken = async {
            match next {
                Next::Interval(_) => wake.notified().await,
                Next::Retry(_) | Next::Unauthorized(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(next.delay()) => {}
            () = woken => {}
        }
    }
    tracing::info!("stopped");
}

/// Completes on the first SIGTERM or SIGINT. The handlers are installed when this is called, so
/// a signal that arrives before the future is polled is not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "stopping");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use tokio::time::Instant;

    /// A control plane that answers from a script and notes when it was asked.
    struct Scripted {
        answers: RefCell<VecDeque<Result<(), ClientError>>>,
        asked: RefCell<Vec<Instant>>,
        /// Once the script is done: how every later heartbeat is answered.
        then_ok: bool,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), ClientError>>) -> Scripted {
            Scripted {
                answers: RefCell::new(answers.into()),
                asked: RefCell::new(Vec::new()),
                then_ok: true,
            }
        }

        /// The time between consecutive heartbeats, in whole seconds.
        fn gaps(&self) -> Vec<u64> {
            self.asked
                .borrow()
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64().round() as u64)
                .collect()
        }
    }

    impl Report for Scripted {
        async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), ClientError> {
            assert_eq!(heartbeat.version, VERSION);
            self.asked.borrow_mut().push(Instant::now());
            match self.answers.borrow_mut().pop_front() {
                Some(answer) => answer,
                None if self.then_ok => Ok(()),
                None => Err(down()),
            }
        }
    }

    fn down() -> ClientError {
        ClientError::Refused {
            status: 503,
            message: "unavailable".to_owned(),
        }
    }

    fn unauthorized() -> ClientError {
        ClientError::Unauthorized {
            message: "unknown credential".to_owned(),
        }
    }

    /// Runs the loop on the paused clock for `for_how_long` of virtual time.
    async fn run_for(control_plane: &Scripted, interval: Duration, for_how_long: Duration) {
        run(
            control_plane,
            interval,
            || 0.0,
            heartbeat,
            &tokio::sync::Notify::new(),
            tokio::time::sleep(for_how_long),
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn reports_every_interval() {
        let control_plane = Scripted::new(vec![]);
        run_for(
            &control_plane,
            Duration::from_secs(30),
            Duration::from_secs(95),
        )
        .await;
        assert_eq!(control_plane.gaps(), [30, 30, 30]);
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_while_the_control_plane_is_away_then_resumes() {
        let mut answers: Vec<_> = (0..9).map(|_| Err(down())).collect();
        answers.push(Ok(()));
        answers.push(Err(down()));
        let control_plane = Scripted::new(answers);
        run_for(
            &control_plane,
            Duration::from_secs(5),
            Duration::from_secs(300),
        )
        .await;
        let gaps = control_plane.gaps();
        // Nine failures: 1, 2, 4 … 32, then the cap; a success; the interval; a failure starts
        // from one second again; then the interval.
        assert_eq!(
            gaps[..12],
            [1, 2, 4, 8, 16, 32, 60, 60, 60, 5, 1, 5],
            "{gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_credential_is_retried_at_the_cap() {
        let control_plane = Scripted::new(vec![Err(unauthorized()), Err(unauthorized())]);
        run_for(
            &control_plane,
            Duration::from_secs(1),
            Duration::from_millis(122_500),
        )
        .await;
        assert_eq!(control_plane.gaps(), [60, 60, 1, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn never_waits_more_than_a_minute() {
        let mut control_plane = Scripted::new(vec![]);
        control_plane.then_ok = false;
        run(
            &control_plane,
            Duration::from_secs(30),
            {
                let mut i = 0u32;
                move || {
                    i = i.wrapping_add(1);
                    f64::from(i % 10) / 10.0
                }
            },
            heartbeat,
            &tokio::sync::Notify::new(),
            tokio::time::sleep(Duration::from_secs(3600)),
        )
        .await;
        let asked = control_plane.asked.borrow();
        assert!(asked.len() > 60, "{}", asked.len());
        for pair in asked.windows(2) {
            assert!(pair[1] - pair[0] <= backoff::MAX);
        }
    }

    /// A finished reconcile is reported at once, not at the end of the interval.
    #[tokio::test(start_paused = true)]
    async fn a_wake_reports_before_the_interval_ends() {
        let control_plane = Scripted::new(vec![]);
        let wake = tokio::sync::Notify::new();
        let waker = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            wake.notify_one();
            std::future::pending::<()>().await
        };
        tokio::select! {
            () = run(
                &control_plane,
                Duration::from_secs(30),
                || 0.0,
                heartbeat,
                &wake,
                tokio::time::sleep(Duration::from_secs(40)),
            ) => {}
            () = waker => {}
        }
        assert_eq!(control_plane.gaps(), [3, 30]);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_promptly_when_asked() {
        let control_plane = Scripted::new(vec![]);
        let started = Instant::now();
        // The interval is an hour; the stop comes after a second.
        run_for(
            &control_plane,
            Duration::from_secs(3600),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(control_plane.asked.borrow().len(), 1);
    }

    /// A heartbeat that hangs does not hold the stop up either.
    #[tokio::test(start_paused = true)]
    async fn stops_during_a_hanging_heartbeat() {
        struct Hanging;
        impl Report for Hanging {
            async fn heartbeat(&self, _: &Heartbeat) -> Result<(), ClientError> {
                std::future::pending().await
            }
        }
        let started = Instant::now();
        run(
            &Hanging,
            Duration::from_secs(30),
            || 0.0,
            heartbeat,
            &tokio::sync::Notify::new(),
            async {
                tokio::time::sleep(Duration::from_secs(2)).await;
            },
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
