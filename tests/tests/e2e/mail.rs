//! Mail, end to end: a control plane, a node whose agent renders Postfix, Dovecot and rspamd, and
//! real clients (IMAP, submission, SMTP) that trust only the test CA. One test per acceptance
//! item; each starts its own control plane and node on its own 127.0.0.x, so they are
//! independent (and may run in parallel).

#[path = "mail_boundary.rs"]
mod boundary;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use tests::http::Setup;
use tests::imap::{self, Login};
use tests::mail_node::{self, MailNode};
use tests::submission::{self, Envelope, Outcome, Stage};
use tests::{dkim, ControlPlane, HttpClient, SmtpSink, TestDatabase};

#[path = "mail_logins.rs"]
mod logins;

const SETUP: Setup<'static> = Setup {
    collective_name: "Les Abeilles Libres",
    platform_domain: "abeilles.test",
    email: "admin@abeilles.test",
    password: "correct horse battery staple",
};
/// A member's portal password (not a mail password).
const MEMBER_PASSWORD: &str = "member portal password 1";
const ALICE_PASSWORD: &str = "alice-mail-password-1";
const BOB_PASSWORD: &str = "bob-mail-password-22";
/// How long a change may take to reach the node (API → long poll → render → reload →
/// heartbeat). Generous: after an outage the agent's backoff may be up to a minute.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a message may take to show up in a mailbox.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a mail to the control plane's SMTP sink may take.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where rspamd's compiled data is kept between node starts: inside the tests' own directory.
fn rspamd_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ruche-rspamd-dbdir")
}

/// A collective with one mail node.
pub(super) struct Collective {
    // Field order is drop order: the node (its agent talks to the control plane) first, the
    // database last.
    pub(super) node: MailNode,
    control_plane: ControlPlane,
    /// The admin's API client (bearer token).
    admin: HttpClient,
    plan_id: String,
    smtp: SmtpSink,
    _db: TestDatabase,
    started: Instant,
}

/// A member, signed up through an invitation, with an API token.
pub(super) struct Member {
    api: HttpClient,
    /// The control plane's database, to mark domains verified (see [`Member::domain`]).
    db_url: String,
}

impl Collective {
    async fn start(ip: Ipv4Addr, name: &str) -> Result<Collective> {
        Collective::start_with_relay(ip, name, None).await
    }

    /// A collective whose node sends every outbound message to `relayhost` (a test's SMTP sink
    /// standing for the rest of the world).
    async fn start_with_relay(
        ip: Ipv4Addr,
        name: &str,
        relayhost: Option<std::net::SocketAddr>,
    ) -> Result<Collective> {
        Collective::start_with_options(ip, name, relayhost, false).await
    }

    /// A collective whose node runs its web front (nginx), for the web tests (`e2e/web.rs`).
    pub(super) async fn start_web(ip: Ipv4Addr, name: &str) -> Result<Collective> {
        Collective::start_with_options(ip, name, None, true).await
    }

    async fn start_with_options(
        ip: Ipv4Addr,
        name: &str,
        relayhost: Option<std::net::SocketAddr>,
        web: bool,
    ) -> Result<Collective> {
        let started = Instant::now();
        let db = TestDatabase::create().await?;
        let smtp = SmtpSink::start().await?;
        let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
        let setup_link = control_plane.setup_link().await?;
        let operator = HttpClient::new(&control_plane.base_url())?;
        operator.complete_setup(&setup_link, &SETUP).await?;
        let admin = operator.with_bearer(&operator.create_api_token("mail tests").await?);

        let plan = created(
            admin
                .api(
                    Method::POST,
                    "/api/v1/admin/plans",
                    Some(&json!({
                        "name": "Mail tests",
                        "max_domains": 5,
                        "max_mailboxes": 20,
                        "max_aliases": 20,
                        "max_xmpp_accounts": 5,
                        "storage_mib": 10240,
                    })),
                )
                .await?,
            "create a plan",
        )?;
        let plan_id = string(&plan, "id")?;

        // The node joins before any member exists, so every member is placed on it.
        let node = MailNode::start(
            &control_plane,
            &admin,
            &mail_node::Options {
                ip,
                name: name.to_owned(),
                rspamd_cache: Some(rspamd_cache()),
                relayhost,
                web,
            },
        )
        .await?;
        Ok(Collective {
            node,
            control_plane,
            admin,
            plan_id,
            smtp,
            _db: db,
            started,
        })
    }

    /// Invites `email`, accepts the invitation from its mail as a new person, and returns the
    /// member with a personal API token.
    pub(super) async fn member(&self, email: &str) -> Result<Member> {
        let invited = self
            .admin
            .api(
                Method::POST,
                "/api/v1/admin/invitations",
                Some(&json!({ "email": email, "plan_id": self.plan_id })),
            )
            .await?;
        created(invited, "invite a member")?;
        let mail = self
            .smtp
            .wait_for_message(|mail| mail.is_to(email), MAIL_TIMEOUT)
            .await?;
        let link = mail
            .first_link_containing("/invite?token=")
            .with_context(|| format!("no invitation link in the mail:\n{}", mail.body))?;
        let token = url::Url::parse(&link)?
            .query_pairs()
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned())
            .context("the invitation link has no token")?;
        let person = self.admin.fresh();
        let page = person.get(&link).await?;
        ensure!(
            page.status == 200,
            "the invitation link: {}",
            page.describe()
        );
        let accepted = person
            .post_form(
                "/invite",
                &[
                    ("token", &token),
                    ("display_name", "Test member"),
                    ("password", MEMBER_PASSWORD),
                    ("password_confirm", MEMBER_PASSWORD),
                ],
            )
            .await?;
        ensure!(
            accepted.status == 303,
            "accepting the invitation: {}",
            accepted.describe()
        );
        let token = person.create_api_token("mail tests").await?;
        Ok(Member {
            api: self.admin.with_bearer(&token),
            db_url: self.control_plane.db_url().to_owned(),
        })
    }

    /// The control plane's database (benchmarks seed it with SQL).
    pub(super) fn db_url(&self) -> &str {
        self._db.url()
    }

    /// Waits until the node has applied every change made so far.
    async fn converged(&self) -> Result<()> {
        self.node.wait_until_converged(CONVERGE_TIMEOUT).await
    }

    /// Attaches the node's logs to a failure; keeps rspamd's compiled data for the next test.
    pub(super) async fn finish(self, result: Result<()>) -> Result<()> {
        if let Err(e) = self.node.save_rspamd_cache().await {
            eprintln!("[mail] could not keep rspamd's DBDIR: {e:#}");
        }
        eprintln!(
            "[mail] test ran {:.1} s (control plane, node and clients)",
            self.started.elapsed().as_secs_f64()
        );
        result.map_err(|e| self.node.explain(e))
    }
}

