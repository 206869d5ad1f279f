//! The certificates nodes report in their heartbeats: what is stored (only what the node may
//! report, its list replacing the last one), and what the member and the admin are shown.

use serde_json::{json, Value};

use super::support::*;

/// 2100-01-01 00:00:00 UTC: far enough that the certificate is not expired when the test runs.
const NOT_AFTER: i64 = 4_102_444_800;
/// 2023-11-14 22:13:20 UTC: past.
const EXPIRED: i64 = 1_700_000_000;
/// 2027-01-01 00:00:00 UTC.
const RETRY_AT: i64 = 1_798_761_600;

fn cert(domain: Option<&str>, names: &[&str], state: &str) -> Value {
    json!({
        "domain": domain,
        "names": names,
        // How the wire spells `Challenge::Http01` (RFC 8555's word).
        "challenge": "http-01",
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
    admin: Client,
    admin_api: Client,
    alice: Client,
    alice_api: Client,
    bob: Client,
    bob_api: Client,
    node_a: (String, Client),
    node_b: (String, Client),
    alice_domain: String,
    alice_pending: String,
    bob_domain: String,
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
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let alice_domain = add_domain(&alice, "alice.test").await;
    let alice_pending = add_domain(&alice, "alice-pending.test").await;
    let bob_domain = add_domain(&bob, "bob.test").await;
    verify_domain(&app, &alice_domain).await;
    verify_domain(&app, &bob_domain).await;
    World {
        app,
        admin,
        admin_api,
        alice,
        alice_api,
        bob,
        bob_api,
        node_a,
        node_b,
        alice_domain,
        alice_pending,
        bob_domain,
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

    // A report naming another domain's id (the name's earlier holder) is not filed under
    // the domain that holds the name now; the right id is.
    let alice_id: String =
        sqlx::query_scalar("select id::text from domains where name = 'alice.test'")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    for (id, want) in [
        ("00000000-0000-4000-8000-000000000001", 1),
        (alice_id.as_str(), 2),
    ] {
        let mut report = cert(Some("alice.test"), &["alice.test"], "failed");
        report["domain_id"] = json!(id);
        let list = vec![cert(None, &["node-a.example.org"], "valid"), report];
        let r = heartbeat(node_a, beat(Some(list))).await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(stored(&w.app, a).await.len(), want, "domain_id {id}");
    }
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

    // The member is shown that line, escaped.
    let page = w
        .alice
        .get(&format!("/account/domains/{}", w.alice_domain))
        .await;
    assert_eq!(page.text_of("certificate-error").unwrap(), error);
    assert!(!page.body.contains("<script>alert(1)"), "unescaped error");
    assert!(page.body.contains(
        "<span id=\"certificate-error\">&#60;script&#62;alert(1)&#60;/script&#62; Set-Cookie: x=1 AAA"
    ));
}

async fn certificate_of(api: &Client, domain: &str) -> Value {
    let r = api.api("GET", &format!("/domains/{domain}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["certificate"].clone()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_member_sees_their_certificate_in_both_languages_and_nobody_else_does(
    pool: sqlx::PgPool,
) {
    let w = world(pool).await;
    let (alice, alice_api) = (&w.alice, &w.alice_api);
    let page_of = |d: &str| format!("/account/domains/{d}");
    let (da, dp) = (&w.alice_domain, &w.alice_pending);

    // Before any report: the verified domain's is not reported yet, the pending one's is asked
    // for once it is verified.
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Not reported yet"
    );
    let page = alice.get(&page_of(dp)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Asked for once the domain is verified"
    );
    assert_eq!(certificate_of(alice_api, da).await, Value::Null);

    // The node fails to get it, says why in hostile words, and when it tries again.
    let (_, node_a) = &w.node_a;
    let mut failed = cert(
        Some("alice.test"),
        &["alice.test", "www.alice.test"],
        "failed",
    );
    failed["error"] = json!("<script>alert(1)</script>\nurn:ietf:params:acme:error:dns");
    failed["retry_at"] = json!(RETRY_AT);
    let own = cert(None, &["node-a.example.org"], "valid");
    let r = heartbeat(node_a, beat(Some(vec![own.clone(), failed]))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let error = "<script>alert(1)</script> urn:ietf:params:acme:error:dns";

    let page = alice.get(&page_of(da)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text_of("certificate-state").unwrap(), "Failed");
    assert_eq!(page.text_of("certificate-problem").unwrap(), "Error:");
    assert_eq!(page.text_of("certificate-error").unwrap(), error);
    assert_eq!(
        page.text_of("certificate-retry").unwrap(),
        "2027-01-01 00:00 UTC"
    );
    assert_eq!(
        page.text_of("certificate-names").unwrap(),
        "alice.test, www.alice.test"
    );
    assert!(!page.body.contains("<script>alert(1)"), "unescaped error");
    assert!(page
        .body
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let account = alice.get("/account").await;
    assert_eq!(
        account.text_of(&format!("certificate-{da}")).unwrap(),
        "Certificate: Failed"
    );
    assert_eq!(
        account.text_of(&format!("certificate-{dp}")).unwrap(),
        "Certificate: Asked for once the domain is verified"
    );
    let mut api = certificate_of(alice_api, da).await;
    assert!(api["reported_at"].is_string(), "{api}");
    api["reported_at"] = Value::Null;
    assert_eq!(
        api,
        json!({
            "state": "failed",
            "challenge": "http-01",
            "names": ["alice.test", "www.alice.test"],
            "not_after": null,
            "error": error,
            "retry_at": "2027-01-01T00:00:00Z",
            "reported_at": null,
        })
    );

    alice.get("/lang/fr?back=/account").await;
    let page = alice.get(&page_of(da)).await;
    assert_eq!(page.text_of("certificate-state").unwrap(), "Échec");
    assert_eq!(
        page.text_of("certificate-problem").unwrap(),
        "Erreur\u{a0}:"
    );
    assert_eq!(page.text_of("certificate-error").unwrap(), error);
    assert!(page
        .body
        .contains("Prochaine tentative\u{a0}: <span id=\"certificate-retry\">"));
    let account = alice.get("/account").await;
    assert_eq!(
        account.text_of(&format!("certificate-{da}")).unwrap(),
        "Certificat\u{a0}: Échec"
    );

    // Then it gets one, and a later renewal fails: the page says the certificate serves and
    // its renewal failed.
    let mut valid = cert(
        Some("alice.test"),
        &["alice.test", "www.alice.test"],
        "valid",
    );
    valid["not_after"] = json!(NOT_AFTER);
    valid["error"] = json!("rateLimited: too many certificates");
    valid["retry_at"] = json!(RETRY_AT);
    let r = heartbeat(node_a, beat(Some(vec![own.clone(), valid]))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Valide jusqu’au 2100-01-01 00:00 UTC"
    );
    assert_eq!(
        page.text_of("certificate-problem").unwrap(),
        "Son renouvellement a échoué\u{a0}:"
    );
    alice.get("/lang/en?back=/account").await;
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Valid until 2100-01-01 00:00 UTC"
    );
    assert_eq!(
        page.text_of("certificate-problem").unwrap(),
        "Its renewal failed:"
    );
    assert_eq!(
        page.text_of("certificate-error").unwrap(),
        "rateLimited: too many certificates"
    );
    let account = alice.get("/account").await;
    assert_eq!(
        account.text_of(&format!("certificate-{da}")).unwrap(),
        "Certificate: Valid until 2100-01-01 00:00 UTC"
    );
    let api = certificate_of(alice_api, da).await;
    assert_eq!(api["state"], "valid");
    assert_eq!(api["not_after"], "2100-01-01T00:00:00Z");
    assert_eq!(api["error"], "rateLimited: too many certificates");
    // The list carries it too.
    let list = alice_api.api("GET", "/domains", None).await.json();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == da.as_str())
        .unwrap();
    assert_eq!(listed["certificate"]["state"], "valid");

    // A "valid" one past its expiry is expired; a renewal while it serves is "being renewed".
    let mut expired = cert(Some("alice.test"), &["alice.test"], "valid");
    expired["not_after"] = json!(EXPIRED);
    assert_eq!(
        heartbeat(node_a, beat(Some(vec![expired]))).await.status,
        204
    );
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Expired on 2023-11-14 22:13 UTC"
    );
    let mut renewing = cert(Some("alice.test"), &["alice.test"], "pending");
    renewing["not_after"] = json!(NOT_AFTER);
    assert_eq!(
        heartbeat(node_a, beat(Some(vec![renewing]))).await.status,
        204
    );
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Being renewed; valid until 2100-01-01 00:00 UTC"
    );
    assert!(!page.body.contains("id=\"certificate-problem\""));
    let mut waiting = cert(Some("alice.test"), &["alice.test"], "waiting-for-dns");
    waiting["error"] = json!("www.alice.test resolves to 192.0.2.1, not this node");
    assert_eq!(
        heartbeat(node_a, beat(Some(vec![waiting]))).await.status,
        204
    );
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Waiting for DNS"
    );
    assert_eq!(page.text_of("certificate-problem").unwrap(), "Error:");
    let mut valid = cert(Some("alice.test"), &["alice.test"], "valid");
    valid["not_after"] = json!(NOT_AFTER);
    valid["error"] = json!("secret of alice");
    assert_eq!(heartbeat(node_a, beat(Some(vec![valid]))).await.status, 204);

    // Bob, on another node, sees nothing of Alice's: not in his pages, not in his API, and
    // her domain's page and object are 404 to him.
    let (bob, bob_api, db) = (&w.bob, &w.bob_api, &w.bob_domain);
    let page = bob.get(&page_of(db)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Not reported yet"
    );
    for body in [
        page.body,
        bob.get("/account").await.body,
        bob_api.api("GET", "/domains", None).await.body,
        bob_api
            .api("GET", &format!("/domains/{db}"), None)
            .await
            .body,
        bob_api.api("GET", "/me", None).await.body,
    ] {
        for secret in ["alice.test", "secret of alice", "2100-01-01"] {
            assert!(!body.contains(secret), "Bob is shown {secret}: {body}");
        }
    }
    assert_eq!(certificate_of(bob_api, db).await, Value::Null);
    assert_eq!(bob.get(&page_of(da)).await.status, 404);
    let r = bob_api.api("GET", &format!("/domains/{da}"), None).await;
    assert_eq!(r.status, 404);

    // Bob's node reports his; Alice's view is unchanged by it.
    let (_, node_b) = &w.node_b;
    let mut bobs = cert(Some("bob.test"), &["bob.test"], "valid");
    bobs["not_after"] = json!(NOT_AFTER);
    assert_eq!(heartbeat(node_b, beat(Some(vec![bobs]))).await.status, 204);
    assert_eq!(certificate_of(bob_api, db).await["state"], "valid");
    assert_eq!(
        certificate_of(alice_api, da).await["error"],
        "secret of alice"
    );

    // After a move to node B, Alice's page shows node B's report, not node A's old one.
    let alice_id = alice_api.api("GET", "/me", None).await.json()["member"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (b, _) = &w.node_b;
    let r = w
        .admin_api
        .api(
            "PUT",
            &format!("/admin/members/{alice_id}/node"),
            Some(json!({"node_id": b})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(certificate_of(alice_api, da).await, Value::Null);
    let page = alice.get(&page_of(da)).await;
    assert_eq!(
        page.text_of("certificate-state").unwrap(),
        "Not reported yet"
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_admin_sees_each_nodes_certificates_and_those_in_trouble(pool: sqlx::PgPool) {
    let w = world(pool).await;
    let admin = &w.admin;
    let ((a, node_a), (b, node_b)) = (&w.node_a, &w.node_b);
    let mut own = cert(None, &["node-a.example.org"], "valid");
    own["not_after"] = json!(NOT_AFTER);
    let mut alices = cert(
        Some("alice.test"),
        &["alice.test", "www.alice.test"],
        "failed",
    );
    alices["error"] = json!("<b>bold</b>\r\nno A record");
    alices["retry_at"] = json!(RETRY_AT);
    let r = heartbeat(node_a, beat(Some(vec![own, alices]))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Bob's is served, but its renewal fails: in trouble too.
    let mut bobs = cert(Some("bob.test"), &["bob.test"], "valid");
    bobs["not_after"] = json!(NOT_AFTER);
    bobs["error"] = json!("rateLimited");
    let r = heartbeat(node_b, beat(Some(vec![bobs]))).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // The list of nodes links to each node's page.
    let list = admin.get("/admin/nodes").await;
    assert!(list
        .body
        .contains(&format!("<a href=\"/admin/nodes/{a}\">node-a</a>")));

    let page = admin.get(&format!("/admin/nodes/{a}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let table = page
        .body
        .split("<table id=\"certificates\">")
        .nth(1)
        .expect("the certificates table")
        .split("</table>")
        .next()
        .unwrap();
    let rows: Vec<&str> = table.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    // The node's own first, then the member domain's.
    for needle in [
        "node-a.example.org <span class=\"hint\">(the node&#39;s own name)</span>",
        "<td>HTTP-01</td>",
        "Valid until <span class=\"nowrap\">2100-01-01 00:00 UTC</span>",
    ] {
        assert!(rows[0].contains(needle), "{needle}: {}", rows[0]);
    }
    for needle in [
        "<td class=\"wrap\">alice.test, www.alice.test</td>",
        "<td>Failed</td>",
        "<span lang=\"en\">&#60;b&#62;bold&#60;/b&#62; no A record</span>",
        "<td class=\"nowrap\">2027-01-01 00:00 UTC</td>",
    ] {
        assert!(rows[1].contains(needle), "{needle}: {}", rows[1]);
    }
    assert!(!page.body.contains("<b>bold"), "unescaped error");
    let reported = rows[1].rsplit("<td class=\"nowrap\">").next().unwrap();
    assert!(reported.contains(" UTC</td>"), "{reported}");

    admin.get("/lang/fr?back=/admin").await;
    let page = admin.get(&format!("/admin/nodes/{a}")).await;
    assert!(page.body.contains("<td>Échec</td>"));
    assert!(page
        .body
        .contains("Valide jusqu’au <span class=\"nowrap\">2100-01-01 00:00 UTC</span>"));
    admin.get("/lang/en?back=/admin").await;

    let page = admin.get(&format!("/admin/nodes/{b}")).await;
    assert!(page.body.contains("bob.test") && !page.body.contains("alice.test"));
    for missing in [
        "/admin/nodes/00000000-0000-4000-8000-000000000000",
        "/admin/nodes/not-an-id",
    ] {
        assert_eq!(admin.get(missing).await.status, 404, "{missing}");
    }
    // Members are not shown any node's page.
    assert_eq!(w.alice.get(&format!("/admin/nodes/{a}")).await.status, 404);

    // The overview lists the two in trouble, not the node's own valid one, linking to nodes.
    let home = admin.get("/admin").await;
    let table = home
        .body
        .split("<table id=\"certificate-problems\">")
        .nth(1)
        .expect("the table of certificates in trouble")
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(table.matches("<tr>").count(), 3, "{table}");
    assert!(table.contains(&format!("<a href=\"/admin/nodes/{a}\">node-a</a>")));
    assert!(table.contains(&format!("<a href=\"/admin/nodes/{b}\">node-b</a>")));
    assert!(table.contains("alice.test, www.alice.test") && table.contains("bob.test"));
    assert!(table.contains("<span lang=\"en\">rateLimited</span>"));
    assert!(!table.contains("node-a.example.org"));
    assert!(!home.body.contains("id=\"certificate-problems-more\""));

    // Once every node reports its certificates fine, the overview says so.
    for (node, domain) in [(node_a, "alice.test"), (node_b, "bob.test")] {
        let mut fine = cert(Some(domain), &[domain], "valid");
        fine["not_after"] = json!(NOT_AFTER);
        assert_eq!(heartbeat(node, beat(Some(vec![fine]))).await.status, 204);
    }
    let home = admin.get("/admin").await;
    assert!(home.body.contains("id=\"no-certificate-problems\""));
}
