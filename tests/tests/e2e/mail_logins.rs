//! Issue 9, item 5: no member's failed logins starve another member's. An attacker floods IMAP
//! and SMTP AUTH with wrong passwords for member A's mailbox, from several loopback addresses
//! and many connections at once, while A holds as many app passwords as a member may; member B
//! logs in (IMAP and SMTP AUTH, mailbox password and app passwords) from an address of its own
//! during the flood, and every one of B's logins must succeed.
//!
//! Functional, not timed: a login that the node answers with a temporary failure (the auth
//! broker did not answer Dovecot in time) or not at all is a failure of the test.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::json;
use tests::imap::{self, Login};
use tests::mail_node::MailNode;
use tests::submission::{self, Outcome};

use super::{created, string, Collective, Member};

/// App passwords a member may hold at once (the cap the control plane enforces).
const APP_PASSWORD_CAP: usize = 50;
/// Connections the attacker keeps busy at once, per protocol.
const IMAP_ATTACKERS: usize = 24;
const SMTP_ATTACKERS: usize = 12;
/// Rounds of B's logins during the flood (each round: four logins).
const ROUNDS: usize = 6;
const A_PASSWORD: &str = "alice-mail-password-1";
const B_PASSWORD: &str = "bruno-mail-password-22";

/// Where the attacker connects from: the default source and three addresses of its own.
fn attacker_sources() -> [Option<IpAddr>; 4] {
    [
        None,
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 93, 1))),
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 93, 2))),
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 93, 3))),
    ]
}

/// Member B's own address.
const B_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 94, 1));

#[tokio::test]
async fn mail_boundary_logins_survive_a_flood() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 34), "node-34").await?;
    let result = logins_survive_a_flood(&c).await;
    c.finish(result).await
}

async fn app_password(member: &Member, label: &str, scope: &str) -> Result<String> {
    let made = created(
        member
            .api
            .api(
                Method::POST,
                "/api/v1/app-passwords",
                Some(&json!({ "label": label, "scope": scope })),
            )
            .await?,
        &format!("create the app password {label}"),
    )?;
    string(&made, "password")
}

/// What the attacker's attempts got.
#[derive(Default)]
struct Tally {
    attempts: AtomicUsize,
    refused: AtomicUsize,
    /// Answers that were not a plain refusal: temporary failures, errors, timeouts.
    other: AtomicUsize,
}

