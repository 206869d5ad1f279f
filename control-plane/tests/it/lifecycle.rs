//! Plans and limits, uniqueness, API validation, revocation, suspension, two-step deletion,
//! the audit log, translations.

use serde_json::json;

use super::support::*;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn plan_limits_are_enforced_on_the_server(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let tiny = admin_api
        .api("POST", "/admin/plans", Some(json!({"name": "Tiny", "max_domains": 1, "max_mailboxes": 1, "max_aliases": 0, "max_xmpp_accounts": 1, "storage_mib": 100})))
        .await;
    assert_eq!(tiny.status, 201, "{}", tiny.body);
    let tiny = tiny.json()["id"].as_str().unwrap().to_owned();
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let me = alice_api.api("GET", "/me", None).await.json();
    let alice_id = me["member"]["id"].as_str().unwrap().to_owned();
    let r = admin_api
        .api(
            "PUT",
            &format!("/admin/members/{alice_id}/plan"),
            Some(json!({"plan_id": tiny})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // The admin can change a plan in the pages too; a bad value keeps the form and says why.
    let edit = admin.get(&format!("/admin/plans/{tiny}")).await;
    assert!(edit.body.contains("value=\"Tiny\""));
    let fields = |storage: &'static str| {
        vec![
            ("name", "Tiny"),
            ("max_domains", "1"),
            ("max_mailboxes", "1"),
            ("max_aliases", "0"),
            ("max_xmpp_accounts", "1"),
            ("storage_mib", storage),
        ]
    };
    let r = admin
        .post(&format!("/admin/plans/{tiny}"), &fields("lots"))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"error-storage_mib\""));
    let r = admin
        .post(&format!("/admin/plans/{tiny}"), &fields("100"))
        .await;
    assert_eq!(r.location(), "/admin/plans?done=saved");

    let d = add_domain(&alice, "alice.test").await;
    // Second domain: refused with a message saying why, in the page.
    let r = alice
        .post("/account/domains", &[("domain", "second.test")])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("your plan allows 1 domains"), "{}", r.body);
    assert!(r.body.contains("second.test"), "typed value kept");
    // Storage: a mailbox larger than the plan's storage is refused.
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "big", "password": PASSWORD, "quota_mib": 101})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["code"], "limit_reached");
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "alice", "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "bob", "password": PASSWORD, "quota_mib": 1})),
        )
        .await;
    assert_eq!(r.status, 422, "second mailbox over the count limit");
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/aliases"),
            Some(json!({"source": "*", "targets": ["alice@alice.test"]})),
        )
        .await;
    assert_eq!(r.status, 422, "no aliases in this plan");
    let usage = alice.get("/account").await;
    assert_eq!(usage.text_of("usage-domains").unwrap(), "1 / 1");
    assert_eq!(usage.text_of("usage-mailboxes").unwrap(), "1 / 1");
    assert_eq!(usage.text_of("usage-storage").unwrap(), "100 MiB / 100 MiB");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn names_are_unique_where_the_protocols_need_it(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let d = add_domain(&alice, "shared.test").await;
    // One domain across the collective, whatever the spelling.
    let r = bob_api
        .api("POST", "/domains", Some(json!({"name": "SHARED.test."})))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already registered"));
    // One address across mailboxes and aliases.
    let r = alice
        .post(
            &format!("/account/domains/{d}/mailboxes"),
            &[
                ("local_part", "info"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("quota_mib", "10"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = alice
        .post(
            &format!("/account/domains/{d}/aliases"),
            &[("source", "INFO"), ("targets", "x@example.org")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("already taken"));
    // Unicode domains are stored in ASCII and shown in Unicode.
    let id = add_domain(&alice, "bücher.test").await;
    let page = alice.get(&format!("/account/domains/{id}")).await;
    assert!(page.body.contains("bücher.test"));
    assert!(page.body.contains("_ruche-challenge.xn--bcher-kva.test"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn hostile_input_is_refused_with_the_field_named(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let api = admin.with_bearer(&api_token(&admin).await);
    let long = "a".repeat(4000);
    for name in [
        "example.org\nx",
        "exаmple.org",
        "ex\"ample.org",
        long.as_str(),
        "*.example.org",
        "localhost",
    ] {
        let r = api
            .api("POST", "/domains", Some(json!({"name": name})))
            .await;
        assert_eq!(r.status, 422, "{name:?}: {}", r.body);
        assert_eq!(r.json()["error"]["fields"][0]["field"], "name");
    }
    let d = api
        .api("POST", "/domains", Some(json!({"name": "ok.test"})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for local in ["al\nice", "al\"ice", "a b", "al'ice", long.as_str(), ""] {
        let r = api
            .api(
                "POST",
                &format!("/domains/{d}/mailboxes"),
                Some(json!({"local_part": local, "password": PASSWORD, "quota_mib": 10})),
            )
            .await;
        assert_eq!(r.status, 422, "{local:?}");
        assert_eq!(r.json()["error"]["fields"][0]["field"], "local_part");
    }
    let r = api
        .api(
            "POST",
            &format!("/domains/{d}/aliases"),
            Some(json!({"source": "x", "targets": ["a@b.test\r\nRCPT TO:<evil@x.test>"]})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["fields"][0]["field"], "targets");
    // Nothing reached the database.
    let n: i64 = sqlx::query_scalar("select count(*) from mailboxes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn tokens_and_app_passwords_can_be_revoked(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let token = api_token(&alice).await;
    let api = alice.with_bearer(&token);
    let r = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "phone", "scope": "imap"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let pw = r.json();
    assert_eq!(
        pw["password"].as_str().unwrap().len(),
        protocol::app_password::TEXT_LEN
    );
    let stored: String = sqlx::query_scalar("select password_hash from app_passwords")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("sha256:"));
    let r = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "x", "scope": "ftp"})),
        )
        .await;
    assert_eq!(r.status, 422);
    let id = pw["app_password"]["id"].as_str().unwrap();
    assert_eq!(
        api.api("DELETE", &format!("/app-passwords/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.api("GET", "/app-passwords", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let tid = api.api("GET", "/api-tokens", None).await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.api("DELETE", &format!("/api-tokens/{tid}"), None)
            .await
            .status,
        204
    );
    let r = api.api("GET", "/me", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn suspension_and_two_step_deletion(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    add_domain(&alice, "alice.test").await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let list = admin_api
        .api("GET", "/admin/members?q=alice", None)
        .await
        .json();
    assert_eq!(list["total"], 1);
    let id = list["members"][0]["id"].as_str().unwrap().to_owned();

    let r = admin
        .post(&format!("/admin/members/{id}/suspend"), &[])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        alice.get("/account").await.status,
        303,
        "signed out when suspended"
    );
    let c = Client::new(&app);
    let r = c
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        admin
            .post(&format!("/admin/members/{id}/unsuspend"), &[])
            .await
            .status,
        303
    );

    // Deletion is scheduled, not immediate; it can be cancelled.
    assert_eq!(
        admin
            .post(&format!("/admin/members/{id}/delete"), &[])
            .await
            .status,
        303
    );
    let m = admin_api
        .api("GET", &format!("/admin/members/{id}"), None)
        .await
        .json();
    assert_eq!(m["member"]["status"], "deleting");
    assert!(m["member"]["delete_after"].is_string());
    assert_eq!(
        admin
            .post(&format!("/admin/members/{id}/cancel-delete"), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        admin
            .post(&format!("/admin/members/{id}/delete"), &[])
            .await
            .status,
        303
    );
    // The purge only happens once the grace period is over.
    control_plane::workers::housekeeping::run_once(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        admin_api
            .api("GET", &format!("/admin/members/{id}"), None)
            .await
            .status,
        200
    );
    sqlx::query(
        "update members set delete_after = now() - interval '1 second' where id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    control_plane::workers::housekeeping::run_once(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        admin_api
            .api("GET", &format!("/admin/members/{id}"), None)
            .await
            .status,
        404
    );
    let domains: i64 = sqlx::query_scalar("select count(*) from domains")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(domains, 0);
    // The history stays.
    let audit = admin_api.api("GET", "/admin/audit", None).await.json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "member.suspend",
        "member.unsuspend",
        "member.delete.request",
        "member.delete.cancel",
        "member.delete.purge",
        "domain.create",
        "invitation.accept",
        "collective.setup",
    ] {
        assert!(actions.contains(&a), "audit lacks {a}: {actions:?}");
    }
    let purge = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.delete.purge")
        .unwrap();
    assert_eq!(purge["details"]["email"], "alice@example.net");
    let setup = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "collective.setup")
        .unwrap();
    assert_eq!(setup["ip"], "127.0.0.1", "where from is recorded");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn pages_speak_french_when_asked(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let c = Client::new(&app);
    let en = c.get("/login").await;
    assert!(en.body.contains("lang=\"en\""));
    let r = c.get("/lang/fr?back=/login").await;
    assert_eq!(r.location(), "/login");
    let fr = c.get("/login").await;
    assert!(fr.body.contains("lang=\"fr\""));
    assert!(fr.body.contains("Mot de passe"), "{}", fr.body);
    // Errors speak the reader's language too, down to what was wrong with the value.
    let admin = setup_admin(&app).await;
    admin.get("/lang/fr?back=/account").await;
    let r = admin
        .post("/account/domains", &[("domain", "exa mple.org")])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("n’est pas autorisé"), "{}", r.body);
    let r = admin.post("/logout", &[]).await;
    assert_eq!(r.status, 303);
    let r = admin
        .post(
            "/login",
            &[
                ("email", "admin@abeilles.test"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert!(r.body.contains("mot de passe incorrect"), "{}", r.body);
    // An off-site return address is not followed: the browser goes home (`/`).
    assert_eq!(c.get("/lang/en?back=//evil.example").await.location(), "/");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_openapi_document_is_generated_and_served(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let doc = Client::new(&app).api("GET", "/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/domains/{id}/mailboxes"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    assert!(doc["components"]["schemas"]["Mailbox"].is_object());
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn invitations_expire_and_work_once(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let plan = plan_id(&app, "Standard").await;
    let r = admin
        .post(
            "/admin/invitations",
            &[("email", "late@example.net"), ("plan", &plan)],
        )
        .await;
    let link = r.text_of("invitation-link").unwrap();
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    sqlx::query("update invitations set expires_at = now() - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = Client::new(&app).get(&path).await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("no longer valid"));
    // A used invitation is dead too.
    let member = invite_member(&app, &admin, "alice@example.net").await;
    assert_eq!(member.get("/account").await.status, 200);
    let used = sqlx::query_scalar::<_, i64>(
        "select count(*) from invitations where accepted_at is not null",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(used, 1);
    // Inviting an address that already has an account is refused.
    let r = admin
        .post(
            "/admin/invitations",
            &[("email", "ALICE@example.net"), ("plan", &plan)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("already exists"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn admins_search_and_page_through_members(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    sqlx::query(
        "insert into members (id, email, display_name, password_hash)
         select gen_random_uuid(), 'member' || n || '@example.net', 'Member ' || n, 'x'
         from generate_series(1, 120) n",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let page1 = admin.get("/admin/members").await;
    let rows = |body: &str| {
        body.split("id=\"members\"")
            .nth(1)
            .unwrap()
            .split("</table>")
            .next()
            .unwrap()
            .matches("href=\"/admin/members/")
            .count()
    };
    assert_eq!(rows(&page1.body), 50);
    let page3 = admin.get("/admin/members?q=&page=3").await;
    assert_eq!(rows(&page3.body), 21, "121 members: 50 + 50 + 21");
    let found = admin.get("/admin/members?q=member11").await;
    // member11, member110 .. member119
    assert_eq!(rows(&found.body), 11);
    // Search text is data, not a pattern.
    assert_eq!(rows(&admin.get("/admin/members?q=%25").await.body), 0);
    let api = admin.with_bearer(&api_token(&admin).await);
    let list = api
        .api("GET", "/admin/members?q=Member%201&page=1", None)
        .await
        .json();
    assert_eq!(list["total"], 32, "Member 1, 10-19, 100-120");
    assert_eq!(list["pages"], 1);
}
