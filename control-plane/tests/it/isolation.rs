//! Tenant isolation: every route and API endpoint, called as anonymous, as member B on member
//! A's objects, as a member on admin routes, and as the admin on members' objects. Nobody reads
//! or changes what is not theirs, and other members' objects are 404 (not 403), so their
//! existence does not leak. The walk also checks that it covers every endpoint of the OpenAPI
//! document, so a new endpoint cannot skip it.

use std::collections::HashMap;

use serde_json::json;

use super::support::*;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Kind {
    MemberPage,
    AdminPage,
    MemberApi,
    AdminApi,
}

use Kind::*;

/// (method, path template, kind). Placeholders are filled with member A's objects. The load test
/// (`load.rs`) walks the GET routes of this same list.
pub(crate) const ROUTES: &[(&str, &str, Kind)] = &[
    ("GET", "/account", MemberPage),
    ("POST", "/account/domains", MemberPage),
    ("GET", "/account/domains/{domain}", MemberPage),
    ("POST", "/account/domains/{domain}/delete", MemberPage),
    ("POST", "/account/domains/{domain}/mailboxes", MemberPage),
    ("POST", "/account/mailboxes/{mailbox}/delete", MemberPage),
    (
        "POST",
        "/account/domains/{domain}/mailboxes/{mailbox}/public",
        MemberPage,
    ),
    ("POST", "/account/domains/{domain}/aliases", MemberPage),
    ("POST", "/account/aliases/{alias}/delete", MemberPage),
    ("POST", "/account/domains/{domain}/xmpp", MemberPage),
    ("POST", "/account/xmpp/{xmpp}/delete", MemberPage),
    (
        "POST",
        "/account/domains/{domain}/xmpp/{xmpp}/public",
        MemberPage,
    ),
    ("POST", "/account/domains/{domain}/verify", MemberPage),
    ("POST", "/account/domains/{domain}/records", MemberPage),
    (
        "POST",
        "/account/domains/{domain}/records/{record}",
        MemberPage,
    ),
    (
        "POST",
        "/account/domains/{domain}/records/{record}/delete",
        MemberPage,
    ),
    ("GET", "/account/security", MemberPage),
    ("POST", "/account/password", MemberPage),
    ("POST", "/account/totp/start", MemberPage),
    ("POST", "/account/totp/confirm", MemberPage),
    ("POST", "/account/totp/disable", MemberPage),
    ("POST", "/account/app-passwords", MemberPage),
    (
        "POST",
        "/account/app-passwords/{app_password}/revoke",
        MemberPage,
    ),
    ("POST", "/account/api-tokens", MemberPage),
    ("POST", "/account/api-tokens/{api_token}/revoke", MemberPage),
    ("POST", "/account/sessions/revoke-others", MemberPage),
    ("GET", "/admin", AdminPage),
    ("GET", "/admin/plans", AdminPage),
    ("POST", "/admin/plans", AdminPage),
    ("GET", "/admin/plans/{plan}", AdminPage),
    ("POST", "/admin/plans/{plan}", AdminPage),
    ("GET", "/admin/members", AdminPage),
    ("GET", "/admin/members/{member}", AdminPage),
    ("POST", "/admin/members/{member}/plan", AdminPage),
    ("POST", "/admin/members/{member}/node", AdminPage),
    ("POST", "/admin/members/{member}/suspend", AdminPage),
    ("POST", "/admin/members/{member}/unsuspend", AdminPage),
    ("POST", "/admin/members/{member}/delete", AdminPage),
    ("POST", "/admin/members/{member}/cancel-delete", AdminPage),
    ("GET", "/admin/invitations", AdminPage),
    ("POST", "/admin/invitations", AdminPage),
    ("POST", "/admin/invitations/{invitation}/revoke", AdminPage),
    ("GET", "/admin/audit", AdminPage),
    ("GET", "/admin/nodes", AdminPage),
    ("POST", "/admin/nodes", AdminPage),
    ("GET", "/admin/nodes/{node}", AdminPage),
    ("GET", "/admin/dns", AdminPage),
    ("POST", "/admin/dns/external-secondaries", AdminPage),
    (
        "POST",
        "/admin/dns/external-secondaries/{external}/delete",
        AdminPage,
    ),
    (
        "POST",
        "/admin/dns/external-secondaries/{external}/rotate-keys",
        AdminPage,
    ),
    (
        "POST",
        "/admin/dns/external-secondaries/{external}/reveal-keys",
        AdminPage,
    ),
    ("POST", "/admin/nodes/{node}/dns/rotate-keys", AdminPage),
    ("POST", "/admin/nodes/{node}/operator", AdminPage),
    ("POST", "/admin/nodes/{node}/revoke", AdminPage),
    ("POST", "/admin/nodes/{node}/rotate", AdminPage),
    ("GET", "/me", MemberApi),
    ("GET", "/domains", MemberApi),
    ("POST", "/domains", MemberApi),
    ("GET", "/domains/{domain}", MemberApi),
    ("DELETE", "/domains/{domain}", MemberApi),
    ("POST", "/domains/{domain}/verify", MemberApi),
    ("GET", "/domains/{domain}/records", MemberApi),
    ("POST", "/domains/{domain}/records", MemberApi),
    ("PUT", "/domains/{domain}/records/{record}", MemberApi),
    ("DELETE", "/domains/{domain}/records/{record}", MemberApi),
    ("GET", "/domains/{domain}/mailboxes", MemberApi),
    ("POST", "/domains/{domain}/mailboxes", MemberApi),
    ("DELETE", "/mailboxes/{mailbox}", MemberApi),
    ("PATCH", "/domains/{domain}/mailboxes/{mailbox}", MemberApi),
    ("GET", "/domains/{domain}/aliases", MemberApi),
    ("POST", "/domains/{domain}/aliases", MemberApi),
    ("DELETE", "/aliases/{alias}", MemberApi),
    ("GET", "/domains/{domain}/xmpp-accounts", MemberApi),
    ("POST", "/domains/{domain}/xmpp-accounts", MemberApi),
    ("DELETE", "/xmpp-accounts/{xmpp}", MemberApi),
    ("PATCH", "/domains/{domain}/xmpp-accounts/{xmpp}", MemberApi),
    ("GET", "/app-passwords", MemberApi),
    ("POST", "/app-passwords", MemberApi),
    ("DELETE", "/app-passwords/{app_password}", MemberApi),
    ("GET", "/api-tokens", MemberApi),
    ("POST", "/api-tokens", MemberApi),
    ("DELETE", "/api-tokens/{api_token}", MemberApi),
    ("GET", "/admin/plans", AdminApi),
    ("POST", "/admin/plans", AdminApi),
    ("PUT", "/admin/plans/{plan}", AdminApi),
    ("GET", "/admin/members", AdminApi),
    ("GET", "/admin/members/{member}", AdminApi),
    ("PUT", "/admin/members/{member}/plan", AdminApi),
    ("PUT", "/admin/members/{member}/node", AdminApi),
    ("POST", "/admin/members/{member}/suspend", AdminApi),
    ("GET", "/admin/invitations", AdminApi),
    ("POST", "/admin/invitations", AdminApi),
    ("DELETE", "/admin/invitations/{invitation}", AdminApi),
    ("GET", "/admin/audit", AdminApi),
    ("GET", "/admin/nodes", AdminApi),
    ("POST", "/admin/nodes", AdminApi),
    ("GET", "/admin/dns", AdminApi),
    ("GET", "/admin/workers", AdminApi),
    ("POST", "/admin/dns/external-secondaries", AdminApi),
    (
        "DELETE",
        "/admin/dns/external-secondaries/{external}",
        AdminApi,
    ),
    (
        "POST",
        "/admin/dns/external-secondaries/{external}/rotate-keys",
        AdminApi,
    ),
    (
        "POST",
        "/admin/dns/external-secondaries/{external}/reveal-keys",
        AdminApi,
    ),
    ("POST", "/admin/nodes/{node}/dns/rotate-keys", AdminApi),
    ("PUT", "/admin/nodes/{node}/operator", AdminApi),
    ("POST", "/admin/nodes/{node}/revoke", AdminApi),
    ("POST", "/admin/nodes/{node}/rotate", AdminApi),
];

