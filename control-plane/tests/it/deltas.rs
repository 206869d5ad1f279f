//! What a node is sent when it asks for changes (`delta=true`): only the members that changed,
//! each whole, and their zones; applied to the document it had, the delta gives exactly the
//! whole document the node would fetch instead. The whole document when the change log does not
//! reach back.

use protocol::desired::{DesiredState, Update};
use serde_json::json;

use super::support::*;

async fn member(app: &TestApp, admin: &Client, email: &str) -> (Client, uuid::Uuid) {
    let member = invite_member(app, admin, email).await;
    let api = member.with_bearer(&api_token(&member).await);
    let id: uuid::Uuid = sqlx::query_scalar("select id from members where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (api, id)
}

async fn verified_domain(app: &TestApp, api: &Client, name: &str) -> String {
    let r = api
        .api("POST", "/domains", Some(json!({"name": name})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    verify_domain(app, &id).await;
    id
}

async fn mailbox(api: &Client, domain: &str, local: &str) {
    let r = api
        .api(
            "POST",
            &format!("/domains/{domain}/mailboxes"),
            Some(json!({"local_part": local, "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn record(api: &Client, domain: &str, value: &str) {
    let r = api
        .api(
            "POST",
            &format!("/domains/{domain}/records"),
            Some(json!({"name": "blog", "type": "A", "value": value})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn whole(node: &Client) -> DesiredState {
    let r = node.json("GET", "/node-api/v1/desired?after=0", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// The update since `after`, and its size on the wire.
async fn update(node: &Client, after: u64) -> (Update, usize) {
    let r = node
        .json(
            "GET",
            &format!("/node-api/v1/desired?after={after}&delta=true&wait=1"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (serde_json::from_str(&r.body).unwrap(), r.body.len())
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_delta_carries_only_what_changed_and_leads_to_the_whole_document(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (node_id, node) = join_node(&app, &admin_api, "node-a").await;
    let (alice, alice_id) = member(&app, &admin, "alice@example.net").await;
    let (bob, bob_id) = member(&app, &admin, "bob@example.net").await;
    let (_carol, carol_id) = member(&app, &admin, "carol@example.net").await;
    let (_dave, dave_id) = member(&app, &admin, "dave@example.net").await;
    let a = verified_domain(&app, &alice, "alice.test").await;
    mailbox(&alice, &a, "one").await;
    let b = verified_domain(&app, &bob, "bob.test").await;
    mailbox(&bob, &b, "bob").await;
    let before = whole(&node).await;
    // The four, and the admin (placed on the first node to join).
    assert_eq!(before.tenants.len(), 5);
    assert!(before.dns.is_some(), "the test needs the DNS part");

    // Alice gets a mailbox, Bob a record (his zone only), Carol goes; Dave is untouched.
    mailbox(&alice, &a, "two").await;
    record(&bob, &b, "192.0.2.7").await;
    sqlx::query("delete from members where id = $1")
        .bind(carol_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (update_1, bytes) = update(&node, before.generation).await;
    let after = whole(&node).await;
    let Update::Delta(delta) = update_1 else {
        panic!("expected a delta, got {update_1:?}");
    };
    let mut changed: Vec<&str> = delta.tenants.iter().map(|t| t.member_id.as_str()).collect();
    changed.sort_unstable();
    let mut expected = vec![alice_id.to_string(), bob_id.to_string()];
    expected.sort();
    assert_eq!(changed, expected);
    assert!(!changed.contains(&dave_id.to_string().as_str()));
    assert_eq!(delta.removed_tenants, [carol_id.to_string()]);
    assert!(delta.dns.is_none(), "no node-wide change: {:?}", delta.dns);
    let zones: Vec<&str> = delta.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(zones, ["alice.test", "bob.test"]);
    assert!(bytes < 4096, "{bytes} bytes for three members' changes");
    assert_eq!(before.apply(&delta).unwrap(), after);

    // A change to the node as a whole (its name server's address) sends the DNS part whole.
    sqlx::query("update nodes set dns_address = '127.0.0.2:53' where id = $1::uuid")
        .bind(&node_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let (update_2, _) = update(&node, after.generation).await;
    let latest = whole(&node).await;
    let Update::Delta(delta) = update_2 else {
        panic!("expected a delta, got {update_2:?}");
    };
    assert!(delta.dns.is_some());
    assert!(delta.tenants.is_empty());
    assert_eq!(after.apply(&delta).unwrap(), latest);

    // Nothing new: the poll waits and answers 204.
    let r = node
        .json(
            "GET",
            &format!(
                "/node-api/v1/desired?after={}&delta=true&wait=1",
                latest.generation
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // A new node, or a log that no longer reaches back: the whole document.
    let (update_0, _) = update(&node, 0).await;
    assert_eq!(update_0, Update::Full(latest.clone()));
    mailbox(&alice, &a, "three").await;
    sqlx::query("delete from node_changes where node_id = $1::uuid and generation <= $2")
        .bind(&node_id)
        .bind(i64::try_from(latest.generation).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let (update_3, _) = update(&node, latest.generation - 1).await;
    assert!(matches!(update_3, Update::Full(_)), "{update_3:?}");
    let (update_4, _) = update(&node, latest.generation).await;
    assert!(matches!(update_4, Update::Delta(_)), "{update_4:?}");
}
