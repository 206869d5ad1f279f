//! Tests of the harness itself: the pieces every other end-to-end test stands on.

use std::time::Duration;

use anyhow::{Context, Result};
use lettre::message::{header, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{Connection, PgConnection};
use tests::net::free_port;
use tests::{Browser, Process, SmtpSink, TestDatabase};

const TIMEOUT: Duration = Duration::from_secs(15);

async fn send(sink: &SmtpSink, message: Message) -> Result<()> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .timeout(Some(TIMEOUT))
        .build();
    transport.send(message).await.context("send over SMTP")?;
    Ok(())
}

#[tokio::test]
async fn smtp_sink_receives_and_decodes_mail() -> Result<()> {
    let sink = SmtpSink::start().await?;
    let link =
        "http://localhost:8080/invite?token=AbC-_9xyz0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    let text = format!(
        "Bonjour Zoë,\n\nYou are invited to join the collective « Ruche ». Accept here:\n{link}\n\n\
         This line is long enough that quoted-printable has to wrap it with a soft line break, \
         which the parser must undo.\n"
    );

    // Quoted-printable, to two envelope recipients.
    let message = Message::builder()
        .from("Ruche <noreply@ruche.test>".parse()?)
        .to("Zoë <zoe@example.test>".parse()?)
        .bcc("audit@example.test".parse()?)
        .subject("Invitation à Ruche")
        .singlepart(
            SinglePart::builder()
                .header(header::ContentType::TEXT_PLAIN)
                .header(header::ContentTransferEncoding::QuotedPrintable)
                .body(text.clone()),
        )?;
    send(&sink, message).await?;

    // Base64, text and HTML alternatives, to someone else.
    let message = Message::builder()
        .from("Ruche <noreply@ruche.test>".parse()?)
        .to("bob@example.test".parse()?)
        .subject("Reset your password")
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(header::ContentType::TEXT_PLAIN)
                        .header(header::ContentTransferEncoding::Base64)
                        .body("Reset: http://localhost:8080/reset?token=r3s3t. Thanks.".to_owned()),
                )
                .singlepart(SinglePart::html(
                    "<p><a href=\"http://localhost:8080/reset?token=r3s3t\">Reset</a></p>"
                        .to_owned(),
                )),
        )?;
    send(&sink, message).await?;

    let invite = sink
        .wait_for_message(|mail| mail.is_to("zoe@example.test"), TIMEOUT)
        .await?;
    assert_eq!(invite.subject, "Invitation à Ruche");
    assert_eq!(invite.from, "noreply@ruche.test");
    assert_eq!(invite.to, ["zoe@example.test", "audit@example.test"]);
    assert_eq!(
        invite.body.replace("\r\n", "\n").trim_end(),
        text.trim_end()
    );
    assert_eq!(
        invite.first_link_containing("/invite?").as_deref(),
        Some(link)
    );
    assert_eq!(invite.first_link_containing("/reset?"), None);

    let reset = sink
        .wait_for_message(|mail| mail.subject.contains("password"), TIMEOUT)
        .await?;
    assert_eq!(reset.to, ["bob@example.test"]);
    assert!(
        reset.body.contains("Reset: http://"),
        "body: {:?}",
        reset.body
    );
    assert!(reset
        .html
        .as_deref()
        .unwrap_or_default()
        .contains("<a href="));
    assert_eq!(
        reset.first_link_containing("token=").as_deref(),
        Some("http://localhost:8080/reset?token=r3s3t")
    );

    assert_eq!(sink.messages()?.len(), 2);
    let missing = sink
        .wait_for_message(
            |mail| mail.is_to("nobody@example.test"),
            Duration::from_millis(300),
        )
        .await;
    assert!(missing.is_err());
    Ok(())
}

