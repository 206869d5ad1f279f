//! App passwords (issue 9): they name themselves (`ap-<id>-…`, only a SHA-256 verifier kept),
//! a member holds at most 50 active ones, and one may be bound to a single mailbox of its own
//! member, never to another member's.

use serde_json::json;

use super::support::*;

const PASSWORD: &str = "correct horse battery staple";

async fn mailbox(api: &Client, domain: &str, local: &str) -> String {
    let r = api
        .api(
            "POST",
            &format!("/domains/{domain}/mailboxes"),
            Some(json!({"local_part": local, "password": PASSWORD, "quota_mib": 10})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_app_passwords_name_themselves_and_bind_to_one_mailbox(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    // The node joins first, so the members are placed on it.
    let (_, node) = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let d = alice_api
        .api("POST", "/domains", Some(json!({"name": "alice.test"})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = mailbox(&alice_api, &d, "alice").await;
    mailbox(&alice_api, &d, "shop").await;
    let bd = bob_api
        .api("POST", "/domains", Some(json!({"name": "bob.test"})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bobs = mailbox(&bob_api, &bd, "bob").await;

    // Bound to her own mailbox: the text names its id, only a SHA-256 verifier is stored.
    let r = alice_api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "phone", "scope": "imap", "mailbox_id": own})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let made = r.json();
    let text = made["password"].as_str().unwrap().to_owned();
    assert_eq!(made["app_password"]["mailbox"], "alice@alice.test");
    assert_eq!(made["app_password"]["mailbox_id"], own.as_str());
    let parsed = protocol::app_password::AppPasswordText::parse(&text).expect("self-naming");
    let (stored_id, stored_hash): (String, String) =
        sqlx::query_as("select public_id, password_hash from app_passwords")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored_id, parsed.id().as_str());
    assert_eq!(stored_hash, parsed.verifier().to_text());

    // Bob cannot bind one to Alice's mailbox, through the API (404, as for anything of hers)
    // or the portal (the field's error); nothing is created.
    let r = bob_api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "sneaky", "scope": "imap", "mailbox_id": own})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = bob
        .post(
            "/account/app-passwords",
            &[("label", "sneaky"), ("scope", "imap"), ("mailbox", &own)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("is not one of your mailboxes"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("alice@alice.test"));
    let r = bob_api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "x", "scope": "imap", "mailbox_id": "not-an-id"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let n: i64 = sqlx::query_scalar("select count(*) from app_passwords")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // The portal's form binds to a mailbox unless told otherwise: the first is preselected,
    // and "all my mailboxes" is there.
    let page = alice.get("/account/security").await;
    assert!(
        page.body.contains("<option value=\"all\">"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("<option value=\"{own}\" selected>")));
    assert!(!page.body.contains(&bobs));
    let r = alice
        .post(
            "/account/app-passwords",
            &[("label", "laptop"), ("scope", "smtp"), ("mailbox", "all")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The node is told the id and the binding, never the secret.
    let doc = node
        .json("GET", "/node-api/v1/desired?after=0", None)
        .await
        .json();
    let alice_tenant = doc["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["app_passwords"].as_array().unwrap().len() == 2)
        .expect("alice's tenant");
    let apps = alice_tenant["app_passwords"].as_array().unwrap();
    let bound = apps.iter().find(|p| p["scope"] == "imap").unwrap();
    assert_eq!(bound["public_id"], parsed.id().as_str());
    assert_eq!(bound["mailbox"], "alice@alice.test");
    let all = apps.iter().find(|p| p["scope"] == "smtp").unwrap();
    assert!(all["mailbox"].is_null());
    assert!(!doc.to_string().contains(&text));

    // A bound app password goes with its mailbox.
    let r = alice_api
        .api("DELETE", &format!("/mailboxes/{own}"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let listed = alice_api.api("GET", "/app-passwords", None).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0]["mailbox"].is_null());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn boundary_app_passwords_are_capped_per_member(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let api = alice.with_bearer(&api_token(&alice).await);
    let mut last = String::new();
    for i in 0..50 {
        let r = api
            .api(
                "POST",
                "/app-passwords",
                Some(json!({"label": format!("device {i}"), "scope": "imap"})),
            )
            .await;
        assert_eq!(r.status, 201, "{i}: {}", r.body);
        last = r.json()["app_password"]["id"].as_str().unwrap().to_owned();
    }
    let r = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "one too many", "scope": "imap"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let error = &r.json()["error"];
    assert_eq!(error["code"], "limit_reached");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("50 app passwords"),
        "{error}"
    );
    // In the portal, in French.
    alice.get("/lang/fr?back=/account/security").await;
    let r = alice
        .post(
            "/account/app-passwords",
            &[("label", "encore"), ("scope", "imap"), ("mailbox", "all")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        html_unescape(&r.body).contains("vous avez déjà 50 mots de passe d’application"),
        "{}",
        r.body
    );
    // Another member is not affected; a revoked one makes room.
    let r = bob
        .post(
            "/account/app-passwords",
            &[("label", "phone"), ("scope", "imap"), ("mailbox", "all")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .api("DELETE", &format!("/app-passwords/{last}"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "replacement", "scope": "imap"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}