async fn logins_survive_a_flood(c: &Collective) -> Result<()> {
    let alice = "alice@victim.test";
    let bruno = "bruno@bystander.test";
    let a = c.member("member-a@people.test").await?;
    let a_domain = a.domain("victim.test").await?;
    a.mailbox(&a_domain, "alice", A_PASSWORD, 100).await?;
    // A holds as many app passwords as a member may, for both mail protocols, so that before
    // the fix every failed login for A cost one argon2id check per app password of its scope.
    for i in 0..APP_PASSWORD_CAP {
        let scope = if i % 2 == 0 { "imap" } else { "smtp" };
        app_password(&a, &format!("device {i}"), scope).await?;
    }
    let b = c.member("member-b@people.test").await?;
    let b_domain = b.domain("bystander.test").await?;
    b.mailbox(&b_domain, "bruno", B_PASSWORD, 100).await?;
    let b_imap = app_password(&b, "phone imap", "imap").await?;
    let b_smtp = app_password(&b, "phone smtp", "smtp").await?;
    c.converged().await?;

    // B's logins work before the flood.
    b_logins(&c.node, bruno, &b_imap, &b_smtp)
        .await
        .context("B's logins before the flood")?;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut attackers = Vec::new();
    for i in 0..IMAP_ATTACKERS + SMTP_ATTACKERS {
        let stop = stop.clone();
        let tally = tally.clone();
        let node_imap = c.node.imap(imap::Security::Implicit);
        let node_smtp = c.node.smtp(submission::Security::Implicit);
        let (addr, host, ca) = (
            node_imap.addr,
            node_imap.host.to_owned(),
            node_imap.ca.to_owned(),
        );
        let smtp_addr = node_smtp.addr;
        attackers.push(tokio::spawn(async move {
            let sources = attacker_sources();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let source = sources[(i + n) % sources.len()];
                let guess = format!("guess-{i}-{n}");
                n += 1;
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                let refused = if i < IMAP_ATTACKERS {
                    let server = imap::Server {
                        addr,
                        host: &host,
                        ca: &ca,
                        security: imap::Security::Implicit,
                    };
                    match imap::login_from(&server, source, alice, &guess).await {
                        Ok(Login::Refused(text)) => text.contains("AUTHENTICATIONFAILED"),
                        Ok(Login::LoggedIn(_)) | Err(_) => false,
                    }
                } else {
                    let server = submission::Server {
                        addr: smtp_addr,
                        host: &host,
                        ca: &ca,
                        security: submission::Security::Implicit,
                    };
                    match submission::authenticate(&server, source, (alice, &guess)).await {
                        Ok(Outcome::Refused { code, .. }) => code == 535,
                        Ok(Outcome::Accepted(_)) | Err(_) => false,
                    }
                };
                if refused {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.other.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Let the flood fill every queue before B starts (this waits for load to build up; it
    // asserts nothing about speed).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        if let Err(e) = b_logins(&c.node, bruno, &b_imap, &b_smtp).await {
            failures.push(format!("round {round}: {e:#}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.context("an attacker task panicked")?;
    }
    let (attempts, refused, other) = (
        tally.attempts.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed),
    );
    eprintln!(
        "[mail] flood: {attempts} attempts on {alice}, {refused} refused as wrong credentials, \
         {other} other answers; B: {} of {} rounds failed",
        failures.len(),
        ROUNDS
    );
    ensure!(
        failures.is_empty(),
        "B's logins failed during the flood on A:\n- {}",
        failures.join("\n- ")
    );
    // The flood was real: many attempts, and wrong credentials were refused as such.
    ensure!(
        attempts >= IMAP_ATTACKERS + SMTP_ATTACKERS && refused > 0,
        "the flood did not happen: {attempts} attempts, {refused} refused"
    );

    // The cap: A cannot hold one more app password.
    let over = a
        .api
        .api(
            Method::POST,
            "/api/v1/app-passwords",
            Some(&json!({ "label": "one too many", "scope": "imap" })),
        )
        .await?;
    ensure!(
        over.status == 422,
        "an app password over the cap: {}",
        over.describe()
    );
    Ok(())
}

/// One round of B's logins from B's own address: IMAP with the mailbox password and with the
/// IMAP app password, SMTP AUTH with the mailbox password and with the SMTP app password. Every
/// one must be accepted.
async fn b_logins(node: &MailNode, user: &str, imap_app: &str, smtp_app: &str) -> Result<()> {
    let mut problems = Vec::new();
    let imap_server = node.imap(imap::Security::Implicit);
    for (what, password) in [("mailbox password", B_PASSWORD), ("app password", imap_app)] {
        match imap::login_from(&imap_server, Some(B_SOURCE), user, password).await {
            Ok(Login::LoggedIn(session)) => {
                if let Err(e) = session.logout().await {
                    problems.push(format!("IMAP logout ({what}): {e:#}"));
                }
            }
            Ok(Login::Refused(text)) => problems.push(format!("IMAP LOGIN ({what}): {text}")),
            Err(e) => problems.push(format!("IMAP LOGIN ({what}): {e:#}")),
        }
    }
    let smtp_server = node.smtp(submission::Security::Implicit);
    for (what, password) in [("mailbox password", B_PASSWORD), ("app password", smtp_app)] {
        match submission::authenticate(&smtp_server, Some(B_SOURCE), (user, password)).await {
            Ok(Outcome::Accepted(_)) => {}
            Ok(refused) => problems.push(format!(
                "SMTP AUTH ({what}): {}",
                refused.refusal().unwrap_or_default()
            )),
            Err(e) => problems.push(format!("SMTP AUTH ({what}): {e:#}")),
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}
