//! Tenant boundaries on a mail node, end to end: members sharing a node are adversaries. Each
//! test puts two members on one node (real Postfix, Dovecot, rspamd and the agent) and has one
//! try to sign, receive or read as the other, with real SMTP and IMAP clients.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use tests::imap;
use tests::submission::{self, Envelope, Outcome, Stage};
use tests::SmtpSink;

use super::{
    deliver, imap_login, submit, wait_for_subjects, Collective, ALICE_PASSWORD, BOB_PASSWORD,
};

/// How long a message may take to reach the world's SMTP sink.
const MAIL_WAIT: Duration = Duration::from_secs(30);

/// Submits `content` as it is (headers included) with `login`, from the envelope sender `from`
/// (empty: the null sender) to `to`.
async fn submit_raw(
    c: &Collective,
    login: (&str, &str),
    from: &str,
    to: &str,
    content: &str,
) -> Result<Outcome> {
    let content = content.replace('\n', "\r\n");
    submission::send(
        &c.node.smtp(submission::Security::Implicit),
        Some(login),
        &Envelope {
            from,
            to: &[to],
            declare_size: false,
        },
        content.as_bytes(),
    )
    .await
}

fn headers(from_lines: &str, subject: &str) -> String {
    format!(
        "{from_lines}To: alice@a-home.test\nSubject: {subject}\n\
         Message-ID: <{subject}@client.ruche.test>\nDate: Thu, 1 Jan 2026 00:00:00 +0000\n\n\
         Pay the invoice today.\n"
    )
}

/// Item 1: member B, logged in on submission, cannot send as member A's domain (null envelope
/// sender, forged header `From`, two `From` headers, two addresses in one, a forged `Sender`),
/// so nothing ever goes out signed `d=a-home.test` by B; B's own mail still goes out signed.
#[tokio::test]
async fn boundary_signing_as_another_member() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 31), "node-31").await?;
    let result = signing(&c).await;
    c.finish(result).await
}

async fn signing(c: &Collective) -> Result<()> {
    let a = c.member("member-a@people.test").await?;
    let a_domain = a.domain("a-home.test").await?;
    a.mailbox(&a_domain, "alice", ALICE_PASSWORD, 100).await?;
    let b = c.member("member-b@people.test").await?;
    let b_domain = b.domain("b-home.test").await?;
    b.mailbox(&b_domain, "bob", BOB_PASSWORD, 100).await?;
    a.wait_for_dkim("a-home.test", &c.node).await?;
    b.wait_for_dkim("b-home.test", &c.node).await?;
    c.converged().await?;
    let bob = ("bob@b-home.test", BOB_PASSWORD);
    let alice = "alice@a-home.test";

    // B's own mail goes out, signed by B's domain (so the refusals below are not vacuous).
    // First, so that a forgery let through cannot use up B's sending limit before it.
    submit(
        &c.node,
        submission::Security::Implicit,
        bob,
        "bob@b-home.test",
        &[alice],
        "own-mail",
    )
    .await?
    .accepted()?;

    let attempts: [(&str, &str, String); 6] = [
        (
            "the null sender with From: ceo@a-home.test",
            "",
            headers("From: ceo@a-home.test\n", "null-sender"),
        ),
        (
            "B's envelope with From: ceo@a-home.test",
            "bob@b-home.test",
            headers("From: ceo@a-home.test\n", "forged-from"),
        ),
        (
            "two From headers, B's first",
            "bob@b-home.test",
            headers(
                "From: bob@b-home.test\nFrom: ceo@a-home.test\n",
                "two-froms",
            ),
        ),
        (
            "two addresses in one From",
            "bob@b-home.test",
            headers("From: bob@b-home.test, ceo@a-home.test\n", "two-addresses"),
        ),
        (
            "Sender: ceo@a-home.test",
            "bob@b-home.test",
            headers(
                "From: bob@b-home.test\nSender: ceo@a-home.test\n",
                "forged-sender",
            ),
        ),
        (
            "a display name hiding A's address before B's",
            "bob@b-home.test",
            headers("From: \"Bob\" <ceo@a-home.test>\n", "display-name"),
        ),
    ];
    let mut problems = Vec::new();
    for (what, envelope, content) in &attempts {
        let outcome = submit_raw(c, bob, envelope, alice, content).await?;
        eprintln!("[boundary] {what}: {outcome:?}");
        match outcome {
            Outcome::Refused { code, .. } if (500..600).contains(&code) => {}
            other => problems.push(format!("{what}: {other:?}")),
        }
    }
    let received = wait_for_subjects(&c.node, alice, ALICE_PASSWORD, &["own-mail"]).await?;
    // Whatever reached alice (had a refusal not held), none of it is signed for A's domain.
    for message in &received {
        let text = String::from_utf8_lossy(message);
        if text.contains("d=a-home.test") {
            problems.push(format!(
                "alice received a message signed d=a-home.test:\n{text}"
            ));
        }
        if imap::subject_of(message) == "own-mail" && !text.contains("d=b-home.test") {
            problems.push(format!("B's own mail is not signed d=b-home.test:\n{text}"));
        }
    }
    ensure!(
        problems.is_empty(),
        "{} sender check(s) failed:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    Ok(())
}

/// Item 2: a domain serves no mail until it is verified. Member B claims a name it does not
/// hold (standing for a mail provider's, or another member's) with a catch-all: mail to that
/// name is not taken in for B, a mailbox on it cannot log in or send, and B cannot send as it.
/// Once verified, it works.
#[tokio::test]
async fn boundary_unverified_domain_serves_nothing() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 32), "node-32").await?;
    let result = unverified(&c).await;
    c.finish(result).await
}