impl Member {
    /// Adds `name` and has it verified, so the node serves it (an unverified domain serves
    /// nothing). The DNS end-to-end tests prove ownership the real way, with the TXT challenge
    /// at a registrar's name server; here the database stands in for that check, as the control
    /// plane's own verification would leave it.
    pub(super) async fn domain(&self, name: &str) -> Result<String> {
        let id = self.pending_domain(name).await?;
        self.verify(&id).await?;
        Ok(id)
    }

    /// Marks the domain `id` verified, as the control plane does once it sees the TXT challenge.
    pub(super) async fn verify(&self, id: &str) -> Result<()> {
        let mut db = sqlx::PgConnection::connect(&self.db_url).await?;
        let updated = sqlx::query(
            "update domains set status = 'active', verified_at = now() where id = $1::uuid",
        )
        .bind(id)
        .execute(&mut db)
        .await?
        .rows_affected();
        ensure!(updated == 1, "no domain {id} to verify");
        Ok(())
    }

    /// Adds `name`, left waiting for verification.
    pub(super) async fn pending_domain(&self, name: &str) -> Result<String> {
        let domain = created(
            self.api
                .api(
                    Method::POST,
                    "/api/v1/domains",
                    Some(&json!({ "name": name })),
                )
                .await?,
            &format!("create the domain {name}"),
        )?;
        string(&domain, "id")
    }

    pub(super) async fn mailbox(
        &self,
        domain_id: &str,
        local_part: &str,
        password: &str,
        quota_mib: i64,
    ) -> Result<String> {
        let mailbox = created(
            self.api
                .api(
                    Method::POST,
                    &format!("/api/v1/domains/{domain_id}/mailboxes"),
                    Some(&json!({
                        "local_part": local_part,
                        "password": password,
                        "quota_mib": quota_mib,
                    })),
                )
                .await?,
            &format!("create the mailbox {local_part}"),
        )?;
        string(&mailbox, "id")
    }

    /// Makes a mailbox public (WebFinger answers for it), or not.
    pub(super) async fn set_public(
        &self,
        domain_id: &str,
        mailbox_id: &str,
        public: bool,
    ) -> Result<()> {
        let answer = self
            .api
            .api(
                Method::PATCH,
                &format!("/api/v1/domains/{domain_id}/mailboxes/{mailbox_id}"),
                Some(&json!({ "public": public })),
            )
            .await?;
        ensure!(answer.status == 200, "PATCH public: {}", answer.describe());
        Ok(())
    }

    async fn alias(&self, domain_id: &str, source: &str, targets: &[&str]) -> Result<String> {
        let alias = created(
            self.api
                .api(
                    Method::POST,
                    &format!("/api/v1/domains/{domain_id}/aliases"),
                    Some(&json!({ "source": source, "targets": targets })),
                )
                .await?,
            &format!("create the alias {source}"),
        )?;
        string(&alias, "id")
    }

    /// The DKIM record the API tells the member to publish for `domain`, once the node has made
    /// its key: `(selector, value)`.
    async fn wait_for_dkim(&self, domain: &str, node: &MailNode) -> Result<(String, String)> {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let response = self.api.api(Method::GET, "/api/v1/domains", None).await?;
            ensure!(
                response.status == 200,
                "list domains: {}",
                response.describe()
            );
            let domains = response.json()?;
            let listed = domains
                .as_array()
                .and_then(|all| all.iter().find(|d| d["name"] == domain))
                .with_context(|| format!("{domain} is not listed: {domains}"))?;
            let dkim = &listed["dkim"];
            if !dkim.is_null() {
                let selector = string(dkim, "selector")?;
                let name = string(dkim, "name")?;
                ensure!(
                    name == format!("{selector}._domainkey.{domain}"),
                    "the DKIM record's name is {name:?}"
                );
                return Ok((selector, string(dkim, "value")?));
            }
            if Instant::now() >= deadline {
                bail!(
                    "the API shows no DKIM record for {domain} after {CONVERGE_TIMEOUT:?}: \
                     {listed}\n{}",
                    node.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The JSON of a `201 Created` answer.
fn created(response: tests::http::Response, what: &str) -> Result<Value> {
    ensure!(response.status == 201, "{what}: {}", response.describe());
    response.json()
}

fn string(value: &Value, key: &str) -> Result<String> {
    value[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no string {key:?} in {value}"))
}

/// Submits one message over submission (authenticated) and returns the server's answer.
async fn submit(
    node: &MailNode,
    security: submission::Security,
    login: (&str, &str),
    from: &str,
    to: &[&str],
    subject: &str,
) -> Result<Outcome> {
    let content = submission::message(from, &to.join(", "), subject, "Bonjour !\nÀ bientôt.");
    submission::send(
        &node.smtp(security),
        Some(login),
        &Envelope {
            from,
            to,
            declare_size: true,
        },
        &content,
    )
    .await
}

/// Delivers one message over plain SMTP on port 25, as another mail server would.
async fn deliver(node: &MailNode, from: &str, to: &str, subject: &str) -> Result<Outcome> {
    let content = submission::message(from, to, subject, "Inbound mail from elsewhere.");
    submission::send(
        &node.smtp(submission::Security::Plain),
        None,
        &Envelope {
            from,
            to: &[to],
            declare_size: false,
        },
        &content,
    )
    .await
}

async fn imap_login(
    node: &MailNode,
    security: imap::Security,
    user: &str,
    password: &str,
) -> Result<Login> {
    imap::login(&node.imap(security), user, password).await
}

/// Waits until `user`'s INBOX holds a message with each of `subjects`; returns the messages.
async fn wait_for_subjects(
    node: &MailNode,
    user: &str,
    password: &str,
    subjects: &[&str],
) -> Result<Vec<Vec<u8>>> {
    let mut session = imap_login(node, imap::Security::Implicit, user, password)
        .await?
        .session()?;
    let wanted: BTreeSet<String> = subjects.iter().map(|s| (*s).to_owned()).collect();
    let messages = session
        .wait_for_inbox(
            |messages| {
                let have: BTreeSet<String> = messages.iter().map(|m| imap::subject_of(m)).collect();
                wanted.is_subset(&have)
            },
            DELIVERY_TIMEOUT,
        )
        .await
        .with_context(|| format!("{user} did not receive {subjects:?}"))?;
    session.logout().await?;
    Ok(messages)
}

fn find_subject<'a>(messages: &'a [Vec<u8>], subject: &str) -> Result<&'a [u8]> {
    messages
        .iter()
        .find(|m| imap::subject_of(m) == subject)
        .map(Vec::as_slice)
        .with_context(|| format!("no message with subject {subject:?}"))
}

/// Acceptance 2 and 3: a member sets up a domain, mailboxes and an alias through the API; mail
/// submitted by one mailbox (STARTTLS and implicit TLS, SASL) reaches the other directly and
/// through the alias, is read over IMAP (both TLS modes), and is DKIM-signed with the key the
/// API publishes.
#[tokio::test]
async fn mail_accounts_delivery_and_dkim() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 21), "node-21").await?;
    let result = accounts_delivery_and_dkim(&c).await;
    c.finish(result).await
}

