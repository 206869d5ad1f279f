//! The JSON API end to end: a member does through the API what the pages do.

use serde_json::json;

use super::support::*;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_member_manages_everything_through_the_api(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let plan = admin_api.api("GET", "/admin/plans", None).await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inv = admin_api
        .api(
            "POST",
            "/admin/invitations",
            Some(json!({"email": "dana@example.net", "plan_id": plan})),
        )
        .await;
    assert_eq!(inv.status, 201);
    let inv = inv.json();
    assert_eq!(inv["mail_sent"], false);
    assert!(inv["link"].as_str().unwrap().contains("/invite?token="));
    assert_eq!(
        admin_api
            .api("GET", "/admin/invitations", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let api = alice.with_bearer(&api_token(&alice).await);
    let d = api
        .api("POST", "/domains", Some(json!({"name": "Alice.Test"})))
        .await;
    assert_eq!(d.status, 201);
    let d = d.json();
    assert_eq!(d["name"], "alice.test");
    assert_eq!(d["status"], "pending_verification");
    let id = d["id"].as_str().unwrap();
    let mb = api
        .api(
            "POST",
            &format!("/domains/{id}/mailboxes"),
            Some(json!({"local_part": "Alice", "password": PASSWORD, "quota_mib": 512})),
        )
        .await;
    assert_eq!(mb.status, 201);
    assert_eq!(mb.json()["address"], "alice@alice.test");
    let catch_all = api
        .api(
            "POST",
            &format!("/domains/{id}/aliases"),
            Some(json!({"source": "*", "targets": ["alice@alice.test", "Backup@Example.NET"]})),
        )
        .await;
    assert_eq!(catch_all.status, 201, "{}", catch_all.body);
    assert_eq!(catch_all.json()["targets"][1], "Backup@example.net");
    let x = api
        .api(
            "POST",
            &format!("/domains/{id}/xmpp-accounts"),
            Some(json!({"node": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.json()["jid"], "alice@alice.test");
    let me = api.api("GET", "/me", None).await.json();
    assert_eq!(me["usage"]["mailboxes"], 1);
    assert_eq!(me["usage"]["aliases"], 1);
    assert_eq!(me["usage"]["storage_bytes"], 512 * 1024 * 1024);
    // The same objects show in the portal.
    let page = alice.get(&format!("/account/domains/{id}")).await;
    assert!(page.body.contains("alice@alice.test") && page.body.contains("*@alice.test"));
    // Deleting from the page returns to the domain.
    let alias_id = catch_all.json()["id"].as_str().unwrap().to_owned();
    let r = alice
        .post(&format!("/account/aliases/{alias_id}/delete"), &[])
        .await;
    assert_eq!(
        r.location(),
        format!("/account/domains/{id}?done=alias_deleted")
    );
    assert_eq!(
        api.api("GET", "/me", None).await.json()["usage"]["aliases"],
        0
    );
    let r = alice
        .post(&format!("/account/nonsense/{alias_id}/delete"), &[])
        .await;
    assert_eq!(r.status, 404);
    // Deleting the domain removes what is on it.
    assert_eq!(
        api.api("DELETE", &format!("/domains/{id}"), None)
            .await
            .status,
        204
    );
    let me = api.api("GET", "/me", None).await.json();
    assert_eq!(me["usage"]["mailboxes"], 0);
    assert_eq!(me["usage"]["domains"], 0);
}
