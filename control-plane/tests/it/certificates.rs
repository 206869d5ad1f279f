//! The certificates nodes report in their heartbeats: what is stored (only what the node may
//! report, its list replacing the last one), and what the member and the admin are shown.

use serde_json::{json, Value};

use super::support::*;

/// 2027-01-15 08:00:00 UTC.
const NOT_AFTER: i64 = 1_800_000_000;
/// 2027-01-01 00:00:00 UTC.
const RETRY_AT: i64 = 1_798_761_600;

fn cert(domain: Option<&str>, names: &[&str], state: &str) -> Value {
    json!({
        "domain": domain,
        "names": names,
        // How the wire spells `Challenge::Http01`.
        "challenge": "http01",
        "state": state,
    })
}

fn beat(certificates: Option<Vec<Value>>) -> Value {
    match certificates {
        Some(list) => json!({"version": "0.3.0", "certificates": list}),
        None => json!({"version": "0.3.0"}),
    }
}

/// The stored rows of a node: (domain name or "-", state, error), by name.
async fn stored(app: &TestApp, node: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "select coalesce(d.name, '-'), c.state, c.error from node_certificates c
         left join domains d on d.id = c.domain_id
         where c.node_id = $1::uuid order by 1",
    )
    .bind(node)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn reported_at(app: &TestApp, node: &str) -> Vec<time::OffsetDateTime> {
    sqlx::query_scalar(
        "select reported_at from node_certificates where node_id = $1::uuid order by domain_id",
    )
    .bind(node)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// An admin, node A hosting Alice (alice.test verified, alice-pending.test not), node B hosting
/// Bob (bob.test verified).
struct World {
    app: TestApp,
    admin_api: Client,
    alice: Client,
    node_a: (String, Client),
    node_b: (String, Client),
    alice_domain: String,
}

async fn world(pool: sqlx::PgPool) -> World {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let node_a = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    // The least loaded node hosts each new member: node B, empty, gets Bob.
    let node_b = join_node(&app, &admin_api, "node-b").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let alice_domain = add_domain(&alice, "alice.test").await;
    add_domain(&alice, "alice-pending.test").await;
    let bob_domain = add_domain(&bob, "bob.test").await;
    verify_domain(&app, &alice_domain).await;
    verify_domain(&app, &bob_domain).await;
    World {
        app,
        admin_api,
        alice,
        node_a,
        node_b,
        alice_domain,
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_node_stores_only_certificates_of_domains_placed_on_it(pool: sqlx::PgPool) {
    let w = world(pool).await;
    let (a, node_a) = &w.node_a;
    let before = generations(&w.admin_api, a).await.0;
    let r = heartbeat(
        node_a,
        beat(Some(vec![
            cert(None, &["node-a.example.org"], "valid"),
            cert(
                Some("alice.test"),
                &["alice.test", "www.alice.test"],
                "pending",
            ),
            // Not verified: not in the node's desired state.
            cert(
                Some("alice-pending.test"),
                &["alice-pending.test"],
                "pending",
            ),
            // Bob is node B's.
            cert(Some("bob.test"), &["bob.test"], "valid"),
            cert(Some("nowhere.test"), &["nowhere.test"], "valid"),
            // A name outside the domain: skipped before anything is looked up.
            cert(Some("alice.test"), &["alice.test", "bob.test"], "failed"),
        ])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        stored(&w.app, a).await,
        vec![
            ("-".to_owned(), "valid".to_owned(), None),
            ("alice.test".to_owned(), "pending".to_owned(), None),
        ]
    );
    // A report wakes nobody's poll.
    assert_eq!(generations(&w.admin_api, a).await.0, before);

    // Node B cannot report Alice's domain either; its own list is its own.
    let (b, node_b) = &w.node_b;
    let r = heartbeat(
        node_b,
        beat(Some(vec![
            cert(Some("alice.test"), &["alice.test"], "failed"),
            cert(Some("bob.test"), &["bob.test"], "waiting-for-dns"),
        ])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        stored(&w.app, b).await,
        vec![("bob.test".to_owned(), "waiting-for-dns".to_owned(), None)]
    );
    assert_eq!(stored(&w.app, a).await.len(), 2);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn no_list_keeps_the_rows_and_an_empty_list_clears_them(pool: sqlx::PgPool) {
    let w = world(pool).await;
    let (a, node_a) = &w.node_a;
    let list = vec![
        cert(None, &["node-a.example.org"], "valid"),
        cert(Some("alice.test"), &["alice.test"], "valid"),
    ];
    assert_eq!(
        heartbeat(node_a, beat(Some(list.clone()))).await.status,
        204
    );
    assert_eq!(stored(&w.app, a).await.len(), 2);
    // The same list again is only read: the rows keep the time they were reported at.
    let at = reported_at(&w.app, a).await;
    assert_eq!(heartbeat(node_a, beat(Some(list))).await.status, 204);
    assert_eq!(reported_at(&w.app, a).await, at);
    // A heartbeat without the list keeps it.
    assert_eq!(heartbeat(node_a, beat(None)).await.status, 204);
    assert_eq!(stored(&w.app, a).await.len(), 2);
    // A shorter list is the whole list: the node's own certificate is gone.
    let list = vec![cert(Some("alice.test"), &["alice.test"], "failed")];
    assert_eq!(heartbeat(node_a, beat(Some(list))).await.status, 204);
    assert_eq!(
        stored(&w.app, a).await,
        vec![("alice.test".to_owned(), "failed".to_owned(), None)]
    );
    // An empty list clears them all.
    assert_eq!(heartbeat(node_a, beat(Some(vec![]))).await.status, 204);
    assert!(stored(&w.app, a).await.is_empty());

    // A domain deleted takes its rows with it.
    let list = vec![cert(Some("alice.test"), &["alice.test"], "valid")];
    assert_eq!(heartbeat(node_a, beat(Some(list))).await.status, 204);
    let r = w
        .alice
        .post(&format!("/account/domains/{}/delete", w.alice_domain), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(stored(&w.app, a).await.is_empty());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn hostile_error_text_is_one_capped_line(pool: sqlx::PgPool) {
    let w = world(pool).await;
    let (a, node_a) = &w.node_a;
    let hostile = format!(
        "<script>alert(1)</script>\r\nSet-Cookie: x=1\u{202E}\u{0}{}",
        "A".repeat(5_000)
    );
    let mut c = cert(Some("alice.test"), &["alice.test"], "failed");
    c["error"] = json!(hostile);
    c["retry_at"] = json!(RETRY_AT);
    c["not_after"] = json!(NOT_AFTER);
    let r = heartbeat(node_a, beat(Some(vec![c]))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let rows = stored(&w.app, a).await;
    let error = rows[0].2.clone().unwrap();
    assert_eq!(error.chars().count(), 300);
    assert!(
        error.starts_with("<script>alert(1)</script> Set-Cookie: x=1 AAA"),
        "{error:?}"
    );
    assert!(!error.chars().any(char::is_control), "{error:?}");
    assert!(error.ends_with("A…"), "{error:?}");
}