async fn unverified(c: &Collective) -> Result<()> {
    let b = c.member("member-b@people.test").await?;
    let home = b.domain("b-home.test").await?;
    b.mailbox(&home, "bob", BOB_PASSWORD, 100).await?;
    let claimed = b.pending_domain("provider.test").await?;
    b.mailbox(&claimed, "catch", ALICE_PASSWORD, 100).await?;
    b.alias(&claimed, "*", &["bob@b-home.test"]).await?;
    c.converged().await?;

    // Port 25: the claimed name is not ours to receive for.
    let inbound = deliver(&c.node, "someone@far.test", "ceo@provider.test", "to-claim").await?;
    eprintln!("[boundary] inbound mail to the pending domain: {inbound:?}");
    ensure!(
        matches!(&inbound, Outcome::Refused { stage: Stage::Rcpt(_), code, .. } if *code >= 500),
        "mail to a pending domain was not refused at RCPT: {inbound:?}"
    );
    // Its mailbox does not exist for logins.
    let refusal = imap_login(
        &c.node,
        imap::Security::Implicit,
        "catch@provider.test",
        ALICE_PASSWORD,
    )
    .await?
    .refusal()
    .await
    .context("IMAP login to a mailbox of a pending domain")?;
    ensure!(
        refusal.starts_with("NO"),
        "a mailbox of a pending domain logged in: {refusal}"
    );
    // B cannot send as it.
    let sent = submit(
        &c.node,
        submission::Security::Implicit,
        ("bob@b-home.test", BOB_PASSWORD),
        "ceo@provider.test",
        &["bob@b-home.test"],
        "as-claim",
    )
    .await?;
    ensure!(
        sent.refusal().is_some(),
        "B sent as its pending domain: {sent:?}"
    );

    // Verified, the same domain serves.
    b.verify(&claimed).await?;
    c.converged().await?;
    // (Another address than before: an smtpd process remembers the last address it resolved,
    // and could answer the same one from that memory once more.)
    deliver(
        &c.node,
        "someone@far.test",
        "boss@provider.test",
        "verified-now",
    )
    .await?
    .accepted()?;
    wait_for_subjects(&c.node, "bob@b-home.test", BOB_PASSWORD, &["verified-now"]).await?;
    Ok(())
}

