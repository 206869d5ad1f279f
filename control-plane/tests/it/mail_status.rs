//! What nodes report about mail (DKIM keys, mailbox usage), whether a member's changes are live,
//! and which node hosts a member.

use serde_json::{json, Value};

use super::support::*;

const MIB: i64 = 1024 * 1024;

/// Creates a domain through the API; returns its id.
async fn domain(api: &Client, name: &str) -> String {
    let r = api
        .api("POST", "/domains", Some(json!({"name": name})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn mailbox(api: &Client, domain: &str, local: &str) -> String {
    let r = api
        .api(
            "POST",
            &format!("/domains/{domain}/mailboxes"),
            Some(json!({"local_part": local, "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

fn key(domain: &str, selector: &str, public_key: &str) -> Value {
    json!({"domain": domain, "selector": selector, "public_key": public_key})
}

fn usage(address: &str, bytes: i64, messages: i64) -> Value {
    json!({"address": address, "bytes": bytes, "messages": messages})
}

async fn dkim_of(api: &Client, domain: &str) -> Value {
    let r = api.api("GET", &format!("/domains/{domain}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["dkim"].clone()
}

async fn node_of(api: &Client) -> Value {
    api.api("GET", "/me", None).await.json()["member"]["node_id"].clone()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_heartbeat_stores_keys_and_usage_of_its_own_members_only(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (a, node_a) = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    // The least loaded node hosts each new member: node B, empty, gets Bob.
    let (b, node_b) = join_node(&app, &admin_api, "node-b").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    assert_eq!(node_of(&alice_api).await, a.as_str());
    assert_eq!(node_of(&bob_api).await, b.as_str());

    let da = domain(&alice_api, "alice.test").await;
    let da2 = domain(&alice_api, "bücher.test").await;
    let da3 = domain(&alice_api, "alice3.test").await;
    let mba = mailbox(&alice_api, &da, "box").await;
    let db = domain(&bob_api, "bob.test").await;
    let mbb = mailbox(&bob_api, &db, "box").await;
    let before_a = generations(&admin_api, &a).await.0;
    let before_b = generations(&admin_api, &b).await.0;

    let r = heartbeat(
        &node_a,
        json!({
            "version": "0.2.0",
            "dkim_keys": [
                key("alice.test", "r202611", &public_key(1)),
                key("xn--bcher-kva.test", "r202611", &public_key(2)),
                // Bob's domain is node B's business.
                key("bob.test", "r202611", &public_key(3)),
                // Bad entries are skipped, not a reason to refuse the heartbeat.
                key("alice3.test", "Bad_Selector", &public_key(4)),
                key("alice3.test", "ok", "not base64!"),
                key("alice3.test", "ok", "QUJD"),
                key("nowhere.test", "r202611", &public_key(5)),
            ],
            "usage": [
                usage("box@alice.test", 5 * MIB + 10, 7),
                usage("box@bob.test", 123, 1),
                usage("nobody@alice.test", 1, 1),
            ]
        }),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Reports never wake the node's own poll, nor anyone else's.
    assert_eq!(generations(&admin_api, &a).await.0, before_a);
    assert_eq!(generations(&admin_api, &b).await.0, before_b);

    let value = format!("v=DKIM1; k=rsa; p={}", public_key(1));
    assert_eq!(
        dkim_of(&alice_api, &da).await,
        json!({"selector": "r202611", "name": "r202611._domainkey.alice.test", "value": value})
    );
    // The record's name is the ASCII form of the domain.
    assert_eq!(
        dkim_of(&alice_api, &da2).await["name"],
        "r202611._domainkey.xn--bcher-kva.test"
    );
    assert_eq!(dkim_of(&alice_api, &da3).await, Value::Null);
    assert_eq!(dkim_of(&bob_api, &db).await, Value::Null);
    // The list carries it too.
    let list = alice_api.api("GET", "/domains", None).await.json();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == da.as_str())
        .unwrap();
    assert_eq!(listed["dkim"]["value"], value.as_str());
    let stored: i64 = sqlx::query_scalar("select count(*) from dkim_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);

    let mbs = alice_api
        .api("GET", &format!("/domains/{da}/mailboxes"), None)
        .await
        .json();
    assert_eq!(mbs[0]["used_bytes"], 5 * MIB + 10);
    assert_eq!(mbs[0]["used_messages"], 7);
    assert!(mbs[0]["usage_at"].is_string());
    let mbs = bob_api
        .api("GET", &format!("/domains/{db}/mailboxes"), None)
        .await
        .json();
    assert_eq!(mbs[0]["id"], mbb.as_str());
    assert_eq!(mbs[0]["used_bytes"], Value::Null);
    assert_eq!(mbs[0]["usage_at"], Value::Null);
    let me = alice_api.api("GET", "/me", None).await.json();
    assert_eq!(me["usage"]["stored_bytes"], 5 * MIB + 10);
    assert_eq!(
        bob_api.api("GET", "/me", None).await.json()["usage"]["stored_bytes"],
        Value::Null
    );

    // The pages show the same.
    let page = alice.get(&format!("/account/domains/{da}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.text_of("dkim-name").unwrap(),
        "r202611._domainkey.alice.test"
    );
    assert_eq!(page.text_of("dkim-value").unwrap(), value);
    let zone = page.text_of("dkim-zone").unwrap();
    assert!(
        zone.starts_with("r202611._domainkey.alice.test. IN TXT \"v=DKIM1; k=rsa; p="),
        "{zone}"
    );
    assert_eq!(page.text_of(&format!("used-{mba}")).unwrap(), "5 MiB");
    assert_eq!(page.text_of(&format!("messages-{mba}")).unwrap(), "7");
    let page = alice.get(&format!("/account/domains/{da3}")).await;
    assert!(page.body.contains("id=\"dkim-waiting\""));
    assert!(!page.body.contains("id=\"dkim-value\""));
    let account = alice.get("/account").await;
    assert_eq!(
        account.text_of("usage-stored").unwrap(),
        "5 MiB / 10240 MiB"
    );
    let account = bob.get("/account").await;
    assert_eq!(account.text_of("usage-stored").unwrap(), "— / 10240 MiB");

    // Another node cannot replace Alice's key.
    let r = heartbeat(
        &node_b,
        json!({"version": "0.2.0", "dkim_keys": [key("alice.test", "evil", &public_key(9))],
               "usage": [usage("box@alice.test", 1, 1)]}),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(dkim_of(&alice_api, &da).await["selector"], "r202611");
    let mbs = alice_api
        .api("GET", &format!("/domains/{da}/mailboxes"), None)
        .await
        .json();
    assert_eq!(mbs[0]["used_bytes"], 5 * MIB + 10);

    // A new selector replaces the key: one record per domain.
    let r = heartbeat(
        &node_a,
        json!({"version": "0.2.0", "dkim_keys": [key("alice.test", "r202701", &public_key(6))]}),
    )
    .await;
    assert_eq!(r.status, 204);
    let dkim = dkim_of(&alice_api, &da).await;
    assert_eq!(dkim["name"], "r202701._domainkey.alice.test");
    assert_eq!(
        dkim["value"],
        format!("v=DKIM1; k=rsa; p={}", public_key(6)).as_str()
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from dkim_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    // An old agent that reports nothing leaves everything as it was.
    let r = heartbeat(&node_a, json!({"version": "0.1.0"})).await;
    assert_eq!(r.status, 204);
    assert_eq!(dkim_of(&alice_api, &da).await["selector"], "r202701");
    // Deleting the domain deletes its key.
    let r = alice_api
        .api("DELETE", &format!("/domains/{da}"), None)
        .await;
    assert_eq!(r.status, 204);
    let stored: i64 = sqlx::query_scalar("select count(*) from dkim_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

/// A heartbeat storing a domain's DKIM key does not wait for a mailbox being created on that
/// domain. The creation holds the member's and the domain's rows, then its trigger bumps the
/// node's row; a heartbeat that held the node's row and then waited for the domain's (its key's
/// foreign key) deadlocked with it: seen under load as "deadlock detected" and a 500 for the
/// mailbox. Here the heartbeat must finish while those rows are held.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_heartbeat_does_not_wait_for_a_mailbox_being_created(pool: sqlx::PgPool) {
    use control_plane::model::ids::{DomainId, MemberId};
    let app = spawn(pool.clone()).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (_, node) = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let domain_id = domain(&alice_api, "alice.test").await;
    let member_id = alice_api.api("GET", "/me", None).await.json()["member"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uuid = |s: &str| uuid::Uuid::parse_str(s).unwrap();
    let (member, domain_id) = (MemberId(uuid(&member_id)), DomainId(uuid(&domain_id)));

    // What creating a mailbox holds before it inserts (and bumps the node).
    let mut creation = pool.begin().await.unwrap();
    control_plane::db::members::lock_limits(&mut creation, member)
        .await
        .unwrap();
    control_plane::db::domains::lock_owned(&mut creation, member, domain_id)
        .await
        .unwrap();
    let beat = heartbeat(
        &node,
        json!({"version": "0.2.0", "dkim_keys": [key("alice.test", "r202612", &public_key(1))]}),
    );
    // Not a speed limit: without the fix the heartbeat waits for as long as the creation
    // holds its rows, here for ever; the bound turns that hang into a failure.
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), beat)
        .await
        .expect("the heartbeat waited for the mailbox being created");
    assert_eq!(r.status, 204, "{}", r.body);
    // The creation goes on: its bump of the node is not held up either.
    sqlx::query("select ruche_bump_node((select node_id from members where id = $1), $1)")
        .bind(member.0)
        .execute(&mut *creation)
        .await
        .unwrap();
    creation.commit().await.unwrap();
    assert_eq!(
        dkim_of(&alice_api, &domain_id.0.to_string()).await["selector"],
        "r202612"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_big_heartbeat_is_one_request(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (_, node) = join_node(&app, &admin_api, "node-a").await;
    let d = domain(&admin_api, "big.test").await;
    mailbox(&admin_api, &d, "box").await;
    // 10,000 mailboxes with long addresses: several MiB, far above the portal's form limit.
    let mut entries: Vec<Value> = (0..10_000)
        .map(|i| usage(&format!("{}{i}@big.test", "x".repeat(50)), i, 1))
        .collect();
    entries.push(usage("box@big.test", 42, 1));
    let body = json!({"version": "0.2.0", "usage": entries});
    assert!(body.to_string().len() > 700 * 1024);
    let started = std::time::Instant::now();
    let r = heartbeat(&node, body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    eprintln!(
        "heartbeat with 10,001 usage entries: {:?}",
        started.elapsed()
    );
    let mbs = admin_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await
        .json();
    assert_eq!(mbs[0]["used_bytes"], 42);
    // The portal still refuses large forms.
    let r = admin
        .post("/account/domains", &[("domain", &"x".repeat(70 * 1024))])
        .await;
    assert_eq!(r.status, 413);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_status_line_says_live_once_the_node_caught_up(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    // No node yet: nothing to apply.
    assert_eq!(
        admin_api.api("GET", "/me", None).await.json()["node"],
        Value::Null
    );
    let page = admin.get("/account").await;
    assert_eq!(page.text_of("node-status").unwrap(), "Waiting for a server");

    let (a, node) = join_node(&app, &admin_api, "node-a").await;
    let me = admin_api.api("GET", "/me", None).await.json();
    let desired = me["node"]["desired_generation"].as_i64().unwrap();
    assert_eq!(me["node"]["observed_generation"], Value::Null);
    assert_eq!(me["node"]["applied"], false);
    assert_eq!(
        admin.get("/account").await.text_of("node-status").unwrap(),
        "Applying changes…"
    );

    // The node reports what it applied: live.
    let r = heartbeat(
        &node,
        json!({"version": "0.1.0", "observed_generation": desired}),
    )
    .await;
    assert_eq!(r.status, 204);
    let me = admin_api.api("GET", "/me", None).await.json();
    assert_eq!(
        me["node"],
        json!({"desired_generation": desired, "observed_generation": desired, "applied": true})
    );
    assert_eq!(
        admin.get("/account").await.text_of("node-status").unwrap(),
        "Live"
    );

    // A change: applying again, on every member page, in French too.
    let d = domain(&admin_api, "status.test").await;
    let me = admin_api.api("GET", "/me", None).await.json();
    let next = me["node"]["desired_generation"].as_i64().unwrap();
    assert!(next > desired);
    assert_eq!(me["node"]["applied"], false);
    let page = admin.get(&format!("/account/domains/{d}")).await;
    assert_eq!(page.text_of("node-status").unwrap(), "Applying changes…");
    assert!(!page.body.contains("http-equiv"));
    admin.get("/lang/fr").await;
    assert_eq!(
        admin
            .get(&format!("/account/domains/{d}"))
            .await
            .text_of("node-status")
            .unwrap(),
        "Application des changements…"
    );
    // An older generation (a node catching up in steps) is still applying.
    heartbeat(
        &node,
        json!({"version": "0.1.0", "observed_generation": next - 1}),
    )
    .await;
    assert_eq!(
        admin_api.api("GET", "/me", None).await.json()["node"]["applied"],
        false
    );
    heartbeat(
        &node,
        json!({"version": "0.1.0", "observed_generation": next}),
    )
    .await;
    assert_eq!(
        admin
            .get(&format!("/account/domains/{d}"))
            .await
            .text_of("node-status")
            .unwrap(),
        "En service"
    );
    assert_eq!(generations(&admin_api, &a).await, (next, Some(next)));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_admin_moves_a_member_and_both_nodes_hear_of_it(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (a, node_a) = join_node(&app, &admin_api, "node-a").await;
    let (b, node_b) = join_node(&app, &admin_api, "node-b").await;
    // A node that has not joined cannot host anyone.
    let waiting = admin_api
        .api("POST", "/admin/nodes", Some(json!({"name": "node-c"})))
        .await
        .json()["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let me = alice_api.api("GET", "/me", None).await.json();
    let id = me["member"]["id"].as_str().unwrap().to_owned();
    // The admin is on A (the first node to join), so Alice went to B, the least loaded.
    assert_eq!(me["member"]["node_id"], b.as_str());
    let d = domain(&alice_api, "alice.test").await;
    verify_domain(&app, &d).await;
    heartbeat(
        &node_b,
        json!({"version": "0.1.0", "dkim_keys": [key("alice.test", "r1", &public_key(1))]}),
    )
    .await;
    assert_eq!(dkim_of(&alice_api, &d).await["selector"], "r1");

    let (ga, gb) = (
        generations(&admin_api, &a).await.0,
        generations(&admin_api, &b).await.0,
    );
    let r = admin_api
        .api(
            "PUT",
            &format!("/admin/members/{id}/node"),
            Some(json!({"node_id": a})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(generations(&admin_api, &a).await.0 > ga);
    assert!(generations(&admin_api, &b).await.0 > gb);
    let detail = admin_api
        .api("GET", &format!("/admin/members/{id}"), None)
        .await
        .json();
    assert_eq!(detail["member"]["node_id"], a.as_str());
    assert_eq!(detail["node"]["applied"], false);
    // B's key no longer signs Alice's mail: no record until A reports its own.
    assert_eq!(dkim_of(&alice_api, &d).await, Value::Null);
    heartbeat(
        &node_b,
        json!({"version": "0.1.0", "dkim_keys": [key("alice.test", "r1", &public_key(1))]}),
    )
    .await;
    assert_eq!(dkim_of(&alice_api, &d).await, Value::Null);
    heartbeat(
        &node_a,
        json!({"version": "0.1.0", "dkim_keys": [key("alice.test", "r2", &public_key(2))]}),
    )
    .await;
    assert_eq!(dkim_of(&alice_api, &d).await["selector"], "r2");
    // A desired-state document follows the member.
    let doc = node_a
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    assert!(doc.to_string().contains("alice.test"));
    let doc = node_b
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    assert!(!doc.to_string().contains("alice.test"));

    // Refusals: a node that has not joined, no such node, not an id, no such member.
    let r = admin_api
        .api(
            "PUT",
            &format!("/admin/members/{id}/node"),
            Some(json!({"node_id": waiting})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["fields"][0]["field"], "node_id");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has not joined yet"),
        "{}",
        r.body
    );
    for bad in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        let r = admin_api
            .api(
                "PUT",
                &format!("/admin/members/{id}/node"),
                Some(json!({"node_id": bad})),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
    }
    let r = admin_api
        .api(
            "PUT",
            &format!("/admin/members/{}/node", uuid::Uuid::new_v4()),
            Some(json!({"node_id": a})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        admin_api
            .api("GET", &format!("/admin/members/{id}"), None)
            .await
            .json()["member"]["node_id"],
        a.as_str()
    );

    // The page: joined nodes only, the member's selected; moving back is audited.
    let page = admin.get(&format!("/admin/members/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(&format!("<option value=\"{a}\" selected>node-a</option>")));
    assert!(page
        .body
        .contains(&format!("<option value=\"{b}\">node-b</option>")));
    assert!(!page.body.contains(&waiting));
    assert_eq!(page.text_of("member-node").unwrap(), "node-a");
    let gb = generations(&admin_api, &b).await.0;
    let r = admin
        .post(&format!("/admin/members/{id}/node"), &[("node_id", &b)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(generations(&admin_api, &b).await.0 > gb);
    let r = admin
        .post(
            &format!("/admin/members/{id}/node"),
            &[("node_id", &waiting)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r
        .text_of("error-node_id")
        .unwrap()
        .contains("has not joined yet"));
    let audit = admin_api.api("GET", "/admin/audit", None).await.json();
    let moves = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "member.node")
        .count();
    assert_eq!(moves, 2);
    // The nodes page counts who is where.
    let page = admin.get("/admin/nodes").await;
    assert!(page.body.contains(&format!("id=\"generations-{b}\"")));
}
