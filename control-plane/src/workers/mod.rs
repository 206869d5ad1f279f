//! The control plane's background workers, in one shape: a name, how often it runs (or that it
//! runs continuously), when it last ran and its last error. Each loop registers in [`Workers`]
//! (kept in the app state) and reports every round; the admin sees them on `/admin` and at
//! `GET /api/v1/admin/workers`.
//!
//! - `housekeeping` ([`housekeeping`]): purges, expiries and pruning, every minute;
//! - `dns`: ownership verification, server checks and secondary placement
//!   ([`crate::dns::run_once`]), every `[dns] check_interval_seconds`;
//! - `desired-listener` ([`listener`]): forwards Postgres `NOTIFY` of changed desired state to
//!   the node API's long polls; continuous, a run is a connection.
//!
//! The state is this process's: each control plane reports its own loops.

pub mod housekeeping;
pub mod listener;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

/// What the admin sees of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: &'static str,
    /// `None`: it runs continuously.
    pub every: Option<Duration>,
    /// When its last round ended (a continuous worker: when it last connected or failed).
    pub last_run: Option<OffsetDateTime>,
    /// The last round's failure; cleared by the next round that succeeds.
    pub last_error: Option<String>,
    pub runs: u64,
    pub failures: u64,
}

/// Every worker of this process, in the order they registered.
#[derive(Clone, Default)]
pub struct Workers(Arc<Mutex<Vec<Status>>>);

impl Workers {
    /// A worker that runs a round every `interval`.
    pub fn periodic(&self, name: &'static str, interval: Duration) -> Periodic {
        Periodic {
            worker: self.register(name, Some(interval)),
            interval,
        }
    }

    /// A worker that runs for good (it reports each connection and each failure).
    pub fn continuous(&self, name: &'static str) -> Worker {
        self.register(name, None)
    }

    /// A name registers once: a second registration reports to the same status.
    fn register(&self, name: &'static str, every: Option<Duration>) -> Worker {
        let mut all = self.lock();
        if !all.iter().any(|s| s.name == name) {
            all.push(Status {
                name,
                every,
                last_run: None,
                last_error: None,
                runs: 0,
                failures: 0,
            });
        }
        Worker {
            workers: self.clone(),
            name,
        }
    }

    pub fn statuses(&self) -> Vec<Status> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Status>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One worker's handle, to report its rounds.
#[derive(Clone)]
pub struct Worker {
    workers: Workers,
    name: &'static str,
}

impl Worker {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Records a round that just ended.
    pub fn ran(&self, outcome: Result<(), String>) {
        let mut all = self.workers.lock();
        let Some(status) = all.iter_mut().find(|s| s.name == self.name) else {
            return;
        };
        status.last_run = Some(OffsetDateTime::now_utc());
        status.runs += 1;
        match outcome {
            Ok(()) => status.last_error = None,
            Err(error) => {
                status.failures += 1;
                status.last_error = Some(error);
            }
        }
    }
}

/// A worker and its interval.
pub struct Periodic {
    worker: Worker,
    interval: Duration,
}

impl Periodic {
    /// Runs `round` at once, then every interval until `shutdown` changes. A failed round is
    /// logged and reported; the next one runs on time.
    pub async fn run<F, Fut>(self, mut shutdown: watch::Receiver<bool>, mut round: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        loop {
            let outcome = round().await;
            if let Err(error) = &outcome {
                tracing::warn!(worker = self.worker.name, %error, "round failed; will retry");
            }
            self.worker.ran(outcome);
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each round is reported: a failure with its message, cleared by the next success.
    #[tokio::test(start_paused = true)]
    async fn rounds_are_reported_and_a_success_clears_the_error() {
        let workers = Workers::default();
        let periodic = workers.periodic("test", Duration::from_secs(60));
        let (stop, stopped) = watch::channel(false);
        let mut outcomes = vec![Ok(()), Err("database away".to_owned())].into_iter();
        let task = tokio::spawn(periodic.run(stopped, move || {
            let outcome = outcomes.next().unwrap_or(Ok(()));
            async move { outcome }
        }));
        let status = |workers: &Workers| workers.statuses().remove(0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let first = status(&workers);
        assert_eq!((first.runs, first.failures), (1, 0));
        assert_eq!(first.every, Some(Duration::from_secs(60)));
        assert!(first.last_run.is_some() && first.last_error.is_none());
        tokio::time::sleep(Duration::from_secs(60)).await;
        let second = status(&workers);
        assert_eq!((second.runs, second.failures), (2, 1));
        assert_eq!(second.last_error.as_deref(), Some("database away"));
        tokio::time::sleep(Duration::from_secs(60)).await;
        let third = status(&workers);
        assert_eq!((third.runs, third.failures), (3, 1));
        assert!(third.last_error.is_none());
        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn a_name_registers_once() {
        let workers = Workers::default();
        workers.continuous("listener").ran(Err("lost".to_owned()));
        workers.continuous("listener").ran(Ok(()));
        let all = workers.statuses();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].runs, all[0].failures, all[0].every), (2, 1, None));
    }
}