/// Items 3 and 4: stores and keys are bound to ids and go with their owner. Member A's domain
/// receives mail, then A deletes it; member B adds the same name and the same address: B's
/// mailbox is empty, nothing of A's store or DKIM key is left on the node, and B's DKIM key is
/// a new one. A mailbox deleted and made again with the same address starts empty too.
#[tokio::test]
async fn boundary_former_holder_leaves_nothing() -> Result<()> {
    let c = Collective::start(Ipv4Addr::new(127, 0, 0, 33), "node-33").await?;
    let result = former_holder(&c).await;
    c.finish(result).await
}

async fn former_holder(c: &Collective) -> Result<()> {
    let name = "shared.test";
    let ceo = "ceo@shared.test";
    let a = c.member("member-a@people.test").await?;
    let a_domain = a.domain(name).await?;
    let a_mailbox = a.mailbox(&a_domain, "ceo", ALICE_PASSWORD, 100).await?;
    let (_, a_key) = a.wait_for_dkim(name, &c.node).await?;
    c.converged().await?;
    deliver(&c.node, "someone@far.test", ceo, "for-a-only")
        .await?
        .accepted()?;
    wait_for_subjects(&c.node, ceo, ALICE_PASSWORD, &["for-a-only"]).await?;
    let vmail = c.node.root().join("var/vmail");

    // A leaves the name; B takes the same name and address: an empty mailbox, a new key.
    let deleted = a
        .api
        .api(Method::DELETE, &format!("/api/v1/domains/{a_domain}"), None)
        .await?;
    ensure!(
        deleted.status == 204,
        "delete the domain: {}",
        deleted.describe()
    );
    c.converged().await?;
    let b = c.member("member-b@people.test").await?;
    let b_domain = b.domain(name).await?;
    let b_mailbox = b.mailbox(&b_domain, "ceo", BOB_PASSWORD, 100).await?;
    let (_, b_key) = b.wait_for_dkim(name, &c.node).await?;
    c.converged().await?;
    inbox_is_empty(c, ceo, BOB_PASSWORD, "B's new mailbox").await?;
    ensure!(b_key != a_key, "B signs with the key A had for {name}");
    // Nothing of A's is left on disk: only B's store, only B's key.
    let stores = list(&vmail);
    ensure!(
        stores.iter().all(|s| *s == b_mailbox) && !stores.contains(&a_mailbox),
        "stores on the node after A's domain went: {stores:?} (A's mailbox was {a_mailbox})"
    );
    let keys = list(&c.node.root().join("var/lib/ruche-agent/dkim"));
    ensure!(
        keys.iter().all(|k| k.starts_with(&b_domain)),
        "DKIM key files other than B's domain's ({b_domain}): {keys:?}"
    );

    // The same address deleted and made again, by the same member: empty again.
    deliver(&c.node, "someone@far.test", ceo, "for-b-first")
        .await?
        .accepted()?;
    wait_for_subjects(&c.node, ceo, BOB_PASSWORD, &["for-b-first"]).await?;
    let deleted = b
        .api
        .api(
            Method::DELETE,
            &format!("/api/v1/mailboxes/{b_mailbox}"),
            None,
        )
        .await?;
    ensure!(
        deleted.status == 204,
        "delete the mailbox: {}",
        deleted.describe()
    );
    c.converged().await?;
    ensure!(
        !vmail.join(&b_mailbox).exists(),
        "the deleted mailbox's store is still there: {:?}",
        list(&vmail)
    );
    b.mailbox(&b_domain, "ceo", ALICE_PASSWORD, 100).await?;
    c.converged().await?;
    inbox_is_empty(c, ceo, ALICE_PASSWORD, "the mailbox made again").await?;
    Ok(())
}

async fn inbox_is_empty(c: &Collective, user: &str, password: &str, what: &str) -> Result<()> {
    let mut session = imap_login(&c.node, imap::Security::Implicit, user, password)
        .await?
        .session()
        .with_context(|| format!("log in to {what}"))?;
    let inbox = session.inbox().await?;
    let subjects: Vec<String> = inbox.iter().map(|m| imap::subject_of(m)).collect();
    session.logout().await?;
    ensure!(
        subjects.is_empty(),
        "{what} holds a former holder's mail: {subjects:?}"
    );
    Ok(())
}

