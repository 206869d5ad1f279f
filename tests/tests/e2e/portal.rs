//! The portal, driven as a person would: headless Chromium against the real control plane.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, ensure, Context, Result};
use reqwest::Method;
use serde_json::json;
use tests::http::Setup;
use tests::{Browser, ControlPlane, HttpClient, PgCluster, SmtpSink, TestDatabase};
use totp_rs::{Algorithm, Secret, TOTP};
use url::Url;

const TIMEOUT: Duration = Duration::from_secs(15);

/// Where a failing browser test leaves a screenshot and the page source.
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Runs `steps`; if they fail, saves a screenshot and the page's HTML next to the error.
async fn with_artifacts<F>(browser: &Browser, name: &str, steps: F) -> Result<()>
where
    F: std::future::Future<Output = Result<()>>,
{
    let result = steps.await;
    if result.is_err() {
        let png = artifact(&format!("{name}.png"));
        let html = artifact(&format!("{name}.html"));
        let _ = browser.screenshot(&png).await;
        if let Ok(source) = browser.html().await {
            let _ = std::fs::write(&html, source);
        }
        return result.with_context(|| {
            format!(
                "screenshot: {}, page source: {}",
                png.display(),
                html.display()
            )
        });
    }
    result
}

#[tokio::test]
async fn setup_creates_first_admin_once() -> Result<()> {
    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let link = control_plane.setup_link().await?;
    ensure!(
        link.starts_with(&control_plane.url("/setup?token=")),
        "setup link {link} is not under {}",
        control_plane.base_url()
    );
    let browser = Browser::start().await?;

    with_artifacts(&browser, "setup_creates_first_admin_once", async {
        let collective = "Les Abeilles Libres";
        browser.goto(&link).await?;
        // The form carries its CSRF token and the setup token; the test leaves them alone.
        browser.find("input[type=hidden][name=csrf]").await?;
        browser.find("input[type=hidden][name=token]").await?;
        browser.fill("collective_name", collective).await?;
        browser.fill("platform_domain", "abeilles.test").await?;
        browser.fill("email", "admin@abeilles.test").await?;
        browser
            .fill("password", "correct horse battery staple")
            .await?;
        browser
            .fill("password_confirm", "correct horse battery staple")
            .await?;
        browser.submit_form_containing("collective_name").await?;

        let url = browser
            .wait_for_url(
                |url| Url::parse(url).is_ok_and(|url| matches!(url.path(), "/admin" | "/admin/")),
                TIMEOUT,
            )
            .await?;
        ensure!(
            url.starts_with(&control_plane.base_url()),
            "redirected off the portal: {url}"
        );
        let heading = browser.text_of("h1").await?;
        ensure!(
            heading.contains(collective),
            "the admin page's <h1> is {heading:?}, without the collective's name"
        );

        // The link is single-use: once an admin exists, the setup page no longer exists.
        browser.goto(&link).await?;
        let text = browser.page_text().await?;
        ensure!(
            text.to_lowercase().contains("does not exist"),
            "reusing the setup link showed:\n{text}"
        );
        ensure!(
            !browser.exists("[name=password]").await?,
            "reusing the setup link shows a password field again"
        );
        Ok(())
    })
    .await?;

    let status = http_client()?.get(&link).send().await?.status().as_u16();
    ensure!(
        status == 404,
        "reusing the setup link answered HTTP {status}, not 404"
    );
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn healthz_and_readyz() -> Result<()> {
    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let client = http_client()?;
    for path in ["/healthz", "/readyz"] {
        let response = client.get(control_plane.url(path)).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ensure!(status.as_u16() == 200, "GET {path}: HTTP {status}: {body}");
    }
    Ok(())
}

/// An HTTP client that never uses a proxy (the portal is on loopback) and follows no redirects.
fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()?)
}

const ADMIN_EMAIL: &str = "admin@abeilles.test";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const SETUP: Setup<'static> = Setup {
    collective_name: "Les Abeilles Libres",
    platform_domain: "abeilles.test",
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
};
/// How long a mail may take to reach the sink.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of `url` ("" when it is not a URL).
fn path_of(url: &str) -> String {
    Url::parse(url)
        .map(|url| url.path().to_owned())
        .unwrap_or_default()
}

