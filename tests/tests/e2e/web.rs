//! The nodes' web front, end to end (issue 13, its first part): the real agent rendering
//! nginx's configuration from the desired state, the real nginx (Debian's) serving it on the
//! node's loopback address, and a plain HTTP/1.1 client naming each host in its `Host` header.
//!
//! What a node answers on plain HTTP: ACME HTTP-01 challenges for any name (the files the
//! agent's ACME client will write), a redirect to the same name on HTTPS for every web name of
//! a member's verified domain (the domain, `www.`, `autoconfig.`, `mta-sts.`), 404 for
//! everything else, a pending domain's names included.
//!
//! The collective is the DNS tests' (`e2e/dns.rs`), on its own block of loopback addresses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tests::dns_node::{self, DnsNode};
use tests::process::run_to_end;

use super::dns::{Block, Collective, ZONE};

/// How long a verified domain may take to reach the node's nginx (API → desired state → agent
/// → nginx reload). A bound, not a timing assertion.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);

/// The status, the `Location` header (empty when none) and the body of one answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: String,
    body: String,
}

/// `GET path` on `addr` with `Host: host`, over one HTTP/1.1 connection closed after it.
async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<Answer> {
    let mut stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .with_context(|| format!("connect to {addr}: timed out"))??;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .with_context(|| format!("GET {path} (Host: {host}) on {addr}: no answer"))??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line: {head:?}"))?;
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("location"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    Ok(Answer {
        status,
        location,
        body: body.to_owned(),
    })
}

/// Polls `GET path` (Host: `host`) on the node's HTTP front until it answers `status`.
async fn wait_for(node: &DnsNode, host: &str, path: &str, status: u16) -> Result<Answer> {
    let http = node.web()?.http;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let answer = get(http, host, path).await?;
        if answer.status == status {
            return Ok(answer);
        }
        if Instant::now() >= deadline {
            bail!(
                "{host}{path} never answered {status} (last: {answer:?}); hosts.conf:\n{}",
                std::fs::read_to_string(node.root().join("etc/nginx/ruche/hosts.conf"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Acceptance (first part): a verified domain's web names redirect to HTTPS, ACME challenges
/// are answered on plain HTTP for any name, and nothing else is: not a pending domain's names,
/// not an unknown name, not an unregistered `.well-known` path.
#[tokio::test]
async fn web_front_answers_acme_and_redirects_verified_names() -> Result<()> {
    let c = Collective::start_with(Block(98), 1, true).await?;
    let result = front(&c).await;
    c.finish(result)
}

async fn front(c: &Collective) -> Result<()> {
    let node = c.node(0)?;
    let web = node.web()?;
    let http = web.http;

    // Nothing is served for a name the node does not serve.
    let answer = get(http, ZONE, "/").await?;
    ensure!(
        answer.status == 404,
        "{ZONE} before it is added: {answer:?}"
    );

    // An ACME challenge file (as the agent's ACME client writes it) is served on plain HTTP,
    // whatever the name: the node's own names are certified too.
    let challenges = node
        .root()
        .join("var/lib/ruche/acme/.well-known/acme-challenge");
    let token = "tok_en-123";
    std::fs::write(challenges.join(token), "tok_en-123.thumbprint")?;
    for host in [ZONE, "unknown.test", "mail.node-a.test"] {
        let answer = get(http, host, &format!("/.well-known/acme-challenge/{token}")).await?;
        ensure!(
            answer.status == 200 && answer.body == "tok_en-123.thumbprint",
            "the challenge for {host}: {answer:?}"
        );
    }
    for path in [
        "/.well-known/acme-challenge/missing",
        "/.well-known/unknown",
    ] {
        let answer = get(http, "unknown.test", path).await?;
        ensure!(answer.status == 404, "{path}: {answer:?}");
    }
    // A path out of the challenges' directory is refused outright.
    let escape = "/.well-known/acme-challenge/../../../etc/passwd";
    let answer = get(http, "unknown.test", escape).await?;
    ensure!(answer.status == 400, "{escape}: {answer:?}");

    // The member's domain, verified: each of its web names redirects to itself on HTTPS.
    let member = c.member().await?;
    c.verified_domain(&member).await?;
    let https = web.https.port();
    let names = [
        ZONE.to_owned(),
        format!("www.{ZONE}"),
        format!("autoconfig.{ZONE}"),
        format!("mta-sts.{ZONE}"),
    ];
    let answer = wait_for(node, &names[1], "/a/b?c=d", 301).await?;
    ensure!(
        answer.location == format!("https://{}:{https}/a/b?c=d", names[1]),
        "the redirect: {answer:?}"
    );
    for name in &names {
        let answer = get(http, name, "/").await?;
        ensure!(
            answer.status == 301 && answer.location == format!("https://{name}:{https}/"),
            "{name}: {answer:?}"
        );
        // ACME challenges are answered, not redirected.
        let answer = get(http, name, &format!("/.well-known/acme-challenge/{token}")).await?;
        ensure!(answer.status == 200, "the challenge for {name}: {answer:?}");
    }
    // A name that only ends like the domain is not the member's.
    for host in [
        format!("{ZONE}.evil.test"),
        format!("x{ZONE}"),
        "other.test".to_owned(),
    ] {
        let answer = get(http, &host, "/").await?;
        ensure!(answer.status == 404, "{host}: {answer:?}");
    }
    Ok(())
}

/// Acceptance 8, for nginx: the agent SIGKILLed at each step of applying a change to nginx's
/// files (writing them, `nginx -t`, the reload; the change: the member suspended, then
/// reactivated, which removes and restores their server) converges after a restart: nginx
/// accepts its files and serves every name as the state says.
#[tokio::test]
async fn web_front_converges_after_agent_sigkill() -> Result<()> {
    let mut c = Collective::start_with(Block(104), 1, true).await?;
    let result = sigkill(&mut c).await;
    c.finish(result)
}

async fn sigkill(c: &mut Collective) -> Result<()> {
    let member = c.member().await?;
    c.verified_domain(&member).await?;
    let www = format!("www.{ZONE}");
    wait_for(c.node(0)?, &www, "/", 301).await?;
    let mut suspended = false;
    for step in ["write", "check", "reload"] {
        let node = c.node_mut(0)?;
        // An agent that dawdles at every step, caught up with everything so far.
        node.kill_agent().await?;
        node.start_agent_with(&[("RUCHE_AGENT_TEST_PAUSE_MS", "300")])
            .await?;
        node.wait_until_converged(CONVERGE_TIMEOUT).await?;
        let seen = node.agent()?.lines().len();

        suspended = !suspended;
        c.set_suspended(suspended).await?;
        let node = c.node_mut(0)?;
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        loop {
            let agent = node.agent()?;
            let logged = agent.lines()[seen..].iter().any(|l| {
                l.text.contains("apply step")
                    && (l.text.contains(&format!("step={step}"))
                        || l.text.contains(&format!("step=\"{step}\"")))
            });
            if logged {
                break;
            }
            if Instant::now() >= deadline {
                bail!("the agent never logged `apply step step={step}` for the change");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.kill_agent().await?;
        node.start_agent().await?;
        node.wait_until_converged(CONVERGE_TIMEOUT)
            .await
            .with_context(|| format!("after the kill at {step}"))?;

        let conf = dns_node::nginx_conf(node.root());
        let mut check = tests::process::Process::command("nginx", ["-t", "-q", "-c"]);
        check.arg(&conf);
        let checked = run_to_end(check, Duration::from_secs(30)).await?;
        ensure!(
            checked.success(),
            "after the kill at {step}, nginx -t: {checked:?}"
        );
        let want = if suspended { 404 } else { 301 };
        wait_for(node, &www, "/", want)
            .await
            .with_context(|| format!("after the kill at {step}"))?;
        eprintln!("[web] killed at {step}: converged, {www} answers {want}");
    }
    Ok(())
}
