//! The nodes' web front and certificates, end to end (issue 13): the real agent rendering
//! nginx's configuration from the desired state and getting certificates by ACME from the
//! real pebble (Debian's), the real nginx serving it on the node's loopback address, a plain
//! HTTP/1.1 client naming each host, and an HTTPS client trusting only pebble's root.
//!
//! What a node answers on plain HTTP: ACME HTTP-01 challenges for any name, a redirect to the
//! same name on HTTPS for every web name of a member's verified domain once it has a
//! certificate (404 before), 404 for everything else, a pending domain's names included. On
//! HTTPS: the names on a certificate, with HSTS; any other name is refused at the handshake.
//!
//! The collective is the DNS tests' (`e2e/dns.rs`), on its own block of loopback addresses;
//! pebble runs on the block's spare address and asks the node's own Knot about every name, so
//! the member's domain is certified through DNS-01 (the node is its zone's primary).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tests::dns_node::{self, DnsNode};
use tests::https;
use tests::imap;
use tests::pebble::{self, Acme, Pebble, WorldDns};
use tests::process::run_to_end;

use super::dns::{wait_for_domain, Block, Collective, ZONE};
use super::mail::Collective as MailCollective;

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

/// The web names of the member's domain.
fn web_names() -> Vec<String> {
    web_names_of(ZONE)
}

/// The web names a node serves for `domain` (`protocol::dns::platform::web_names`).
fn web_names_of(domain: &str) -> Vec<String> {
    ["", "www.", "autoconfig.", "mta-sts.", "autodiscover."]
        .iter()
        .map(|prefix| format!("{prefix}{domain}"))
        .collect()
}