async fn accounts_delivery_and_dkim(c: &Collective) -> Result<()> {
    let domain = "ruches.test";
    let (alice, bob) = ("alice@ruches.test", "bob@ruches.test");
    let member = c.member("member-one@people.test").await?;
    let domain_id = member.domain(domain).await?;
    member
        .mailbox(&domain_id, "alice", ALICE_PASSWORD, 100)
        .await?;
    member.mailbox(&domain_id, "bob", BOB_PASSWORD, 100).await?;
    member.alias(&domain_id, "team", &[bob]).await?;
    let (selector, txt) = member.wait_for_dkim(domain, &c.node).await?;
    c.converged().await?;
    c.node.check_configs().await?;
    // The node's TLS profile, as a client sees it on IMAPS and SMTPS.
    let ports = c.node.ports();
    for (port, what) in [(ports.imaps, "IMAPS"), (ports.submissions, "SMTPS")] {
        let addr = SocketAddr::from((c.node.ip(), port));
        tests::tls::check_profile(addr, c.node.ca(), what).await?;
    }

    submit(
        &c.node,
        submission::Security::StartTls,
        (alice, ALICE_PASSWORD),
        alice,
        &[bob],
        "Direct over 587",
    )
    .await?
    .accepted()?;
    submit(
        &c.node,
        submission::Security::Implicit,
        (alice, ALICE_PASSWORD),
        alice,
        &["team@ruches.test"],
        "Alias over 465",
    )
    .await?
    .accepted()?;

    let messages = wait_for_subjects(
        &c.node,
        bob,
        BOB_PASSWORD,
        &["Direct over 587", "Alias over 465"],
    )
    .await?;
    for subject in ["Direct over 587", "Alias over 465"] {
        let message = find_subject(&messages, subject)?;
        let verified = dkim::verify(message, domain, &selector, &txt).await?;
        ensure!(
            verified.verified,
            "the message {subject:?} does not verify against the published DKIM key: {}\n{}",
            verified.report,
            String::from_utf8_lossy(message)
        );
    }

    // The check is not vacuous: a message changed in transit no longer verifies.
    let original = find_subject(&messages, "Direct over 587")?;
    let tampered = String::from_utf8_lossy(original)
        .replacen("Subject: Direct over 587", "Subject: Direct over 588", 1)
        .into_bytes();
    ensure!(tampered != original, "no Subject header to tamper with");
    let verified = dkim::verify(&tampered, domain, &selector, &txt).await?;
    ensure!(
        !verified.verified,
        "a tampered message still verifies: {}",
        verified.report
    );

    // IMAP with STARTTLS on the plain port too.
    let mut session = imap_login(&c.node, imap::Security::StartTls, bob, BOB_PASSWORD)
        .await?
        .session()?;
    let inbox = session.inbox().await?;
    ensure!(
        inbox.len() == 2,
        "bob's INBOX over STARTTLS holds {} messages",
        inbox.len()
    );
    session.logout().await?;
    Ok(())
}

/// Acceptance 4: what must be refused is refused, with the right answer. Every check runs; the
/// failures are reported together.
#[tokio::test]
async fn mail_refusals() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 22), "node-22").await?;
    let result = refusals(&c).await;
    c.finish(result).await
}

