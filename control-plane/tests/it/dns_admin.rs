//! The admin's DNS: the overview, external secondaries, TSIG key rotation and node operators,
//! through the API and the page. The monitor is exercised against real Knot servers by the
//! end-to-end tests (tests/tests/e2e/dns.rs).

use control_plane::config::{DnsConfig, Platform};
use control_plane::model::ids::NodeId;
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
        (
            "POST",
            format!("/admin/dns/external-secondaries/{a}/rotate-keys"),
        ),
        (
            "POST",
            format!("/admin/dns/external-secondaries/{a}/reveal-keys"),
        ),
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
                        "key_suffix": "bad name", "tsig_secret": "short"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        fields(&r),
        ["nameserver", "address", "key_suffix", "tsig_secret"]
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

    // Added with generated keys, one per joined node: every joined node gets a new desired state.
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
    let keys = created["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{created}");
    let mut secrets = Vec::new();
    for k in &keys {
        assert_eq!(k["algorithm"], "hmac-sha256");
        let name = k["name"].as_str().unwrap();
        let ns = k["nameserver"].as_str().unwrap();
        let number = ns.strip_suffix(".abeilles.test").unwrap();
        assert!(
            name.starts_with(&format!("{number}.ext-")) && name.ends_with(".tsig.abeilles.test"),
            "{name} for {ns}"
        );
        assert_eq!(k["catalog"], format!("catalog.{ns}"));
        let secret = k["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 44);
        secrets.push(secret);
    }
    assert_ne!(secrets[0], secrets[1]);
    let key_of_a = keys.iter().find(|k| k["node_id"] == a.as_str()).unwrap();
    let after = all_generations(&api).await;
    for ((id, g0), (_, g1)) in before.iter().zip(&after) {
        assert!(g1 > g0, "node {id} not bumped: {g0} -> {g1}");
    }

    // Listed without its secrets, anywhere the admin looks.
    let o = api.api("GET", "/admin/dns", None).await;
    for secret in &secrets {
        assert!(!o.body.contains(secret.as_str()));
    }
    let listed = &o.json()["external_secondaries"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], external.as_str());
    assert_eq!(listed[0]["address"], "192.0.2.53:53");
    let listed_keys = listed[0]["keys"].as_array().unwrap();
    assert_eq!(listed_keys.len(), 2);
    assert!(listed_keys
        .iter()
        .all(|k| k["shown"] == true && k.get("secret").is_none()));
    let page = admin.get("/admin/dns").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ns1.friends.example"));
    let audit = api.api("GET", "/admin/audit", None).await.body;
    assert!(audit.contains("dns.external_secondary.create"));
    for secret in &secrets {
        assert!(!page.body.contains(secret.as_str()) && !audit.contains(secret.as_str()));
    }

    // One node's key rotated: a new secret under the same name, the other node's untouched.
    let rotate = format!("/admin/dns/external-secondaries/{external}/rotate-keys");
    let r = api.api("POST", &rotate, Some(json!({"node_id": a}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert_eq!(rotated[0]["node_id"], a.as_str());
    assert_eq!(rotated[0]["name"], key_of_a["name"]);
    assert_ne!(rotated[0]["secret"], key_of_a["secret"]);
    let r = api.api("POST", &rotate, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["keys"].as_array().unwrap().len(), 2);
    let nobody = "00000000-0000-4000-8000-000000000000";
    let r = api
        .api("POST", &rotate, Some(json!({"node_id": nobody})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = api
        .api(
            "POST",
            &format!("/admin/dns/external-secondaries/{nobody}/rotate-keys"),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // A node that joins later gets its key in the next DNS round, not shown until asked for,
    // then once.
    let (c, _) = join_node(&app, &api, "node-c").await;
    let config = control_plane::db::setup::dns_config(&app.pool, &DnsConfig::default())
        .await
        .unwrap()
        .unwrap();
    control_plane::dns::placement::run_once(&app.pool, &config)
        .await
        .unwrap();
    let o = api.api("GET", "/admin/dns", None).await.json();
    let unshown: Vec<&serde_json::Value> = o["external_secondaries"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["shown"] == false)
        .collect();
    assert_eq!(unshown.len(), 1, "{o}");
    assert_eq!(unshown[0]["node_id"], c.as_str());
    let reveal = format!("/admin/dns/external-secondaries/{external}/reveal-keys");
    let r = api.api("POST", &reveal, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let shown = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["node_id"], c.as_str());
    assert_eq!(shown[0]["secret"].as_str().unwrap().len(), 44);
    let r = api.api("POST", &reveal, None).await;
    assert_eq!(r.json()["keys"], json!([]), "shown twice: {}", r.body);

    // Names and key suffixes are unique; a given suffix is kept, a given secret refused.
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "NS1.friends.example", "address": "192.0.2.54"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["nameserver"]);
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(
                json!({"nameserver": "ns2.friends.example", "address": "[2001:db8::53]:5353",
                        "tsig_name": "friends.key.example",
                        "tsig_secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["tsig_secret"]);
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(
                json!({"nameserver": "ns2.friends.example", "address": "[2001:db8::53]:5353",
                        "key_suffix": "friends.key.example"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let names: Vec<String> = r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names
        .iter()
        .all(|n| n.starts_with("ns") && n.ends_with(".friends.key.example")));
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(
                json!({"nameserver": "ns3.friends.example", "address": "192.0.2.55",
                        "key_suffix": "friends.key.example"}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r), ["key_suffix"]);

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
    let r = api
        .api(
            "PUT",
            &format!("/admin/nodes/{nobody}/operator"),
            Some(json!({"operator": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);

    // Rotation replaces the keys the node shares, and only those.
    let (na, nb): (NodeId, NodeId) = (a.parse().unwrap(), b.parse().unwrap());
    let mut conn = app.pool.acquire().await.unwrap();
    let old = control_plane::db::tsig_keys::pair_key(&mut conn, &config, na, nb)
        .await
        .unwrap();
    drop(conn);
    let r = api
        .api("POST", &format!("/admin/nodes/{a}/dns/rotate-keys"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut conn = app.pool.acquire().await.unwrap();
    let new = control_plane::db::tsig_keys::existing_pair_key(&mut conn, na, nb)
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
        "dns.external_secondary.rotate_keys",
        "dns.external_secondary.reveal_keys",
        "dns.external_secondary.new_node_keys",
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
                ("key_suffix", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"error-address\""));
    assert!(r.body.contains("value=\"ns.friends.example\""));

    // Added: the node's key is shown once, on this answer.
    let r = admin
        .post(
            "/admin/dns/external-secondaries",
            &[
                ("nameserver", "ns.friends.example"),
                ("address", "192.0.2.53:53"),
                ("key_suffix", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.text_of("created-tsig-secret-1").unwrap();
    assert_eq!(secret.len(), 44);
    assert!(r.text_of("created-tsig-secret-2").is_none());
    assert!(!admin.get("/admin/dns").await.body.contains(&secret));
    let id = api.api("GET", "/admin/dns", None).await.json()["external_secondaries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Rotated from the page (that node's key): a new secret, shown once.
    let r = admin
        .post(
            &format!("/admin/dns/external-secondaries/{id}/rotate-keys"),
            &[("node", a.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.text_of("created-tsig-secret-1").unwrap();
    assert_ne!(rotated, secret);
    assert!(!admin.get("/admin/dns").await.body.contains(&rotated));
    // Nothing left to show.
    let r = admin
        .post(
            &format!("/admin/dns/external-secondaries/{id}/reveal-keys"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"no-new-keys\""));

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

/// The desired state of `node`, as its agent would get it.
async fn desired_of(app: &TestApp, config: &Platform, node: &str) -> serde_json::Value {
    let state = control_plane::db::desired::build(&app.pool, Some(config), node.parse().unwrap())
        .await
        .unwrap();
    serde_json::to_value(state).unwrap()
}

/// Issue 9: one TSIG key per external peer and node. Nodes that joined before and after the
/// external secondary was added each carry a key for it, no two the same, and no node's desired
/// state holds another node's key for it.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_no_two_nodes_share_an_external_secondarys_key(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let (a, _) = join_node(&app, &api, "node-a").await;
    let (b, _) = join_node(&app, &api, "node-b").await;
    let r = api
        .api(
            "POST",
            "/admin/dns/external-secondaries",
            Some(json!({"nameserver": "ns1.friends.example", "address": "192.0.2.53"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A node joins later; the next DNS round gives it its own key.
    let (c, _) = join_node(&app, &api, "node-c").await;
    let config = control_plane::db::setup::dns_config(&app.pool, &DnsConfig::default())
        .await
        .unwrap()
        .unwrap();
    control_plane::dns::placement::run_once(&app.pool, &config)
        .await
        .unwrap();

    let mut keys = Vec::new();
    for node in [&a, &b, &c] {
        let desired = desired_of(&app, &config, node).await;
        let peers: Vec<&serde_json::Value> = desired["dns"]["secondaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["nameserver"] == "ns1.friends.example")
            .collect();
        assert_eq!(peers.len(), 1, "node {node}: {}", desired["dns"]);
        let tsig = &peers[0]["tsig"];
        keys.push((
            node.clone(),
            tsig["name"].as_str().unwrap().to_owned(),
            tsig["secret"].as_str().unwrap().to_owned(),
            desired.to_string(),
        ));
    }
    for (i, (node, name, secret, _)) in keys.iter().enumerate() {
        for (other, other_name, other_secret, other_desired) in &keys[i + 1..] {
            assert_ne!(
                secret, other_secret,
                "nodes {node} and {other} hold the same secret for one external secondary"
            );
            assert_ne!(name, other_name, "nodes {node} and {other}: one key name");
            assert!(
                !other_desired.contains(secret.as_str()),
                "node {other}'s desired state holds node {node}'s key"
            );
        }
    }
}

/// Issue 9: a secondary is told, for each node it serves, exactly the zones that node is
/// primary for (its members' verified domains), and hears of a new one at once.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_a_secondary_is_told_only_its_primarys_zones(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let (a, _) = join_node(&app, &api, "node-a").await;
    let (b, _) = join_node(&app, &api, "node-b").await;
    let config = control_plane::db::setup::dns_config(&app.pool, &DnsConfig::default())
        .await
        .unwrap()
        .unwrap();
    // Both report a name server; B is A's secondary (placement's own row and key).
    sqlx::query("update nodes set dns_address = '127.0.0.2:5353' where id = $1::uuid;")
        .bind(&a)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update nodes set dns_address = '127.0.0.3:5353' where id = $1::uuid")
        .bind(&b)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into dns_secondaries (primary_node_id, secondary_node_id, state)
         values ($1::uuid, $2::uuid, 'active')",
    )
    .bind(&a)
    .bind(&b)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut conn = app.pool.acquire().await.unwrap();
    control_plane::db::tsig_keys::pair_key(
        &mut conn,
        &config,
        a.parse().unwrap(),
        b.parse().unwrap(),
    )
    .await
    .unwrap();
    drop(conn);
    // Members on A (one verified domain, one pending) and on B.
    let seed = |node: String, domain: &'static str, status: &'static str| {
        let pool = app.pool.clone();
        async move {
            let member: (uuid::Uuid,) = sqlx::query_as(
                "insert into members (id, email, display_name, password_hash, node_id)
                 values (gen_random_uuid(), 'owner@' || $1, 'Owner', '!', $2::uuid) returning id",
            )
            .bind(domain)
            .bind(&node)
            .fetch_one(&pool)
            .await
            .unwrap();
            let domain_id: (uuid::Uuid,) = sqlx::query_as(
                "insert into domains (id, member_id, name, status, verification_token)
                 values (gen_random_uuid(), $1, $2, $3, 't') returning id",
            )
            .bind(member.0)
            .bind(domain)
            .bind(status)
            .fetch_one(&pool)
            .await
            .unwrap();
            domain_id.0
        }
    };
    seed(a.clone(), "served.example", "active").await;
    let pending = seed(a.clone(), "pending.example", "pending_verification").await;
    seed(b.clone(), "own-of-b.example", "active").await;

    let zones_from_a = |desired: &serde_json::Value| -> serde_json::Value {
        let primaries = desired["dns"]["primaries"].as_array().unwrap();
        assert_eq!(primaries.len(), 1, "{}", desired["dns"]);
        primaries[0]["zones"].clone()
    };
    let desired = desired_of(&app, &config, &b).await;
    assert_eq!(zones_from_a(&desired), json!(["served.example"]));
    assert_eq!(desired["dns"]["zones"][0]["name"], "own-of-b.example");

    // A domain of A's verified: B's generation moves with A's, and B is told of it.
    let before = all_generations(&api).await;
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1")
        .bind(pending)
        .execute(&app.pool)
        .await
        .unwrap();
    let after = all_generations(&api).await;
    for ((id, g0), (_, g1)) in before.iter().zip(&after) {
        assert!(g1 > g0, "node {id} not bumped: {g0} -> {g1}");
    }
    let desired = desired_of(&app, &config, &b).await;
    assert_eq!(
        zones_from_a(&desired),
        json!(["pending.example", "served.example"])
    );
    // Its member leaves: B hears of it too.
    let before = all_generations(&api).await;
    sqlx::query("delete from members where email = 'owner@pending.example'")
        .execute(&app.pool)
        .await
        .unwrap();
    let after = all_generations(&api).await;
    for ((id, g0), (_, g1)) in before.iter().zip(&after) {
        assert!(g1 > g0, "node {id} not bumped: {g0} -> {g1}");
    }
    let desired = desired_of(&app, &config, &b).await;
    assert_eq!(zones_from_a(&desired), json!(["served.example"]));
}