/// Waits until the node's hosts.conf names `name` (the domain reached nginx).
async fn wait_for_hosts_conf(node: &DnsNode, name: &str) -> Result<()> {
    let path = node.root().join("etc/nginx/ruche/hosts.conf");
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains(&format!(" {name}"))
    {
        ensure!(
            Instant::now() < deadline,
            "{name} never reached {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.wait_until_converged(CONVERGE_TIMEOUT).await
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

/// Without `[acme]`: ACME challenges are answered on plain HTTP for any name, and nothing else
/// is: not a verified domain's names while they have no certificate (no redirect to an HTTPS
/// that cannot answer), not a pending domain's, not an unknown name, not an unregistered
/// `.well-known` path; HTTPS refuses every handshake.
#[tokio::test]
async fn web_front_answers_acme_and_nothing_else_without_a_certificate() -> Result<()> {
    let c = Collective::start_with(Block(98), 1, true).await?;
    let result = front(&c).await;
    c.finish(result)
}

/// pebble for node 0 of `c`: it checks HTTP-01 on the node's nginx and asks the node's Knot.
async fn start_pebble(c: &Collective, validity: Option<Duration>) -> Result<Pebble> {
    let node = c.node(0)?;
    Pebble::start(pebble::Options {
        ip: c.spare_ip(),
        http_port: node.web()?.http.port(),
        dns: node.dns_addr(),
        validity,
    })
    .await
}

/// agent.toml's `[acme]` for `pebble`, the node's Knot as the resolver.
fn acme(node: &DnsNode, pebble: &Pebble) -> Acme {
    Acme {
        directory: pebble.directory(),
        directory_root: pebble.api_root().to_owned(),
        resolvers: vec![node.dns_addr()],
        retry_after_seconds: 1,
    }
}

/// Writes pebble's current root where a client can trust it.
async fn roots_file(
    pebble: &Pebble,
    dir: &std::path::Path,
    name: &str,
) -> Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, pebble.roots().await?)?;
    Ok(path)
}

/// Polls `GET /` over HTTPS for `name` until the node presents a certificate that verifies
/// against `roots` (and is not `not`, when given); the answer.
async fn wait_for_https(
    node: &DnsNode,
    name: &str,
    roots: &std::path::Path,
    not: Option<&[u8]>,
) -> Result<https::Answer> {
    wait_for_https_at(node.web()?.https, name, roots, not).await
}

/// [`wait_for_https`] on the HTTPS front at `addr`.
async fn wait_for_https_at(
    addr: SocketAddr,
    name: &str,
    roots: &std::path::Path,
    not: Option<&[u8]>,
) -> Result<https::Answer> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let last = https::get(addr, name, "/", roots).await;
        match &last {
            Ok(answer) if not.is_none_or(|old| old != answer.leaf.as_slice()) => {
                return last;
            }
            _ if Instant::now() >= deadline => {
                bail!("{name} never answered over HTTPS with a new certificate (last: {last:?})")
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Acceptance 1 (DNS-01), 2 and 3 on a DNS node: the member's verified domain gets a
/// certificate from pebble through our own Knot; every web name answers over HTTPS with a
/// chain that verifies against pebble's root, with HSTS, and HTTP redirects there. The
/// certificates live 90 s, so the agent renews at 60 s: with pebble down the old certificate
/// keeps being served and the error is reported; when pebble is back the new one arrives.
#[tokio::test]
async fn web_certificates_by_dns_01_renewed_and_kept_while_the_ca_is_down() -> Result<()> {
    let mut c = Collective::start_with(Block(110), 1, true).await?;
    let result = certificates(&mut c).await;
    c.finish(result)
}

async fn certificates(c: &mut Collective) -> Result<()> {
    let mut pebble = start_pebble(c, Some(Duration::from_secs(90))).await?;
    let acme = acme(c.node(0)?, &pebble);
    c.node_mut(0)?.enable_acme(&acme).await?;
    let member = c.member().await?;
    let id = c.verified_domain(&member).await?;
    let node = c.node(0)?;
    let dir = tempfile::tempdir()?;
    let first_root = roots_file(&pebble, dir.path(), "root-1.pem").await?;

    // Every web name, over HTTPS, with a chain to pebble's root.
    let names = web_names();
    let first = wait_for_https(node, &names[0], &first_root, None).await?;
    for name in &names {
        let answer = https::get(node.web()?.https, name, "/", &first_root).await?;
        ensure!(
            answer.status == 200 && answer.body.contains("Nothing is published here yet"),
            "{name} over HTTPS: {answer:?}"
        );
        ensure!(
            answer.leaf == first.leaf,
            "{name} presents another certificate"
        );
        ensure!(
            answer.header("strict-transport-security") == Some("max-age=63072000"),
            "{name}: no HSTS: {:?}",
            answer.headers
        );
        let unknown =
            https::get(node.web()?.https, name, "/.well-known/unknown", &first_root).await?;
        ensure!(
            unknown.status == 404,
            "{name}/.well-known/unknown: {unknown:?}"
        );
        let redirect = get(node.web()?.http, name, "/a?b").await?;
        ensure!(
            redirect.status == 301
                && redirect.location == format!("https://{name}:{}/a?b", node.web()?.https.port()),
            "{name} on HTTP: {redirect:?}"
        );
    }
    // The member sees it: valid, through DNS-01, every web name on it.
    let domain = wait_for_domain(&member, &id, "the certificate, valid", |d| {
        d["certificate"]["state"] == "valid"
    })
    .await?;
    let certificate = &domain["certificate"];
    ensure!(
        certificate["challenge"] == "dns-01"
            && certificate["not_after"].is_string()
            && certificate["error"].is_null()
            && names.iter().all(|n| certificate["names"]
                .as_array()
                .is_some_and(|a| a.contains(&n.as_str().into()))),
        "the member's view of the certificate: {certificate}"
    );
    // A name the node does not serve gets no certificate at all.
    ensure!(
        https::get(node.web()?.https, "other.test", "/", &first_root)
            .await
            .is_err(),
        "HTTPS for other.test answered"
    );
    // On disk: keys for root only, the account too; no key in the agent's log.
    let certs = node.root().join("var/lib/ruche/certs/domain").join(ZONE);
    for entry in std::fs::read_dir(&certs)? {
        let dir = entry?.path();
        for file in ["key.pem", "chain.pem"] {
            let mode = std::fs::metadata(dir.join(file))?.permissions();
            ensure!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777 == 0o600,
                "{}/{file} is not 0600",
                dir.display()
            );
        }
    }
    ensure!(
        !node.logs().contains("PRIVATE KEY"),
        "a private key reached the agent's log"
    );

    // MTA-STS (acceptance 5): the policy on mta-sts. only, its id in the zone the digest of the
    // text served; `testing` while the node has no valid certificate for its MX host name.
    let policy = mta_sts(node, &first_root, "testing").await?;
    ensure!(
        policy.contains("max_age: 86400\n")
            && policy.contains(&format!("mx: {}\n", node.hostname())),
        "the testing policy: {policy:?}"
    );
    for host in [ZONE.to_owned(), format!("www.{ZONE}")] {
        let answer = https::get(
            node.web()?.https,
            &host,
            "/.well-known/mta-sts.txt",
            &first_root,
        )
        .await?;
        ensure!(answer.status == 404, "the policy on {host}: {answer:?}");
    }

    // pebble goes down before the renewal (60 s into the 90): the old certificate stays.
    pebble.stop().await;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let failed = node
            .agent()?
            .find_line(|l| l.contains("certificate not obtained") && l.contains(ZONE));
        if failed.is_some() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the renewal never failed with pebble down"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The member sees the renewal's error, the certificate still valid.
    let domain = wait_for_domain(&member, &id, "the renewal's error", |d| {
        d["certificate"]["state"] == "valid" && d["certificate"]["error"].is_string()
    })
    .await?;
    eprintln!(
        "[web] with pebble down the member sees: {}",
        domain["certificate"]
    );
    let during = https::get(node.web()?.https, ZONE, "/", &first_root).await?;
    ensure!(
        during.leaf == first.leaf && during.status == 200,
        "with the CA down the old certificate is not served: {during:?}"
    );

    // pebble is back (with a new root): the renewed certificate arrives.
    pebble.start_again().await?;
    let second_root = roots_file(&pebble, dir.path(), "root-2.pem").await?;
    let renewed = wait_for_https(node, ZONE, &second_root, Some(&first.leaf)).await?;
    ensure!(renewed.status == 200, "after the renewal: {renewed:?}");
    for name in &names {
        let answer = https::get(node.web()?.https, name, "/", &second_root).await?;
        ensure!(
            answer.leaf == renewed.leaf,
            "{name} presents another certificate"
        );
    }
    wait_for_domain(
        &member,
        &id,
        "the renewed certificate, without error",
        |d| d["certificate"]["state"] == "valid" && d["certificate"]["error"].is_null(),
    )
    .await?;
    // The old version is kept as the previous one, never more.
    let versions = std::fs::read_dir(&certs)?.count();
    ensure!(versions <= 2, "{versions} versions of the certificate kept");

    // The operator installs the MX host's certificate: the policy turns `enforce`, and the
    // zone's id follows it.
    let ca = tests::tls::TestCa::new().await?;
    let leaf = ca.leaf(c.node(0)?.hostname()).await?;
    let node = c.node_mut(0)?;
    node.write_tls(&leaf.chain, &leaf.key)?;
    node.stop_agent().await;
    node.start_agent().await?;
    let policy = mta_sts(node, &second_root, "enforce").await?;
    ensure!(
        policy.contains("max_age: 604800\n"),
        "the enforced policy: {policy:?}"
    );
    Ok(())
}

/// Waits until `https://mta-sts.<zone>/.well-known/mta-sts.txt` says `mode: <mode>` and the
/// zone's `_mta-sts` TXT record (from the node's own name server) carries the id the node
/// derives from that very text (the first 32 hex digits of its SHA-256); the policy.
async fn mta_sts(node: &DnsNode, roots: &std::path::Path, mode: &str) -> Result<String> {
    use sha2::Digest;
    let host = format!("mta-sts.{ZONE}");
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let answer =
            https::get(node.web()?.https, &host, "/.well-known/mta-sts.txt", roots).await?;
        let txt = tests::dns_client::query(
            node.dns_addr(),
            &format!("_mta-sts.{ZONE}"),
            hickory_proto::rr::RecordType::TXT,
            tests::dns_client::Transport::Udp,
        )
        .await?
        .texts(hickory_proto::rr::RecordType::TXT);
        let digest = sha2::Sha256::digest(answer.body.as_bytes());
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let served = answer.status == 200
            && answer.body.starts_with("version: STSv1\n")
            && answer.body.contains(&format!("mode: {mode}\n"))
            && answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain"));
        if served && txt.iter().any(|t| t.contains(&format!("v=STSv1; id={id}"))) {
            return Ok(answer.body);
        }
        ensure!(
            Instant::now() < deadline,
            "the MTA-STS policy never said mode {mode} with its id in the zone: {answer:?}, \
             TXT {txt:?}, id of the body {id}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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

    // The member's domain, verified, without a certificate (no `[acme]` here): its names
    // answer challenges on HTTP and 404 otherwise (there is no HTTPS to send anyone to), and
    // HTTPS refuses the handshake rather than show another name's certificate.
    let member = c.member().await?;
    c.verified_domain(&member).await?;
    let names = web_names();
    wait_for_hosts_conf(node, &names[1]).await?;
    for name in &names {
        let answer = get(http, name, "/").await?;
        ensure!(
            answer.status == 404,
            "{name} without a certificate: {answer:?}"
        );
        // ACME challenges are answered.
        let answer = get(http, name, &format!("/.well-known/acme-challenge/{token}")).await?;
        ensure!(answer.status == 200, "the challenge for {name}: {answer:?}");
    }
    let any_ca = tests::tls::TestCa::new().await?;
    let refused = https::get(web.https, ZONE, "/", any_ca.cert()).await;
    ensure!(
        refused
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("TLS to")),
        "HTTPS without a certificate: {refused:?}"
    );
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

/// Acceptance 8: the agent SIGKILLed while it writes a certificate, and at each step of
/// applying a change to nginx's files (writing them, `nginx -t`, the reload; the change: the
/// member suspended, then reactivated, which removes and restores their servers), converges
/// after a restart: nginx accepts its files and serves every name as the state says, over
/// HTTPS with a whole certificate.
#[tokio::test]
async fn web_front_converges_after_agent_sigkill() -> Result<()> {
    let mut c = Collective::start_with(Block(104), 1, true).await?;
    let result = sigkill(&mut c).await;
    c.finish(result)
}

/// Waits until the agent logs `apply step` for `step` after its line `seen`, then SIGKILLs it.
async fn kill_at(node: &mut DnsNode, seen: usize, step: &str) -> Result<()> {
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
        ensure!(
            Instant::now() < deadline,
            "the agent never logged `apply step step={step}`"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill_agent().await?;
    Ok(())
}

/// After a kill and a restart: nginx accepts its files.
async fn nginx_accepts(node: &DnsNode, step: &str) -> Result<()> {
    let conf = dns_node::nginx_conf(node.root());
    let mut check = tests::process::Process::command("nginx", ["-t", "-q", "-c"]);
    check.arg(&conf);
    let checked = run_to_end(check, Duration::from_secs(30)).await?;
    ensure!(
        checked.success(),
        "after the kill at {step}, nginx -t: {checked:?}"
    );
    Ok(())
}

async fn sigkill(c: &mut Collective) -> Result<()> {
    let pebble = start_pebble(c, None).await?;
    let dir = tempfile::tempdir()?;
    let roots = roots_file(&pebble, dir.path(), "root.pem").await?;
    let www = format!("www.{ZONE}");

    // Killed while it writes the first certificate: half of one is never served.
    let node = c.node_mut(0)?;
    node.write_acme(&acme(node, &pebble))?;
    node.kill_agent().await?;
    node.start_agent_with(&[("RUCHE_AGENT_TEST_PAUSE_MS", "300")])
        .await?;
    let seen = node.agent()?.lines().len();
    let member = c.member().await?;
    c.verified_domain(&member).await?;
    let node = c.node_mut(0)?;
    kill_at(node, seen, "certificate write").await?;
    let domain_certs = node.root().join("var/lib/ruche/certs/domain").join(ZONE);
    let half = std::fs::read_dir(&domain_certs)?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"));
    ensure!(
        half,
        "the kill left no half-written certificate to recover from"
    );
    node.start_agent().await?;
    node.wait_until_converged(CONVERGE_TIMEOUT).await?;
    let first = wait_for_https(node, &www, &roots, None).await?;
    nginx_accepts(node, "certificate write").await?;
    let left = std::fs::read_dir(&domain_certs)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count();
    ensure!(
        left == 0,
        "{left} half-written certificates left after the restart"
    );
    eprintln!("[web] killed at certificate write: converged, {www} answers over HTTPS");

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
        kill_at(node, seen, step).await?;
        node.start_agent().await?;
        node.wait_until_converged(CONVERGE_TIMEOUT)
            .await
            .with_context(|| format!("after the kill at {step}"))?;
        nginx_accepts(node, step).await?;
        let want = if suspended { 404 } else { 301 };
        wait_for(node, &www, "/", want)
            .await
            .with_context(|| format!("after the kill at {step}"))?;
        if !suspended {
            let answer = wait_for_https(node, &www, &roots, None).await?;
            ensure!(
                answer.leaf == first.leaf,
                "the certificate changed across kills"
            );
        }
        eprintln!("[web] killed at {step}: converged, {www} answers {want}");
    }
    Ok(())
}

/// Acceptance 1 (HTTP-01, and the mail daemons by SNI) and 2 (renewal without a restart) on a
/// whole mail node: its zone is not on the node (a node without `[dns]`), so the agent asks
/// for HTTP-01 once the world's DNS (pebble-challtestsrv, on loopback) resolves the names to
/// the node. nginx, Dovecot (IMAPS) and Postfix (SMTPS) present the member's certificate to a
/// client that names the member's domain, the node's own to one that names the host; the
/// certificates live 90 s, and the renewed one reaches all three by a graceful reload: their
/// masters keep their pids and an IMAP session opened before the renewal still works after.
#[tokio::test]
async fn web_certificates_by_http_01_reach_nginx_postfix_and_dovecot() -> Result<()> {
    let mut c = MailCollective::start_web(Ipv4Addr::new(127, 0, 0, 26), "node-26").await?;
    let result = mail_certificates(&mut c).await;
    c.finish(result).await
}

async fn mail_certificates(c: &mut MailCollective) -> Result<()> {
    let world = WorldDns::start(Ipv4Addr::new(127, 0, 0, 27)).await?;
    let node_ip = c.node.ip();
    let names = web_names();
    for name in &names {
        world.add_a(name, node_ip).await?;
    }
    let pebble = Pebble::start(pebble::Options {
        ip: Ipv4Addr::new(127, 0, 0, 27),
        http_port: c.node.web()?.http.port(),
        dns: world.addr(),
        validity: Some(Duration::from_secs(90)),
    })
    .await?;
    c.node
        .enable_acme(&Acme {
            directory: pebble.directory(),
            directory_root: pebble.api_root().to_owned(),
            resolvers: vec![world.addr()],
            retry_after_seconds: 1,
        })
        .await?;
    let member = c.member("web@people.test").await?;
    let domain = member.domain(ZONE).await?;
    let user = format!("alice@{ZONE}");
    let password = "alice's long mail password";
    let alice = member.mailbox(&domain, "alice", password, 100).await?;
    member
        .mailbox(&domain, "bob", "bob's long mail password", 100)
        .await?;
    let dir = tempfile::tempdir()?;
    let roots = roots_file(&pebble, dir.path(), "root.pem").await?;
    let web = c.node.web()?;
    let ports = c.node.ports();
    let imaps = SocketAddr::from((node_ip, ports.imaps));
    let smtps = SocketAddr::from((node_ip, ports.submissions));

    // Every web name over HTTPS, verified against pebble's root.
    let first = wait_for_https_at(web.https, &names[0], &roots, None).await?;
    for name in &names {
        let answer = https::get(web.https, name, "/", &roots).await?;
        ensure!(
            answer.status == 200 && answer.leaf == first.leaf,
            "{name} over HTTPS: {answer:?}"
        );
    }
    // The mail daemons by SNI: the member's name gets the member's certificate, the host's
    // name the node's own (the operator's `[tls]`, from the test CA).
    let member_leaf = wait_for_leaf(imaps, ZONE, &roots, Some(&first.leaf), true).await?;
    ensure!(
        member_leaf == first.leaf,
        "IMAPS presents another certificate for {ZONE}"
    );
    let smtps_leaf = wait_for_leaf(smtps, ZONE, &roots, Some(&first.leaf), true).await?;
    ensure!(
        smtps_leaf == first.leaf,
        "SMTPS presents another certificate for {ZONE}"
    );
    let host = c.node.hostname().to_owned();
    for addr in [imaps, smtps] {
        https::leaf(addr, &host, c.node.ca())
            .await
            .with_context(|| format!("{host} on {addr} with the node's own certificate"))?;
    }
    // And a client logs in over it, trusting pebble's root only.
    let server = imap::Server {
        addr: imaps,
        host: ZONE,
        ca: &roots,
        security: imap::Security::Implicit,
    };
    let mut session = imap::login(&server, &user, password).await?.session()?;
    session.inbox().await?;
    // From here on no daemon restarts: every change below is a graceful reload.
    let pids = master_pids(c)?;

    // Discovery (acceptance 4): Thunderbird's autoconfig (on autoconfig. and on the domain's
    // /.well-known/) and Outlook's autodiscover (POST) name the node's real servers, and a
    // client logs in with what they say.
    for (host, path) in [
        (format!("autoconfig.{ZONE}"), "/mail/config-v1.1.xml"),
        (
            ZONE.to_owned(),
            "/.well-known/autoconfig/mail/config-v1.1.xml",
        ),
    ] {
        let answer = https::get(web.https, &host, path, &roots).await?;
        ensure!(
            answer.status == 200
                && answer
                    .header("content-type")
                    .is_some_and(|t| t.contains("xml")),
            "{host}{path}: {answer:?}"
        );
        let settings = autoconfig_settings(&answer.body)?;
        log_in_with(c, &settings, &user, password)
            .await
            .with_context(|| format!("with the settings of {host}{path}: {settings:?}"))?;
    }
    let request = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover \
         xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
         <Request><EMailAddress>{user}</EMailAddress><AcceptableResponseSchema>\
         http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\
         </AcceptableResponseSchema></Request></Autodiscover>"
    );
    let host = format!("autodiscover.{ZONE}");
    let answer = https::request(
        web.https,
        &host,
        "POST",
        "/autodiscover/autodiscover.xml",
        &request,
        &roots,
    )
    .await?;
    ensure!(answer.status == 200, "autodiscover: {answer:?}");
    let settings = autodiscover_settings(&answer.body)?;
    log_in_with(c, &settings, &user, password)
        .await
        .with_context(|| format!("with the autodiscover settings {settings:?}"))?;

    webfinger(c, &member, &domain, &alice, &roots).await?;

    // Renewal at 60 s of 90: the new certificate reaches all three without a restart.
    let renewed = wait_for_https_at(web.https, ZONE, &roots, Some(&first.leaf)).await?;
    for (addr, what) in [(imaps, "IMAPS"), (smtps, "SMTPS")] {
        let leaf = wait_for_leaf(addr, ZONE, &roots, Some(&renewed.leaf), true).await?;
        ensure!(
            leaf == renewed.leaf,
            "{what} does not present the renewed certificate"
        );
    }
    ensure!(
        master_pids(c)? == pids,
        "a daemon was restarted for the renewal"
    );
    session
        .inbox()
        .await
        .context("the IMAP session opened before the renewal")?;
    session.logout().await?;
    eprintln!("[web] renewed: nginx, Dovecot and Postfix present the new certificate; the IMAP session lived on");
    Ok(())
}

/// Acceptance 6: WebFinger answers for the accounts a member made public, and only on the
/// domain's own name; an unknown or non-public account is 404, an absent or non-URI resource
/// 400, with CORS `*`; hostile resources match nothing and reach no file; host-meta points to it.
async fn webfinger(
    c: &MailCollective,
    member: &super::mail::Member,
    domain: &str,
    alice: &str,
    roots: &std::path::Path,
) -> Result<()> {
    let https_addr = c.node.web()?.https;
    let ask = |host: String, resource: String| async move {
        let path = format!("/.well-known/webfinger?resource={resource}");
        https::get(https_addr, &host, &path, roots).await
    };
    let alice_acct = format!("acct:alice@{ZONE}");
    // Not public (the default): unknown.
    let answer = ask(ZONE.to_owned(), alice_acct.clone()).await?;
    ensure!(
        answer.status == 404,
        "alice before she is public: {answer:?}"
    );
    ensure!(
        answer.header("access-control-allow-origin") == Some("*"),
        "no CORS on a 404: {answer:?}"
    );

    member.set_public(domain, alice, true).await?;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let answer = loop {
        let answer = ask(ZONE.to_owned(), alice_acct.clone()).await?;
        if answer.status == 200 {
            break answer;
        }
        ensure!(
            Instant::now() < deadline,
            "alice never became public: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        answer.header("content-type") == Some("application/jrd+json")
            && answer.header("access-control-allow-origin") == Some("*"),
        "the JRD's headers: {answer:?}"
    );
    let jrd: serde_json::Value = serde_json::from_str(&answer.body)?;
    ensure!(
        jrd == serde_json::json!({
            "subject": alice_acct,
            "aliases": [format!("mailto:alice@{ZONE}")],
        }),
        "the JRD: {jrd}"
    );
    // Encoded as clients send it.
    let encoded = ask(ZONE.to_owned(), format!("acct%3Aalice%40{ZONE}")).await?;
    ensure!(
        encoded.status == 200 && encoded.body == answer.body,
        "encoded: {encoded:?}"
    );
    // Bob is not public; alice is not on www.; no resource, or not a URI: 400.
    for (host, resource, status) in [
        (ZONE.to_owned(), format!("acct:bob@{ZONE}"), 404),
        (format!("www.{ZONE}"), alice_acct.clone(), 404),
        (ZONE.to_owned(), String::new(), 400),
        (ZONE.to_owned(), "alice".to_owned(), 400),
    ] {
        let answer = ask(host.clone(), resource.clone()).await?;
        ensure!(answer.status == status, "{host} {resource:?}: {answer:?}");
    }
    let missing = https::get(https_addr, ZONE, "/.well-known/webfinger", roots).await?;
    ensure!(missing.status == 400, "no query: {missing:?}");
    // Hostile resources: a line break, quotes, 5,000 characters, a homoglyph domain (Cyrillic
    // a), a block opened: nothing matches, and none reaches a file.
    let hostile = [
        format!("acct:alice%0A@{ZONE}"),
        format!("acct:%22alice%22@{ZONE}"),
        format!("acct:{}@{ZONE}", "a".repeat(5000)),
        "acct:alice@ex%D0%B0mple.test".to_owned(),
        format!("acct:alice@{ZONE}%0Aserver%20%7B"),
    ];
    for resource in &hostile {
        let answer = ask(ZONE.to_owned(), resource.clone()).await?;
        ensure!(
            matches!(answer.status, 400 | 404 | 414),
            "{resource:.80}: {answer:?}"
        );
    }
    let long = "a".repeat(5000);
    let needles = [
        "alice%0A",
        "%22alice",
        long.as_str(),
        "ex%D0%B0mple",
        "\u{430}",
    ];
    let root = c.node.root();
    for dir in ["etc/nginx", "var/lib/ruche/web"] {
        for file in walk(&root.join(dir))? {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for needle in needles {
                ensure!(
                    !text.contains(needle),
                    "{} holds {needle:.20}",
                    file.display()
                );
            }
        }
    }
    // host-meta, XRD and JSON, point to WebFinger on the domain.
    let template = format!("https://{ZONE}/.well-known/webfinger?resource={{uri}}");
    let xrd = https::get(https_addr, ZONE, "/.well-known/host-meta", roots).await?;
    ensure!(
        xrd.status == 200 && xrd.body.contains(&format!("template=\"{template}\"")),
        "host-meta: {xrd:?}"
    );
    let json = https::get(https_addr, ZONE, "/.well-known/host-meta.json", roots).await?;
    let json_value: serde_json::Value = serde_json::from_str(&json.body)?;
    ensure!(
        json_value["links"][0]["template"] == template.as_str(),
        "host-meta.json: {json:?}"
    );
    // Private again: unknown again.
    member.set_public(domain, alice, false).await?;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let answer = ask(ZONE.to_owned(), alice_acct.clone()).await?;
        if answer.status == 404 {
            break;
        }
        ensure!(Instant::now() < deadline, "alice stayed public: {answer:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "[web] WebFinger: alice public then private, bob never; hostile resources matched nothing"
    );
    Ok(())
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// What a mail client reads from a discovery document: IMAP and SMTP host, port, and whether
/// TLS starts at once.
#[derive(Debug)]
struct MailSettings {
    imap: (String, u16, bool),
    smtp: (String, u16, bool),
}

/// Thunderbird's reading of an autoconfig document: the first IMAP server, the first SMTP one.
fn autoconfig_settings(xml: &str) -> Result<MailSettings> {
    let doc = roxmltree::Document::parse(xml).context("autoconfig is not XML")?;
    let server = |tag: &str, kind: &str| -> Result<(String, u16, bool)> {
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name(tag) && n.attribute("type") == Some(kind))
            .with_context(|| format!("no {tag} of type {kind}"))?;
        let text = |name: &str| {
            node.children()
                .find(|c| c.has_tag_name(name))
                .and_then(|c| c.text())
                .map(str::to_owned)
                .with_context(|| format!("{tag} has no {name}"))
        };
        ensure!(text("username")? == "%EMAILADDRESS%", "the user name");
        Ok((
            text("hostname")?,
            text("port")?.parse()?,
            text("socketType")? == "SSL",
        ))
    };
    Ok(MailSettings {
        imap: server("incomingServer", "imap")?,
        smtp: server("outgoingServer", "smtp")?,
    })
}

/// Outlook's reading of an autodiscover answer: the IMAP and SMTP protocols.
fn autodiscover_settings(xml: &str) -> Result<MailSettings> {
    let doc = roxmltree::Document::parse(xml).context("autodiscover is not XML")?;
    let protocol = |kind: &str| -> Result<(String, u16, bool)> {
        let node = doc
            .descendants()
            .filter(|n| n.has_tag_name("Protocol"))
            .find(|n| {
                n.children()
                    .any(|c| c.has_tag_name("Type") && c.text() == Some(kind))
            })
            .with_context(|| format!("no Protocol {kind}"))?;
        let text = |name: &str| {
            node.children()
                .find(|c| c.has_tag_name(name))
                .and_then(|c| c.text())
                .map(str::to_owned)
                .with_context(|| format!("Protocol {kind} has no {name}"))
        };
        Ok((
            text("Server")?,
            text("Port")?.parse()?,
            text("SSL")? == "on",
        ))
    };
    Ok(MailSettings {
        imap: protocol("IMAP")?,
        smtp: protocol("SMTP")?,
    })
}

/// Logs in to IMAP and authenticates to SMTP where `settings` say (the host name is the
/// node's, on its address; its certificate is the node's own, from the test CA).
async fn log_in_with(
    c: &MailCollective,
    settings: &MailSettings,
    user: &str,
    password: &str,
) -> Result<()> {
    let host = c.node.hostname();
    ensure!(
        settings.imap.0 == host && settings.smtp.0 == host,
        "the servers named are not the node's host name {host}"
    );
    let ports = c.node.ports();
    ensure!(
        (settings.imap.1, settings.imap.2) == (ports.imaps, true),
        "the IMAP server named: {:?}",
        settings.imap
    );
    let server = imap::Server {
        addr: SocketAddr::from((c.node.ip(), settings.imap.1)),
        host,
        ca: c.node.ca(),
        security: imap::Security::Implicit,
    };
    imap::login(&server, user, password)
        .await?
        .session()?
        .logout()
        .await?;
    let smtp = tests::submission::Server {
        addr: SocketAddr::from((c.node.ip(), settings.smtp.1)),
        host,
        ca: c.node.ca(),
        security: if settings.smtp.2 {
            tests::submission::Security::Implicit
        } else {
            tests::submission::Security::StartTls
        },
    };
    let outcome = tests::submission::authenticate(&smtp, None, (user, password)).await?;
    outcome.accepted()?;
    Ok(())
}

/// The pids of nginx's, Dovecot's and Postfix's masters.
fn master_pids(c: &MailCollective) -> Result<Vec<String>> {
    let root = c.node.root();
    [
        "run/nginx.pid",
        "run/dovecot/master.pid",
        "var/spool/postfix/pid/master.pid",
    ]
    .iter()
    .map(|p| {
        std::fs::read_to_string(root.join(p))
            .map(|t| t.trim().to_owned())
            .with_context(|| format!("read {p}"))
    })
    .collect()
}

/// Polls a TLS handshake with `host` on `addr` until the leaf verifies against `roots` and is
/// `want` (when `equal`) or anything but `want`.
async fn wait_for_leaf(
    addr: SocketAddr,
    host: &str,
    roots: &std::path::Path,
    want: Option<&[u8]>,
    equal: bool,
) -> Result<Vec<u8>> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let last = https::leaf(addr, host, roots).await;
        if let Ok(leaf) = &last {
            if want.is_none_or(|w| (w == leaf.as_slice()) == equal) {
                return last;
            }
        }
        if Instant::now() >= deadline {
            bail!("{host} on {addr}: never the certificate wanted (last: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Acceptance 7: the portal behind a node's HTTPS front (`[web.portal]`), under a name that is
/// not `localhost`, with a certificate from pebble (HTTP-01; the world's DNS resolves the name
/// to the node), driven in Chromium: plain HTTP redirects, HTTPS carries HSTS, and signing in
/// sets the `__Host-` session cookie, Secure, on that name.
#[tokio::test]
async fn web_portal_over_https_in_chromium() -> Result<()> {
    let mut c = Collective::start_with(Block(116), 1, true).await?;
    let result = portal(&mut c).await;
    c.finish(result)
}

async fn portal(c: &mut Collective) -> Result<()> {
    const PORTAL: &str = "portal.test";
    let world = WorldDns::start(c.spare_ip()).await?;
    let node = c.node(0)?;
    let web = node.web()?;
    let node_ip = node.ip();
    world.add_a(PORTAL, node_ip).await?;
    let pebble = Pebble::start(pebble::Options {
        ip: c.spare_ip(),
        http_port: web.http.port(),
        dns: world.addr(),
        validity: None,
    })
    .await?;
    let public_url = format!("https://{PORTAL}:{}", web.https.port());
    let control_plane = c.control_plane_mut();
    control_plane.set_env("RUCHE_HTTP__PUBLIC_URL", &public_url);
    control_plane.set_env("RUCHE_HTTP__TRUST_FORWARDED_FOR", "true");
    control_plane.restart().await?;
    let upstream = SocketAddr::from(([127, 0, 0, 1], c.control_plane_mut().port()));
    let node = c.node_mut(0)?;
    node.write_portal(PORTAL, upstream)?;
    node.enable_acme(&Acme {
        directory: pebble.directory(),
        directory_root: pebble.api_root().to_owned(),
        resolvers: vec![world.addr()],
        retry_after_seconds: 1,
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let roots = roots_file(&pebble, dir.path(), "root.pem").await?;

    // HTTPS with the portal's certificate and the control plane's HSTS (once); HTTP redirects
    // there.
    let answer = wait_for_https_at(web.https, PORTAL, &roots, None).await?;
    let hsts: Vec<&String> = answer
        .headers
        .iter()
        .filter(|(n, _)| n == "strict-transport-security")
        .map(|(_, v)| v)
        .collect();
    ensure!(
        hsts.len() == 1 && hsts[0].starts_with("max-age="),
        "the portal over HTTPS: {answer:?}"
    );
    let login = https::get(web.https, PORTAL, "/login", &roots).await?;
    ensure!(login.status == 200, "GET /login over HTTPS: {login:?}");
    let redirect = get(web.http, PORTAL, "/login").await?;
    ensure!(
        redirect.status == 301 && redirect.location == format!("{public_url}/login"),
        "the portal on plain HTTP: {redirect:?}"
    );

    // Chromium trusts pebble's intermediate's key only, and finds the name on loopback.
    let intermediate = dir.path().join("intermediate.pem");
    std::fs::write(&intermediate, pebble.intermediate().await?)?;
    let spki = spki_hash(&intermediate).await?;
    let browser = tests::browser::Browser::start_with(&[
        format!("--host-resolver-rules=MAP {PORTAL} {node_ip}"),
        format!("--ignore-certificate-errors-spki-list={spki}"),
    ])
    .await?;
    let (email, password) = Collective::admin_credentials();
    browser.goto(&format!("{public_url}/login")).await?;
    browser.fill("email", email).await?;
    browser.fill("password", password).await?;
    browser.submit_form_containing("email").await?;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let url = browser.current_url().await?;
        if url.starts_with(&public_url) && !url.contains("/login") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "signing in over HTTPS led to {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cookies = browser.client()?.get_all_cookies().await?;
    let session = cookies
        .iter()
        .find(|cookie| cookie.name().starts_with("__Host-"))
        .with_context(|| format!("no __Host- cookie after signing in: {cookies:?}"))?;
    ensure!(
        session.secure() == Some(true) && session.http_only() == Some(true),
        "the session cookie: {session:?}"
    );
    eprintln!(
        "[web] signed in at {public_url} in Chromium; cookie {} is Secure and HttpOnly",
        session.name()
    );
    Ok(())
}

/// The base64 SHA-256 of the public key of the certificate in `pem` (Chromium's SPKI hash).
async fn spki_hash(pem: &std::path::Path) -> Result<String> {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | base64",
        pem.display()
    );
    let out = run_to_end(
        tests::process::Process::command("sh", ["-c", &script]),
        Duration::from_secs(30),
    )
    .await?;
    ensure!(out.success(), "the SPKI hash: {out:?}");
    Ok(out.stdout.trim().to_owned())
}

/// The web front's benchmark (`tests/bench/web.sh`; not a test: no thresholds). Prints
/// `[bench] RESULT` lines and `bench: <name> = <value> <unit>`.
mod bench {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::{Duration, Instant};

    use anyhow::{ensure, Context, Result};
    use tests::https;
    use tests::pebble::{self, Acme, Pebble, WorldDns};
    use tests::process::{run_to_end, Process};

    use super::{roots_file, web_names_of, MailCollective};

    /// Domains certified one after another for the latency figure.
    const SAMPLES: usize = 20;
    /// Member domains on the node for the size figures.
    const DOMAINS: usize = 1000;

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    #[tokio::test]
    #[ignore = "a benchmark: run tests/bench/web.sh"]
    async fn web_bench() -> Result<()> {
        let mut c = MailCollective::start_web(Ipv4Addr::new(127, 0, 0, 42), "web-bench").await?;
        let result = bench(&mut c).await;
        c.finish(result).await
    }

    /// Sum of VmRSS (KiB) of nginx's master (its pid file) and its workers.
    fn nginx_rss_kib(master: u32) -> Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir("/proc")? {
            let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid …: the fields after the last ')'.
            let ppid: Option<u32> = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok());
            if pid == master || ppid == Some(master) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
                total += status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// A self-signed certificate for `names` into the agent's store, as a version of its own
    /// (the agent serves what its store holds once it starts; `openssl`, ECDSA P-256).
    async fn seed_certificate(root: &std::path::Path, domain: &str, index: usize) -> Result<()> {
        let dir = root
            .join("var/lib/ruche/certs/domain")
            .join(domain)
            .join(format!("{index:016x}"));
        std::fs::create_dir_all(&dir)?;
        let names: Vec<String> = web_names_of(domain)
            .iter()
            .map(|n| format!("DNS:{n}"))
            .collect();
        let out = run_to_end(
            Process::command(
                "openssl",
                [
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-noenc",
                    "-days",
                    "30",
                    "-subj",
                    &format!("/CN={domain}"),
                    "-addext",
                    &format!("subjectAltName={}", names.join(",")),
                    "-keyout",
                    &dir.join("key.pem").to_string_lossy(),
                    "-out",
                    &dir.join("chain.pem").to_string_lossy(),
                ],
            ),
            Duration::from_secs(30),
        )
        .await?;
        ensure!(out.success(), "openssl req: {out:?}");
        Ok(())
    }

    /// The `elapsed` of each agent `reconciled` line that reloaded nginx, after line `seen`.
    fn nginx_reconciles(lines: &[tests::process::Line], seen: usize) -> Vec<Duration> {
        lines[seen..]
            .iter()
            .filter(|l| l.text.contains("reconciled") && l.text.contains("Service(\"nginx\")"))
            .filter_map(|l| {
                let value = l.text.split("elapsed=").nth(1)?.split_whitespace().next()?;
                let (number, unit) = value
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map(|i| value.split_at(i))?;
                let number: f64 = number.parse().ok()?;
                let factor = match unit {
                    "ms" => 1e-3,
                    "s" => 1.0,
                    "µs" => 1e-6,
                    _ => return None,
                };
                Some(Duration::from_secs_f64(number * factor))
            })
            .collect()
    }

    async fn bench(c: &mut MailCollective) -> Result<()> {
        let ip = Ipv4Addr::new(127, 0, 0, 43);
        let world = WorldDns::start(ip).await?;
        let node_ip = c.node.ip();
        let web = c.node.web()?;
        let pebble = Pebble::start(pebble::Options {
            ip,
            http_port: web.http.port(),
            dns: world.addr(),
            validity: None,
        })
        .await?;
        c.node
            .enable_acme(&Acme {
                directory: pebble.directory(),
                directory_root: pebble.api_root().to_owned(),
                resolvers: vec![world.addr()],
                retry_after_seconds: 1,
            })
            .await?;
        let dir = tempfile::tempdir()?;
        let roots = roots_file(&pebble, dir.path(), "root.pem").await?;
        let member = c.member("web-bench@people.test").await?;
        let pool = sqlx::PgPool::connect(c.db_url()).await?;
        sqlx::query("update plans set max_domains = 10000")
            .execute(&pool)
            .await?;

        // 1. Verified -> first HTTPS answer with a valid certificate (HTTP-01, pebble).
        let mut samples = Vec::new();
        for i in 0..SAMPLES {
            let domain = format!("bench{i}.test");
            for name in web_names_of(&domain) {
                world.add_a(&name, node_ip).await?;
            }
            let id = member.pending_domain(&domain).await?;
            let started = Instant::now();
            member.verify(&id).await?;
            let deadline = started + Duration::from_secs(120);
            loop {
                if https::leaf(web.https, &domain, &roots).await.is_ok() {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "{domain} never answered over HTTPS"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples.push(started.elapsed());
        }
        samples.sort();
        let (p50, p95) = (percentile(&samples, 0.5), percentile(&samples, 0.95));
        eprintln!(
            "[bench] RESULT domain verified -> first HTTPS answer with a valid certificate \
             (pebble, HTTP-01, loopback), n={SAMPLES}: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            ms(p50),
            ms(p95),
            ms(*samples.last().context("no sample")?)
        );

        // 2. 1,000 member domains on the node, each with a certificate in the store.
        let seed = "
            with plan as (select id from plans order by name limit 1),
                 node as (select node_id as id from members where node_id is not null limit 1),
                 hash as (select password_hash from members where password_hash is not null limit 1),
                 new_members as (
                    insert into members (id, email, display_name, password_hash, plan_id, node_id)
                    select gen_random_uuid(), 'seed' || g || '@elsewhere.test', 'Seed ' || g,
                           (select password_hash from hash), (select id from plan), (select id from node)
                    from generate_series(1, $1::int) g
                    returning id, email)
            insert into domains (id, member_id, name, status, verification_token)
            select gen_random_uuid(), id, split_part(email, '@', 1) || '.test', 'active', 'seed'
            from new_members";
        let root = c.node.root().to_owned();
        // The domains first (the agent keeps no certificate of a domain it does not serve),
        // then their certificates, read by the agent when it starts again.
        sqlx::query(seed)
            .bind(DOMAINS as i64)
            .execute(&pool)
            .await?;
        c.node
            .wait_until_converged(Duration::from_secs(1800))
            .await?;
        let seeding = Instant::now();
        for i in 1..=DOMAINS {
            seed_certificate(&root, &format!("seed{i}.test"), i).await?;
        }
        eprintln!(
            "[bench] {DOMAINS} certificates made in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
        let converging = Instant::now();
        c.node.restart_agent().await?;
        // Every HTTPS server in place: the first reconcile after the start renders them.
        let deadline = Instant::now() + Duration::from_secs(1800);
        while std::fs::read_to_string(root.join("etc/nginx/ruche/hosts.conf"))?
            .matches("ssl_certificate ")
            .count()
            < DOMAINS
        {
            ensure!(
                Instant::now() < deadline,
                "the certificates were never all served"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let converged = converging.elapsed();
        let hosts = std::fs::read_to_string(root.join("etc/nginx/ruche/hosts.conf"))?;
        let servers = hosts.matches("ssl_certificate ").count();
        ensure!(
            servers > DOMAINS,
            "only {servers} HTTPS servers rendered for {DOMAINS} domains"
        );
        let master: u32 = std::fs::read_to_string(root.join("run/nginx.pid"))?
            .trim()
            .parse()?;
        let rss = nginx_rss_kib(master)?;

        // One domain added at a time: the agent's reconcile that renders, checks (`nginx -t`)
        // and reloads nginx with 1,000 HTTPS servers (the domain, then its certificate).
        let seen = c.node.agent()?.lines().len();
        for i in 0..5 {
            let domain = format!("added{i}.test");
            for name in web_names_of(&domain) {
                world.add_a(&name, node_ip).await?;
            }
            let id = member.pending_domain(&domain).await?;
            member.verify(&id).await?;
            let deadline = Instant::now() + Duration::from_secs(300);
            while https::leaf(web.https, &domain, &roots).await.is_err() {
                ensure!(
                    Instant::now() < deadline,
                    "{domain} never answered over HTTPS"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let mut applies = nginx_reconciles(&c.node.agent()?.lines(), seen);
        applies.sort();
        ensure!(!applies.is_empty(), "no reconcile reloaded nginx");

        // Handshakes with the rendered configuration, and with a hand-written one-server
        // configuration on the same certificate (nginx's own figure on this machine).
        let rendered = https::handshakes_per_second(web.https, "seed1.test", 5).await?;
        let static_dir = tempfile::tempdir()?;
        let static_port = tests::net::free_port()?;
        let cert_dir = std::fs::read_dir(root.join("var/lib/ruche/certs/domain/seed1.test"))?
            .next()
            .context("seed1's certificate")??
            .path();
        let conf = static_dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes auto;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
                 events {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  \
                 client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  \
                 fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  \
                 scgi_temp_path {dir}/scgi;\n  server {{\n    listen {node_ip}:{static_port} ssl;\n    \
                 server_name seed1.test;\n    ssl_certificate {cert}/chain.pem;\n    \
                 ssl_certificate_key {cert}/key.pem;\n    location / {{ return 200 \"ok\"; }}\n  }}\n}}\n",
                dir = static_dir.path().display(),
                cert = cert_dir.display(),
            ),
        )?;
        let _static_nginx = tests::nginx::start_nginx(
            "nginx-static",
            &conf,
            SocketAddr::from((node_ip, static_port)),
        )
        .await?;
        let hand_written =
            https::handshakes_per_second(SocketAddr::from((node_ip, static_port)), "seed1.test", 5)
                .await?;

        eprintln!(
            "[bench] RESULT {DOMAINS} member domains with certificates ({servers} HTTPS servers): \
             the agent served them {:.1} s after it started",
            converged.as_secs_f64()
        );
        eprintln!(
            "[bench] RESULT one domain added (or its certificate), the agent's reconcile that \
             renders, checks (nginx -t) and reloads nginx, n={}: p50 {:.0} ms, p95 {:.0} ms",
            applies.len(),
            ms(percentile(&applies, 0.5)),
            ms(percentile(&applies, 0.95))
        );
        eprintln!(
            "[bench] RESULT nginx RSS (master and workers) with {DOMAINS} domains: {rss} KiB"
        );
        eprintln!(
            "[bench] RESULT full TLS handshakes per second (one rustls client, no resumption): \
             rendered configuration {rendered:.0}/s, hand-written one-server configuration \
             {hand_written:.0}/s"
        );
        for (name, value, unit) in [
            ("verified_to_https_p50", ms(p50), "ms"),
            ("verified_to_https_p95", ms(p95), "ms"),
            (
                "nginx_apply_1000_domains_p50",
                ms(percentile(&applies, 0.5)),
                "ms",
            ),
            (
                "nginx_apply_1000_domains_p95",
                ms(percentile(&applies, 0.95)),
                "ms",
            ),
            ("nginx_rss_1000_domains", rss as f64 / 1024.0, "MiB"),
            ("handshakes_rendered", rendered, "per_s"),
            ("handshakes_hand_written", hand_written, "per_s"),
        ] {
            eprintln!("bench: {name} = {value:.1} {unit}");
        }
        Ok(())
    }
}
