//! Issue 9, the control plane's own holes: what an outsider or a member must not be able to do
//! to the control plane or to other members through it. Every test here failed on the code
//! before its fix (see the notes).

use control_plane::config::Config;
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

use super::support::*;

fn config_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    f(&mut config);
    config
}

/// `/setup` and `/reset` look at the token before anything costly: a bad token is 410 even with
/// a password the policy refuses (so the password was never parsed, let alone hashed), and
/// attempts are limited per client address.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_setup_and_reset_check_the_token_first_and_are_rate_limited(pool: sqlx::PgPool) {
    let app = spawn_with(
        pool,
        config_with(|c| c.security.login_failures_per_address = 3),
    )
    .await;
    let c = Client::new(&app);
    let setup = |token: &'static str, password: &'static str| {
        [
            ("token", token),
            ("collective_name", "Intruders"),
            ("platform_domain", "intruders.test"),
            ("email", "intruder@intruders.test"),
            ("password", password),
            ("password_confirm", password),
        ]
    };
    // Token first: the short password is not even looked at.
    let r = c.post("/setup", &setup("nope", "short")).await;
    assert_eq!(r.status, 410, "setup with a bad token: {}", r.body);
    let r = c
        .post(
            "/reset",
            &[
                ("token", "nope"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 410, "reset with a bad token: {}", r.body);
    // Then the address runs out of attempts (3 in the window, counting the two above).
    let long = "a long enough password";
    let r = c.post("/setup", &setup("nope", long)).await;
    assert_eq!(r.status, 410);
    let r = c.post("/setup", &setup("nope", long)).await;
    assert_eq!(r.status, 429, "setup flood: {}", r.body);
    let r = c
        .post(
            "/reset",
            &[
                ("token", "nope"),
                ("password", long),
                ("password_confirm", long),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "reset flood: {}", r.body);
    // The holder of the real setup link is not locked out by a flood from elsewhere: the limit
    // is per address, and the real token still works from another address (a fresh database
    // row per address; here the same address, so it waits).
    let n: i64 = sqlx::query_scalar("select count(*) from members")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// Once an admin exists, `/setup` does not exist any more: 404 for GET and POST.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_setup_is_not_found_once_an_admin_exists(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    setup_admin(&app).await;
    let c = Client::new(&app);
    assert_eq!(c.get("/setup?token=anything").await.status, 404);
    assert_eq!(c.get("/setup").await.status, 404);
    let r = c
        .post(
            "/setup",
            &[
                ("token", "anything"),
                ("collective_name", "Again"),
                ("platform_domain", "again.test"),
                ("email", "again@again.test"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

/// The open redirect of the issue, and its neighbours: `back` is followed only when it is a
/// local path, else the browser goes to `/`.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_language_switch_redirects_only_to_local_paths(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let c = Client::new(&app);
    for (back, expected) in [
        ("/%09/evil.example", "/"),
        ("/%0a/evil.example", "/"),
        ("/%20/evil.example", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/%C3%A9", "/"),
        ("", "/"),
        ("/account/security", "/account/security"),
        ("/admin?x=1", "/admin?x=1"),
    ] {
        let r = c.get(&format!("/lang/fr?back={back}")).await;
        assert_eq!(r.status, 303, "back={back}");
        assert_eq!(r.location(), expected, "back={back}");
    }
}

fn code_for(secret_b32: &str) -> String {
    let secret = Secret::Encoded(secret_b32.to_owned()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, secret, None, "x".to_owned())
        .unwrap()
        .generate_current()
        .unwrap()
}

/// Many wrong TOTP codes sent at once: no more than the limit are evaluated, the rest are
/// refused by the rate limit without being checked.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_parallel_totp_guesses_stop_at_the_limit(pool: sqlx::PgPool) {
    let app = spawn_with(
        pool,
        config_with(|c| c.security.login_failures_per_account = 3),
    )
    .await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let secret = alice
        .post("/account/totp/start", &[])
        .await
        .text_of("totp-secret")
        .unwrap();
    let r = alice
        .post("/account/totp/confirm", &[("code", &code_for(&secret))])
        .await;
    assert_eq!(r.status, 200);
    let c = Client::new(&app);
    let r = c
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.location(), "/login/totp");
    let right = code_for(&secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    // Fetch the CSRF cookie once, so the parallel posts share it.
    c.get("/healthz").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.post("/login/totp", &[("code", wrong)]).await
        }));
    }
    let mut evaluated = 0;
    let mut limited = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.body.contains("this code is not valid") {
            evaluated += 1;
        } else if r.body.contains("Too many attempts") {
            limited += 1;
        } else {
            panic!("unexpected answer {}: {}", r.status, r.body);
        }
    }
    assert!(evaluated <= 3, "{evaluated} wrong codes were evaluated");
    assert_eq!(evaluated + limited, 30);
    // The right code is refused too now: the limit holds.
    let r = c.post("/login/totp", &[("code", &right)]).await;
    assert!(r.body.contains("Too many attempts"), "{}", r.body);
}