#[tokio::test]
async fn process_group_is_killed_on_drop() -> Result<()> {
    let process = Process::spawn(
        "sh",
        Process::command("sh", ["-c", "sleep 300 & echo \"grandchild $!\"; wait"]),
    )?;
    let line = process
        .wait_for_line(|line| line.starts_with("grandchild "), TIMEOUT)
        .await?;
    let grandchild: u32 = line["grandchild ".len()..].trim().parse()?;
    let pid = process.pid();
    assert!(alive(grandchild));
    drop(process);
    // Killed: gone, or a zombie waiting for init to reap it. The signal reaches the grandchild
    // asynchronously, so give it a bounded while to die rather than sampling once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (alive(grandchild) || alive(pid)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
    assert!(!alive(pid), "process {pid} survived");
    Ok(())
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn wait_for_line_reports_an_early_exit() -> Result<()> {
    let process = Process::spawn(
        "sh",
        Process::command("sh", ["-c", "echo hello; echo oops >&2; exit 3"]),
    )?;
    let started = std::time::Instant::now();
    let err = process
        .wait_for_line(
            |line| line.contains("never printed"),
            Duration::from_secs(30),
        )
        .await
        .err()
        .context("wait_for_line succeeded on a line never printed")?;
    let message = format!("{err:#}");
    assert!(started.elapsed() < Duration::from_secs(10), "{message}");
    assert!(message.contains("exit status 3"), "{message}");
    assert!(
        message.contains("hello") && message.contains("oops"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn test_database_is_fresh_and_dropped() -> Result<()> {
    let db = TestDatabase::create().await?;
    let name = db.name().to_owned();
    let mut conn = db.connect().await?;
    let (current,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(current, name);
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(tables, 0);
    // Left open on purpose: dropping the database must end this session.
    drop(db);

    let mut server = PgConnection::connect(&tests::postgres::server_url()).await?;
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut server)
            .await?;
    assert!(!exists, "{name} was not dropped");
    Ok(())
}

#[tokio::test]
async fn browser_fills_and_submits_a_form() -> Result<()> {
    let site = tempfile::tempdir()?;
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>Form</title>\
         <form action=\"/done.html\" method=\"get\">\
         <input name=\"q\"><input type=\"hidden\" name=\"csrf\" value=\"c\">\
         <button>Send it</button></form>",
    )?;
    std::fs::write(
        site.path().join("done.html"),
        "<!doctype html><title>Done</title><h1>Thank <em>you</em></h1><p>Received.</p>",
    )?;
    let port = free_port()?;
    let mut command = Process::command(
        "/usr/bin/python3",
        ["-u", "-m", "http.server", "--bind", "127.0.0.1"],
    );
    command
        .arg(port.to_string())
        .arg("--directory")
        .arg(site.path());
    let server = Process::spawn("http", command)?;
    server
        .wait_for_line(|line| line.contains("Serving HTTP"), TIMEOUT)
        .await?;
    let base = format!("http://127.0.0.1:{port}");

    let browser = Browser::start().await?;
    browser.goto(&format!("{base}/index.html")).await?;
    assert_eq!(browser.title().await?, "Form");
    browser.fill("q", "hello world").await?;
    browser.click_button("Send").await?;
    let url = browser
        .wait_for_url(|url| url.contains("/done.html"), TIMEOUT)
        .await?;
    assert_eq!(url, format!("{base}/done.html?q=hello+world&csrf=c"));
    assert_eq!(browser.text_of("h1").await?, "Thank you");
    assert!(browser.page_text().await?.contains("Received."));

    browser.goto(&format!("{base}/index.html")).await?;
    browser.fill("q", "again").await?;
    browser.submit_form_containing("q").await?;
    assert!(browser.current_url().await?.ends_with("?q=again&csrf=c"));

    let shot = site.path().join("shot.png");
    browser.screenshot(&shot).await?;
    assert!(std::fs::read(&shot)?.starts_with(b"\x89PNG"));
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn control_plane_restarts_on_the_same_port() -> Result<()> {
    let db = TestDatabase::create().await?;
    let smtp = SmtpSink::start().await?;
    let mut control_plane = tests::ControlPlane::start(db.url(), smtp.port()).await?;
    let port = control_plane.port();
    let link = control_plane.setup_link().await?;
    assert!(
        link.starts_with(&control_plane.url("/setup?token=")),
        "{link}"
    );

    control_plane.restart().await?;
    assert_eq!(control_plane.port(), port);
    let client = reqwest::Client::builder().no_proxy().build()?;
    let status = client
        .get(control_plane.url("/healthz"))
        .send()
        .await?
        .status();
    assert_eq!(status.as_u16(), 200);
    // No admin yet: the new run logs a setup link again.
    assert!(control_plane.setup_link().await?.contains("/setup?token="));

    control_plane.stop().await;
    assert!(control_plane.process().is_err());
    assert!(client
        .get(control_plane.url("/healthz"))
        .send()
        .await
        .is_err());
    Ok(())
}
