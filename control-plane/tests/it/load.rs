//! Load: the real server (built by `Application::build`, its background tasks running) with a
//! pool of 4 connections, hit by 64 concurrent clients on every GET route of the isolation
//! walk, while a node long-polls its desired state and the DNS rounds run. Every answer must be
//! the normal one. A request that holds a connection while it waits for another (nested
//! acquisition), or a background task that keeps connections requests need, makes requests wait
//! for the pool until its acquire timeout and fail with 503: this test fails then. It measures
//! nothing and has no time limit of its own (tests/bench/portal.sh measures).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use super::isolation::{fill, populate, Kind, ROUTES};
use super::support::*;

/// The server's pool: fewer connections than there are GET routes that read several tables.
const POOL: u32 = 4;
const CLIENTS: usize = 64;
/// Each client walks every GET route this many times per wave.
const ROUNDS: usize = 2;
/// Waves run until a DNS round has written what it saw since the load began; at most this many.
const MAX_WAVES: usize = 10;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn every_get_route_answers_under_load(pool: sqlx::PgPool) {
    let mut config = control_plane::config::Config::default();
    config.database.max_connections = POOL;
    // The world's resolvers and the node's name server are a closed port on loopback: every
    // DNS check runs, and finds nothing (or "unreachable"), without leaving this machine.
    config.dns.resolvers = vec!["127.0.0.1:9".parse().unwrap()];
    config.dns.check_interval_seconds = 1;
    let (app, server) = start(pool, config).await;

    // An admin, a node hosting everyone, a member with two domains and one of everything on
    // each (mailbox, alias, XMPP account, DNS record), app passwords and API tokens.
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (node_id, node) = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let mut ids = populate(&alice_api, "alice.test").await;
    populate(&alice_api, "alice.example").await;
    // alice.test is verified, so the node serves its zone and the monitor checks it.
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1::uuid")
        .bind(&ids["domain"])
        .execute(&app.pool)
        .await
        .unwrap();
    let r = heartbeat(
        &node,
        json!({"version": "0.1.0", "dns": {"address": "127.0.0.1:9"},
               "dkim_keys": [{"domain": "alice.test", "selector": "sel", "public_key": public_key(1)}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let me = alice_api.api("GET", "/me", None).await.json();
    ids.insert("member", me["member"]["id"].as_str().unwrap().to_owned());
    ids.insert("plan", plan_id(&app, "Standard").await);
    ids.insert("node", node_id);

    let routes: Arc<Vec<(String, Kind)>> = Arc::new(
        ROUTES
            .iter()
            .filter(|(method, _, _)| *method == "GET")
            .map(|&(_, template, kind)| (fill(template, &ids), kind))
            .collect(),
    );
    assert!(
        routes.len() > 20,
        "the walk lists {} GET routes",
        routes.len()
    );
    // Each route answers once before the load, so a failure below is about the load.
    for (path, kind) in routes.iter() {
        let r = get(&alice, &alice_api, &admin, &admin_api, path, *kind).await;
        assert_eq!(r.status, 200, "GET {path} ({kind:?}): {}", r.body);
    }

    let since: time::OffsetDateTime = sqlx::query_scalar("select now()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(long_poll(node.clone(), done.clone()));

    let mut failures = Vec::new();
    let mut requests = 0;
    let mut waves = 0;
    let mut dns_rounds_seen = false;
    while waves < MAX_WAVES && !(waves > 0 && dns_rounds_seen) {
        waves += 1;
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..CLIENTS {
            let (alice, alice_api) = (alice.clone(), alice_api.clone());
            let (admin, admin_api) = (admin.clone(), admin_api.clone());
            let routes = routes.clone();
            clients.spawn(async move {
                let mut failed = Vec::new();
                for _ in 0..ROUNDS {
                    // Each client starts at a different route, so all of them are hit at once.
                    for j in 0..routes.len() {
                        let (path, kind) = &routes[(i + j) % routes.len()];
                        let r = get(&alice, &alice_api, &admin, &admin_api, path, *kind).await;
                        if r.status != 200 {
                            failed.push(format!(
                                "{} GET {path}: {:.120}",
                                r.status,
                                r.body.replace('\n', " ")
                            ));
                        }
                    }
                }
                failed
            });
        }
        while let Some(client) = clients.join_next().await {
            failures.extend(client.unwrap());
            requests += ROUNDS * routes.len();
        }
        // Both parts of a DNS round wrote what they saw while clients were busy: the ownership
        // and registrar checks (domain_dns_status) and the server checks (dns_checks).
        dns_rounds_seen = sqlx::query_scalar(
            "select exists (select 1 from domain_dns_status where checked_at > $1)
                and exists (select 1 from dns_checks where checked_at > $1)",
        )
        .bind(since)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (polls, poll_failures) = poller.await.unwrap();
    // The admin sees the three workers the server runs, each having run: in the API and on
    // the admin's home page.
    let workers = admin_api.api("GET", "/admin/workers", None).await.json();
    let worker = |name: &str| {
        workers
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no worker {name} in {workers}"))
            .clone()
    };
    for name in ["housekeeping", "dns", "desired-listener"] {
        let w = worker(name);
        assert!(w["runs"].as_u64() > Some(0), "{w}");
        assert!(w["last_run"].is_string(), "{w}");
    }
    assert_eq!(worker("dns")["every_seconds"], 1);
    assert_eq!(worker("housekeeping")["every_seconds"], 60);
    assert!(worker("desired-listener")["every_seconds"].is_null());
    let home = admin.get("/admin").await;
    for name in ["housekeeping", "dns", "desired-listener"] {
        assert!(
            home.body.contains(&format!("id=\"worker-{name}\"")),
            "{name}"
        );
    }
    server.stop().await;
    eprintln!("{requests} requests in {waves} waves, {polls} node API calls");

    assert!(
        failures.is_empty(),
        "{} of {requests} requests by {CLIENTS} clients (pool of {POOL}) failed, e.g.:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        poll_failures.is_empty(),
        "{} of {polls} node API calls failed:\n{}",
        poll_failures.len(),
        poll_failures.join("\n")
    );
    assert!(polls > 0, "the node never polled during the load");
    assert!(
        dns_rounds_seen,
        "no DNS round finished during {waves} waves of load"
    );
}

async fn get(
    alice: &Client,
    alice_api: &Client,
    admin: &Client,
    admin_api: &Client,
    path: &str,
    kind: Kind,
) -> Resp {
    match kind {
        Kind::MemberPage => alice.get(path).await,
        Kind::AdminPage => admin.get(path).await,
        Kind::MemberApi => alice_api.api("GET", path, None).await,
        Kind::AdminApi => admin_api.api("GET", path, None).await,
    }
}

/// What an agent does, until `done`: fetch its whole desired state, report in, then wait (a
/// second at most) for a newer generation. Returns the calls made and those that failed.
async fn long_poll(node: Client, done: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut calls = 0;
    let mut failed = Vec::new();
    // Bounded: each iteration takes at least the second the last poll waits.
    for _ in 0..600 {
        if done.load(Ordering::Relaxed) {
            break;
        }
        let r = node.json("GET", "/node-api/v1/desired?after=0", None).await;
        calls += 1;
        if r.status != 200 {
            failed.push(format!("{} GET desired?after=0: {:.200}", r.status, r.body));
            continue;
        }
        let generation = r.json()["generation"].as_u64().unwrap();
        let r = heartbeat(
            &node,
            json!({"version": "0.1.0", "observed_generation": generation,
                   "dns": {"address": "127.0.0.1:9"}}),
        )
        .await;
        calls += 1;
        if r.status != 204 {
            failed.push(format!("{} POST heartbeat: {:.200}", r.status, r.body));
        }
        let r = node
            .json(
                "GET",
                &format!("/node-api/v1/desired?after={generation}&wait=1"),
                None,
            )
            .await;
        calls += 1;
        // 204: nothing newer within the wait; 200: something changed meanwhile.
        if r.status != 204 && r.status != 200 {
            failed.push(format!(
                "{} GET desired?after={generation}: {:.200}",
                r.status, r.body
            ));
        }
    }
    (calls, failed)
}
