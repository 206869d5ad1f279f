//! Members choose which of their addresses are public (WebFinger, RFC 7033, answered on the
//! node): nothing is public until its member says so; a change moves the node's generation,
//! reaches it as that member's part of the delta and in the whole document, and writes its
//! audit entry; setting the value an address already has changes nothing. Only the member
//! changes or sees it: anyone else gets 404, an anonymous caller 401 (the portal: the login
//! page), a form without the CSRF token 403.

use protocol::desired::{DesiredState, Domain, Update};
use serde_json::json;

use super::support::*;

async fn whole(node: &Client) -> DesiredState {
    let r = node.json("GET", "/node-api/v1/desired?after=0", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

async fn delta(node: &Client, after: u64) -> protocol::desired::Delta {
    let r = node
        .json(
            "GET",
            &format!("/node-api/v1/desired?after={after}&delta=true&wait=1"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    match serde_json::from_str(&r.body).unwrap() {
        Update::Delta(d) => d,
        full @ Update::Full(_) => panic!("expected a delta, got {full:?}"),
    }
}

/// The domain `name` in the member's part of the document.
fn domain<'a>(doc: &'a DesiredState, member: &str, name: &str) -> &'a Domain {
    doc.tenants
        .iter()
        .find(|t| t.member_id == member)
        .and_then(|t| t.domains.iter().find(|d| d.name.as_str() == name))
        .unwrap_or_else(|| panic!("{name} of {member} not in {doc:?}"))
}

/// Whether (the mailbox, the XMPP account) of `domain` are public.
fn flags(d: &Domain) -> (bool, bool) {
    (d.mailboxes[0].public, d.xmpp_accounts[0].public)
}

/// The `mailbox.public` and `xmpp.public` entries of the audit log, oldest first.
async fn audit_entries(admin_api: &Client) -> Vec<serde_json::Value> {
    let log = admin_api.api("GET", "/admin/audit", None).await.json();
    let mut entries: Vec<serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "mailbox.public" || e["action"] == "xmpp.public")
        .cloned()
        .collect();
    entries.reverse();
    entries
}

async fn member_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>("select id from members where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .to_string()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_public_address_reaches_the_node_audited_and_only_its_member_changes_it(
    pool: sqlx::PgPool,
) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (node_id, node) = join_node(&app, &admin_api, "node-a").await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let bob_api = bob.with_bearer(&api_token(&bob).await);
    let alice_id = member_id(&app, "alice@example.net").await;

    let r = alice_api
        .api("POST", "/domains", Some(json!({"name": "alice.test"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json()["id"].as_str().unwrap().to_owned();
    verify_domain(&app, &d).await;
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "alice", "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["public"], false);
    let mb = r.json()["id"].as_str().unwrap().to_owned();
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/xmpp-accounts"),
            Some(json!({"node": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["public"], false);
    let x = r.json()["id"].as_str().unwrap().to_owned();
    // Bob's own domain, for calls that mix his domain with Alice's addresses.
    let r = bob_api
        .api("POST", "/domains", Some(json!({"name": "bob.test"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let bob_domain = r.json()["id"].as_str().unwrap().to_owned();

    // Not public by default: in the lists and in the node's document.
    for list in ["mailboxes", "xmpp-accounts"] {
        let r = alice_api
            .api("GET", &format!("/domains/{d}/{list}"), None)
            .await;
        assert_eq!(r.json()[0]["public"], false, "{list}: {}", r.body);
    }
    let before = whole(&node).await;
    assert_eq!(
        flags(domain(&before, &alice_id, "alice.test")),
        (false, false)
    );
    let (desired_before, _) = generations(&admin_api, &node_id).await;

    // Nobody else changes it: Bob (with Alice's domain, or with his own), the admin through
    // the member API, anyone without a token. All 404 but the last (401), and nothing moves.
    let mailbox_path = format!("/domains/{d}/mailboxes/{mb}");
    let xmpp_path = format!("/domains/{d}/xmpp-accounts/{x}");
    let on = Some(json!({"public": true}));
    for path in [
        mailbox_path.clone(),
        xmpp_path.clone(),
        format!("/domains/{bob_domain}/mailboxes/{mb}"),
        format!("/domains/{bob_domain}/xmpp-accounts/{x}"),
    ] {
        for (who, client) in [("bob", &bob_api), ("admin", &admin_api)] {
            let r = client.api("PATCH", &path, on.clone()).await;
            assert_eq!(r.status, 404, "{who} on {path}: {}", r.body);
            assert!(!r.body.contains("alice"), "{who} on {path}: {}", r.body);
        }
        let r = Client::new(&app).api("PATCH", &path, on.clone()).await;
        assert_eq!(r.status, 401, "anonymous on {path}: {}", r.body);
    }
    // Alice's own mailbox under a domain it is not on is not found either.
    let r = alice_api
        .api(
            "PATCH",
            &format!("/domains/{bob_domain}/mailboxes/{mb}"),
            on.clone(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Nor can Bob read it: his lists of Alice's domain are 404.
    let r = bob_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(generations(&admin_api, &node_id).await.0, desired_before);
    assert!(audit_entries(&admin_api).await.is_empty());

    // Alice makes her mailbox public: the answer is the mailbox, the generation moves, and the
    // delta names Alice alone, with the flag, and leads to the whole document.
    let r = alice_api.api("PATCH", &mailbox_path, on.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["id"], mb.as_str());
    assert_eq!(answer["address"], "alice@alice.test");
    assert_eq!(answer["public"], true);
    let (desired_after, _) = generations(&admin_api, &node_id).await;
    assert!(desired_after > desired_before, "{desired_after}");
    let step = delta(&node, before.generation).await;
    let changed: Vec<&str> = step.tenants.iter().map(|t| t.member_id.as_str()).collect();
    assert_eq!(changed, [alice_id.as_str()]);
    assert!(step.removed_tenants.is_empty() && step.dns.is_none());
    assert_eq!(
        flags(&step.tenants[0].domains[0]),
        (true, false),
        "{step:?}"
    );
    let after = whole(&node).await;
    assert_eq!(before.apply(&step).unwrap(), after);
    assert_eq!(
        flags(domain(&after, &alice_id, "alice.test")),
        (true, false)
    );
    let r = alice_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await;
    assert_eq!(r.json()[0]["public"], true, "{}", r.body);

    // The same value again changes nothing: no generation, no audit entry.
    let r = alice_api.api("PATCH", &mailbox_path, on.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["public"], true);
    assert_eq!(generations(&admin_api, &node_id).await.0, desired_after);

    // The XMPP account, then the mailbox back: each reaches the node.
    let r = alice_api.api("PATCH", &xmpp_path, on.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["jid"], "alice@alice.test");
    assert_eq!(r.json()["public"], true);
    let r = alice_api
        .api("PATCH", &mailbox_path, Some(json!({"public": false})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["public"], false);
    let step = delta(&node, after.generation).await;
    let changed: Vec<&str> = step.tenants.iter().map(|t| t.member_id.as_str()).collect();
    assert_eq!(changed, [alice_id.as_str()]);
    let latest = whole(&node).await;
    assert_eq!(after.apply(&step).unwrap(), latest);
    assert_eq!(
        flags(domain(&latest, &alice_id, "alice.test")),
        (false, true)
    );
    let r = alice_api
        .api("GET", &format!("/domains/{d}/xmpp-accounts"), None)
        .await;
    assert_eq!(r.json()[0]["public"], true, "{}", r.body);

    // A body without the flag, or with something else, is refused and changes nothing.
    for body in [json!({}), json!({"public": "yes"})] {
        let r = alice_api.api("PATCH", &xmpp_path, Some(body)).await;
        assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
    }
    assert_eq!(whole(&node).await, latest);

    // Three changes, three entries: who, which address, the new value.
    let entries = audit_entries(&admin_api).await;
    let seen: Vec<(&str, &serde_json::Value)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), &e["details"]))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "mailbox.public",
                &json!({"mailbox": mb, "address": "alice@alice.test", "public": true})
            ),
            (
                "xmpp.public",
                &json!({"account": x, "jid": "alice@alice.test", "public": true})
            ),
            (
                "mailbox.public",
                &json!({"mailbox": mb, "address": "alice@alice.test", "public": false})
            ),
        ]
    );
    for e in &entries {
        assert_eq!(e["actor_email"], "alice@example.net");
        assert_eq!(e["subject_member_id"], alice_id.as_str());
    }
}

/// The domain page says whether each address is public and its button switches it, with a
/// notice, in English and in French; a form without the CSRF token is refused; another member's
/// form is 404 and an anonymous one goes to the login page.
#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_portal_shows_and_switches_public_addresses_in_both_languages(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let alice_api = alice.with_bearer(&api_token(&alice).await);
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let d = add_domain(&alice, "alice.test").await;
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/mailboxes"),
            Some(json!({"local_part": "alice", "password": PASSWORD, "quota_mib": 100})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mb = r.json()["id"].as_str().unwrap().to_owned();
    let r = alice_api
        .api(
            "POST",
            &format!("/domains/{d}/xmpp-accounts"),
            Some(json!({"node": "chat", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let x = r.json()["id"].as_str().unwrap().to_owned();
    let page_path = format!("/account/domains/{d}");
    let mailbox_form = format!("/account/domains/{d}/mailboxes/{mb}/public");
    let xmpp_form = format!("/account/domains/{d}/xmpp/{x}/public");

    let page = alice.get(&page_path).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text_of(&format!("public-{mb}")).unwrap(), "Not public");
    assert_eq!(page.text_of(&format!("public-{x}")).unwrap(), "Not public");
    assert_eq!(
        page.text_of("mailboxes-public-hint").unwrap(),
        "Public means that anyone may look up this address's public profile (WebFinger): \
         the address and its XMPP address, nothing else."
    );
    assert!(page.body.contains(&format!("action=\"{mailbox_form}\"")));
    assert!(page.body.contains(&format!("action=\"{xmpp_form}\"")));
    assert!(page.body.contains(">Make public</button>"));

    // Without the token, or from another site: 403, and nothing changes.
    let r = alice.post_raw(&mailbox_form, &[("public", "true")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let csrf = alice.cookie("__Host-ruche_csrf").unwrap();
    let r = alice
        .post_raw(
            &mailbox_form,
            &[
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("public", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Another member, or nobody signed in: not found, or the login page.
    let r = bob.post(&mailbox_form, &[("public", "true")]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = bob.post(&xmpp_form, &[("public", "true")]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let anonymous = Client::new(&app);
    let r = anonymous.post(&mailbox_form, &[("public", "true")]).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/login"), "{}", r.location());
    let page = alice.get(&page_path).await;
    assert_eq!(page.text_of(&format!("public-{mb}")).unwrap(), "Not public");

    // The button: back to the page with a notice, which shows the new state and the other
    // button.
    let r = alice
        .post_raw(&mailbox_form, &[("csrf", &csrf), ("public", "true")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("{page_path}?done=address_public"));
    let page = alice.get(r.location()).await;
    assert!(page.body.contains(
        "<div class=\"flash\" role=\"status\">The address is now public in WebFinger.</div>"
    ));
    assert_eq!(
        page.text_of(&format!("public-{mb}")).unwrap(),
        "Public in WebFinger"
    );
    assert_eq!(page.text_of(&format!("public-{x}")).unwrap(), "Not public");
    assert!(page.body.contains(">Stop publishing</button>"));
    let r = alice_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await;
    assert_eq!(r.json()[0]["public"], true, "{}", r.body);

    // In French.
    alice.get("/lang/fr?back=/account").await;
    let r = alice.post(&xmpp_form, &[("public", "true")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = alice.get(r.location()).await;
    assert!(page.body.contains(
        "<div class=\"flash\" role=\"status\">L’adresse est désormais publique dans WebFinger.</div>"
    ));
    assert_eq!(
        page.text_of(&format!("public-{x}")).unwrap(),
        "Publique dans WebFinger"
    );
    assert_eq!(
        page.text_of("xmpp-public-hint").unwrap(),
        "Publique signifie que n’importe qui peut consulter le profil public de cette adresse \
         (WebFinger)\u{a0}: l’adresse et son adresse XMPP, rien d’autre."
    );
    assert!(page.body.contains(">Ne plus publier</button>"));
    let r = alice.post(&mailbox_form, &[("public", "false")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("{page_path}?done=address_not_public"));
    let page = alice.get(r.location()).await;
    assert!(page
        .body
        .contains("<div class=\"flash\" role=\"status\">L’adresse n’est plus publique.</div>"));
    assert_eq!(
        page.text_of(&format!("public-{mb}")).unwrap(),
        "Non publique"
    );
    assert!(page.body.contains(">Rendre publique</button>"));

    // A malformed value is refused and changes nothing.
    let r = alice.post(&mailbox_form, &[("public", "maybe")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = alice_api
        .api("GET", &format!("/domains/{d}/mailboxes"), None)
        .await;
    assert_eq!(r.json()[0]["public"], false, "{}", r.body);
}
