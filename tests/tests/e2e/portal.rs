//! The portal, driven as a person would: headless Chromium against the real control plane.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tests::{Browser, ControlPlane, SmtpSink, TestDatabase};
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

        // The link is single-use.
        browser.goto(&link).await?;
        let text = browser.page_text().await?;
        ensure!(
            text.to_lowercase().contains("no longer valid"),
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
        status == 410 || status == 404,
        "reusing the setup link answered HTTP {status}, not 410 or 404"
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
