//! The `desired-listener` worker: forwards Postgres `NOTIFY ruche_desired` (sent by the
//! migrations' triggers with a node id) to the node API's waiting long polls until shutdown.
//! Reconnects with backoff when Postgres goes away; polls re-check on their own meanwhile. It
//! holds one connection of `pool` for good: the server gives it the background pool, never the
//! requests'.

use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::Worker;

/// The Postgres channel the migrations' triggers notify with a node id.
pub const CHANNEL: &str = "ruche_desired";

/// Listens until `shutdown` changes. Each connection that listens is a run of `worker`; each
/// lost one, a failure.
pub async fn run(
    worker: Worker,
    pool: sqlx::PgPool,
    changes: broadcast::Sender<uuid::Uuid>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        let run = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            worker.ran(Ok(()));
            loop {
                let n = listener.recv().await?;
                if let Ok(id) = n.payload().parse::<uuid::Uuid>() {
                    // Nobody waiting is fine.
                    let _ = changes.send(id);
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            r = run => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "desired-state listener lost its connection; retrying");
                    worker.ran(Err(format!("lost its connection: {e}")));
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
