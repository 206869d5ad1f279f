//! Nodes: an admin adds one, its agent joins with the one-time token and reports in.

use serde_json::json;

use super::support::*;

fn join_body(token: &str) -> serde_json::Value {
    json!({
        "token": token,
        "name": "node-a.example.org",
        "addresses": ["127.0.0.2", "::1"],
        "capacity": {"cpus": 2, "memory_bytes": 4294967296u64, "disk_bytes": 107374182400u64},
        "version": "0.1.0"
    })
}

async fn node_api(client: &Client, path: &str, body: serde_json::Value) -> Resp {
    client
        .json("POST", &format!("/node-api/v1{path}"), Some(body))
        .await
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_node_joins_once_and_reports_in(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let r = api
        .api("POST", "/admin/nodes", Some(json!({"name": "node-a"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert_eq!(created["node"]["joined"], false);
    let token = created["join_token"].as_str().unwrap().to_owned();
    // Only a digest of the token is stored.
    let raw: i64 = sqlx::query_scalar("select count(*) from nodes where join_token_hash = $1")
        .bind(token.as_bytes())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(raw, 0);

    let anonymous = Client::new(&app);
    // Bad input is refused with the field named, and the token is not used up by it.
    let mut bad = join_body(&token);
    bad["addresses"] = json!(["not-an-ip"]);
    let r = node_api(&anonymous, "/join", bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["fields"][0]["field"], "addresses");

    let r = node_api(&anonymous, "/join", join_body(&token)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let credential = r.json()["credential"].as_str().unwrap().to_owned();
    // Once.
    let r = node_api(&anonymous, "/join", join_body(&token)).await;
    assert_eq!(r.status, 410);

    let nodes = api.api("GET", "/admin/nodes", None).await.json();
    let node = &nodes[0];
    assert_eq!(node["joined"], true);
    assert_eq!(node["addresses"], json!(["127.0.0.2", "::1"]));
    assert_eq!(node["capacity"]["cpus"], 2);
    assert_eq!(node["version"], "0.1.0");
    assert!(node["last_heartbeat_at"].is_string());

    let node_client = anonymous.with_bearer(&credential);
    let hb = json!({"version": "0.1.1", "services": [{"name": "postfix", "healthy": false, "message": "not running"}]});
    let r = node_api(&node_client, "/heartbeat", hb).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let nodes = api.api("GET", "/admin/nodes", None).await.json();
    assert_eq!(nodes[0]["version"], "0.1.1");
    assert_eq!(nodes[0]["healthy"], false);
    // The admin page shows it.
    let page = admin.get("/admin/nodes").await;
    assert!(page.body.contains("node-a.example.org") && page.body.contains("127.0.0.2"));

    // Unknown credentials are refused; a member's API token is not a node credential.
    let r = node_api(
        &anonymous.with_bearer("nope"),
        "/heartbeat",
        json!({"version": "x"}),
    )
    .await;
    assert_eq!(r.status, 401);
    let member_token = api_token(&admin).await;
    let r = node_api(
        &anonymous.with_bearer(&member_token),
        "/heartbeat",
        json!({"version": "x"}),
    )
    .await;
    assert_eq!(r.status, 401);
    // And the join is in the audit log.
    let audit = api.api("GET", "/admin/audit", None).await.body;
    assert!(audit.contains("node.create") && audit.contains("node.join"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn join_tokens_expire_and_the_page_shows_the_command(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let r = admin.post("/admin/nodes", &[("name", "node-b")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let command = r.text_of("join-command").unwrap();
    assert!(
        command.starts_with(&format!("node-agent join {} --token-file - ", app.base)),
        "{command}"
    );
    // The token is shown beside the command, never on it.
    let token = r.text_of("join-token").unwrap();
    assert!(!command.contains(&token));
    let r = admin.post("/admin/nodes", &[("name", "node-b")]).await;
    assert_eq!(r.status, 422, "names are unique");
    sqlx::query("update nodes set join_expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = node_api(&Client::new(&app), "/join", join_body(&token)).await;
    assert_eq!(r.status, 410);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_node_long_polls_its_desired_state(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let token = api
        .api("POST", "/admin/nodes", Some(json!({"name": "node-a"})))
        .await
        .json()["join_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential = node_api(&Client::new(&app), "/join", join_body(&token))
        .await
        .json()["credential"]
        .as_str()
        .unwrap()
        .to_owned();
    let node = Client::new(&app).with_bearer(&credential);
    // The admin existed before any node: the first node to join hosts them.
    let first = node.json("GET", "/node-api/v1/desired?after=0", None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let doc = first.json();
    let g1 = doc["generation"].as_u64().unwrap();
    assert_eq!(first.headers["etag"], format!("\"{g1}\""));
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["tenants"].as_array().unwrap().len(), 1);
    // Nothing new: the poll ends empty.
    let r = node
        .json(
            "GET",
            &format!("/node-api/v1/desired?after={g1}&wait=1"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    // A change wakes a waiting poll, and the document carries it.
    let waiting = {
        let node = node.clone();
        tokio::spawn(async move {
            node.json("GET", &format!("/node-api/v1/desired?after={g1}"), None)
                .await
        })
    };
    let d = api
        .api("POST", "/domains", Some(json!({"name": "box.test"})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["generation"].as_u64().unwrap() > g1);
    api.api(
        "POST",
        &format!("/domains/{d}/mailboxes"),
        Some(json!({"local_part": "me", "password": PASSWORD, "quota_mib": 64})),
    )
    .await;
    api.api(
        "POST",
        &format!("/domains/{d}/aliases"),
        Some(json!({"source": "*", "targets": ["me@box.test"]})),
    )
    .await;
    api.api(
        "POST",
        "/app-passwords",
        Some(json!({"label": "phone", "scope": "imap"})),
    )
    .await;
    // A domain waiting for verification serves nothing: it is not in the document at all.
    let doc = node
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    assert_eq!(doc["tenants"][0]["domains"], json!([]));
    assert!(!doc.to_string().contains("box.test"));
    verify_domain(&app, &d).await;
    let doc = node
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    let tenant = &doc["tenants"][0];
    assert_eq!(tenant["active"], true);
    let domain = &tenant["domains"][0];
    assert_eq!(domain["name"], "box.test");
    assert_eq!(domain["verified"], true);
    assert_eq!(domain["id"], d.as_str());
    assert_eq!(
        domain["mailboxes"][0]["id"].as_str().map(str::len),
        Some(36)
    );
    assert_eq!(domain["mailboxes"][0]["local_part"], "me");
    assert!(domain["mailboxes"][0]["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("$argon2id$"));
    assert_eq!(domain["mailboxes"][0]["quota_bytes"], 64 * 1024 * 1024);
    assert_eq!(domain["aliases"][0]["source"], "*");
    assert_eq!(tenant["app_passwords"][0]["scope"], "imap");
    // No secret in clear anywhere in the document.
    assert!(!doc.to_string().contains(PASSWORD));
    // The heartbeat reports what the node applied.
    let g = doc["generation"].as_u64().unwrap();
    let r = node_api(
        &node,
        "/heartbeat",
        json!({"version": "0.1.0", "observed_generation": g}),
    )
    .await;
    assert_eq!(r.status, 204);
    let observed: Option<i64> = sqlx::query_scalar("select observed_generation from nodes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(observed, Some(i64::try_from(g).unwrap()));
    // A member's API token is not a node credential.
    let r = Client::new(&app)
        .with_bearer(&api_token(&admin).await)
        .json("GET", "/node-api/v1/desired", None)
        .await;
    assert_eq!(r.status, 401);
}