async fn refusals(c: &Collective) -> Result<()> {
    let (alice, bob, tiny) = ("alice@alpha.test", "bob@alpha.test", "tiny@alpha.test");
    let zoe = "zoe@zeta.test";
    let zoe_password = "zoe-mail-password-333";
    let tiny_password = "tiny-mail-password-4444";
    let one = c.member("member-one@people.test").await?;
    let alpha = one.domain("alpha.test").await?;
    one.mailbox(&alpha, "alice", ALICE_PASSWORD, 100).await?;
    one.mailbox(&alpha, "bob", BOB_PASSWORD, 100).await?;
    one.mailbox(&alpha, "tiny", tiny_password, 1).await?;
    let two = c.member("member-two@people.test").await?;
    let zeta = two.domain("zeta.test").await?;
    two.mailbox(&zeta, "zoe", zoe_password, 100).await?;
    c.converged().await?;

    let mut problems = Vec::new();

    // A wrong password: IMAP says NO, submission says 535.
    let login = imap_login(&c.node, imap::Security::Implicit, bob, "not-bobs-password").await?;
    eprintln!("[mail] IMAP LOGIN with a wrong password: {login:?}");
    match login {
        Login::Refused(text) if text.starts_with("NO") => {}
        Login::Refused(text) => problems.push(format!("IMAP wrong password: {text}")),
        Login::LoggedIn(_) => problems.push("IMAP accepted a wrong password".to_owned()),
    }
    let outcome = submit(
        &c.node,
        submission::Security::StartTls,
        (alice, "not-alices-password"),
        alice,
        &[bob],
        "Wrong password",
    )
    .await?;
    eprintln!("[mail] AUTH PLAIN with a wrong password: {outcome:?}");
    if !matches!(
        &outcome,
        Outcome::Refused {
            stage: Stage::Auth,
            code: 535,
            ..
        }
    ) {
        problems.push(format!("SMTP AUTH with a wrong password: {outcome:?}"));
    }

    // Another member's address as the sender.
    let outcome = submit(
        &c.node,
        submission::Security::StartTls,
        (alice, ALICE_PASSWORD),
        zoe,
        &[bob],
        "Not my address",
    )
    .await?;
    eprintln!("[mail] another member's address as the sender: {outcome:?}");
    match &outcome {
        Outcome::Refused {
            stage: Stage::Mail | Stage::Rcpt(_),
            code: 553,
            text,
        } if text.starts_with("5.7.1") => {}
        other => problems.push(format!("sending as another member's address: {other:?}")),
    }

    // A recipient whose quota the message would exceed, refused at RCPT (SIZE= declared).
    let big = "x".repeat(76);
    let body: String = std::iter::repeat_n(big.as_str(), 20_000)
        .collect::<Vec<_>>()
        .join("\n");
    let content = submission::message(alice, tiny, "Too big", &body);
    let outcome = submission::send(
        &c.node.smtp(submission::Security::StartTls),
        Some((alice, ALICE_PASSWORD)),
        &Envelope {
            from: alice,
            to: &[tiny],
            declare_size: true,
        },
        &content,
    )
    .await?;
    eprintln!(
        "[mail] {} bytes to a 1 MiB mailbox: {outcome:?}",
        content.len()
    );
    match &outcome {
        Outcome::Refused {
            stage: Stage::Rcpt(_),
            code: 552,
            text,
        } if text.starts_with("5.2.2") => {}
        other => problems.push(format!(
            "a {} byte message to a 1 MiB mailbox: {other:?}",
            content.len()
        )),
    }

    // An app password for IMAP works until it is revoked.
    match app_password_revocation(c, &one, alice).await {
        Ok(()) => {}
        Err(e) => problems.push(format!("app password: {e:#}")),
    }

    // The member's sixth message within a minute is deferred (limit: 5 per minute).
    let mut outcomes = Vec::new();
    for n in 1..=6 {
        let outcome = submit(
            &c.node,
            submission::Security::Implicit,
            (zoe, zoe_password),
            zoe,
            &[zoe],
            &format!("Rate {n}"),
        )
        .await?;
        outcomes.push(outcome);
    }
    eprintln!("[mail] six messages in a minute: {outcomes:?}");
    let accepted = outcomes[..5]
        .iter()
        .all(|o| matches!(o, Outcome::Accepted(_)));
    let limited = matches!(
        &outcomes[5],
        Outcome::Refused { code: 451, text, .. } if text.starts_with("4.7.1")
    );
    if !accepted || !limited {
        problems.push(format!("six messages in a minute (limit 5): {outcomes:#?}"));
    }

    ensure!(
        problems.is_empty(),
        "{} refusal check(s) failed:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    Ok(())
}

async fn app_password_revocation(c: &Collective, member: &Member, address: &str) -> Result<()> {
    let made = created(
        member
            .api
            .api(
                Method::POST,
                "/api/v1/app-passwords",
                Some(&json!({ "label": "phone", "scope": "imap" })),
            )
            .await?,
        "create an app password",
    )?;
    let secret = string(&made, "password")?;
    let id = string(&made["app_password"], "id")?;
    c.converged().await?;
    imap_login(&c.node, imap::Security::Implicit, address, &secret)
        .await?
        .session()
        .context("the new app password")?
        .logout()
        .await?;

    let revoked = member
        .api
        .api(Method::DELETE, &format!("/api/v1/app-passwords/{id}"), None)
        .await?;
    ensure!(revoked.status == 204, "revoke: {}", revoked.describe());
    c.converged().await?;
    let refusal = imap_login(&c.node, imap::Security::Implicit, address, &secret)
        .await?
        .refusal()
        .await
        .context("the revoked app password")?;
    eprintln!("[mail] IMAP LOGIN with a revoked app password: {refusal}");
    ensure!(
        refusal.starts_with("NO"),
        "the revoked app password: {refusal}"
    );
    Ok(())
}

/// Acceptance 5: the node keeps serving while the control plane is away, and nothing is lost
/// when it comes back.
#[tokio::test]
async fn mail_survives_control_plane_outage() -> Result<()> {
    let mut c = Collective::start(Ipv4Addr::new(127, 0, 0, 23), "node-23").await?;
    let result = control_plane_outage(&mut c).await;
    c.finish(result).await
}

async fn control_plane_outage(c: &mut Collective) -> Result<()> {
    let (alice, bob) = ("alice@outage.test", "bob@outage.test");
    let member = c.member("member-one@people.test").await?;
    let domain = member.domain("outage.test").await?;
    member
        .mailbox(&domain, "alice", ALICE_PASSWORD, 100)
        .await?;
    member.mailbox(&domain, "bob", BOB_PASSWORD, 100).await?;
    c.converged().await?;
    submit(
        &c.node,
        submission::Security::StartTls,
        (alice, ALICE_PASSWORD),
        alice,
        &[bob],
        "Before the outage",
    )
    .await?
    .accepted()?;
    wait_for_subjects(&c.node, bob, BOB_PASSWORD, &["Before the outage"]).await?;

    c.control_plane.stop().await;
    imap_login(&c.node, imap::Security::StartTls, bob, BOB_PASSWORD)
        .await?
        .session()
        .context("IMAP login while the control plane is away")?
        .logout()
        .await?;
    deliver(&c.node, "friend@elsewhere.test", bob, "During the outage")
        .await?
        .accepted()
        .context("inbound mail while the control plane is away")?;
    wait_for_subjects(
        &c.node,
        bob,
        BOB_PASSWORD,
        &["Before the outage", "During the outage"],
    )
    .await?;

    c.control_plane.restart().await?;
    // A change made after the return reaches the node.
    let carol_password = "carol-mail-password-55555";
    member
        .mailbox(&domain, "carol", carol_password, 100)
        .await?;
    c.converged().await?;
    imap_login(
        &c.node,
        imap::Security::Implicit,
        "carol@outage.test",
        carol_password,
    )
    .await?
    .session()
    .context("a mailbox created after the control plane came back")?
    .logout()
    .await?;
    deliver(
        &c.node,
        "friend@elsewhere.test",
        "carol@outage.test",
        "After the outage",
    )
    .await?
    .accepted()?;
    wait_for_subjects(
        &c.node,
        "carol@outage.test",
        carol_password,
        &["After the outage"],
    )
    .await?;
    // Nothing was lost.
    let messages = wait_for_subjects(
        &c.node,
        bob,
        BOB_PASSWORD,
        &["Before the outage", "During the outage"],
    )
    .await?;
    ensure!(
        messages.len() == 2,
        "bob holds {} messages, not 2",
        messages.len()
    );
    c.node.check_configs().await?;
    Ok(())
}

/// Acceptance 6: the agent killed (SIGKILL) at each step of an apply converges after a restart,
/// and leaves configurations the daemons accept. Each kill falls between two partial applies:
/// the change it interrupted came as a delta, and another one is made while the agent is down,
/// so the restarted agent finishes the first from its journal and takes the second as a delta
/// on top of the state it saved (whole document plus log).
#[tokio::test]
async fn mail_agent_converges_after_sigkill() -> Result<()> {
    let mut c = Collective::start(Ipv4Addr::new(127, 0, 0, 24), "node-24").await?;
    let result = agent_sigkill(&mut c).await;
    c.finish(result).await
}

/// Whether `line` is the agent's log of the apply step `step`.
fn is_step(line: &str, step: &str) -> bool {
    line.contains("apply step")
        && (line.contains(&format!("step={step}")) || line.contains(&format!("step=\"{step}\"")))
}

async fn agent_sigkill(c: &mut Collective) -> Result<()> {
    let member = c.member("member-one@people.test").await?;
    let domain = member.domain("crash.test").await?;
    member
        .mailbox(&domain, "alice", ALICE_PASSWORD, 100)
        .await?;
    c.converged().await?;

    for step in ["write", "check", "postmap", "reload", "done"] {
        // An agent that dawdles at every step, caught up with everything so far.
        c.node.kill_agent().await?;
        c.node
            .spawn_agent(&[("RUCHE_AGENT_TEST_PAUSE_MS", "300")])?;
        c.converged()
            .await
            .with_context(|| format!("before the kill at {step}"))?;
        let seen = c.node.agent()?.lines().len();

        // A change, and the agent killed at `step` of applying it. A member's change touches
        // only data (tables, the user list, maps): no daemon check or reload. So for `check`
        // and `reload` the certificate is renewed as well: the agent installs the new one, a
        // configuration change, with that same apply.
        let renewed = if matches!(step, "check" | "reload") {
            Some(c.node.renew_certificate().await?)
        } else {
            None
        };
        let local = format!("new-{step}");
        let password = format!("{local}-mail-password");
        member.mailbox(&domain, &local, &password, 100).await?;
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let agent = c.node.agent()?;
            if agent.lines()[seen..].iter().any(|l| is_step(&l.text, step)) {
                break;
            }
            if let Some(exit) = agent.exit_status()? {
                bail!("the agent exited ({exit}) before step {step}");
            }
            if Instant::now() >= deadline {
                bail!("the agent never logged `apply step step={step}` for the change");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        c.node.kill_agent().await?;
        // The next change while the agent is down.
        let later = format!("later-{step}");
        let later_password = format!("{later}-mail-password");
        member
            .mailbox(&domain, &later, &later_password, 100)
            .await?;

        // A plain restart converges: both changes work and every daemon accepts its files.
        c.node.start_agent(&[]).await?;
        c.converged()
            .await
            .with_context(|| format!("after a SIGKILL at {step}"))?;
        c.node
            .check_configs()
            .await
            .with_context(|| format!("after a SIGKILL at {step}"))?;
        let address = format!("{local}@crash.test");
        imap_login(&c.node, imap::Security::Implicit, &address, &password)
            .await?
            .session()
            .with_context(|| format!("the mailbox created during the SIGKILL at {step}"))?
            .logout()
            .await?;
        let later_address = format!("{later}@crash.test");
        imap_login(
            &c.node,
            imap::Security::Implicit,
            &later_address,
            &later_password,
        )
        .await?
        .session()
        .with_context(|| format!("the mailbox created after the SIGKILL at {step}"))?
        .logout()
        .await?;
        deliver(
            &c.node,
            "friend@elsewhere.test",
            &address,
            &format!("After {step}"),
        )
        .await?
        .accepted()
        .with_context(|| format!("delivery after the SIGKILL at {step}"))?;
        wait_for_subjects(&c.node, &address, &password, &[&format!("After {step}")]).await?;
        if let Some(renewed) = renewed {
            // The check and reload the killed agent never finished happened after the restart:
            // Dovecot presents the new certificate.
            let deadline = Instant::now() + Duration::from_secs(15);
            let imaps = c.node.imap(imap::Security::Implicit);
            while imap::server_certificate(&imaps).await? != renewed {
                ensure!(
                    Instant::now() < deadline,
                    "IMAPS still presents the old certificate after the SIGKILL at {step}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    // `node-agent reconcile` after a kill converges too, and is idempotent. Logins need the
    // agent's broker (`run`), but delivery does not: while the broker does not answer, Dovecot's
    // userdb falls back to the passwd-file the agent also writes.
    c.node.kill_agent().await?;
    let late_password = "late-mail-password-1";
    member.mailbox(&domain, "late", late_password, 100).await?;
    for _ in 0..2 {
        let out = c.node.reconcile().await?;
        ensure!(out.success(), "node-agent reconcile: {out:?}");
    }
    c.node.check_configs().await?;
    deliver(
        &c.node,
        "friend@elsewhere.test",
        "late@crash.test",
        "After reconcile",
    )
    .await?
    .accepted()
    .context("delivery to a mailbox applied by node-agent reconcile")?;
    // Stored by LMTP now, not when the agent is back and Postfix retries.
    let log = c.node.root().join("var/log/dovecot.log");
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("lmtp(late@crash.test)") && l.contains("saved mail to INBOX"))
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "LMTP did not store the mail while the broker was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.node.start_agent(&[]).await?;
    c.converged().await?;
    wait_for_subjects(
        &c.node,
        "late@crash.test",
        late_password,
        &["After reconcile"],
    )
    .await?;
    Ok(())
}

/// Acceptance 7: hostile names are refused by the API with a clear 4xx error, and none of them
/// reaches any file the node renders.
#[tokio::test]
async fn mail_refuses_hostile_input() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 25), "node-25").await?;
    let result = hostile_input(&c).await;
    c.finish(result).await
}

async fn hostile_input(c: &Collective) -> Result<()> {
    let member = c.member("member-one@people.test").await?;
    let domain = member.domain("hostile-ok.test").await?;
    member
        .mailbox(&domain, "alice", ALICE_PASSWORD, 100)
        .await?;

    let long_local = format!("longmarker{}", "l".repeat(3990));
    let long_domain = format!("longmarker{}.test", "d".repeat(3985));
    let homoglyph = "ex\u{430}mple.org";
    let mailboxes = format!("/api/v1/domains/{domain}/mailboxes");
    let aliases = format!("/api/v1/domains/{domain}/aliases");
    let attempts: Vec<(&str, String, Value)> = vec![
        (
            "/api/v1/domains",
            "name".to_owned(),
            json!({ "name": "example.org\nx" }),
        ),
        (
            "/api/v1/domains",
            "name".to_owned(),
            json!({ "name": homoglyph }),
        ),
        (
            "/api/v1/domains",
            "name".to_owned(),
            json!({ "name": long_domain }),
        ),
        (
            &mailboxes,
            "local_part".to_owned(),
            json!({ "local_part": "nl\nmarker", "password": ALICE_PASSWORD, "quota_mib": 10 }),
        ),
        (
            &mailboxes,
            "local_part".to_owned(),
            json!({ "local_part": "quote\"marker", "password": ALICE_PASSWORD, "quota_mib": 10 }),
        ),
        (
            &mailboxes,
            "local_part".to_owned(),
            json!({ "local_part": long_local, "password": ALICE_PASSWORD, "quota_mib": 10 }),
        ),
        (
            &aliases,
            "source".to_owned(),
            json!({ "source": "alias\nmarker", "targets": ["alice@hostile-ok.test"] }),
        ),
        (
            &aliases,
            "targets".to_owned(),
            json!({ "source": "team", "targets": ["alice@hostile-ok.test\ntarget-marker"] }),
        ),
    ];
    let mut problems = Vec::new();
    for (path, field, body) in &attempts {
        let response = member.api.api(Method::POST, path, Some(body)).await?;
        let error = response.json().ok();
        let message = error
            .as_ref()
            .and_then(|e| e["error"]["message"].as_str())
            .unwrap_or_default()
            .to_owned();
        let fields = error
            .as_ref()
            .map(|e| e["error"]["fields"].to_string())
            .unwrap_or_default();
        let shown: String = body.to_string().chars().take(120).collect();
        eprintln!(
            "[mail] POST {path} {shown}: HTTP {} {message:?} {fields}",
            response.status
        );
        if !(400..500).contains(&response.status) {
            problems.push(format!("POST {path} {shown}: {}", response.describe()));
        } else if message.trim().is_empty() || !fields.contains(field.as_str()) {
            problems.push(format!(
                "POST {path} {shown}: refused ({}) without a clear error naming {field:?}: {}",
                response.status,
                response.describe()
            ));
        }
    }
    c.converged().await?;

    // Nothing of them in any rendered file (the Postfix lookup tables' databases included).
    let needles: Vec<Vec<u8>> = [
        "example.org",
        "marker",
        homoglyph,
        "xn--exmple-4nf",
        &"l".repeat(100),
        &"d".repeat(100),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let mut files = Vec::new();
    collect_files(c.node.root(), &mut files)?;
    ensure!(
        !files.is_empty(),
        "nothing rendered under {}",
        c.node.root().display()
    );
    ensure!(
        files
            .iter()
            .any(|f| std::fs::read(f).is_ok_and(|b| contains(&b, b"hostile-ok.test"))),
        "the legitimate domain hostile-ok.test is in no rendered file: the search would prove \
         nothing"
    );
    for file in &files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        for needle in &needles {
            if contains(&bytes, needle) {
                problems.push(format!(
                    "{} contains {:?}",
                    file.display(),
                    String::from_utf8_lossy(needle)
                ));
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "{} problem(s) with hostile input:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    Ok(())
}

/// Every regular file below `dir` (the mail store and daemon logs included: hostile strings
/// have no business there either).
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

mod bench {
    //! Benchmarks of a mail node, end to end (not part of the suite: `#[ignore]`; run by
    //! tests/bench/mail.sh, which builds release binaries). No thresholds: it prints figures.
    //!
    //! - a node holding 1,000 members with 10 mailboxes each (seeded with SQL: the verifiers are the
    //!   copy of one real argon2id hash, so seeding takes seconds), its full reconcile timed from the
    //!   agent's own log line and its resident memory sampled during it;
    //! - a mailbox made while the 1,000 new domains' DKIM keys are still being made (aside): the
    //!   first login of a client retrying from the moment the API answered, and the time until
    //!   every key is made;
    //! - provisioning latency: `POST /api/v1/domains/{id}/mailboxes` → the first IMAP login that
    //!   succeeds, 18 times, p50/p95, for a client that waits for the node to report the change
    //!   and for one that logs in at once and retries; the agent's own time per change, from
    //!   its log;
    //! - the agent's resident memory at idle.

    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    use anyhow::{ensure, Context, Result};

    use super::{imap_login, Collective, ALICE_PASSWORD};
    use tests::imap::{self, Login};

    const MEMBERS: usize = 1_000;
    const MAILBOXES: usize = 10;
    // The test plan allows 20 mailboxes: alice and 18 more (and one spare).
    const SAMPLES: usize = 18;

    /// 1,000 members on the bench node, each with a verified domain `seed<n>.test` and mailboxes
    /// `user1..user10`, all with alice's verifier (a real argon2id hash). `$1` members, `$2`
    /// mailboxes each.
    const SEED: &str = "
    with hash as (select password_hash from mailboxes limit 1),
         plan as (select id from plans order by name limit 1),
         node as (select node_id as id from members where node_id is not null limit 1),
         new_members as (
            insert into members (id, email, display_name, password_hash, plan_id, node_id)
            select gen_random_uuid(), 'seed' || g || '@elsewhere.test', 'Seed ' || g,
                   (select password_hash from hash), (select id from plan), (select id from node)
            from generate_series(1, $1::int) g
            returning id, email),
         new_domains as (
            insert into domains (id, member_id, name, status, verification_token)
            select gen_random_uuid(), id, split_part(email, '@', 1) || '.test', 'active', 'seed'
            from new_members
            returning id, member_id)
    insert into mailboxes (id, member_id, domain_id, local_part, password_hash, quota_bytes)
    select gen_random_uuid(), d.member_id, d.id, 'user' || i, (select password_hash from hash),
           1073741824
    from new_domains d, generate_series(1, $2::int) i";

    /// The agent's resident set, from /proc.
    fn rss_kib(pid: u32) -> Result<u64> {
        status_kib(pid, "VmRSS")
    }

    /// One figure of /proc/<pid>/status in KiB: `VmRSS`, or its parts `RssAnon` (the heap,
    /// stacks) and `RssFile` (the binary and libraries as mapped).
    fn status_kib(pid: u32, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {field}"))
    }

    /// Starts the kernel's high-water mark (VmHWM) again from the present resident set
    /// (`clear_refs`, value 5; needs to own the process or root).
    fn reset_peak(pid: u32) -> Result<()> {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .with_context(|| format!("resetting the peak resident set of process {pid}"))
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }

    #[tokio::test]
    #[ignore = "a benchmark: run tests/bench/mail.sh"]
    async fn mail_bench_provisioning() -> Result<()> {
        let c = Collective::start(Ipv4Addr::new(127, 0, 0, 40), "bench-node").await?;
        let result = bench(&c).await;
        c.finish(result).await
    }

    async fn bench(c: &Collective) -> Result<()> {
        let member = c.member("bench@elsewhere.test").await?;
        let domain_id = member.domain("bench.test").await?;
        member
            .mailbox(&domain_id, "alice", ALICE_PASSWORD, 10)
            .await?;
        c.converged().await?;
        let agent_pid = c.node.agent()?.pid();
        let idle_before = rss_kib(agent_pid)?;

        // Seed 1,000 members × 10 mailboxes on this node with SQL, reusing alice's verifier, and
        // let the bench member make as many mailboxes as the samples need.
        let pool = sqlx::PgPool::connect(c._db.url()).await?;
        sqlx::query("update plans set max_mailboxes = 1000, storage_bytes = 1099511627776")
            .execute(&pool)
            .await?;
        let seeded = Instant::now();
        sqlx::query(SEED)
            .bind(MEMBERS as i64)
            .bind(MAILBOXES as i64)
            .execute(&pool)
            .await?;
        eprintln!(
            "[bench] seeded {MEMBERS} members × {MAILBOXES} mailboxes in {:.1} s",
            seeded.elapsed().as_secs_f64()
        );

        // Wait while the agent takes the big change in. Applied means every member served;
        // their DKIM keys are made aside, after. Its peak memory is the kernel's high-water mark
        // (VmHWM), read at the end: every moment counts, not only those a poll caught.
        let full = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let (desired, observed) = c.node.generations().await?;
            if observed.is_some_and(|o| o >= desired) {
                break;
            }
            ensure!(Instant::now() < deadline, "the node did not converge");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let full_elapsed = full.elapsed();
        // No login yet: the high-water mark is the agent's own (the big change taken in).
        let peak_full_reconcile = status_kib(agent_pid, "VmHWM")?;

        // A mailbox made while the keys are being made: a retrying client's first login.
        let keys_made = || tests::node_agent::dkim_keys_made(c.node.root());
        let keys_before = keys_made();
        let during_keys = retrying_login(c, &member, &domain_id, "during-keys").await?;
        let keys_after = keys_made();

        // Every key made.
        loop {
            if keys_made() > MEMBERS {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "the DKIM keys were never all made"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let keys_elapsed = full.elapsed();
        c.converged().await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_after = rss_kib(agent_pid)?;
        let idle_after_anon = status_kib(agent_pid, "RssAnon")?;
        let idle_after_file = status_kib(agent_pid, "RssFile")?;
        // The mark so far (the keys were made meanwhile, and one mailbox logged in); then it
        // starts again from the idle agent, for the changes and logins that follow.
        let peak_keys = status_kib(agent_pid, "VmHWM")?;
        reset_peak(agent_pid)?;

        // Provisioning latency on the full node, two ways.
        // 1. A client that waits for the node to report the change applied (polled in the
        //    database every 10 ms), then logs in, retrying only if that is refused.
        let log_from = c.node.agent()?.output().len();
        let mut latencies = Vec::new();
        let mut applied = Vec::new();
        for i in 0..SAMPLES {
            let local = format!("new{i}");
            let address = format!("{local}@bench.test");
            let started = Instant::now();
            member
                .mailbox(&domain_id, &local, ALICE_PASSWORD, 10)
                .await?;
            let (desired, _) = c.node.generations().await?;
            loop {
                let (_, observed) = c.node.generations().await?;
                if observed.is_some_and(|o| o >= desired) {
                    break;
                }
                ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "{address} was never applied"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            applied.push(started.elapsed());
            loop {
                if let Ok(Login::LoggedIn(session)) =
                    imap_login(&c.node, imap::Security::Implicit, &address, ALICE_PASSWORD).await
                {
                    session.logout().await?;
                    break;
                }
                ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "{address} never logged in"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            latencies.push(started.elapsed());
        }
        // The agent's own time for each of those changes, from its log.
        let output = c.node.agent()?.output();
        let changes = &output[log_from.min(output.len())..];
        let mut agent_work = reconcile_times(changes);
        let phases = reconcile_phases(changes);
        // 2. A client that logs in as soon as the API answered, and again at once when refused.
        let mut retrying = Vec::new();
        for i in 0..SAMPLES {
            retrying.push(retrying_login(c, &member, &domain_id, &format!("retry{i}")).await?);
        }
        let peak_changes = status_kib(agent_pid, "VmHWM")?;
        let peak = peak_keys.max(peak_changes);
        applied.sort();
        latencies.sort();
        retrying.sort();
        agent_work.sort();
        ensure!(
            !agent_work.is_empty(),
            "no reconcile line in the agent's log"
        );
        // The delta is per member: its size follows the member changed, not the node. The
        // samples above piled onto one member; measure also one shaped like the node's
        // members (10 mailboxes), its tenth mailbox being the change.
        let (delta_bench_member, _) = desired_sizes(c).await?;
        let mailboxes_of_bench_member = 2 + 2 * SAMPLES;
        let shaped = c.member("shaped@elsewhere.test").await?;
        let shaped_domain = shaped.domain("shaped.test").await?;
        for i in 0..MAILBOXES {
            shaped
                .mailbox(&shaped_domain, &format!("user{i}"), ALICE_PASSWORD, 10)
                .await?;
        }
        c.converged().await?;
        let (delta_bytes, whole_bytes) = desired_sizes(c).await?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        eprintln!("[bench] RESULT node: {MEMBERS} members x {MAILBOXES} mailboxes");
        eprintln!("[bench] RESULT every member applied after seeding (DKIM keys made aside): {:.1} s; all {MEMBERS} new keys made: {:.1} s", full_elapsed.as_secs_f64(), keys_elapsed.as_secs_f64());
        eprintln!("[bench] RESULT a mailbox made while keys were being made ({keys_before} -> {keys_after} keys meanwhile): first login of a retrying client {:.0} ms after the API answered", ms(during_keys));
        eprintln!("[bench] RESULT provisioning (API create mailbox -> first IMAP login, waiting for applied), n={SAMPLES}: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            ms(percentile(&latencies, 0.5)), ms(percentile(&latencies, 0.95)),
            latencies.last().map_or(0.0, |d| ms(*d)));
        eprintln!("[bench] RESULT of which API create mailbox -> node reports it applied: p50 {:.0} ms, p95 {:.0} ms",
            ms(percentile(&applied, 0.5)), ms(percentile(&applied, 0.95)));
        eprintln!("[bench] RESULT retrying client (logs in from the moment the API answered), n={SAMPLES}: p50 {:.0} ms, p95 {:.0} ms",
            ms(percentile(&retrying, 0.5)), ms(percentile(&retrying, 0.95)));
        eprintln!("[bench] RESULT agent work per mailbox change (its 'reconciled' log line), n={}: p50 {:.1} ms, p95 {:.1} ms",
            agent_work.len(), ms(percentile(&agent_work, 0.5)), ms(percentile(&agent_work, 0.95)));
        eprintln!("[bench] RESULT of which (medians): {phases}");
        eprintln!("[bench] RESULT agent RSS: idle (1 member) {idle_before} KiB; idle (1,000 members) {idle_after} KiB, of which anonymous {idle_after_anon} KiB and mapped files {idle_after_file} KiB");
        eprintln!("[bench] RESULT agent RSS peak (VmHWM) over the whole run {peak} KiB: taking the 1,000 members in (no login yet) {peak_full_reconcile} KiB; from start through key making and one login {peak_keys} KiB; from idle through the {} changes and their logins {peak_changes} KiB (each login checks one argon2id hash, 19 MiB while it runs)", 2 * SAMPLES);
        eprintln!("[bench] RESULT sent to the node for one mailbox change: {delta_bytes} bytes (delta of a member with {MAILBOXES} mailboxes; {delta_bench_member} bytes for the bench member with {mailboxes_of_bench_member}); the whole document: {whole_bytes} bytes");
        for (name, value, unit) in [
            (
                "full_convergence_after_seeding",
                full_elapsed.as_secs_f64(),
                "s",
            ),
            ("all_dkim_keys_made", keys_elapsed.as_secs_f64(), "s"),
            ("mailbox_live_while_keys_are_made", ms(during_keys), "ms"),
            (
                "create_mailbox_to_imap_p50",
                ms(percentile(&latencies, 0.5)),
                "ms",
            ),
            (
                "create_mailbox_to_imap_p95",
                ms(percentile(&latencies, 0.95)),
                "ms",
            ),
            (
                "create_mailbox_to_applied_p95",
                ms(percentile(&applied, 0.95)),
                "ms",
            ),
            (
                "retrying_client_first_login_p95",
                ms(percentile(&retrying, 0.95)),
                "ms",
            ),
            (
                "agent_work_per_mailbox_change_p95",
                ms(percentile(&agent_work, 0.95)),
                "ms",
            ),
            ("agent_rss_idle", idle_after as f64 / 1024.0, "MiB"),
            (
                "agent_rss_idle_anonymous",
                idle_after_anon as f64 / 1024.0,
                "MiB",
            ),
            ("agent_rss_peak", peak as f64 / 1024.0, "MiB"),
            (
                "agent_rss_peak_full_reconcile",
                peak_full_reconcile as f64 / 1024.0,
                "MiB",
            ),
            (
                "agent_rss_peak_changes_and_logins",
                peak_changes as f64 / 1024.0,
                "MiB",
            ),
            ("bytes_one_mailbox_change", delta_bytes as f64, "bytes"),
            ("bytes_whole_document", whole_bytes as f64, "bytes"),
        ] {
            eprintln!("bench: {name} = {value:.1} {unit}");
        }
        Ok(())
    }

    /// Creates `local@bench.test` and logs in from the moment the API answered, again at once
    /// after each refusal; the time to the first login that works.
    async fn retrying_login(
        c: &Collective,
        member: &super::Member,
        domain_id: &str,
        local: &str,
    ) -> Result<Duration> {
        let address = format!("{local}@bench.test");
        member.mailbox(domain_id, local, ALICE_PASSWORD, 10).await?;
        let answered = Instant::now();
        loop {
            if let Ok(Login::LoggedIn(session)) =
                imap_login(&c.node, imap::Security::Implicit, &address, ALICE_PASSWORD).await
            {
                session.logout().await?;
                return Ok(answered.elapsed());
            }
            ensure!(
                answered.elapsed() < Duration::from_secs(120),
                "{address} never logged in"
            );
        }
    }

    /// DKIM keys made so far (one `.pub` file each).
    /// The `elapsed` of each "reconciled" line of the agent's log.
    /// Where the agent's time went in those lines: the median of each phase it logs, and of
    /// what follows the plan (writes, steps, reloads).
    fn reconcile_phases(log: &str) -> String {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("reconciled")).collect();
        let median = |name: &str| {
            let mut all: Vec<Duration> = lines
                .iter()
                .filter_map(|l| tests::node_agent::parse_duration(l, name))
                .collect();
            all.sort();
            if all.is_empty() {
                return f64::NAN;
            }
            percentile(&all, 0.5).as_secs_f64() * 1e3
        };
        let apply = median("elapsed") - median("material") - median("render") - median("plan");
        format!(
            "material {:.1} ms, render {:.1} ms, read and plan {:.1} ms, apply about {apply:.1} ms",
            median("material"),
            median("render"),
            median("plan")
        )
    }

    fn reconcile_times(log: &str) -> Vec<Duration> {
        log.lines()
            .filter(|line| line.contains("reconciled"))
            .filter_map(tests::node_agent::parse_elapsed)
            .collect()
    }

    /// The size of what the node API sends for the last change (the last mailbox made, as a
    /// delta) and of the whole document, asked with the node's own credential.
    async fn desired_sizes(c: &Collective) -> Result<(usize, usize)> {
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(c.node.config().state_dir.join("node.json"))
                .context("read the node's node.json")?,
        )?;
        let credential = state["credential"].as_str().context("no credential")?;
        let (desired, _) = c.node.generations().await?;
        let http = reqwest::Client::new();
        let mut sizes = Vec::new();
        for query in [
            format!("after={}&delta=true&wait=0", desired - 1),
            "after=0&wait=0".to_owned(),
        ] {
            let url = format!("{}/node-api/v1/desired?{query}", c.control_plane.base_url());
            let body = http
                .get(&url)
                .bearer_auth(credential)
                .send()
                .await?
                .bytes()
                .await?;
            sizes.push(body.len());
        }
        Ok((sizes[0], sizes[1]))
    }
}