/// Waits until the browser is on a page whose path is `path`; returns the URL.
async fn wait_for_path(browser: &Browser, path: &str) -> Result<String> {
    browser
        .wait_for_url(|url| path_of(url) == path, TIMEOUT)
        .await
}

/// Completes the one-time setup in the browser; the browser ends signed in as the admin.
async fn setup_in_browser(browser: &Browser, link: &str, setup: &Setup<'_>) -> Result<()> {
    browser.goto(link).await?;
    browser
        .fill("collective_name", setup.collective_name)
        .await?;
    browser
        .fill("platform_domain", setup.platform_domain)
        .await?;
    browser.fill("email", setup.email).await?;
    browser.fill("password", setup.password).await?;
    browser.fill("password_confirm", setup.password).await?;
    browser.submit_form_containing("collective_name").await?;
    wait_for_path(browser, "/admin").await?;
    Ok(())
}

fn unix_now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// The TOTP generator an authenticator app would make of the base32 secret the portal shows:
/// RFC 6238, SHA-1, 6 digits, 30-second steps.
fn authenticator(secret_base32: &str) -> Result<TOTP> {
    let secret = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| anyhow!("the TOTP secret {secret_base32:?} is not base32: {e:?}"))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        secret,
        Some("Ruche".to_owned()),
        "alice@example.net".to_owned(),
    )
    .map_err(|e| anyhow!("not a usable TOTP secret: {e:?}"))
}

const TOTP_STEP: u64 = 30;

