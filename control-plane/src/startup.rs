//! Building and running the server. `Application::build` binds the listener (port 0 works:
//! tests read the real port back), migrates and makes the two pools; `run` serves until
//! shutdown, with the workers beside it.
//!
//! Two pools: the requests' (`database.max_connections`: portal, API, node API, long polls
//! included) and the background tasks' (`database.background_connections`: the `LISTEN` task,
//! which holds one for good, housekeeping and the DNS rounds), so background work never holds a
//! connection a request waits for, and a burst of requests never stalls it. The integration
//! tests build and run the application the same way, with the `LISTEN` task alone
//! ([`Background::ListenerOnly`]: no DNS rounds, no housekeeping).
//!
//! [`Application::announce`] logs the setup link while no admin exists: the one secret logged,
//! on purpose, because the operator needs it and it dies with the first admin.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use url::Url;

use crate::config::Config;
use crate::db;
use crate::mailer::Mailer;
use crate::routes::{self, AppState};
use crate::workers::{housekeeping, listener, Workers};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The background tasks' pool, apart from the requests' (`db::background_pool`).
    background: PgPool,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.http.listen).await?;
        let background = db::background_pool(&config.database)?;
        let state = state(config, listener.local_addr()?)?;
        migrate_with_retry(&state.pool).await?;
        if state.mailer.is_none() {
            tracing::warn!("no mail relay configured (mail.smtp_url): invitation links will be shown to the admin, password reset by mail is off");
        }
        Ok(Self {
            listener,
            state,
            background,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    pub fn public_url(&self) -> &Url {
        &self.state.public_url
    }

    /// Prints the portal URL, and the setup link while no admin exists yet.
    pub async fn announce(&self) -> anyhow::Result<()> {
        tracing::info!("listening on http://{}", self.local_addr()?);
        tracing::info!("portal: {}", self.state.public_url);
        if let Some(token) = db::setup::issue_token(&self.state.pool).await? {
            // The one place a secret is logged, on purpose: the operator needs this link, and it
            // only works until the first admin exists.
            tracing::info!(
                "setup link: {}",
                self.state.link(&format!("/setup?token={}", token.expose()))
            );
        }
        Ok(())
    }

    /// Serves until ctrl-c / SIGTERM, then finishes requests in flight.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves, with every background task, until `shutdown` completes; then finishes requests
    /// in flight and stops the background tasks. Tests stop the real server this way.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run_with(Background::All, shutdown).await
    }

    /// [`Application::run_until`] with the background tasks `background` names.
    ///
    /// The background tasks (housekeeping, DNS rounds, the `LISTEN` task that wakes the node
    /// API's long polls) run on their own pool, so they never hold a connection a request waits
    /// for; requests, long polls included, use the state's pool.
    pub async fn run_with(
        self,
        background: Background,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers = &self.state.workers;
        let rounds = background == Background::All;
        let pool = self.background.clone();
        let jobs = rounds.then(|| {
            tokio::spawn(
                workers
                    .periodic("housekeeping", housekeeping::INTERVAL)
                    .run(stop_rx.clone(), move || {
                        let pool = pool.clone();
                        async move {
                            housekeeping::run_once(&pool)
                                .await
                                .map_err(|e| e.to_string())
                        }
                    }),
            )
        });
        let (pool, config) = (self.background.clone(), self.state.config.dns.clone());
        let dns = rounds.then(|| {
            tokio::spawn(workers.periodic("dns", crate::dns::interval(&config)).run(
                stop_rx.clone(),
                move || {
                    let (pool, config) = (pool.clone(), config.clone());
                    async move { crate::dns::run_once(&pool, &config).await }
                },
            ))
        });
        let listener = tokio::spawn(listener::run(
            workers.continuous("desired-listener"),
            self.background.clone(),
            self.state.desired_changes.clone(),
            stop_rx,
        ));
        let pool = self.state.pool.clone();
        let app = routes::router(self.state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        let _ = stop_tx.send(true);
        for task in [jobs, dns].into_iter().flatten() {
            let _ = task.await;
        }
        let _ = listener.await;
        pool.close().await;
        self.background.close().await;
        Ok(())
    }
}

/// What runs beside the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Housekeeping, the DNS rounds and the `LISTEN` task: `control-plane serve`.
    All,
    /// The `LISTEN` task alone (the node API's long polls need it): the integration tests,
    /// whose DNS rounds would ask resolvers outside loopback and change rows under them.
    ListenerOnly,
}

/// The shared state, for the server and for CLI commands.
pub fn state(config: Config, addr: SocketAddr) -> anyhow::Result<AppState> {
    let pool = db::pool(&config.database)?;
    let public_url = match &config.http.public_url {
        Some(u) => u.clone(),
        None => default_public_url(addr)?,
    };
    let mailer = Mailer::from_config(&config.mail)?;
    Ok(AppState {
        pool,
        config: Arc::new(config),
        public_url,
        mailer,
        desired_changes: tokio::sync::broadcast::channel(1024).0,
        workers: Workers::default(),
    })
}

/// Without a configured public URL, links point at the bound address, spelled `localhost` for
/// loopback: browsers keep `Secure` cookies over plain HTTP only for `localhost`.
fn default_public_url(addr: SocketAddr) -> anyhow::Result<Url> {
    let url = if addr.ip().is_loopback() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    Ok(Url::parse(&url)?)
}

/// Migrations run at start-up. Postgres may still be starting (e.g. booted together with us),
/// so connection failures are retried for a while before giving up.
pub async fn migrate_with_retry(pool: &PgPool) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match db::migrate(pool).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Execute(e))
                if is_transient(&e) && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
            }
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("57P")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
