//! Throw-away databases on the Postgres server that `tests/run.sh` starts.
//!
//! `DATABASE_URL` names a superuser connection to that server; each [`TestDatabase`] is a fresh,
//! uniquely named database on it, dropped again (best effort) when the value is dropped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use sqlx::{Connection, Executor, PgConnection};
use url::Url;

/// The superuser URL of the test server, from `DATABASE_URL`.
///
/// Panics with instructions when it is not set: the end-to-end tests need the private cluster
/// that `tests/run.sh` starts.
pub fn server_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: the end-to-end tests need a Postgres server. Run them with \
             `tests/run.sh` (which starts a private cluster), or export \
             DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres pointing at a superuser \
             connection you own"
        ),
    }
}

/// A fresh database, dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server in `DATABASE_URL` (see [`server_url`]).
    pub async fn create() -> Result<TestDatabase> {
        Self::create_on(&server_url()).await
    }

    /// Creates a fresh, empty database on the server reached through `server_url`.
    pub async fn create_on(server_url: &str) -> Result<TestDatabase> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "ruche_e2e_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let mut conn = PgConnection::connect(server_url)
            .await
            .with_context(|| format!("connect to DATABASE_URL {server_url}"))?;
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = conn.close().await;
        let mut url = Url::parse(server_url).context("DATABASE_URL is not a URL")?;
        url.set_path(&format!("/{name}"));
        Ok(TestDatabase {
            name,
            url: url.to_string(),
            server_url: server_url.to_owned(),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A superuser URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens a new connection to the database (to look at what the system under test wrote).
    pub async fn connect(&self) -> Result<PgConnection> {
        PgConnection::connect(&self.url)
            .await
            .with_context(|| format!("connect to {}", self.url))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs on the runtime's thread and cannot await: use a runtime of our own on a
        // separate thread. WITH (FORCE) ends sessions the system under test left open.
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        let result = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&server_url).await?;
                conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("[postgres] could not drop {}: {err:#}", self.name),
            Err(_) => eprintln!("[postgres] could not drop {}: thread panicked", self.name),
        }
    }
}