/// Waits until the clock is in a TOTP step after `step` (at most one step: a wait, not a
/// timing assertion), so that a fresh code can be generated.
async fn wait_for_step_after(step: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2 * TOTP_STEP);
    while unix_now()? / TOTP_STEP <= step {
        ensure!(
            Instant::now() < deadline,
            "the clock did not reach the next TOTP step"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// A six-digit code that is valid in none of the steps around now.
fn wrong_code(totp: &TOTP) -> Result<String> {
    let now = unix_now()?;
    let valid: Vec<String> = (0..=4)
        .map(|k| totp.generate((now + k * TOTP_STEP).saturating_sub(2 * TOTP_STEP)))
        .collect();
    (0..10u32)
        .map(|digit| digit.to_string().repeat(6))
        .find(|code| !valid.contains(code))
        .context("every candidate code is valid")
}

/// A person's whole first day: invited by mail, accepts in another browser, turns on two-factor
/// authentication, signs in again with it, adds a domain and a mailbox, switches to French.
#[tokio::test]
async fn invite_accept_totp_domain_mailbox() -> Result<()> {
    const ALICE: &str = "alice@example.net";
    const ALICE_NAME: &str = "Alice Liddell";
    const ALICE_PASSWORD: &str = "down the rabbit hole, 1865";
    const MAILBOX_PASSWORD: &str = "a mailbox password of her own";

    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let setup_link = control_plane.setup_link().await?;

    // The admin sets the collective up and invites Alice; the mail relay is configured, so the
    // invitation goes out by mail and the link is not shown.
    let admin = Browser::start().await?;
    with_artifacts(&admin, "invite_accept_totp_domain_mailbox-admin", async {
        setup_in_browser(&admin, &setup_link, &SETUP).await?;
        admin.goto(&control_plane.url("/admin/invitations")).await?;
        admin.fill("email", ALICE).await?;
        let plan = admin.value_of("#plan").await?;
        ensure!(!plan.is_empty(), "no plan is selected by default");
        admin.submit_form_containing("email").await?;
        let sent = admin.text_of("#invitation-sent").await?;
        ensure!(
            sent.contains("sent by mail"),
            "the invitations page says {sent:?}, not that the invitation was mailed"
        );
        ensure!(
            !admin.exists("#invitation-link").await?,
            "the invitation link is shown although the mail went out"
        );
        let pending = admin.text_of("#invitations").await?;
        ensure!(
            pending.contains(ALICE),
            "the pending invitations do not list {ALICE}:\n{pending}"
        );
        Ok(())
    })
    .await?;
    admin.close().await?;

    let mail = smtp
        .wait_for_message(|mail| mail.is_to(ALICE), MAIL_TIMEOUT)
        .await?;
    ensure!(
        mail.from == "noreply@ruche.test",
        "the invitation came from {:?}",
        mail.from
    );
    let invite_link = mail
        .first_link_containing("/invite?token=")
        .with_context(|| format!("no invitation link in the mail:\n{}", mail.body))?;
    ensure!(
        invite_link.starts_with(&control_plane.url("/invite?token=")),
        "the invitation link {invite_link} is not under {}",
        control_plane.base_url()
    );

    // Alice, in a browser of her own.
    let alice = Browser::start().await?;
    with_artifacts(&alice, "invite_accept_totp_domain_mailbox-member", async {
        alice.goto(&invite_link).await?;
        let invited = alice.text_of("#invite-email").await?;
        ensure!(
            invited == ALICE,
            "the invitation page shows {invited:?}, not {ALICE}"
        );
        alice.fill("display_name", ALICE_NAME).await?;
        alice.fill("password", ALICE_PASSWORD).await?;
        alice.fill("password_confirm", ALICE_PASSWORD).await?;
        alice.submit_form_containing("display_name").await?;
        wait_for_path(&alice, "/account").await?;
        let heading = alice.text_of("h1").await?;
        ensure!(
            heading == ALICE_NAME,
            "the account page's <h1> is {heading:?}"
        );
        let lang = alice.attr("html", "lang").await?;
        ensure!(
            lang.as_deref() == Some("en"),
            "the page language is {lang:?}"
        );

        // Two-factor authentication: start, read the secret, confirm with a code.
        alice.goto(&control_plane.url("/account/security")).await?;
        alice
            .click("form[action='/account/totp/start'] button")
            .await?;
        let secret = alice.text_of("#totp-secret").await?;
        let totp = authenticator(secret.trim())?;
        let now = unix_now()?;
        let confirm_step = now / TOTP_STEP;
        let confirm_code = totp.generate(now);
        alice.fill("code", &confirm_code).await?;
        alice.submit_form_containing("code").await?;
        let recovery_codes = alice.texts_of("#recovery-codes li").await?;
        ensure!(
            recovery_codes.len() == 10,
            "{} recovery codes shown: {recovery_codes:?}",
            recovery_codes.len()
        );
        for code in &recovery_codes {
            ensure!(
                code.len() == 11
                    && code.as_bytes()[5] == b'-'
                    && code
                        .chars()
                        .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit()),
                "recovery code {code:?} is not of the form xxxxx-xxxxx"
            );
        }
        let distinct: HashSet<&String> = recovery_codes.iter().collect();
        ensure!(
            distinct.len() == 10,
            "recovery codes repeat: {recovery_codes:?}"
        );
        let status = alice.text_of("#totp-status").await?;
        ensure!(
            alice.exists("#totp-disable-form").await?,
            "two-factor authentication is not shown as enabled: {status:?}"
        );

        // Sign out, sign in again: the password alone is not enough any more.
        alice.click("form[action='/logout'] button").await?;
        wait_for_path(&alice, "/login").await?;
        alice.fill("email", ALICE).await?;
        alice.fill("password", ALICE_PASSWORD).await?;
        alice.submit_form_containing("email").await?;
        wait_for_path(&alice, "/login/totp").await?;

        // A wrong code is refused, next to the field.
        alice.fill("code", &wrong_code(&totp)?).await?;
        alice.submit_form_containing("code").await?;
        ensure!(
            path_of(&alice.current_url().await?) == "/login/totp",
            "a wrong code led to {}",
            alice.current_url().await?
        );
        let error = alice.text_of("#error-code").await?;
        ensure!(
            error.contains("not valid"),
            "the wrong code's error is {error:?}"
        );
        // The code that confirmed the enrolment cannot be used again (replay protection).
        alice.fill("code", &confirm_code).await?;
        alice.submit_form_containing("code").await?;
        ensure!(
            path_of(&alice.current_url().await?) == "/login/totp"
                && alice.exists("#error-code").await?,
            "the code already used for the enrolment was accepted again"
        );
        // A recovery code works, once.
        alice.fill("code", &recovery_codes[0]).await?;
        alice.submit_form_containing("code").await?;
        wait_for_path(&alice, "/account").await?;

        alice.click("form[action='/logout'] button").await?;
        wait_for_path(&alice, "/login").await?;
        alice.fill("email", ALICE).await?;
        alice.fill("password", ALICE_PASSWORD).await?;
        alice.submit_form_containing("email").await?;
        wait_for_path(&alice, "/login/totp").await?;
        alice.fill("code", &recovery_codes[0]).await?;
        alice.submit_form_containing("code").await?;
        ensure!(
            path_of(&alice.current_url().await?) == "/login/totp"
                && alice.exists("#error-code").await?,
            "a recovery code was accepted twice"
        );
        // A fresh code from the authenticator works: wait for the step after the one used.
        wait_for_step_after(confirm_step).await?;
        alice.fill("code", &totp.generate(unix_now()?)).await?;
        alice.submit_form_containing("code").await?;
        wait_for_path(&alice, "/account").await?;
        let heading = alice.text_of("h1").await?;
        ensure!(heading == ALICE_NAME, "signed in, the <h1> is {heading:?}");

        // A domain: a bad name first, shown again with its error and the typed value.
        alice.fill("domain", "bad domain.test").await?;
        alice.submit_form_containing("domain").await?;
        let error = alice.text_of(".field #domain ~ #error-domain").await?;
        ensure!(!error.trim().is_empty(), "the domain error is empty");
        let kept = alice.value_of("#domain").await?;
        ensure!(
            kept == "bad domain.test",
            "the domain field holds {kept:?} after the error"
        );
        let invalid = alice.attr("#domain", "aria-invalid").await?;
        ensure!(
            invalid.as_deref() == Some("true"),
            "the domain field is not marked invalid ({invalid:?})"
        );
        let described = alice
            .attr("#domain", "aria-describedby")
            .await?
            .unwrap_or_default();
        ensure!(
            described.split_whitespace().any(|id| id == "error-domain"),
            "the domain field is not described by its error ({described:?})"
        );
        ensure!(
            alice.texts_of("#domains li").await?.is_empty(),
            "the bad domain was added"
        );

        alice.fill("domain", "alice.test").await?;
        alice.submit_form_containing("domain").await?;
        alice
            .wait_for_url(|url| path_of(url).starts_with("/account/domains/"), TIMEOUT)
            .await?;
        let heading = alice.text_of("h1").await?;
        ensure!(
            heading == "alice.test",
            "the domain page's <h1> is {heading:?}"
        );
        let status = alice.text_of("#domain-status").await?.to_lowercase();
        ensure!(
            status.contains("verification")
                && (status.contains("pending") || status.contains("waiting")),
            "a new domain's status reads {status:?}, not pending verification"
        );
        let challenge = alice.text_of("#challenge-name").await?;
        ensure!(
            challenge == "_ruche-challenge.alice.test",
            "the TXT record name is {challenge:?}"
        );

        // A mailbox on it.
        alice
            .fill_in("#mailbox-form", "local_part", "alice")
            .await?;
        alice
            .fill_in("#mailbox-form", "password", MAILBOX_PASSWORD)
            .await?;
        alice
            .fill_in("#mailbox-form", "password_confirm", MAILBOX_PASSWORD)
            .await?;
        alice.fill_in("#mailbox-form", "quota_mib", "512").await?;
        alice.submit_form_containing("local_part").await?;
        alice
            .wait_for_url(|url| url.contains("done=mailbox_created"), TIMEOUT)
            .await?;
        let mailboxes = alice.texts_of("#mailboxes tbody tr").await?;
        ensure!(
            mailboxes.len() == 1
                && mailboxes[0].contains("alice@alice.test")
                && mailboxes[0].contains("512"),
            "the mailboxes table shows {mailboxes:?}"
        );

        // Usage against the plan ("Standard": 5 domains, 25 mailboxes).
        alice.goto(&control_plane.url("/account")).await?;
        let domains = alice.text_of("#usage-domains").await?;
        ensure!(domains == "1 / 5", "#usage-domains reads {domains:?}");
        let mailboxes = alice.text_of("#usage-mailboxes").await?;
        ensure!(
            mailboxes == "1 / 25",
            "#usage-mailboxes reads {mailboxes:?}"
        );
        let listed = alice.text_of("#domains").await?;
        ensure!(
            listed.contains("alice.test"),
            "the dashboard lists {listed:?}"
        );

        // French, from the switch in the header; the choice sticks.
        alice.click("header a[hreflang=fr]").await?;
        wait_for_path(&alice, "/account").await?;
        let lang = alice.attr("html", "lang").await?;
        ensure!(
            lang.as_deref() == Some("fr"),
            "after switching, the page language is {lang:?}"
        );
        let title = alice.title().await?;
        ensure!(
            title.contains("Votre compte"),
            "the French account page is titled {title:?}"
        );
        let listed = alice.text_of("#domains").await?;
        ensure!(
            listed.contains("vérification"),
            "the domain's status is not in French: {listed:?}"
        );
        alice.goto(&control_plane.url("/account/security")).await?;
        let lang = alice.attr("html", "lang").await?;
        ensure!(
            lang.as_deref() == Some("fr"),
            "the next page's language is {lang:?}"
        );
        Ok(())
    })
    .await?;
    alice.close().await?;
    Ok(())
}

/// Forgotten password: the reset link comes by mail, works once, and the old password stops
/// working. Asking for an unknown address looks the same and sends nothing.
#[tokio::test]
async fn password_reset_by_mail() -> Result<()> {
    const NEW_PASSWORD: &str = "a brand new passphrase, 2024";
    const UNKNOWN: &str = "nobody@abeilles.test";

    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let setup_link = control_plane.setup_link().await?;
    let admin = HttpClient::new(&control_plane.base_url())?;
    admin.complete_setup(&setup_link, &SETUP).await?;
    let account = admin.get("/account").await?;
    ensure!(account.status == 200, "{}", account.describe());

    // Someone who forgot their password, in another browser.
    let visitor = admin.fresh();
    let form = visitor.get("/forgot").await?;
    ensure!(
        form.status == 200 && form.body.contains("name=\"email\"") && !form.has_id("forgot-sent"),
        "GET /forgot: {}",
        form.describe()
    );
    let known = visitor
        .post_form("/forgot", &[("email", ADMIN_EMAIL)])
        .await?;
    ensure!(
        known.status == 200 && known.has_id("forgot-sent"),
        "POST /forgot for a known address: {}",
        known.describe()
    );
    let mail = smtp
        .wait_for_message(|mail| mail.is_to(ADMIN_EMAIL), MAIL_TIMEOUT)
        .await?;
    let reset_link = mail
        .first_link_containing("/reset?token=")
        .with_context(|| format!("no reset link in the mail:\n{}", mail.body))?;
    ensure!(
        reset_link.starts_with(&control_plane.url("/reset?token=")),
        "the reset link {reset_link} is not under {}",
        control_plane.base_url()
    );
    let token = Url::parse(&reset_link)?
        .query_pairs()
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .context("the reset link has no token")?;

    let page = visitor.get(&reset_link).await?;
    ensure!(
        page.status == 200 && page.body.contains("name=\"password_confirm\""),
        "the reset link: {}",
        page.describe()
    );
    let done = visitor
        .post_form(
            "/reset",
            &[
                ("token", &token),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await?;
    ensure!(
        done.status == 303 && done.location() == "/login?done=password_reset",
        "POST /reset: {}",
        done.describe()
    );
    // Resetting the password ends the sessions opened with the old one.
    let old_session = admin.get("/account").await?;
    ensure!(
        old_session.status == 303 && old_session.location().starts_with("/login"),
        "the session from before the reset still works: {}",
        old_session.describe()
    );

    // The new password signs in; the old one does not.
    let signed_in = visitor.login(ADMIN_EMAIL, NEW_PASSWORD).await?;
    ensure!(
        signed_in.status == 303 && signed_in.location() == "/account",
        "signing in with the new password: {}",
        signed_in.describe()
    );
    let account = visitor.get("/account").await?;
    ensure!(
        account.status == 200 && account.body.contains(ADMIN_EMAIL),
        "the account page after signing in: {}",
        account.describe()
    );
    let old = visitor.fresh().login(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    ensure!(
        old.status == 401,
        "the old password still answers: {}",
        old.describe()
    );

    // The link is dead: shown or posted again, it is gone and changes nothing.
    let again = visitor.fresh().get(&reset_link).await?;
    ensure!(
        again.status == 410 && again.body.contains("no longer valid"),
        "the reset link, a second time: {}",
        again.describe()
    );
    const THIRD_PASSWORD: &str = "someone else's idea of a password";
    let replay = visitor
        .fresh()
        .post_form(
            "/reset",
            &[
                ("token", &token),
                ("password", THIRD_PASSWORD),
                ("password_confirm", THIRD_PASSWORD),
            ],
        )
        .await?;
    ensure!(
        replay.status == 410,
        "posting the used reset token: {}",
        replay.describe()
    );
    let third = visitor.fresh().login(ADMIN_EMAIL, THIRD_PASSWORD).await?;
    ensure!(
        third.status == 401,
        "a used reset token changed the password: {}",
        third.describe()
    );

    // An unknown address gets the very same page, and no mail.
    let unknown = visitor
        .fresh()
        .post_form("/forgot", &[("email", UNKNOWN)])
        .await?;
    ensure!(
        unknown.status == known.status && unknown.body == known.body,
        "an unknown address is answered differently from a known one:\nknown: {}\nunknown: {}",
        known.describe(),
        unknown.describe()
    );
    let stray = smtp
        .wait_for_message(|mail| mail.is_to(UNKNOWN), Duration::from_secs(2))
        .await;
    ensure!(
        stray.is_err(),
        "a mail went to the unknown address {UNKNOWN}"
    );
    let all = smtp.messages()?;
    ensure!(
        all.len() == 1,
        "the sink received {} mails, not only the reset mail: {:?}",
        all.len(),
        all.iter().map(|mail| &mail.to).collect::<Vec<_>>()
    );
    Ok(())
}

/// The names of the domains a `GET /api/v1/domains` answer lists, sorted.
fn domain_names(response: &tests::http::Response) -> Result<Vec<String>> {
    ensure!(response.status == 200, "{}", response.describe());
    let json = response.json()?;
    let mut names = json
        .as_array()
        .with_context(|| format!("not a list: {json}"))?
        .iter()
        .map(|domain| {
            domain["name"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("a domain without a name: {domain}"))
        })
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Postgres goes away under a running control plane and comes back: meanwhile the control
/// plane says it is not ready and refuses writes cleanly (503, nothing written); afterwards the
/// same process serves again.
#[tokio::test]
async fn postgres_restart_is_survived() -> Result<()> {
    let cluster = PgCluster::start().await?;
    let db = TestDatabase::create_on(&cluster.server_url()).await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start_with_env(
        db.url(),
        smtp.port(),
        [("RUCHE_DATABASE__ACQUIRE_TIMEOUT_SECONDS", "2")],
    )
    .await?;
    let pid = control_plane.process()?.pid();
    let setup_link = control_plane.setup_link().await?;
    let admin = HttpClient::new(&control_plane.base_url())?;
    admin.complete_setup(&setup_link, &SETUP).await?;
    let api = admin.with_bearer(&admin.create_api_token("restart test").await?);
    let domains = "/api/v1/domains";
    let created = api
        .api(
            Method::POST,
            domains,
            Some(&json!({ "name": "before.test" })),
        )
        .await?;
    ensure!(created.status == 201, "{}", created.describe());
    let ready = admin.get("/readyz").await?;
    ensure!(ready.status == 200, "/readyz before: {}", ready.describe());

    // Postgres goes away.
    cluster.stop().await?;
    ensure!(!cluster.running().await?, "the cluster still runs");
    let ready = admin.get("/readyz").await?;
    ensure!(
        ready.status == 503,
        "/readyz without Postgres: {}",
        ready.describe()
    );
    let health = admin.get("/healthz").await?;
    ensure!(
        health.status == 200,
        "/healthz without Postgres: {}",
        health.describe()
    );
    let during = json!({ "name": "during.test" });
    let refused = api.api(Method::POST, domains, Some(&during)).await?;
    ensure!(
        refused.status == 503,
        "an API write without Postgres: {}",
        refused.describe()
    );
    let body = refused.json()?;
    ensure!(
        body["error"]["code"] == "unavailable"
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
        "the API's error body without Postgres: {body}"
    );
    let listed = api.api(Method::GET, domains, None).await?;
    ensure!(
        listed.status == 503 && listed.json()?["error"]["code"] == "unavailable",
        "an API read without Postgres: {}",
        listed.describe()
    );
    let page = admin.get("/account").await?;
    ensure!(
        page.status == 503,
        "a portal page without Postgres: {}",
        page.describe()
    );

    // Postgres comes back; the same process notices by itself.
    cluster.start_again().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = admin.get("/readyz").await?;
        if ready.status == 200 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "/readyz still answers {} a minute after Postgres is back; Postgres log:\n{}",
            ready.describe(),
            cluster.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing of the refused write was stored: no domain, no audit entry.
    let names = domain_names(&api.api(Method::GET, domains, None).await?)?;
    ensure!(
        names == ["before.test"],
        "after the outage the domains are {names:?}"
    );
    let mut conn = db.connect().await?;
    let (entries,): (i64,) = sqlx::query_as(
        "select count(*) from audit_log where action = 'domain.create' \
         and details->>'name' = 'during.test'",
    )
    .fetch_one(&mut conn)
    .await?;
    ensure!(
        entries == 0,
        "the refused write left {entries} audit entries"
    );

    // The same write now succeeds, once.
    let created = api.api(Method::POST, domains, Some(&during)).await?;
    ensure!(
        created.status == 201 && created.json()?["name"] == "during.test",
        "the write after the outage: {}",
        created.describe()
    );
    let names = domain_names(&api.api(Method::GET, domains, None).await?)?;
    ensure!(
        names == ["before.test", "during.test"],
        "the domains are {names:?}"
    );
    let page = admin.get("/account").await?;
    ensure!(
        page.status == 200,
        "the portal after the outage: {}",
        page.describe()
    );

    // Never restarted.
    let process = control_plane.process()?;
    ensure!(
        process.pid() == pid,
        "the control plane's pid changed from {pid} to {}",
        process.pid()
    );
    let exit = process.exit_status()?;
    ensure!(exit.is_none(), "the control plane exited: {exit:?}");
    Ok(())
}

/// `control-plane invite` from a shell: it mails the invitation and prints a link that works;
/// `control-plane members` lists the collective.
#[tokio::test]
async fn cli_invite_prints_a_working_link() -> Result<()> {
    const BOB: &str = "bob@example.net";

    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let setup_link = control_plane.setup_link().await?;
    let admin = HttpClient::new(&control_plane.base_url())?;
    admin.complete_setup(&setup_link, &SETUP).await?;

    let out = control_plane.run_cli(["invite", "--email", BOB]).await?;
    ensure!(out.success(), "control-plane invite failed: {out:?}");
    ensure!(
        out.stdout.contains(&format!("invitation mailed to {BOB}")),
        "control-plane invite does not say it mailed the invitation: {out:?}"
    );
    let printed = tests::smtp_sink::links(&out.stdout)
        .find(|link| link.contains("/invite?token="))
        .with_context(|| format!("control-plane invite printed no link: {out:?}"))?;
    ensure!(
        printed.starts_with(&control_plane.url("/invite?token=")),
        "the printed link {printed} is not under {}",
        control_plane.base_url()
    );
    let mail = smtp
        .wait_for_message(|mail| mail.is_to(BOB), MAIL_TIMEOUT)
        .await?;
    let mailed = mail.first_link_containing("/invite?token=");
    ensure!(
        mailed.as_deref() == Some(printed.as_str()),
        "the mail's link {mailed:?} differs from the printed {printed}"
    );
    let page = admin.fresh().get(&printed).await?;
    ensure!(
        page.status == 200 && page.text_of("invite-email").as_deref() == Some(BOB),
        "the printed link: {}",
        page.describe()
    );

    let out = control_plane.run_cli(["members"]).await?;
    ensure!(out.success(), "control-plane members failed: {out:?}");
    let admin_line = out
        .stdout
        .lines()
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|fields| fields.get(1) == Some(&ADMIN_EMAIL))
        .with_context(|| format!("control-plane members does not list {ADMIN_EMAIL}: {out:?}"))?;
    ensure!(
        admin_line.get(2) == Some(&"active")
            && admin_line.get(3) == Some(&"Standard")
            && admin_line.get(4) == Some(&"admin"),
        "the admin's line: {admin_line:?}"
    );
    ensure!(
        out.stdout.lines().count() == 1 && out.stderr.contains("1 members in all"),
        "control-plane members lists more than the admin (an invitation is no member): {out:?}"
    );
    Ok(())
}

/// The target of the header's "Français" link in a page, unescaped.
fn french_link(body: &str) -> Option<String> {
    const START: &str = "<a href=\"/lang/fr?";
    let at = body.find(START)?;
    let href = &body[at + "<a href=\"".len()..];
    let end = href.find('"')?;
    Some(tests::http::html_unescape(&href[..end]))
}

/// Follows the "Français" link of `page` (shown at `what`) as a browser would; returns what went
/// wrong, if anything: the switch must land on a working page in French that still shows
/// `marker` (the form the person was looking at).
async fn switch_to_french(
    client: &HttpClient,
    what: &str,
    page: &tests::http::Response,
    marker: &str,
) -> Result<Option<String>> {
    let link = french_link(&page.body).with_context(|| format!("no French link on {what}"))?;
    let switch = client.get(&link).await?;
    ensure!(
        switch.status == 303,
        "{link} on {what}: {}",
        switch.describe()
    );
    let target = switch.location().to_owned();
    let landing = client.get(&target).await?;
    if landing.status == 200
        && landing.body.contains("lang=\"fr\"")
        && landing.body.contains(marker)
    {
        return Ok(None);
    }
    Ok(Some(format!(
        "{what}: the language link {link} sends to {target}, which answers HTTP {} {}",
        landing.status,
        if landing.body.contains(marker) {
            "(the page, not in French)".to_owned()
        } else {
            let text = landing.text_of("error-message").unwrap_or_default();
            format!("without the page ({marker} missing) {text:?}")
        }
    )))
}

/// The header's language switch takes the person back to the page they were on, in the other
/// language: one-time links (setup, invitation, password reset) keep their token, and a page
/// shown in answer to a form goes to a page that exists.
#[tokio::test]
async fn language_switch_keeps_the_page() -> Result<()> {
    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
    let setup_link = control_plane.setup_link().await?;
    let mut problems = Vec::new();

    // The setup page.
    let operator = HttpClient::new(&control_plane.base_url())?;
    let page = operator.get(&setup_link).await?;
    ensure!(page.status == 200, "the setup link: {}", page.describe());
    problems.extend(
        switch_to_french(
            &operator,
            "the setup page",
            &page,
            "name=\"collective_name\"",
        )
        .await?,
    );
    let admin = operator.fresh();
    admin.complete_setup(&setup_link, &SETUP).await?;

    // The invitation page.
    let invitations = admin.get("/admin/invitations").await?;
    let plan = invitations
        .body
        .split("<option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .with_context(|| format!("no plan to choose: {}", invitations.describe()))?
        .to_owned();
    let invited = admin
        .post_form(
            "/admin/invitations",
            &[("email", "carol@example.net"), ("plan", &plan)],
        )
        .await?;
    ensure!(
        invited.status == 200 && invited.has_id("invitation-sent"),
        "inviting: {}",
        invited.describe()
    );
    let mail = smtp
        .wait_for_message(|mail| mail.is_to("carol@example.net"), MAIL_TIMEOUT)
        .await?;
    let link = mail
        .first_link_containing("/invite?token=")
        .context("no invitation link in the mail")?;
    let invitee = admin.fresh();
    let page = invitee.get(&link).await?;
    ensure!(
        page.status == 200,
        "the invitation link: {}",
        page.describe()
    );
    problems.extend(
        switch_to_french(
            &invitee,
            "the invitation page",
            &page,
            "id=\"invite-email\"",
        )
        .await?,
    );

    // The password reset page.
    let forgetful = admin.fresh();
    let sent = forgetful
        .post_form("/forgot", &[("email", ADMIN_EMAIL)])
        .await?;
    ensure!(sent.has_id("forgot-sent"), "{}", sent.describe());
    let mail = smtp
        .wait_for_message(|mail| mail.is_to(ADMIN_EMAIL), MAIL_TIMEOUT)
        .await?;
    let link = mail
        .first_link_containing("/reset?token=")
        .context("no reset link in the mail")?;
    let page = forgetful.get(&link).await?;
    ensure!(page.status == 200, "the reset link: {}", page.describe());
    problems.extend(
        switch_to_french(
            &forgetful,
            "the password reset page",
            &page,
            "name=\"password_confirm\"",
        )
        .await?,
    );

    // A form shown again with its error (the answer to a POST).
    let refused = admin
        .post_form("/account/domains", &[("domain", "bad domain.test")])
        .await?;
    ensure!(
        refused.status == 422,
        "a bad domain: {}",
        refused.describe()
    );
    problems.extend(
        switch_to_french(
            &admin,
            "the account page with a domain error",
            &refused,
            "name=\"domain\"",
        )
        .await?,
    );

    ensure!(
        problems.is_empty(),
        "the language switch loses the page:\n{}",
        problems.join("\n")
    );
    Ok(())
}
