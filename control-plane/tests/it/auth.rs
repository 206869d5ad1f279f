//! Setup, sign-in, second factor, CSRF, rate limits, security headers.

use control_plane::config::Config;
use totp_rs::{Algorithm, Secret, TOTP};

use super::support::*;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn setup_link_works_once_and_no_default_account_exists(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    // Before setup nobody can sign in: there is no account at all.
    let c = Client::new(&app);
    let r = c
        .post(
            "/login",
            &[("email", "admin@abeilles.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        control_plane::db::members::count(&app.pool).await.unwrap(),
        0
    );
    // A wrong token shows "no longer valid".
    let r = c.get("/setup?token=nope").await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("no longer valid"));

    let token = control_plane::db::setup::issue_token(&app.pool)
        .await
        .unwrap()
        .unwrap();
    let link = format!("/setup?token={}", token.expose());
    // Bad input is refused with every field named, and nothing is created.
    let r = c
        .post(
            "/setup",
            &[
                ("token", token.expose()),
                ("collective_name", ""),
                ("platform_domain", "bad domain\n.org"),
                ("email", "not-an-address"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    for field in ["collective_name", "platform_domain", "email", "password"] {
        assert!(
            r.body.contains(&format!("id=\"error-{field}\"")),
            "no error for {field}"
        );
    }
    assert!(control_plane::db::setup::collective(&app.pool)
        .await
        .unwrap()
        .is_none());

    setup_admin_with(&app, token.expose()).await;
    // Used once: the link is dead (the page itself is gone, 404, once an admin exists), and no
    // new token is issued any more.
    let r = Client::new(&app).get(&link).await;
    assert_eq!(r.status, 404);
    assert!(control_plane::db::setup::issue_token(&app.pool)
        .await
        .unwrap()
        .is_none());
}

async fn setup_admin_with(app: &TestApp, token: &str) {
    let c = Client::new(app);
    let r = c
        .post(
            "/setup",
            &[
                ("token", token),
                ("collective_name", "Les Abeilles"),
                ("platform_domain", "abeilles.test"),
                ("email", "admin@abeilles.test"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let admin = c.get("/admin").await;
    assert!(admin.body.contains("Les Abeilles"));
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn cookies_and_headers_are_locked_down(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let c = Client::new(&app);
    let r = c.get("/login").await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(r.headers["x-frame-options"], "DENY");
    let set = r.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("__Host-ruche_csrf="));
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "csrf cookie lacks {attr}: {set}");
    }
    let admin = setup_admin(&app).await;
    let r = admin
        .post(
            "/login",
            &[("email", "admin@abeilles.test"), ("password", PASSWORD)],
        )
        .await;
    let session = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Host-ruche_session="))
        .unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            session.contains(attr),
            "session cookie lacks {attr}: {session}"
        );
    }
    // The session is server-side: its token is not stored in clear.
    let raw = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let stored: i64 = sqlx::query_scalar("select count(*) from sessions where token_hash = $1")
        .bind(raw.as_bytes())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn forms_without_the_csrf_token_or_from_elsewhere_are_refused(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let before: i64 = sqlx::query_scalar("select count(*) from plans")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let plan = [
        ("name", "Sneaky"),
        ("max_domains", "1"),
        ("max_mailboxes", "1"),
        ("max_aliases", "1"),
        ("max_xmpp_accounts", "1"),
        ("storage_mib", "1"),
    ];
    let r = admin.post_raw("/admin/plans", &plan).await;
    assert_eq!(r.status, 403);
    let mut wrong = vec![("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
    wrong.extend_from_slice(&plan);
    assert_eq!(admin.post_raw("/admin/plans", &wrong).await.status, 403);
    let after: i64 = sqlx::query_scalar("select count(*) from plans")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(before, after);
    // With the token it works.
    assert_eq!(admin.post("/admin/plans", &plan).await.status, 303);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn login_is_rate_limited_per_account(pool: sqlx::PgPool) {
    let mut config = Config::default();
    config.security.login_failures_per_account = 3;
    let app = spawn_with(pool, config).await;
    setup_admin(&app).await;
    let c = Client::new(&app);
    for _ in 0..3 {
        let r = c
            .post(
                "/login",
                &[
                    ("email", "admin@abeilles.test"),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    // Now even the right password is refused until the window passes.
    let r = c
        .post(
            "/login",
            &[("email", "ADMIN@abeilles.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    // Another account from the same address is not locked (the per-address limit is higher).
    let r = c
        .post(
            "/login",
            &[("email", "someone@else.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 401);
}

fn code_for(secret_b32: &str) -> String {
    let secret = Secret::Encoded(secret_b32.to_owned()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, secret, None, "x".to_owned())
        .unwrap()
        .generate_current()
        .unwrap()
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn totp_second_factor_and_recovery_codes(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let r = alice.post("/account/totp/start", &[]).await;
    assert_eq!(r.status, 200);
    let secret = r.text_of("totp-secret").unwrap();
    let bad = alice
        .post("/account/totp/confirm", &[("code", "000000")])
        .await;
    assert_eq!(bad.status, 422);
    let first_code = code_for(&secret);
    let r = alice
        .post("/account/totp/confirm", &[("code", &first_code)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body.matches("<li><code>").count(),
        10,
        "ten recovery codes shown"
    );
    let recovery = r
        .body
        .split("<li><code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();

    // Signing in now takes the password, then a code; the half-signed-in session can't see pages.
    let c = Client::new(&app);
    let r = c
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.location(), "/login/totp");
    assert_eq!(c.get("/account").await.status, 303);
    assert_eq!(
        c.post("/login/totp", &[("code", "123456")]).await.status,
        401
    );
    // The code used at confirmation cannot be replayed.
    assert_eq!(
        c.post("/login/totp", &[("code", &first_code)]).await.status,
        401
    );
    // A recovery code works, once.
    let r = c.post("/login/totp", &[("code", &recovery)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(c.get("/account").await.status, 200);

    let d = Client::new(&app);
    d.post(
        "/login",
        &[("email", "alice@example.net"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        d.post("/login/totp", &[("code", &recovery)]).await.status,
        401
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn changing_the_password_ends_other_sessions(pool: sqlx::PgPool) {
    let app = spawn(pool).await;
    let admin = setup_admin(&app).await;
    let alice = invite_member(&app, &admin, "alice@example.net").await;
    let other = Client::new(&app);
    other
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(other.get("/account").await.status, 200);
    let new = "another long passphrase";
    let wrong = alice
        .post(
            "/account/password",
            &[
                ("current_password", "nope nope nope"),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("id=\"error-current_password\""),
        "shown by its field"
    );
    // Turning off two-factor with a wrong password is reported at the top, not under the
    // change-password form's field of the same name.
    let r = alice
        .post("/account/totp/disable", &[("password", "nope nope nope")])
        .await;
    assert_eq!(r.status, 422);
    assert!(!r.body.contains("id=\"error-password\""), "{}", r.body);
    assert!(r.body.contains("not your current password"));
    let r = alice
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        alice.get("/account").await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        other.get("/account").await.status,
        303,
        "the other one ended"
    );
    // Signing out everywhere else, from the list of sessions.
    let third = Client::new(&app);
    third
        .post(
            "/login",
            &[("email", "alice@example.net"), ("password", new)],
        )
        .await;
    let page = alice.get("/account/security").await;
    let table = page
        .body
        .split("id=\"sessions\"")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(
        table.matches("<tr>").count() - 1,
        2,
        "two sessions listed (plus the header row)"
    );
    assert_eq!(
        table.matches("class=\"badge\"").count(),
        1,
        "one marked as this browser"
    );
    let r = alice.post("/account/sessions/revoke-others", &[]).await;
    assert_eq!(r.location(), "/account/security?done=sessions_revoked");
    assert_eq!(third.get("/account").await.status, 303);
    assert_eq!(alice.get("/account").await.status, 200);
    // Logging out ends this one too.
    alice.post("/logout", &[]).await;
    assert_eq!(alice.get("/account").await.status, 303);
}
