//! Postgres access: the store. One module per resource; every function on member data takes the
//! member's id and puts it in the WHERE clause, so one member can never read or change another's
//! rows (another member's object is not found, 404, never forbidden, so ids do not leak). A
//! state-changing function runs its statements on the connection it is given and returns
//! rows or plain values; the use case that calls it (`services`) opens the transaction, writes
//! the audit entry (`audit::record`) in it and commits. The few transactions opened here write
//! no audit entry: a node's desired state read as one snapshot (`desired`), a heartbeat
//! (`nodes`), the DNS monitor's checks (`dns_checks`), a rate-limit slot (`rate_limit`) and a
//! fresh setup token (`setup`).
//!
//! Architecture invariant: nothing here names axum or utoipa (the rows are not the API's schema:
//! `routes::api::schema` makes the API's types from them) and nothing imports `services`, `dns`
//! or `routes` (`tests/layers.rs`); callers pass typed values from `model`.
//!
//! Connections: no code asks a pool for a connection while it holds one, and no request runs two
//! queries at once. A function that holds a connection or transaction passes it down, so
//! whatever it calls takes `&mut PgConnection` or an executor (`impl PgExecutor`, which can run
//! one query), never the pool; a function that takes the pool acquires at most one connection
//! and calls nothing that takes the pool while it holds it; handlers run their queries one after
//! the other; a long poll holds no connection while it waits. Otherwise, once as many requests
//! as the pool has connections each hold one and wait for a second, none can finish and all fail
//! after the acquire timeout (issue 10: `dns_of` asked the pool for the collective while it held
//! a connection). Background tasks have their own pool (`background_pool`). The
//! `connection_rule` tests below fail on a pool used while a connection or transaction is held,
//! on a function given both, and on concurrent futures in `routes/` and `db/`;
//! `tests/it/load.rs` (`every_get_route_answers_under_load`) runs 64 clients on every GET route
//! against the real server with a pool of 4, while a node long-polls and the DNS rounds run.

pub mod aliases;
pub mod api_tokens;
pub mod app_passwords;
pub mod audit;
pub mod certificates;
pub mod desired;
pub mod dns_admin;
pub mod dns_checks;
pub mod dns_records;
pub mod domains;
pub mod invitations;
pub mod mailboxes;
pub mod members;
pub mod nodes;
pub mod plans;
pub mod rate_limit;
pub mod resets;
pub mod second_factor;
pub mod secondaries;
pub mod sessions;
pub mod setup;
pub mod topology;
pub mod tsig_keys;
pub mod verification;
pub mod xmpp;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::DatabaseConfig;

pub use audit::Actor;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The pool that serves requests (`max_connections`). Lazily connecting: the server starts,
/// and keeps running, while Postgres is away; requests in that time fail with 503 and the pool
/// reconnects when it is back.
pub fn pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    lazy_pool(config, config.max_connections)
}

/// The background tasks' own pool (`background_connections`): the `LISTEN` connection, which
/// it holds for good, housekeeping and the DNS rounds. Apart, so that they never hold a
/// connection a request is waiting for, and a burst of requests never stalls them.
pub fn background_pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    lazy_pool(config, config.background_connections.max(2))
}

/// A connection idle for longer than this is pinged before it is handed out (one round trip);
/// one used a moment ago is handed out as it is. Under load connections are idle for
/// microseconds, and a ping per acquire was a third of a page's round trips; a connection that
/// waited through a Postgres restart is still found dead before a request uses it.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

