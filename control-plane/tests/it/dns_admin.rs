//! The admin's DNS: the overview, external secondaries, TSIG key rotation and node operators,
//! through the API and the page. The monitor is exercised against real Knot servers by the
//! end-to-end tests (tests/tests/e2e/dns.rs).

use control_plane::config::DnsConfig;
use control_plane::domain::ids::NodeId;
use serde_json::json;

use super::support::*;

/// Every node's desired generation, by id.
async fn all_generations(admin_api: &Client) -> Vec<(String, i64)> {
    let nodes = admin_api.api("GET", "/admin/nodes", None).await.json();
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["desired_generation"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn fields(r: &Resp) -> Vec<String> {
    r.json()["error"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields: {}", r.body))
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_admin_runs_the_collectives_dns(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let (a, _) = join_node(&app, &api, "node-a").await;
    let (b, _) = join_node(&app, &api, "node-b").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);

    // Members and strangers see nothing of it.
    for (method, path) in [
        ("GET", "/admin/dns".to_owned()),
        ("POST", "/admin/dns/external-secondaries".to_owned()),
        ("PUT", format!("/admin/nodes/{a}/operator")),
        ("POST", format!("/admin/nodes/{a}/dns/rotate-keys")),
    ] {
        let body = (method != "GET").then(
            || json!({"nameserver": "ns.x.example", "address": "192.0.2.1", "operator": "x"}),
        );
        let r = alice_api.api(method, &path, body.clone()).await;
        assert_eq!(r.status, 404, "member on {method} {path}: {}", r.body);
        let r = Client::new(&app).api(method, &path, body).await;
        assert_eq!(r.status, 401, "anonymous on {method} {path}");
    }
    assert_eq!(alice.get("/admin/dns").await.status, 404);

    // The overview names every node's name server and catalog.
    let o = api.api("GET", "/admin/dns", None).await;
    assert_eq!(o.status, 200, "{}", o.body);
    let o = o.json();
    let nodes = o["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for n in nodes {
        let ns = n["nameserver"].as_str().unwrap();
        assert!(
            ns.starts_with("ns") && ns.ends_with(".abeilles.test"),
            "{ns}"
        );
        assert_eq!(n["catalog"], format!("catalog.{ns}"));
        assert_eq!(n["address"], serde_json::Value::Null);
        assert_eq!(n["secondaries"], json!([]));
    }
    assert_eq!(o["external_secondaries"], json!([]));
    assert_eq!(o["faults"], json!([]));

    // Bad input: every field named.
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "not a name", "address": "192.0.2.1:0",
                        "tsig_name": "bad name", "tsig_secret": "short"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        fields(&r),
        ["nameserver", "address", "tsig_name", "tsig_secret"]
    );
    // A node's own name server name is not an external secondary's.
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "ns1.abeilles.test", "address": "192.0.2.1:53"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["nameserver"]);

    // Added with a generated key: every joined node gets a new desired state.
    let before = all_generations(&api).await;
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "ns1.friends.example", "address": "192.0.2.53"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let external = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["nameserver"], "ns1.friends.example");
    assert_eq!(created["address"], "192.0.2.53:53");
    assert_eq!(created["tsig"]["algorithm"], "hmac-sha256");
    let key_name = created["tsig"]["name"].as_str().unwrap().to_owned();
    assert!(
        key_name.starts_with("ext-") && key_name.ends_with(".tsig.abeilles.test"),
        "{key_name}"
    );
    let secret = created["tsig"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 44);
    let after = all_generations(&api).await;
    for ((id, g0), (_, g1)) in before.iter().zip(&after) {
        assert!(g1 > g0, "node {id} not bumped: {g0} -> {g1}");
    }

    // Listed without its secret, anywhere the admin looks.
    let o = api.api("GET", "/admin/dns", None).await;
    assert!(!o.body.contains(&secret));
    assert_eq!(
        o.json()["external_secondaries"],
        json!([{"id": external, "nameserver": "ns1.friends.example",
                 "address": "192.0.2.53:53", "tsig_name": key_name}])
    );
    let page = admin.get("/admin/dns").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ns1.friends.example") && !page.body.contains(&secret));
    let audit = api.api("GET", "/admin/audit", None).await.body;
    assert!(audit.contains("dns.external_secondary.create") && !audit.contains(&secret));

    // Names and key names are unique; a given key is kept as given.
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "NS1.friends.example", "address": "192.0.2.54"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["nameserver"]);
    let given = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(
                json!({"nameserver": "ns2.friends.example", "address": "[2001:db8::53]:5353",
                        "tsig_name": "friends.key.example", "tsig_secret": given}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["tsig"]["name"], "friends.key.example");
    assert_eq!(r.json()["tsig"]["secret"], given);
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(
                json!({"nameserver": "ns3.friends.example", "address": "192.0.2.55",
                        "tsig_name": "friends.key.example"}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["tsig_name"]);

    // Removed: every node again; twice is 404.
    let before = all_generations(&api).await;
    let path = format!("/admin/dns/external-secondaries/{external}");
    assert_eq!(api.api("DELETE", &path, None).await.status, 204);
    assert_eq!(api.api("DELETE", &path, None).await.status, 404);
    let after = all_generations(&api).await;
    for ((id, g0), (_, g1)) in before.iter().zip(&after) {
        assert!(g1 > g0, "node {id} not bumped: {g0} -> {g1}");
    }

    // Operators: trimmed, 1 to 100 characters, null forgets.
    let op = format!("/admin/nodes/{a}/operator");
    let r = api
        .api("PUT", &op, Some(json!({"operator": "  Les Abeilles  "})))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let o = api.api("GET", "/admin/dns", None).await.json();
    let node_a = |o: &serde_json::Value| {
        o["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == a.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(node_a(&o)["operator"], "Les Abeilles");
    for bad in [
        json!(""),
        json!("   "),
        json!("x".repeat(101)),
        json!("a\nb"),
    ] {
        let r = api.api("PUT", &op, Some(json!({ "operator": bad }))).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(fields(&r), ["operator"]);
    }
    let r = api.api("PUT", &op, Some(json!({"operator": null}))).await;
    assert_eq!(r.status, 204);
    let o = api.api("GET", "/admin/dns", None).await.json();
    assert_eq!(node_a(&o)["operator"], serde_json::Value::Null);
    let nobody = "00000000-0000-4000-8000-000000000000";
    let r = api
        .api(
            "PUT",
            &format!("/admin/nodes/{nobody}/operator"),
            Some(json!({"operator": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);

    // Rotation replaces the keys the node shares, and only those.
    let config = control_plane::dns::config(&app.pool, &DnsConfig::default())
        .await
        .unwrap()
        .unwrap();
    let (na, nb): (NodeId, NodeId) = (a.parse().unwrap(), b.parse().unwrap());
    let mut conn = app.pool.acquire().await.unwrap();
    let old = control_plane::dns::keys::pair_key(&mut conn, &config, na, nb)
        .await
        .unwrap();
    drop(conn);
    let r = api
        .api("POST", &format!("/admin/nodes/{a}/dns/rotate-keys"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut conn = app.pool.acquire().await.unwrap();
    let new = control_plane::dns::keys::existing_pair_key(&mut conn, na, nb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.name, old.name);
    assert_ne!(new.secret, old.secret);
    let r = api
        .api(
            "POST",
            &format!("/admin/nodes/{nobody}/dns/rotate-keys"),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let audit = api.api("GET", "/admin/audit", None).await.body;
    for action in [
        "dns.external_secondary.delete",
        "node.operator",
        "dns.rotate_keys",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_dns_page_works_without_javascript(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let (a, _) = join_node(&app, &api, "node-a").await;

    let home = admin.get("/admin").await;
    assert!(home.body.contains("href=\"/admin/dns\""));
    let page = admin.get("/admin/dns").await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(&format!("action=\"/admin/nodes/{a}/operator\"")));
    assert!(page.body.contains("id=\"no-faults\""));

    // Errors are shown next to their field, the input kept.
    let r = admin
        .post(
            "/admin/dns/external-secondaries",
            &[
                ("nameserver", "ns.friends.example"),
                ("address", "nowhere"),
                ("tsig_name", ""),
                ("tsig_secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"error-address\""));
    assert!(r.body.contains("value=\"ns.friends.example\""));

    // Added: the key is shown once, on this answer.
    let r = admin
        .post(
            "/admin/dns/external-secondaries",
            &[
                ("nameserver", "ns.friends.example"),
                ("address", "192.0.2.53:53"),
                ("tsig_name", ""),
                ("tsig_secret", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.text_of("created-tsig-secret").unwrap();
    assert_eq!(secret.len(), 44);
    assert!(!admin.get("/admin/dns").await.body.contains(&secret));
    let id = api.api("GET", "/admin/dns", None).await.json()["external_secondaries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = admin
        .post(
            &format!("/admin/nodes/{a}/operator"),
            &[("operator", "x".repeat(101).as_str())],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"error-operator\""));
    let r = admin
        .post(
            &format!("/admin/nodes/{a}/operator"),
            &[("operator", "Abeilles")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/admin/dns?done=saved");
    assert!(admin
        .get("/admin/dns")
        .await
        .body
        .contains("value=\"Abeilles\""));
    // An empty field forgets the operator.
    let r = admin
        .post(&format!("/admin/nodes/{a}/operator"), &[("operator", "")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let o = api.api("GET", "/admin/dns", None).await.json();
    assert_eq!(o["nodes"][0]["operator"], serde_json::Value::Null);

    let r = admin
        .post(&format!("/admin/nodes/{a}/dns/rotate-keys"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = admin
        .post(&format!("/admin/dns/external-secondaries/{id}/delete"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!admin
        .get("/admin/dns")
        .await
        .body
        .contains("ns.friends.example"));
    // Forms without the CSRF token are refused.
    let r = admin
        .post_raw(&format!("/admin/nodes/{a}/dns/rotate-keys"), &[])
        .await;
    assert_eq!(r.status, 403);
}