/// The names in `dir` (none if it does not exist), hidden ones (`.removed`) left out.
fn list(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Item 7, forwarding: mail from elsewhere that member A's alias sends off the node leaves with
/// an SRS envelope sender at the node's host name (postsrsd), while what A receives and what A
/// sends keep their real senders; a bounce to that SRS address goes back to the original
/// sender, a forged one is refused; each member's forwarding is limited on its own
/// (`FORWARD_LIMIT` messages an hour), and no recipient (`postmaster@`) exempts a message from
/// the sending limit. The rest of the world is an SMTP sink the node relays to.
#[tokio::test]
async fn boundary_forwarding_is_rewritten_and_limited() -> Result<()> {
    let world = SmtpSink::start().await?;
    let relay = SocketAddr::from((Ipv4Addr::LOCALHOST, world.port()));
    let c =
        Collective::start_with_relay(Ipv4Addr::new(127, 0, 0, 35), "node-35", Some(relay)).await?;
    let result = forwarding(&c, &world).await;
    c.finish(result).await
}

async fn forwarding(c: &Collective, world: &SmtpSink) -> Result<()> {
    let a = c.member("member-a@people.test").await?;
    let a_domain = a.domain("a-fwd.test").await?;
    a.mailbox(&a_domain, "me", ALICE_PASSWORD, 100).await?;
    a.alias(&a_domain, "fwd", &["friend@outside.test"]).await?;
    let b = c.member("member-b@people.test").await?;
    let b_domain = b.domain("b-fwd.test").await?;
    b.mailbox(&b_domain, "bob", BOB_PASSWORD, 100).await?;
    b.alias(&b_domain, "out", &["pal@outside.test"]).await?;
    c.converged().await?;
    let host = c.node.hostname().to_owned();
    let stranger = "someone@elsewhere.test";
    let mut problems = Vec::new();

    // Forwarded: an SRS sender at the host name; the header From is left alone.
    deliver(&c.node, stranger, "fwd@a-fwd.test", "forwarded-1")
        .await?
        .accepted()?;
    let forwarded = world
        .wait_for_message(|m| m.subject == "forwarded-1", MAIL_WAIT)
        .await?;
    eprintln!(
        "[boundary] forwarded: from <{}> to {:?}",
        forwarded.from, forwarded.to
    );
    let srs = forwarded.from.clone();
    let lower = srs.to_ascii_lowercase();
    if !(lower.starts_with("srs0=")
        && lower.ends_with(&format!("@{host}"))
        && lower.contains("=elsewhere.test=someone@"))
    {
        problems.push(format!(
            "the forwarded message's sender is {srs:?}, not SRS at {host}"
        ));
    }
    if !forwarded.is_to("friend@outside.test") {
        problems.push(format!("the forwarded message went to {:?}", forwarded.to));
    }
    if !String::from_utf8_lossy(&forwarded.raw).contains(&format!("From: {stranger}")) {
        problems.push("the forwarded message lost its From header".to_owned());
    }

    // Received here: the real sender, not rewritten.
    deliver(&c.node, stranger, "me@a-fwd.test", "kept-here")
        .await?
        .accepted()?;
    let kept = wait_for_subjects(&c.node, "me@a-fwd.test", ALICE_PASSWORD, &["kept-here"]).await?;
    let kept = String::from_utf8_lossy(&kept[0]).into_owned();
    if !kept.contains(&format!("Return-Path: <{stranger}>")) {
        problems.push(format!("mail received on the node was rewritten:\n{kept}"));
    }

    // A member's own mail leaves with its own sender.
    submit(
        &c.node,
        submission::Security::Implicit,
        ("me@a-fwd.test", ALICE_PASSWORD),
        "me@a-fwd.test",
        &["friend@outside.test"],
        "own-mail",
    )
    .await?
    .accepted()?;
    let own = world
        .wait_for_message(|m| m.subject == "own-mail", MAIL_WAIT)
        .await?;
    if own.from != "me@a-fwd.test" {
        problems.push(format!("a member's own mail left as <{}>", own.from));
    }

    // A bounce to the SRS address reaches the original sender; a forged one is refused.
    deliver(&c.node, "", &srs, "bounce-back")
        .await?
        .accepted()?;
    let bounced = world
        .wait_for_message(|m| m.subject == "bounce-back", MAIL_WAIT)
        .await?;
    if !(bounced.is_to(stranger) && bounced.from.is_empty()) {
        problems.push(format!(
            "the bounce went from <{}> to {:?}",
            bounced.from, bounced.to
        ));
    }
    let forged = forge_srs_hash(&srs)?;
    for (what, address) in [
        ("a forged SRS address", forged.as_str()),
        (
            "an unknown address at the host name",
            &format!("nobody@{host}"),
        ),
    ] {
        match deliver(&c.node, "", address, "forged").await? {
            Outcome::Refused {
                stage: Stage::Rcpt(_),
                code,
                ..
            } if (500..600).contains(&code) => {}
            other => problems.push(format!("{what} ({address}): {other:?}")),
        }
    }

    // A's forwarding limit: the first message above used one.
    let mut outcomes = Vec::new();
    for n in 2..=tests::mail_node::FORWARD_LIMIT + 1 {
        outcomes.push(
            deliver(
                &c.node,
                stranger,
                "fwd@a-fwd.test",
                &format!("forwarded-{n}"),
            )
            .await?,
        );
    }
    eprintln!("[boundary] A's forwards past the first: {outcomes:?}");
    let (last, first) = outcomes.split_last().context("no forward sent")?;
    if !first.iter().all(|o| matches!(o, Outcome::Accepted(_))) {
        problems.push(format!("forwards within the limit: {first:?}"));
    }
    match last {
        Outcome::Refused {
            code: 451, text, ..
        } if text.starts_with("4.7.1") => {}
        other => problems.push(format!("a forward past A's limit: {other:?}")),
    }
    // B's forwarding and A's own mailbox are not held by A's limit.
    deliver(&c.node, stranger, "out@b-fwd.test", "b-forward")
        .await?
        .accepted()
        .context("B's forward while A is at its limit")?;
    world
        .wait_for_message(|m| m.subject == "b-forward", MAIL_WAIT)
        .await?;
    deliver(&c.node, stranger, "me@a-fwd.test", "still-here")
        .await?
        .accepted()
        .context("mail for A's mailbox while A's forwarding is at its limit")?;

    // No recipient exempts a message from the sending limit (5 a minute on test nodes).
    let mut outcomes = Vec::new();
    for n in 1..=6 {
        outcomes.push(
            submit(
                &c.node,
                submission::Security::Implicit,
                ("bob@b-fwd.test", BOB_PASSWORD),
                "bob@b-fwd.test",
                &["bob@b-fwd.test", "postmaster@a-fwd.test"],
                &format!("with-postmaster-{n}"),
            )
            .await?,
        );
    }
    eprintln!("[boundary] six messages with postmaster@ among the recipients: {outcomes:?}");
    match &outcomes[5] {
        Outcome::Refused {
            code: 451, text, ..
        } if text.starts_with("4.7.1") => {}
        other => problems.push(format!(
            "the sixth message in a minute, with postmaster@ among its recipients: {other:?}"
        )),
    }

    ensure!(
        problems.is_empty(),
        "{} forwarding check(s) failed:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    Ok(())
}

/// `srs` with one character of its hash changed: `SRS0=HHHH=TT=domain=local@host`.
fn forge_srs_hash(srs: &str) -> Result<String> {
    let (tag, rest) = srs.split_at(5);
    let mut hash: Vec<char> = rest.chars().take_while(|c| *c != '=').collect();
    let first = hash.first_mut().context("no hash in the SRS address")?;
    // postsrsd compares hashes ignoring case: change the letter, not only its case.
    *first = if first.eq_ignore_ascii_case(&'a') {
        'B'
    } else {
        'A'
    };
    let tail: String = rest.chars().skip(hash.len()).collect();
    Ok(format!(
        "{tag}{}{tail}",
        hash.into_iter().collect::<String>()
    ))
}