fn lazy_pool(config: &DatabaseConfig, size: u32) -> anyhow::Result<PgPool> {
    let url = config.url.as_deref().ok_or_else(|| {
        anyhow::anyhow!("no database configured: set DATABASE_URL or [database] url")
    })?;
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// Runs pending migrations. sqlx holds a Postgres advisory lock meanwhile, so several control
/// planes starting together apply each migration once.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when the database answers and every embedded migration has been applied.
pub async fn ready(pool: &PgPool) -> bool {
    let applied: Result<i64, _> =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await;
    matches!(applied, Ok(n) if usize::try_from(n).ok() == Some(MIGRATOR.iter().count()))
}

/// The rule of ARCHITECTURE.md's "Database connections", checked on the source: nothing asks
/// the pool for a connection while it holds one, and no request runs queries concurrently.
/// A line-based check, not a parser: it knows the names this code base gives pools, and it
/// tests itself on the shapes it must catch.
#[cfg(test)]
mod connection_rule {
    use std::path::{Path, PathBuf};

    /// Anything that means "runs several futures at once" in a request's code.
    const CONCURRENT: &[&str] = &[
        "join!(",
        "try_join",
        "join_all",
        "JoinSet",
        "select_all",
        "FuturesUnordered",
        "buffer_unordered",
        "tokio::spawn(",
    ];

    /// The line without its `//` comment (a `//` inside a string literal is kept).
    fn code(line: &str) -> &str {
        let mut quotes = 0;
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            match bytes[i] {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => quotes += 1,
                b'/' if quotes % 2 == 0 && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
                _ => {}
            }
        }
        line
    }

    fn is_ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }

    /// Whether `word` occurs in `line` as a whole identifier.
    fn mentions(line: &str, word: &str) -> bool {
        line.match_indices(word).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + word.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
    }

    /// The names of the pools in this file: `pool`, and every parameter or field typed `PgPool`.
    fn pool_names(lines: &[&str]) -> Vec<String> {
        let mut names = vec!["pool".to_owned()];
        for line in lines {
            for (at, _) in line.match_indices("PgPool") {
                let before = line[..at]
                    .trim_end_matches("sqlx::")
                    .trim_end_matches('&')
                    .trim_end();
                if let Some(rest) = before.strip_suffix(':') {
                    let name: String = rest
                        .trim_end()
                        .chars()
                        .rev()
                        .take_while(|c| is_ident(*c))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    if !name.is_empty() && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names
    }

    /// `line` binds a connection or transaction taken from a pool: the binding's name.
    fn holder(line: &str) -> Option<&str> {
        if !(line.contains(".begin().await") || line.contains(".acquire().await")) {
            return None;
        }
        let rest = line.trim_start().strip_prefix("let ")?;
        let rest = rest.strip_prefix("mut ").unwrap_or(rest);
        let end = rest.find(|c: char| !is_ident(c))?;
        Some(&rest[..end])
    }

    /// Every place in `source` that breaks the rule, as `line: reason`. `request` says whether
    /// the file serves requests (routes and db), where nothing may run concurrently.
    pub(super) fn violations(source: &str, request: bool) -> Vec<String> {
        let lines: Vec<&str> = source.lines().map(code).collect();
        let pools = pool_names(&lines);
        let mut found = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            // A connection held from here to its commit, rollback, drop or the end of its block.
            if let Some(held) = holder(line) {
                let mut depth = 0i32;
                for (j, later) in lines.iter().enumerate().skip(i + 1) {
                    if [".commit()", ".rollback()"]
                        .iter()
                        .any(|end| later.contains(&format!("{held}{end}")))
                        || later.contains(&format!("drop({held})"))
                    {
                        break;
                    }
                    if let Some(pool) = pools.iter().find(|p| mentions(later, p)) {
                        found.push(format!(
                            "{}: `{pool}` used while `{held}` (line {}) holds a connection",
                            j + 1,
                            i + 1
                        ));
                    }
                    depth += later.matches('{').count() as i32;
                    depth -= later.matches('}').count() as i32;
                    if depth < 0 {
                        break;
                    }
                }
            }
            // A function that is given a connection and a pool can use both at once.
            if let Some(at) = line.find("fn ") {
                let signature: String = lines[i..]
                    .iter()
                    .take(12)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                let signature = &signature[at..];
                let signature = &signature[..signature.find('{').unwrap_or(signature.len())];
                if signature.contains("PgPool")
                    && ["PgConnection", "Transaction", "Executor"]
                        .iter()
                        .any(|c| signature.contains(c))
                {
                    found.push(format!("{}: takes both a connection and a pool", i + 1));
                }
            }
            if request {
                if let Some(c) = CONCURRENT.iter().find(|c| line.contains(*c)) {
                    found.push(format!("{}: `{c}` in request code", i + 1));
                }
            }
        }
        found
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn nothing_asks_the_pool_while_it_holds_a_connection() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 20, "{} source files found", files.len());
        let mut found = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let request = relative.starts_with("routes") || relative.starts_with("db");
            let text = std::fs::read_to_string(&file).unwrap();
            // Not this check's own examples of what it forbids.
            let text = text.split("mod connection_rule").next().unwrap_or_default();
            for v in violations(text, request) {
                found.push(format!("src/{}:{v}", relative.display()));
            }
        }
        assert!(
            found.is_empty(),
            "pass the connection down instead (ARCHITECTURE.md, \"Database connections\"):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_check_sees_the_shapes_it_forbids() {
        let nested = r#"
async fn dns_of(pool: &PgPool, member: MemberId) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let node = query("…").fetch_one(&mut *conn).await?;
    let config = crate::db::setup::dns_config(pool, config).await?; // the pool again
    Ok(())
}"#;
        assert_eq!(violations(nested, false).len(), 1, "{nested}");
        let renamed = r#"
async fn f(db: &sqlx::PgPool) -> Result<()> {
    let mut tx = db.begin().await?;
    if x {
        audit(db).await?;
    }
    tx.commit().await?;
}"#;
        assert_eq!(violations(renamed, false).len(), 1, "{renamed}");
        let state = r#"
async fn handler(State(state): State<AppState>) -> Result<()> {
    let mut tx = state.pool.begin().await?;
    db::members::get(&state.pool, id).await?;
}"#;
        assert_eq!(violations(state, false).len(), 1, "{state}");
        let both =
            "pub async fn f(\n    conn: &mut PgConnection,\n    pool: &PgPool,\n) -> Result<()> {";
        assert_eq!(violations(both, false).len(), 1, "{both}");
        let concurrent = "let (a, b) = tokio::join!(list(&pool), count(&pool));";
        assert_eq!(violations(concurrent, true).len(), 1);
        assert!(violations(concurrent, false).is_empty());

        // What is allowed: the connection passed down, released before the pool is used again,
        // or committed first.
        let fine = r#"
async fn list(pool: &PgPool, member: MemberId) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let rows = query("…").fetch_all(&mut *conn).await?; // "pool" in a comment is fine
    dns_of(&mut conn, member).await?;
    Ok(())
}
async fn create(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    audit::record(&mut *tx).await?;
    tx.commit().await?;
    get(pool).await
}
async fn round(pool: &PgPool) -> Result<()> {
    {
        let mut conn = pool.acquire().await?;
        servers(&mut conn).await?;
    }
    store(pool).await
}"#;
        assert_eq!(violations(fine, true), Vec::<String>::new(), "{fine}");
    }
}