/// A well-formed node id for the node routes (the walk is about who asks, not which node).
const NO_NODE: &str = "00000000-0000-4000-8000-000000000000";

/// Does this route name a particular object (so that member B must get 404 on A's)?
fn names_object(path: &str) -> bool {
    path.contains('{')
}

pub(crate) fn fill(template: &str, ids: &HashMap<&str, String>) -> String {
    let mut s = template.to_owned();
    for (k, v) in ids {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// A valid form or body for each writing route, so that a refusal is about who asks, not
/// about malformed input.
fn form_for(path: &str) -> Vec<(&'static str, &'static str)> {
    if path.contains("/records") && !path.ends_with("/delete") {
        vec![
            ("name", "intruder"),
            ("type", "A"),
            ("ttl", ""),
            ("value", "192.0.2.66"),
        ]
    } else if path.ends_with("/mailboxes") {
        vec![
            ("local_part", "intruder"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("quota_mib", "10"),
        ]
    } else if path.ends_with("/aliases") {
        vec![("source", "intruder"), ("targets", "x@example.net")]
    } else if path.ends_with("/xmpp") {
        vec![
            ("node", "intruder"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ]
    } else if path.ends_with("/public") {
        vec![("public", "true")]
    } else if path == "/account/domains" {
        vec![("domain", "intruder.test")]
    } else if path.ends_with("/node") {
        vec![("node_id", NO_NODE)]
    } else if path.ends_with("/operator") {
        vec![("operator", "intruder")]
    } else if path == "/admin/dns/external-secondaries" {
        vec![
            ("nameserver", "ns.intruder.example"),
            ("address", "192.0.2.66"),
        ]
    } else {
        vec![]
    }
}

fn body_for(path: &str, plan: &str) -> Option<serde_json::Value> {
    Some(if path.contains("/records") {
        json!({"name": "intruder", "type": "A", "value": "192.0.2.66"})
    } else if path.ends_with("/mailboxes") {
        json!({"local_part": "intruder", "password": PASSWORD, "quota_mib": 10})
    } else if path.ends_with("/aliases") {
        json!({"source": "intruder", "targets": ["x@example.net"]})
    } else if path.ends_with("/xmpp-accounts") {
        json!({"node": "intruder", "password": PASSWORD})
    } else if path.contains("/mailboxes/") || path.contains("/xmpp-accounts/") {
        json!({"public": true})
    } else if path == "/domains" {
        json!({"name": "intruder.test"})
    } else if path.ends_with("/plan") {
        json!({"plan_id": plan})
    } else if path.ends_with("/node") {
        json!({"node_id": NO_NODE})
    } else if path.starts_with("/admin/plans") {
        json!({"name": "Intruder", "max_domains": 1, "max_mailboxes": 1, "max_aliases": 1, "max_xmpp_accounts": 1, "storage_mib": 1})
    } else if path == "/admin/invitations" {
        json!({"email": "intruder@example.net", "plan_id": plan})
    } else if path == "/app-passwords" {
        json!({"label": "x", "scope": "imap"})
    } else if path == "/admin/nodes" {
        json!({"name": "intruder"})
    } else if path.ends_with("/operator") {
        json!({"operator": "intruder"})
    } else if path == "/admin/dns/external-secondaries" {
        json!({"nameserver": "ns.intruder.example", "address": "192.0.2.66"})
    } else if path == "/api-tokens" {
        json!({"label": "x"})
    } else {
        return None;
    })
}

/// Gives a member one of everything through the API; returns the ids by placeholder name.
pub(crate) async fn populate(api: &Client, domain: &str) -> HashMap<&'static str, String> {
    let mut ids = HashMap::new();
    let d = api
        .api("POST", "/domains", Some(json!({"name": domain})))
        .await;
    assert_eq!(d.status, 201, "{}", d.body);
    let d = d.json()["id"].as_str().unwrap().to_owned();
    let m = api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "alice", "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.body);
    let a = api
        .api(
            "POST",
            &format!("/domains/{d}/aliases"),
            Some(json!({"source": "info", "targets": [format!("alice@{domain}")]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let x = api
        .api(
            "POST",
            &format!("/domains/{d}/xmpp-accounts"),
            Some(json!({"node": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.status, 201, "{}", x.body);
    let p = api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "phone", "scope": "imap"})),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let t = api
        .api("POST", "/api-tokens", Some(json!({"label": "second"})))
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let r = api
        .api(
            "POST",
            &format!("/domains/{d}/records"),
            Some(json!({"name": "blog", "type": "TXT", "value": "mine"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    ids.insert("record", r.json()["id"].as_str().unwrap().to_owned());
    ids.insert("domain", d);
    ids.insert("mailbox", m.json()["id"].as_str().unwrap().to_owned());
    ids.insert("alias", a.json()["id"].as_str().unwrap().to_owned());
    ids.insert("xmpp", x.json()["id"].as_str().unwrap().to_owned());
    ids.insert(
        "app_password",
        p.json()["app_password"]["id"].as_str().unwrap().to_owned(),
    );
    ids.insert(
        "api_token",
        t.json()["api_token"]["id"].as_str().unwrap().to_owned(),
    );
    ids
}

async fn call(client: &Client, method: &str, path: &str, kind: Kind, plan: &str) -> Resp {
    match kind {
        MemberPage | AdminPage if method == "GET" => client.get(path).await,
        MemberPage | AdminPage => client.post(path, &form_for(path)).await,
        MemberApi | AdminApi => {
            let body = if matches!(method, "POST" | "PUT" | "PATCH") {
                body_for(path, plan)
            } else {
                None
            };
            client.api(method, path, body).await
        }
    }
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn nobody_reaches_what_is_not_theirs(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let admin_api = admin.with_bearer(&api_token(&admin).await);

    let mut ids = populate(&alice_api, "alice.test").await;
    populate(&bob_api, "bob.test").await;
    let me = alice_api.api("GET", "/me", None).await.json();
    ids.insert("member", me["member"]["id"].as_str().unwrap().to_owned());
    let plan = plan_id(&app, "Standard").await;
    ids.insert("plan", plan.clone());
    // The admin-only node and external secondary routes: any well-formed id will do.
    ids.insert("node", NO_NODE.to_owned());
    ids.insert("external", NO_NODE.to_owned());
    let inv = admin_api
        .api(
            "POST",
            "/admin/invitations",
            Some(json!({"email": "carol@example.net", "plan_id": plan})),
        )
        .await;
    assert_eq!(inv.status, 201, "{}", inv.body);
    ids.insert(
        "invitation",
        inv.json()["invitation"]["id"].as_str().unwrap().to_owned(),
    );

    let anonymous = Client::new(&app);
    let anonymous_api = Client::new(&app);
    for &(method, template, kind) in ROUTES {
        let path = fill(template, &ids);
        let what = format!("{method} {path} ({kind:?})");

        // Anonymous: pages send to the login page, the API answers 401.
        let r = match kind {
            MemberApi | AdminApi => call(&anonymous_api, method, &path, kind, &plan).await,
            _ => call(&anonymous, method, &path, kind, &plan).await,
        };
        match kind {
            MemberPage | AdminPage => {
                assert_eq!(r.status, 303, "anonymous {what}: {}", r.body);
                assert!(
                    r.location().starts_with("/login"),
                    "anonymous {what} -> {}",
                    r.location()
                );
            }
            MemberApi | AdminApi => assert_eq!(r.status, 401, "anonymous {what}"),
        }

        // A member on admin routes: 404, as if they did not exist.
        if matches!(kind, AdminPage | AdminApi) {
            let client = if kind == AdminApi { &bob_api } else { &bob };
            let r = call(client, method, &path, kind, &plan).await;
            assert_eq!(r.status, 404, "member on {what}: {}", r.body);
        }

        // Member B on member A's objects: 404.
        if matches!(kind, MemberPage | MemberApi) && names_object(template) {
            let client = if kind == MemberApi { &bob_api } else { &bob };
            let r = call(client, method, &path, kind, &plan).await;
            assert_eq!(r.status, 404, "bob on alice's {what}: {}", r.body);
            // The admin is no exception: members' objects are theirs alone.
            let client = if kind == MemberApi {
                &admin_api
            } else {
                &admin
            };
            let r = call(client, method, &path, kind, &plan).await;
            assert_eq!(r.status, 404, "admin on alice's {what}: {}", r.body);
        }
    }

    // Ids in a body are checked like ids in a path: Bob cannot bind an app password to
    // Alice's mailbox (404, as if it did not exist).
    let r = bob_api
        .api(
            "POST",
            "/app-passwords",
            Some(json!({"label": "x", "scope": "imap", "mailbox_id": ids["mailbox"]})),
        )
        .await;
    assert_eq!(r.status, 404, "bob binding to alice's mailbox: {}", r.body);

    // Nothing of Alice's was changed by all that.
    let d = &ids["domain"];
    let domains = alice_api.api("GET", "/domains", None).await.json();
    assert_eq!(domains.as_array().unwrap().len(), 1);
    for (list, n) in [
        ("mailboxes", 1),
        ("aliases", 1),
        ("xmpp-accounts", 1),
        ("records", 1),
    ] {
        let r = alice_api
            .api("GET", &format!("/domains/{d}/{list}"), None)
            .await;
        assert_eq!(r.json().as_array().unwrap().len(), n, "{list}: {}", r.body);
        if list == "mailboxes" || list == "xmpp-accounts" {
            assert_eq!(r.json()[0]["public"], false, "{list}: {}", r.body);
        }
    }
    assert_eq!(
        alice_api
            .api("GET", "/app-passwords", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        alice_api
            .api("GET", "/api-tokens", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let me = alice_api.api("GET", "/me", None).await.json();
    assert_eq!(me["member"]["status"], "active");
    // And Bob's lists never show Alice's objects.
    let bobs = bob_api.api("GET", "/domains", None).await.body;
    assert!(!bobs.contains(&ids["domain"]) && !bobs.contains("alice.test"));

    // What a node reports about Alice (her DKIM key, her mailbox's usage, her status) shows in
    // her views and in nobody else's.
    let (_, node) = join_node(&app, &admin_api, "node-a").await;
    let alice_key = public_key(7);
    let r = heartbeat(
        &node,
        json!({"version": "0.1.0", "observed_generation": 1,
               "dkim_keys": [{"domain": "alice.test", "selector": "alicesel", "public_key": alice_key}],
               "usage": [{"address": "alice@alice.test", "bytes": 777_777, "messages": 77}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let alices = alice_api
        .api("GET", &format!("/domains/{d}"), None)
        .await
        .body;
    assert!(alices.contains("alicesel") && alices.contains(&alice_key));
    let alices = alice_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await
        .body;
    assert!(alices.contains("777777"));
    let bob_domain = bob_api.api("GET", "/domains", None).await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (client, path) in [
        (&bob_api, "/domains".to_owned()),
        (&bob_api, "/me".to_owned()),
        (&bob_api, format!("/domains/{bob_domain}")),
        (&bob_api, format!("/domains/{bob_domain}/mailboxes")),
        (&admin_api, "/domains".to_owned()),
        (&admin_api, "/me".to_owned()),
    ] {
        let body = client.api("GET", &path, None).await.body;
        for secret in ["alicesel", alice_key.as_str(), "777777", "alice.test"] {
            assert!(!body.contains(secret), "{path} shows {secret}: {body}");
        }
    }
    for (client, path) in [
        (&bob, "/account".to_owned()),
        (&bob, format!("/account/domains/{bob_domain}")),
    ] {
        let body = client.get(&path).await.body;
        for secret in ["alicesel", alice_key.as_str(), "alice.test"] {
            assert!(!body.contains(secret), "{path} shows {secret}");
        }
    }
    for path in [format!("/domains/{d}"), format!("/domains/{d}/mailboxes")] {
        let r = bob_api.api("GET", &path, None).await;
        assert_eq!(r.status, 404, "{path}");
    }

    // The walk covers every endpoint of the API document.
    let doc = anonymous_api.api("GET", "/openapi.json", None).await.json();
    let walked: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|(_, _, k)| matches!(k, MemberApi | AdminApi))
        .map(|(m, p, _)| (m.to_lowercase(), (*p).to_owned()))
        .collect();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let generic = path
                .replace("{id}", "{x}")
                .replace("{record_id}", "{x}")
                .replace("{mailbox_id}", "{x}")
                .replace("{account_id}", "{x}")
                .replace("{action}", "suspend");
            let covered = walked.iter().any(|(m, p)| {
                m == method && {
                    let mut t = p.clone();
                    for k in [
                        "domain",
                        "mailbox",
                        "alias",
                        "xmpp",
                        "app_password",
                        "api_token",
                        "member",
                        "plan",
                        "invitation",
                        "node",
                        "external",
                        "record",
                    ] {
                        t = t.replace(&format!("{{{k}}}"), "{x}");
                    }
                    t == generic
                }
            });
            assert!(covered, "the isolation walk does not cover {method} {path}");
        }
    }
}
