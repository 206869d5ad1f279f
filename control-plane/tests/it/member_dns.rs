//! A member's side of DNS: their own records (API and portal), every refusal naming its field,
//! the registrar checklist in the domain JSON and page, and "Check now". The lookups themselves
//! run against real Knot in the end-to-end tests; here the resolver is a closed port.

use serde_json::json;

use super::support::*;

async fn member_api(app: &TestApp) -> (Client, Client, Client) {
    let admin = setup_admin(app).await;
    let alice = invite_member(app, &admin, "alice@example.net").await;
    let api = alice.with_bearer(&api_token(&alice).await);
    (admin, alice, api)
}

async fn new_domain(api: &Client, name: &str) -> String {
    let r = api
        .api("POST", "/domains", Some(json!({"name": name})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn add(api: &Client, d: &str, body: serde_json::Value) -> Resp {
    api.api("POST", &format!("/domains/{d}/records"), Some(body))
        .await
}

/// The field a 422 names.
fn field(r: &Resp) -> String {
    assert_eq!(r.status, 422, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    body["error"]["fields"][0]["field"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn records_are_created_listed_changed_and_deleted(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (_, _, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let path = format!("/domains/{d}/records");
    assert_eq!(api.api("GET", &path, None).await.json(), json!([]));

    let r = add(
        &api,
        &d,
        json!({"name": "Blog", "type": "cname", "value": "Host.Example.NET."}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let blog = r.json();
    // Stored and shown in canonical form, TTL one hour by default.
    assert_eq!(blog["name"], "blog");
    assert_eq!(blog["type"], "CNAME");
    assert_eq!(blog["ttl"], 3600);
    assert_eq!(blog["value"], "host.example.net");
    let blog_id = blog["id"].as_str().unwrap().to_owned();

    for body in [
        json!({"name": "@", "type": "TXT", "ttl": 300, "value": "google-site-verification=abc \"quoted\""}),
        json!({"name": "*.dev", "type": "A", "ttl": "600", "value": "192.0.2.9"}),
        json!({"name": "lists", "type": "MX", "value": "10  mx.example.net"}),
        json!({"name": "_sip._tcp", "type": "SRV", "value": "10 5 5060 sip.example.net"}),
        json!({"name": "", "type": "CAA", "value": "0 issue \"sectigo.com\""}),
        json!({"name": "s1._domainkey", "type": "CNAME", "value": "s1._domainkey.mailer.example"}),
        json!({"name": "v6", "type": "AAAA", "value": "2001:DB8::1"}),
    ] {
        let r = add(&api, &d, body.clone()).await;
        assert_eq!(r.status, 201, "{body}: {}", r.body);
    }
    let list = api.api("GET", &path, None).await.json();
    let lines: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {} {}", r["name"], r["type"], r["ttl"], r["value"]))
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    assert!(lines.contains(&"\"lists\" \"MX\" 3600 \"10 mx.example.net\"".to_owned()));
    assert!(lines.contains(&"\"*.dev\" \"A\" 600 \"192.0.2.9\"".to_owned()));
    assert!(lines.contains(&"\"@\" \"CAA\" 3600 \"0 issue \\\"sectigo.com\\\"\"".to_owned()));
    assert!(lines.contains(&"\"v6\" \"AAAA\" 3600 \"2001:db8::1\"".to_owned()));
    // The apex comes first.
    assert_eq!(list[0]["name"], "@");

    // Replace: every field, TTL back to the default when absent.
    let one = format!("{path}/{blog_id}");
    let r = api
        .api(
            "PUT",
            &one,
            Some(json!({"name": "blog", "type": "A", "value": "192.0.2.7"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"id": blog_id, "name": "blog", "type": "A", "ttl": 3600, "value": "192.0.2.7"})
    );
    // Replacing a record by itself is no conflict with itself.
    let r = api
        .api(
            "PUT",
            &one,
            Some(json!({"name": "blog", "type": "A", "ttl": 120, "value": "192.0.2.7"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = api.api("DELETE", &one, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(api.api("DELETE", &one, None).await.status, 404);
    assert_eq!(
        api.api(
            "PUT",
            &one,
            Some(json!({"name": "x", "type": "A", "value": "192.0.2.1"}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.api("GET", &path, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        7
    );

    // Every change is in the audit log, with the record.
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like 'dns_record.%' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(actions.len(), 8 + 2 + 1, "{actions:?}");
    assert_eq!(actions.last().unwrap(), "dns_record.delete");
    let update: serde_json::Value = sqlx::query_scalar(
        "select details from audit_log where action = 'dns_record.update' order by id limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(update["before"]["type"], "CNAME");
    assert_eq!(update["type"], "A");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn hostile_and_refused_records_name_their_field(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (_, _, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let long_label = "a".repeat(64);
    let long_name = vec!["abcdefghi"; 26].join(".");
    assert!(long_name.len() > 255);
    let cases: Vec<(serde_json::Value, &str)> = vec![
        // Injection attempts: line breaks, comments, directives, quotes.
        (
            json!({"name": "www2\nevil", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "a;b", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "$INCLUDE", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "$ORIGIN evil.", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (json!({"name": "a\"b", "type": "TXT", "value": "x"}), "name"),
        (
            json!({"name": "host", "type": "A", "value": "192.0.2.1\n@ IN NS evil.example."}),
            "value",
        ),
        (
            json!({"name": "host", "type": "A", "value": "\"192.0.2.1\""}),
            "value",
        ),
        (
            json!({"name": "host", "type": "TXT", "value": "line\nbreak"}),
            "value",
        ),
        (
            json!({"name": "host", "type": "TXT", "value": "caf\u{e9}"}),
            "value",
        ),
        (
            json!({"name": "host", "type": "CNAME", "value": "evil.example.org. ; x"}),
            "value",
        ),
        (
            json!({"name": "host", "type": "MX", "value": "10 mx.example.org\n$INCLUDE /etc/passwd"}),
            "value",
        ),
        (
            json!({"name": "@", "type": "CAA", "value": "0 issue \"a\" \"b\""}),
            "value",
        ),
        (
            json!({"name": "host", "type": "A\n", "value": "192.0.2.1"}),
            "type",
        ),
        // Lengths.
        (
            json!({"name": long_label, "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": long_name, "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "host", "type": "TXT", "value": "x".repeat(2049)}),
            "value",
        ),
        // Wildcards only as the whole first label.
        (
            json!({"name": "a.*.b", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "**", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "*foo", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "*.*", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "www.example.test.", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        // Types that belong to the platform.
        (
            json!({"name": "sub", "type": "NS", "value": "ns.evil.example"}),
            "type",
        ),
        (json!({"name": "@", "type": "SOA", "value": "x"}), "type"),
        (
            json!({"name": "@", "type": "DS", "value": "1 13 2 AB"}),
            "type",
        ),
        // Names and records the platform writes.
        (
            json!({"name": "@", "type": "CNAME", "value": "host.example.net"}),
            "type",
        ),
        (
            json!({"name": "@", "type": "MX", "value": "10 mx.example.net"}),
            "type",
        ),
        (
            json!({"name": "@", "type": "A", "value": "192.0.2.1"}),
            "type",
        ),
        (
            json!({"name": "@", "type": "TXT", "value": "v=spf1 include:evil.example -all"}),
            "value",
        ),
        (
            json!({"name": "@", "type": "TXT", "value": "V=SPF1 +all"}),
            "value",
        ),
        (
            json!({"name": "_dmarc", "type": "TXT", "value": "v=DMARC1; p=none"}),
            "name",
        ),
        (
            json!({"name": "r202611._domainkey", "type": "TXT", "value": "v=DKIM1; p=x"}),
            "name",
        ),
        (
            json!({"name": "www", "type": "CNAME", "value": "host.example.net"}),
            "name",
        ),
        (
            json!({"name": "mta-sts", "type": "A", "value": "192.0.2.1"}),
            "name",
        ),
        (
            json!({"name": "_ruche-challenge", "type": "TXT", "value": "ruche-verify=x"}),
            "name",
        ),
        (
            json!({"name": "_imaps._tcp", "type": "SRV", "value": "0 1 993 evil.example"}),
            "name",
        ),
        // TTLs.
        (
            json!({"name": "host", "type": "A", "ttl": 30, "value": "192.0.2.1"}),
            "ttl",
        ),
        (
            json!({"name": "host", "type": "A", "ttl": 86401, "value": "192.0.2.1"}),
            "ttl",
        ),
        (
            json!({"name": "host", "type": "A", "ttl": -1, "value": "192.0.2.1"}),
            "ttl",
        ),
        (
            json!({"name": "host", "type": "A", "ttl": 3600.5, "value": "192.0.2.1"}),
            "ttl",
        ),
        (
            json!({"name": "host", "type": "A", "ttl": "1e3", "value": "192.0.2.1"}),
            "ttl",
        ),
        (
            json!({"name": "host", "type": "A", "ttl": [1], "value": "192.0.2.1"}),
            "ttl",
        ),
    ];
    for (body, expected) in &cases {
        let r = add(&api, &d, body.clone()).await;
        assert_eq!(field(&r), *expected, "{body}: {}", r.body);
        // The message says what is wrong without echoing the input.
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(&format!("{expected}: ")), "{message}");
        assert!(
            !message.contains('\n') && !message.contains("evil"),
            "{message}"
        );
    }
    // None of it was stored.
    let n: i64 = sqlx::query_scalar("select count(*) from dns_records")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    // The full name must fit in 253 characters with the member's domain.
    let long_domain = format!("{}.{}.test", "d".repeat(63), "e".repeat(63));
    let ld = new_domain(&api, &long_domain).await;
    let owner = format!("{}.{}", "f".repeat(63), "g".repeat(60));
    let r = add(
        &api,
        &ld,
        json!({"name": owner, "type": "A", "value": "192.0.2.1"}),
    )
    .await;
    assert_eq!(field(&r), "name");
    assert!(r.body.contains("253"), "{}", r.body);
    let r = add(
        &api,
        &d,
        json!({"name": owner, "type": "A", "value": "192.0.2.1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cname_stays_alone_and_a_domain_has_at_most_200_records(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (_, _, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let ok = |r: Resp| assert_eq!(r.status, 201, "{}", r.body);
    ok(add(
        &api,
        &d,
        json!({"name": "blog", "type": "A", "value": "192.0.2.1"}),
    )
    .await);
    ok(add(
        &api,
        &d,
        json!({"name": "cn", "type": "CNAME", "value": "host.example.net"}),
    )
    .await);
    // A CNAME where a record exists, a record where a CNAME exists, a second CNAME.
    let r = add(
        &api,
        &d,
        json!({"name": "blog", "type": "CNAME", "value": "host.example.net"}),
    )
    .await;
    assert_eq!(field(&r), "name");
    assert!(r.body.contains("only record"), "{}", r.body);
    let r = add(&api, &d, json!({"name": "cn", "type": "TXT", "value": "x"})).await;
    assert_eq!(field(&r), "name");
    let r = add(
        &api,
        &d,
        json!({"name": "CN", "type": "CNAME", "value": "other.example.net"}),
    )
    .await;
    assert_eq!(field(&r), "name");
    // The same record twice.
    let r = add(
        &api,
        &d,
        json!({"name": "blog", "type": "A", "ttl": 60, "value": "192.0.2.1"}),
    )
    .await;
    assert_eq!(field(&r), "value");
    // Other records beside an A are fine.
    ok(add(
        &api,
        &d,
        json!({"name": "blog", "type": "A", "value": "192.0.2.2"}),
    )
    .await);
    ok(add(
        &api,
        &d,
        json!({"name": "blog", "type": "TXT", "value": "hello"}),
    )
    .await);
    // Turning the A into a CNAME by an update is refused as well.
    let list = api
        .api("GET", &format!("/domains/{d}/records"), None)
        .await
        .json();
    let a = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "blog" && r["type"] == "A")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .api(
            "PUT",
            &format!("/domains/{d}/records/{a}"),
            Some(json!({"name": "blog", "type": "CNAME", "value": "host.example.net"})),
        )
        .await;
    assert_eq!(field(&r), "name");

    // Concurrent adds of a CNAME and an A at one fresh name: the domain lock lets one through.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let api = api.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let body = if i % 2 == 0 {
                json!({"name": "race", "type": "CNAME", "value": format!("h{i}.example.net")})
            } else {
                json!({"name": "race", "type": "A", "value": format!("192.0.2.{i}")})
            };
            add(&api, &d, body).await.status
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == 201 {
            created += 1;
        }
    }
    let race: Vec<String> = sqlx::query_scalar("select type from dns_records where name = 'race'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(created >= 1);
    assert_eq!(race.len(), created);
    assert!(
        !race.contains(&"CNAME".to_owned()) || race.len() == 1,
        "{race:?}"
    );

    // The limit: 200 records of one's own per domain.
    let existing: i64 = sqlx::query_scalar("select count(*) from dns_records")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into dns_records (id, domain_id, name, type, ttl, value)
         select gen_random_uuid(), $1::uuid, 'bulk' || n, 'A', 3600, '192.0.2.1'
         from generate_series(1, $2) n",
    )
    .bind(uuid::Uuid::parse_str(&d).unwrap())
    .bind(200 - existing as i32)
    .execute(&app.pool)
    .await
    .unwrap();
    let r = add(
        &api,
        &d,
        json!({"name": "one-more", "type": "A", "value": "192.0.2.1"}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("at most 200"), "{}", r.body);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn other_members_records_are_not_found(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (admin, _, alice) = member_api(&app).await;
    let bob = invite_member(&app, &admin, "bob@example.net").await;
    let bob = bob.with_bearer(&api_token(&bob).await);
    let ad = new_domain(&alice, "alice.test").await;
    let bd = new_domain(&bob, "bob.test").await;
    let r = add(
        &alice,
        &ad,
        json!({"name": "x", "type": "A", "value": "192.0.2.1"}),
    )
    .await;
    let ar = r.json()["id"].as_str().unwrap().to_owned();
    let body = || Some(json!({"name": "y", "type": "A", "value": "192.0.2.2"}));
    // Bob on Alice's domain, and on Alice's record through his own domain.
    for (method, path) in [
        ("GET", format!("/domains/{ad}/records")),
        ("POST", format!("/domains/{ad}/records")),
        ("PUT", format!("/domains/{ad}/records/{ar}")),
        ("DELETE", format!("/domains/{ad}/records/{ar}")),
        ("PUT", format!("/domains/{bd}/records/{ar}")),
        ("DELETE", format!("/domains/{bd}/records/{ar}")),
        ("POST", format!("/domains/{ad}/verify")),
    ] {
        let b = if method == "POST" || method == "PUT" {
            body()
        } else {
            None
        };
        let r = bob.api(method, &path, b).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    // Even with a malformed body, another member's domain is simply not found.
    let r = bob
        .api(
            "POST",
            &format!("/domains/{ad}/records"),
            Some(json!({"name": "a;b", "type": "NS", "value": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);
    // Not a record id, not a domain id: not found either.
    let r = alice
        .api("DELETE", &format!("/domains/{ad}/records/nope"), None)
        .await;
    assert_eq!(r.status, 404);
    let records = alice
        .api("GET", &format!("/domains/{ad}/records"), None)
        .await
        .json();
    assert_eq!(records.as_array().unwrap().len(), 1);
    assert_eq!(records[0]["value"], "192.0.2.1");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_domain_shows_its_registrar_checklist_and_servers(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (admin, alice, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let dom = api.api("GET", &format!("/domains/{d}"), None).await.json();
    assert_eq!(dom["status"], "pending_verification");
    assert!(dom["verified_at"].is_null());
    let token = dom["verification_token"].as_str().unwrap().to_owned();
    // No node yet: only the challenge, not seen yet.
    assert_eq!(
        dom["dns"],
        json!({"nameservers": [], "ds": [], "servers": [], "registrar": [
            {"name": "_ruche-challenge.example.test", "type": "TXT", "value": token, "seen": null}
        ]})
    );

    // A node joins and hosts Alice: its name server is the zone's.
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    let (node, _) = join_node(&app, &admin_api, "node-a").await;
    let (g0, _) = generations(&admin_api, &node).await;
    let dom = api.api("GET", &format!("/domains/{d}"), None).await.json();
    assert_eq!(dom["dns"]["nameservers"], json!(["ns1.abeilles.test"]));
    assert_eq!(dom["dns"]["registrar"][1]["type"], "NS");
    assert_eq!(dom["dns"]["registrar"][1]["value"], "ns1.abeilles.test");
    // A record change reaches the node: its generation moves.
    let r = add(
        &api,
        &d,
        json!({"name": "x", "type": "A", "value": "192.0.2.1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (g1, _) = generations(&admin_api, &node).await;
    assert!(g1 > g0, "{g0} -> {g1}");

    // What the checks saw (written here the way verify and the monitor write it).
    let id = uuid::Uuid::parse_str(&d).unwrap();
    sqlx::query(
        "insert into domain_dns_status (domain_id, ds, txt_seen, ns_seen, ds_seen)
         values ($1, '{\"12345 13 2 ABCDEF\"}', true, false, null)",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into dns_checks (domain_id, server, address, role, serial_udp, serial_tcp, fault)
         values ($1, 'ns2.abeilles.test', '127.0.0.3:53', 'secondary', 7, null, 'serial 2 behind the primary'),
                ($1, 'ns1.abeilles.test', '127.0.0.2:53', 'primary', 9, 9, null)",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let dom = api.api("GET", &format!("/domains/{d}"), None).await.json();
    let seen: Vec<(String, serde_json::Value)> = dom["dns"]["registrar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap().to_owned(), r["seen"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("TXT".to_owned(), json!(true)),
            ("NS".to_owned(), json!(false)),
            ("DS".to_owned(), json!(null)),
        ]
    );
    assert_eq!(dom["dns"]["ds"], json!(["12345 13 2 ABCDEF"]));
    let servers = &dom["dns"]["servers"];
    assert_eq!(servers[0]["nameserver"], "ns1.abeilles.test");
    assert_eq!(servers[0]["role"], "primary");
    assert_eq!(servers[0]["serial"], 9);
    assert!(servers[0]["fault"].is_null());
    assert_eq!(servers[1]["serial"], 7);
    assert_eq!(servers[1]["fault"], "serial 2 behind the primary");
    assert!(servers[1]["checked_at"].is_string());
    // The list carries the same picture.
    let list = api.api("GET", "/domains", None).await.json();
    assert_eq!(list[0]["dns"], dom["dns"]);

    // The page shows it all.
    let page = alice.get(&format!("/account/domains/{d}")).await;
    assert_eq!(page.status, 200);
    for needle in [
        "<table id=\"registrar\">",
        "<code>ns1.abeilles.test</code>",
        "12345 13 2 ABCDEF",
        "serial 2 behind the primary",
        "action=\"/account/domains/",
        "/verify\"",
        "<table id=\"records\">",
        "192.0.2.1",
    ] {
        assert!(page.body.contains(needle), "{needle}");
    }

    // Once verified, the challenge leaves the checklist and the date shows.
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let dom = api.api("GET", &format!("/domains/{d}"), None).await.json();
    assert!(dom["verified_at"].is_string());
    assert_eq!(dom["dns"]["registrar"][0]["type"], "NS");
    let page = alice.get(&format!("/account/domains/{d}")).await;
    assert!(page.text_of("verified-at").is_some());
    assert!(!page.body.contains("/verify\""));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn check_now_says_why_and_is_rate_limited(pool: sqlx::PgPool) {
    // A resolver that answers nothing: UDP to a closed port, TCP refused.
    let mut config = control_plane::config::Config::default();
    config.dns.resolvers = vec!["127.0.0.1:9".parse().unwrap()];
    let app = spawn_with(pool, config).await;
    let (_, alice, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let r = api.api("POST", &format!("/domains/{d}/verify"), None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "conflict");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("_ruche-challenge.example.test"),
        "{}",
        r.body
    );
    let dom = api.api("GET", &format!("/domains/{d}"), None).await.json();
    assert_eq!(dom["status"], "pending_verification");

    // The portal's "Check now" shows the reason on the page, in French too.
    alice.get("/lang/fr").await;
    let page = alice
        .post(&format!("/account/domains/{d}/verify"), &[])
        .await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.body.contains("_ruche-challenge.example.test"));
    assert!(page.body.contains("l’enregistrement TXT"), "{}", page.body);

    // A busy member is told to wait.
    let member: uuid::Uuid = sqlx::query_scalar("select id from members where email = $1")
        .bind("alice@example.net")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("insert into rate_limit_events (key) select $1 from generate_series(1, 40)")
        .bind(format!("dns-verify:{member}"))
        .execute(&app.pool)
        .await
        .unwrap();
    let r = api.api("POST", &format!("/domains/{d}/verify"), None).await;
    assert_eq!(r.status, 429, "{}", r.body);

    // An active domain needs no check: it answers at once, without counting.
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1::uuid")
        .bind(&d)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = api.api("POST", &format!("/domains/{d}/verify"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "active");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn the_portal_adds_edits_and_deletes_records(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let (_, alice, api) = member_api(&app).await;
    let d = new_domain(&api, "example.test").await;
    let base = format!("/account/domains/{d}");

    // A refusal: the page again, the error next to the field, the typed values kept.
    let r = alice
        .post(
            &format!("{base}/records"),
            &[
                ("name", "_dmarc"),
                ("type", "TXT"),
                ("ttl", "300"),
                ("value", "v=DMARC1; p=none"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.text_of("error-name").unwrap().contains("platform"));
    assert!(r.body.contains("name=\"name\" value=\"_dmarc\""));
    assert!(r.body.contains("name=\"ttl\" value=\"300\""));
    assert!(r
        .body
        .contains("<option value=\"TXT\" selected>TXT</option>"));
    let r = alice
        .post(
            &format!("{base}/records"),
            &[
                ("name", "www2"),
                ("type", "A"),
                ("ttl", ""),
                ("value", "not an address"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text_of("error-value").unwrap().contains("IPv4"));
    assert!(r.body.contains("not an address</textarea>"));

    // Added.
    let r = alice
        .post(
            &format!("{base}/records"),
            &[
                ("name", "www2"),
                ("type", "A"),
                ("ttl", ""),
                ("value", "192.0.2.1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with(&format!("{base}?done=saved")));
    let rid = api
        .api("GET", &format!("/domains/{d}/records"), None)
        .await
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The edit link fills the form, which then posts to the record.
    let page = alice.get(&format!("{base}?edit={rid}")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(&format!("action=\"{base}/records/{rid}\"")));
    assert!(page.body.contains("name=\"name\" value=\"www2\""));
    // A stale or foreign edit link just shows the add form.
    let page = alice.get(&format!("{base}?edit=nope")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("action=\"{base}/records\"")));

    let r = alice
        .post(
            &format!("{base}/records/{rid}"),
            &[
                ("name", "www2"),
                ("type", "AAAA"),
                ("ttl", "120"),
                ("value", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains(&format!("action=\"{base}/records/{rid}\"")));
    assert!(r.text_of("error-value").is_some());
    let r = alice
        .post(
            &format!("{base}/records/{rid}"),
            &[
                ("name", "www2"),
                ("type", "AAAA"),
                ("ttl", "120"),
                ("value", "2001:db8::2"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let list = api
        .api("GET", &format!("/domains/{d}/records"), None)
        .await
        .json();
    assert_eq!(
        list,
        json!([{"id": rid, "name": "www2", "type": "AAAA", "ttl": 120, "value": "2001:db8::2"}])
    );

    // Without the form token nothing happens.
    let r = alice
        .post_raw(&format!("{base}/records/{rid}/delete"), &[])
        .await;
    assert_ne!(r.status, 303);
    let r = alice
        .post(&format!("{base}/records/{rid}/delete"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = alice.get(&base).await;
    assert!(page.body.contains("id=\"no-records\""));
}

/// A knotd standing for "the world": authoritative for `test.` (with delegations, the way a
/// registry answers) and for `example.test` (the member's zone at their current DNS host).
/// Stopped when dropped. `None` when knotd is not installed.
struct World {
    dir: std::path::PathBuf,
    address: std::net::SocketAddr,
    child: std::process::Child,
}

impl World {
    fn start(name: &str, zones: &[(&str, String)]) -> Option<World> {
        if std::process::Command::new("knotd")
            .arg("--version")
            .output()
            .is_err()
        {
            panic!("knotd is not installed: tests/run.sh installs Debian's knot package");
        }
        let dir = std::env::temp_dir().join(format!("ruche-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("zones")).unwrap();
        // A free port for UDP and TCP alike.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{d}\"\n\
             template:\n  - id: default\n    storage: \"{d}/zones\"\n    file: \"%s.zone\"\n\
             zone:\n",
            d = dir.display()
        );
        for (zone, text) in zones {
            std::fs::write(dir.join("zones").join(format!("{zone}.zone")), text).unwrap();
            conf.push_str(&format!("  - domain: {zone}\n"));
        }
        std::fs::write(dir.join("knot.conf"), conf).unwrap();
        let child = std::process::Command::new("knotd")
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Stopped by Drop whatever happens next.
        let world = World {
            dir,
            address,
            child,
        };
        // Ready once it answers over TCP.
        for _ in 0..100 {
            if std::net::TcpStream::connect(address).is_ok() {
                return Some(world);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("knotd did not start on {address}");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn zone(origin: &str, body: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n@ 3600 IN SOA ns.registry.test. hostmaster.{origin}. 1 3600 900 1209600 300\n\
         @ 3600 IN NS ns.registry.test.\n{body}"
    )
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn verification_through_a_real_name_server(pool: sqlx::PgPool) {
    let mut config = control_plane::config::Config::default();
    let app_pool = pool.clone();
    let app = spawn_with(pool.clone(), control_plane::config::Config::default()).await;
    let (admin, _, api) = member_api(&app).await;
    let admin_api = admin.with_bearer(&api_token(&admin).await);
    join_node(&app, &admin_api, "node-a").await;
    let shown = new_domain(&api, "shown.test").await;
    let hidden = new_domain(&api, "hidden.test").await;
    let wrong = new_domain(&api, "wrong.test").await;
    let token = |d: &str| {
        let pool = app_pool.clone();
        let d = uuid::Uuid::parse_str(d).unwrap();
        async move {
            sqlx::query_scalar::<_, String>("select verification_token from domains where id = $1")
                .bind(d)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let shown_token = token(&shown).await;
    // The registry publishes a DS for shown.test and delegates hidden.test to our name server
    // (a referral is what the world sees of it); the member's current host serves shown.test
    // and wrong.test, with our name server beside its own for shown.test only.
    let registry = zone(
        "test",
        "shown 3600 IN NS ns1.abeilles.test.\nshown 3600 IN NS ns.old-host.example.\n\
         shown 3600 IN DS 12345 13 2 ABCDEF0123\n\
         hidden 3600 IN NS ns1.abeilles.test.\n\
         wrong 3600 IN NS ns.old-host.example.\n",
    );
    let shown_zone = format!(
        "$ORIGIN shown.test.\n@ 3600 IN SOA ns.old-host.example. h.shown.test. 1 3600 900 1209600 300\n\
         @ 3600 IN NS ns.old-host.example.\n@ 3600 IN NS ns1.abeilles.test.\n\
         _ruche-challenge 300 IN TXT \"google-site-verification=x\"\n\
         _ruche-challenge 300 IN TXT \"{shown_token}\"\n"
    );
    let wrong_zone = "$ORIGIN wrong.test.\n@ 3600 IN SOA ns.old-host.example. h.wrong.test. 1 3600 900 1209600 300\n\
         @ 3600 IN NS ns.old-host.example.\n\
         _ruche-challenge 300 IN TXT \"ruche-verify=not-the-token\"\n"
        .to_owned();
    let Some(world) = World::start(
        "verify",
        &[
            ("test", registry),
            ("shown.test", shown_zone),
            ("wrong.test", wrong_zone),
        ],
    ) else {
        return;
    };
    config.dns.resolvers = vec![world.address];
    // The DS the monitor read from the primary.
    sqlx::query(
        "insert into domain_dns_status (domain_id, ds) values ($1, '{\"12345 13 2 abcdef0123\"}')",
    )
    .bind(uuid::Uuid::parse_str(&shown).unwrap())
    .execute(&pool)
    .await
    .unwrap();

    // The round runs with the collective's platform domain, as the DNS task runs it.
    let effective = control_plane::db::setup::dns_config(&pool, &config.dns)
        .await
        .unwrap()
        .unwrap();
    control_plane::dns::verify::run_once(&pool, &effective)
        .await
        .unwrap();
    let status = |d: String| {
        let api = api.clone();
        async move { api.api("GET", &format!("/domains/{d}"), None).await.json() }
    };
    let s = status(shown.clone()).await;
    assert_eq!(s["status"], "active", "{s}");
    assert!(s["verified_at"].is_string());
    let seen: Vec<(String, serde_json::Value)> = s["dns"]["registrar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap().to_owned(), r["seen"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("NS".to_owned(), json!(true)),
            ("DS".to_owned(), json!(true))
        ],
        "{s}"
    );
    let h = status(hidden.clone()).await;
    assert_eq!(h["status"], "pending_verification");
    assert_eq!(h["dns"]["registrar"][0]["type"], "TXT");
    assert_eq!(h["dns"]["registrar"][0]["seen"], false, "{h}");
    assert_eq!(h["dns"]["registrar"][1]["type"], "NS");
    assert_eq!(h["dns"]["registrar"][1]["seen"], true, "{h}");
    let w = status(wrong.clone()).await;
    assert_eq!(w["status"], "pending_verification");
    assert_eq!(w["dns"]["registrar"][0]["seen"], false);
    assert_eq!(w["dns"]["registrar"][1]["seen"], false, "{w}");
    let verified: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'domain.verify' and actor_email = '(DNS verification)'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(verified, 1);

    // "Check now" through the API, on a control plane that asks the same world.
    let app2 = spawn_with(pool.clone(), config.clone()).await;
    let api2 = Client::new(&app2).with_bearer(api.bearer.as_deref().unwrap());
    let r = api2
        .api("POST", &format!("/domains/{wrong}/verify"), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("does not hold the expected value"),
        "{}",
        r.body
    );
    let r = api2
        .api("POST", &format!("/domains/{hidden}/verify"), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("_ruche-challenge.hidden.test is not visible yet"),
        "{}",
        r.body
    );
    let r = api2
        .api("POST", &format!("/domains/{shown}/verify"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "active");
}