/// A member with an API token, an app password, and a node that hosts them; returns the node
/// client (to read the desired state), the API token and the member's id.
async fn member_with_credentials(app: &TestApp, admin: &Client) -> (Client, Client, String) {
    let admin_api = admin.with_bearer(&api_token(admin).await);
    let (_, node) = join_node(app, &admin_api, "node-a").await;
    let alice = invite_member(app, admin, "alice@example.net").await;
    let token = api_token(&alice).await;
    let api = alice.with_bearer(&token);
    let r = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "phone", "scope": "imap"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let me = api.api("GET", "/me", None).await;
    assert_eq!(me.status, 200);
    let id = me.json()["member"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app_passwords_on_node(&node, &id).await, 1);
    (node, api, id)
}

/// How many app passwords of the member the node's desired state carries.
async fn app_passwords_on_node(node: &Client, member: &str) -> usize {
    let doc = node
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    doc["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["member_id"] == member)
        .map_or(0, |t| t["app_passwords"].as_array().unwrap().len())
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_password_change_revokes_api_tokens_and_app_passwords(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let (node, api, id) = member_with_credentials(&app, &admin).await;
    let alice = Client::new(&app);
    alice
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    // The page offers it, checked.
    let page = alice.get("/account/security").await;
    assert!(
        page.body
            .contains("name=\"revoke_credentials\" value=\"on\" checked"),
        "{}",
        page.body
    );
    let new = "another long passphrase";
    let r = alice
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", new),
                ("password_confirm", new),
                ("revoke_credentials", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(api.api("GET", "/me", None).await.status, 401);
    assert_eq!(app_passwords_on_node(&node, &id).await, 0);
    let audit = admin
        .with_bearer(&api_token(&admin).await)
        .api("GET", "/admin/audit", None)
        .await
        .body;
    assert!(audit.contains("member.credentials_revoked"), "{audit}");

    // Unchecked, they stay.
    let token = api_token(&alice).await;
    let api = alice.with_bearer(&token);
    api.api(
        "POST",
        "/app-passwords",
        Some(json!({"label": "laptop", "scope": "smtp"})),
    )
    .await;
    let r = alice
        .post(
            "/account/password",
            &[
                ("current_password", new),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(api.api("GET", "/me", None).await.status, 200);
    assert_eq!(app_passwords_on_node(&node, &id).await, 1);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_password_reset_revokes_api_tokens_app_passwords_and_sessions(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let (node, api, id) = member_with_credentials(&app, &admin).await;
    let session = Client::new(&app);
    session
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(session.get("/account").await.status, 200);
    let member = control_plane::model::ids::MemberId(id.parse().unwrap());
    let token = control_plane::db::resets::create(&app.pool, member, 60)
        .await
        .unwrap();
    let new = "another long passphrase";
    let r = Client::new(&app)
        .post(
            "/reset",
            &[
                ("token", token.expose()),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(api.api("GET", "/me", None).await.status, 401);
    assert_eq!(app_passwords_on_node(&node, &id).await, 0);
    assert_eq!(session.get("/account").await.status, 303);
    let audit = admin
        .with_bearer(&api_token(&admin).await)
        .api("GET", "/admin/audit", None)
        .await
        .body;
    assert!(audit.contains("member.credentials_revoked"), "{audit}");
}

/// An admin revokes a node's credential: its polls and heartbeats get 401 at once. Rotating
/// gives a new one-time join token; joining with it gives the same node a new credential, and
/// the old one stays dead.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_revoked_node_credentials_get_401_and_rotation_rejoins(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let (id, node) = join_node(&app, &api, "node-a").await;
    let beat = json!({"version": "0.1.0"});
    assert_eq!(heartbeat(&node, beat.clone()).await.status, 204);

    let r = api
        .api("POST", &format!("/admin/nodes/{id}/revoke"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(heartbeat(&node, beat.clone()).await.status, 401);
    let r = node.json("GET", "/node-api/v1/desired?after=0", None).await;
    assert_eq!(r.status, 401);
    let listed = api.api("GET", "/admin/nodes", None).await.json();
    assert_eq!(listed[0]["state"], "revoked", "{listed}");

    let r = api
        .api("POST", &format!("/admin/nodes/{id}/rotate"), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["join_token"].as_str().unwrap().to_owned();
    let r = Client::new(&app)
        .json(
            "POST",
            "/node-api/v1/join",
            Some(json!({
                "token": token,
                "name": "node-a.example.org",
                "addresses": ["127.0.0.2"],
                "capacity": {"cpus": 2, "memory_bytes": 1u64 << 32, "disk_bytes": 1u64 << 36},
                "version": "0.1.0"
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["node_id"], id.as_str());
    let fresh = Client::new(&app).with_bearer(r.json()["credential"].as_str().unwrap());
    assert_eq!(heartbeat(&fresh, beat.clone()).await.status, 204);
    assert_eq!(heartbeat(&node, beat.clone()).await.status, 401);

    // Rotating a joined node: the old credential works until the new token is used.
    let r = api
        .api("POST", &format!("/admin/nodes/{id}/rotate"), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(heartbeat(&fresh, beat.clone()).await.status, 204);

    // The page has both buttons, and the audit log has every step.
    let page = admin.get("/admin/nodes").await;
    assert!(page.body.contains(&format!("/admin/nodes/{id}/revoke")));
    assert!(page.body.contains(&format!("/admin/nodes/{id}/rotate")));
    let r = admin.post(&format!("/admin/nodes/{id}/rotate"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let command = r.text_of("join-command").unwrap();
    assert!(command.contains("--token-file"), "{command}");
    let r = admin.post(&format!("/admin/nodes/{id}/revoke"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(heartbeat(&fresh, beat).await.status, 401);
    let audit = api.api("GET", "/admin/audit", None).await.body;
    assert!(
        audit.contains("node.revoke") && audit.contains("node.rotate"),
        "{audit}"
    );
}

/// The join endpoint is anonymous: it takes a few KiB, not the heartbeat's megabytes.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_join_refuses_large_bodies(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let big = "x".repeat(1024 * 1024);
    let r = Client::new(&app)
        .json(
            "POST",
            "/node-api/v1/join",
            Some(json!({
                "token": big,
                "name": "n",
                "addresses": ["127.0.0.2"],
                "capacity": {"cpus": 2, "memory_bytes": 1, "disk_bytes": 1},
                "version": "0.1.0"
            })),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
}

/// Domains a member may not claim: the collective's own (named at setup) and anything under
/// it, and anything under another member's domain, pending or verified. A taken name gets the
/// same answer whether its holder verified it or not.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_domain_claims_refuse_the_platform_and_other_members_names(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let claim = |api: &Client, name: &str| {
        let api = api.clone();
        let name = name.to_owned();
        async move {
            api.api("POST", "/domains", Some(json!({ "name": name })))
                .await
        }
    };
    // The platform domain (abeilles.test, named at setup) and names under it.
    for name in ["abeilles.test", "mail.abeilles.test", "ABEILLES.test"] {
        let r = claim(&bob_api, name).await;
        assert_eq!(r.status, 422, "{name}: {}", r.body);
        assert_eq!(r.json()["error"]["fields"][0]["field"], "name");
        assert!(r.body.contains("platform"), "{name}: {}", r.body);
    }
    // Even the admin cannot.
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    assert_eq!(claim(&admin_api, "abeilles.test").await.status, 422);
    // The portal says it in French too.
    bob.get("/lang/fr?back=/account").await;
    let r = bob
        .post("/account/domains", &[("domain", "x.abeilles.test")])
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("plateforme"), "{}", r.body);

    // Alice holds a.test (pending): Bob can neither take it nor anything under it.
    assert_eq!(claim(&alice_api, "a.test").await.status, 201);
    let pending_taken = claim(&bob_api, "a.test").await;
    assert_eq!(pending_taken.status, 409, "{}", pending_taken.body);
    let pending_under = claim(&bob_api, "mail.a.test").await;
    assert_eq!(pending_under.status, 409, "{}", pending_under.body);
    let deep = claim(&bob_api, "x.y.a.test").await;
    assert_eq!(deep.status, 409, "{}", deep.body);
    // A name that merely ends the same way is fine.
    assert_eq!(claim(&bob_api, "aa.test").await.status, 201);
    // Nor can Bob take a name above one of Alice's: www.c.test is hers, so c.test (whose
    // www.c.test would be Bob's web name) is refused; Alice may.
    assert_eq!(claim(&alice_api, "www.c.test").await.status, 201);
    let above = claim(&bob_api, "c.test").await;
    assert_eq!(above.status, 409, "{}", above.body);
    assert!(above.body.contains("under this name"), "{}", above.body);
    assert_eq!(claim(&alice_api, "c.test").await.status, 201);
    // Alice may use names under her own domain.
    assert_eq!(claim(&alice_api, "lists.a.test").await.status, 201);
    // Verified: exactly the same answers.
    sqlx::query("update domains set status = 'active', verified_at = now() where name = 'a.test'")
        .execute(&app.pool)
        .await
        .unwrap();
    let verified_taken = claim(&bob_api, "a.test").await;
    assert_eq!(verified_taken.status, pending_taken.status);
    assert_eq!(verified_taken.body, pending_taken.body);
    let verified_under = claim(&bob_api, "mail.a.test").await;
    assert_eq!(verified_under.body, pending_under.body);
    // The taken answer is the same as for any taken name.
    assert_eq!(pending_taken.json()["error"]["code"], "conflict");
    let fr = bob.post("/account/domains", &[("domain", "a.test")]).await;
    assert_eq!(fr.status, 422, "{}", fr.body);
    assert!(fr.body.contains("déjà enregistré"), "{}", fr.body);
}

/// An unverified claim lapses after seven days (a background job deletes it, with an audit
/// entry); the portal tells the member when.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_unverified_domain_claims_expire(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let stale = add_domain(&alice, "stale.test").await;
    let kept = add_domain(&alice, "kept.test").await;
    let fresh = add_domain(&alice, "fresh.test").await;
    let page = alice.get(&format!("/account/domains/{fresh}")).await;
    assert!(
        page.text_of("claim-expires").is_some(),
        "the page says when the claim lapses: {}",
        page.body
    );
    sqlx::query(
        "update domains set created_at = now() - interval '8 days' where id = any($1::uuid[])",
    )
    .bind(vec![
        stale.parse::<uuid::Uuid>().unwrap(),
        kept.parse::<uuid::Uuid>().unwrap(),
    ])
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1::uuid")
        .bind(kept.parse::<uuid::Uuid>().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    control_plane::workers::housekeeping::run_once(&app.pool)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("select name from domains order by name")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(names, ["fresh.test", "kept.test"]);
    let audit = admin
        .with_bearer(&api_token(&admin).await)
        .api("GET", "/admin/audit", None)
        .await
        .body;
    assert!(
        audit.contains("domain.expire") && audit.contains("stale.test"),
        "{audit}"
    );
    // The name is free again.
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    add_domain(&bob, "stale.test").await;
}
/// Every argon2id hash and verify goes through one gate: however many logins arrive at once,
/// no more run than the gate has permits, and the rest wait (boundedly) or get 503.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_concurrent_password_hashing_is_bounded(pool: sqlx::PgPool) {
    let app = spawn_with(
        pool,
        config_with(|c| {
            c.security.login_failures_per_address = 1000;
            c.security.login_failures_per_account = 1000;
        }),
    )
    .await;
    setup_admin(&app).await;
    let gate = control_plane::model::password::gate();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let c = Client::new(&app);
        tasks.push(tokio::spawn(async move {
            c.post(
                "/login",
                &[
                    ("email", &format!("nobody{i}@abeilles.test")),
                    ("password", "wrong password!"),
                ],
            )
            .await
            .status
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(
            status == 401 || status == 503,
            "a login in the flood got {status}"
        );
    }
    assert!(
        gate.peak() <= gate.permits(),
        "{} hashes ran at once with {} permits",
        gate.peak(),
        gate.permits()
    );
}
