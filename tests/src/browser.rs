//! Headless Chromium driven through WebDriver (Debian's `chromium` and `chromium-driver`).
//!
//! [`Browser::start`] runs a private `chromedriver` (see [`crate::process`]) and opens one session
//! with a fresh profile directory and the flags that keep Chromium from reaching the internet.
//! Dropping the [`Browser`] kills chromedriver's process group, Chromium included; call
//! [`Browser::close`] to end the session politely first.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::net::free_port;
use crate::process::Process;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long to wait for an element, a page or a condition.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// One headless Chromium session.
pub struct Browser {
    // Field order is drop order: the session, then chromedriver (and Chromium), then the profile.
    client: Option<Client>,
    driver: Process,
    profile: TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("driver", &self.driver)
            .field("profile", &self.profile.path())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts chromedriver on a free port of 127.0.0.1 and opens a headless Chromium session.
    pub async fn start() -> Result<Browser> {
        Browser::start_with(&[]).await
    }

    /// The same, with more Chromium switches (e.g. `--host-resolver-rules`, which keeps a test
    /// name on loopback, and `--ignore-certificate-errors-spki-list`, which trusts a test CA's
    /// key only).
    pub async fn start_with(extra: &[String]) -> Result<Browser> {
        let profile = tempfile::Builder::new()
            .prefix("ruche-chromium-")
            .tempdir()
            .context("create a Chromium profile directory")?;
        let port = free_port()?;
        let command = Process::command(
            CHROMEDRIVER,
            [format!("--port={port}"), "--log-level=WARNING".to_owned()],
        );
        let driver = Process::spawn("chromedriver", command).with_context(|| {
            format!("start {CHROMEDRIVER} (install Debian's chromium-driver; tests/run.sh does)")
        })?;
        driver
            .wait_for_line(
                |line| line.contains("started successfully"),
                Duration::from_secs(30),
            )
            .await?;

        let user_data_dir = format!("--user-data-dir={}", profile.path().display());
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-proxy-server",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--disable-default-apps",
            "--disable-extensions",
            "--metrics-recording-only",
            "--password-store=basic",
            "--lang=en-US",
            "--window-size=1280,1024",
            user_data_dir.as_str(),
        ];
        let args: Vec<&str> = args
            .into_iter()
            .chain(extra.iter().map(String::as_str))
            .collect();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": { "intl.accept_languages": "en-US,en" },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("capabilities are not a JSON object");
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .with_context(|| {
                format!(
                    "open a WebDriver session; chromedriver said:\n{}",
                    driver.output()
                )
            })?;
        Ok(Browser {
            client: Some(client),
            driver,
            profile,
        })
    }

    /// The underlying WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .context("the browser session is closed")
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client()?
            .goto(url)
            .await
            .with_context(|| format!("navigate to {url}"))
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> Result<String> {
        Ok(self.client()?.current_url().await?.to_string())
    }

    /// The first element matching the CSS selector `css`, waiting up to [`DEFAULT_TIMEOUT`].
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.wait_for_element(Locator::Css(css), css).await
    }

    /// Whether an element matching the CSS selector `css` is on the page now (no waiting).
    pub async fn exists(&self, css: &str) -> Result<bool> {
        match self.client()?.find(Locator::Css(css)).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_no_such_element() => Ok(false),
            Err(err) => Err(err).with_context(|| format!("look for {css}")),
        }
    }

    async fn wait_for_element(&self, locator: Locator<'_>, what: &str) -> Result<Element> {
        let client = self.client()?;
        match client
            .wait()
            .at_most(DEFAULT_TIMEOUT)
            .every(Duration::from_millis(50))
            .for_element(locator)
            .await
        {
            Ok(element) => Ok(element),
            Err(err) => {
                let url = self.current_url().await.unwrap_or_default();
                let text = self.page_text().await.unwrap_or_default();
                bail!("no element {what} on {url}: {err}\npage text:\n{text}")
            }
        }
    }

    /// Types `value` into the form field whose `name` attribute is `name` (after clearing it).
    pub async fn fill(&self, name: &str, value: &str) -> Result<()> {
        let selector = format!("[name={}]", css_string(name));
        let field = self.find(&selector).await?;
        field
            .clear()
            .await
            .with_context(|| format!("clear field {name}"))?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("type into field {name}"))
    }

    /// Types `value` into the field named `name` inside the first element matching the CSS
    /// selector `scope` (a form, when a page has several fields of that name).
    pub async fn fill_in(&self, scope: &str, name: &str, value: &str) -> Result<()> {
        let selector = format!("{scope} [name={}]", css_string(name));
        let field = self.find(&selector).await?;
        field
            .clear()
            .await
            .with_context(|| format!("clear field {selector}"))?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("type into field {selector}"))
    }

    /// The current value of the form field matching the CSS selector `css` (what is typed in
    /// it, not its `value` attribute).
    pub async fn value_of(&self, css: &str) -> Result<String> {
        let field = self.find(css).await?;
        Ok(field
            .prop("value")
            .await
            .with_context(|| format!("value of {css}"))?
            .unwrap_or_default())
    }

    /// The attribute `name` of the first element matching `css`, if it has it.
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        let element = self.find(css).await?;
        element
            .attr(name)
            .await
            .with_context(|| format!("attribute {name} of {css}"))
    }

    /// Clicks the element matching the CSS selector `css` (a link, or a form's button) and waits
    /// until the browser has loaded the next page.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self.find(css).await?;
        let old_root = self.find("html").await?;
        element
            .click()
            .await
            .with_context(|| format!("click {css}"))?;
        // The old document's root goes stale once the browser has moved to the next page.
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        while old_root.tag_name().await.is_ok() {
            if Instant::now() >= deadline {
                bail!("clicking {css} loaded no new page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_until_loaded().await
    }

    /// Clicks the button (`<button>`, or `<input type=submit|button>`) whose text or value
    /// contains `text`. When the click submits a form, chromedriver waits for the next page.
    pub async fn click_button(&self, text: &str) -> Result<()> {
        let literal = xpath_string(text);
        let xpath = format!(
            "//button[contains(normalize-space(.), {literal})] | \
             //input[(@type='submit' or @type='button') and contains(@value, {literal})]"
        );
        let button = self
            .wait_for_element(Locator::XPath(&xpath), &format!("button {text:?}"))
            .await?;
        button
            .click()
            .await
            .with_context(|| format!("click button {text:?}"))?;
        self.wait_until_loaded().await
    }

    /// Submits the form that contains the field named `name` (as pressing Enter in it would,
    /// running the browser's validation), then waits for the next page to load.
    pub async fn submit_form_containing(&self, name: &str) -> Result<()> {
        let selector = format!("[name={}]", css_string(name));
        let field = self.find(&selector).await?;
        let old_root = self.find("html").await?;
        let field = serde_json::to_value(&field).context("serialize element")?;
        self.client()?
            .execute(
                "const form = arguments[0].form;\
                 if (!form) { throw new Error('the field is in no form'); }\
                 if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }",
                vec![field],
            )
            .await
            .with_context(|| format!("submit the form containing {name}"))?;
        // The old document's root goes stale once the browser has moved to the next page.
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        while old_root.tag_name().await.is_ok() {
            if Instant::now() >= deadline {
                bail!("submitting the form containing {name} loaded no new page");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_until_loaded().await
    }

    /// Waits until `document.readyState` is `complete`.
    pub async fn wait_until_loaded(&self) -> Result<()> {
        let client = self.client()?;
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        loop {
            let state = client
                .execute("return document.readyState", vec![])
                .await
                .ok();
            if state.as_ref().and_then(Value::as_str) == Some("complete") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the page did not finish loading (readyState {state:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the current URL satisfies `predicate`; returns it.
    pub async fn wait_for_url(
        &self,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await?;
            if predicate(&url) {
                return Ok(url);
            }
            if Instant::now() >= deadline {
                let text = self.page_text().await.unwrap_or_default();
                bail!("still on {url} after {timeout:?}; page text:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rendered text of the first element matching the CSS selector `css`.
    pub async fn text_of(&self, css: &str) -> Result<String> {
        let element = self.find(css).await?;
        element
            .text()
            .await
            .with_context(|| format!("text of {css}"))
    }

    /// The rendered texts of every element matching `css`, in document order (no waiting).
    pub async fn texts_of(&self, css: &str) -> Result<Vec<String>> {
        let elements = self
            .client()?
            .find_all(Locator::Css(css))
            .await
            .with_context(|| format!("look for {css}"))?;
        let mut texts = Vec::with_capacity(elements.len());
        for element in elements {
            texts.push(
                element
                    .text()
                    .await
                    .with_context(|| format!("text of {css}"))?,
            );
        }
        Ok(texts)
    }

    /// The rendered text of the whole page (`<body>`).
    pub async fn page_text(&self) -> Result<String> {
        let body = self.client()?.find(Locator::Css("body")).await?;
        Ok(body.text().await?)
    }

    /// The current page's HTML source.
    pub async fn html(&self) -> Result<String> {
        Ok(self.client()?.source().await?)
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> Result<String> {
        Ok(self.client()?.title().await?)
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let png = self.client()?.screenshot().await.context("screenshot")?;
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// The chromedriver process (its log includes Chromium's).
    pub fn driver(&self) -> &Process {
        &self.driver
    }

    /// Ends the WebDriver session, then stops chromedriver.
    pub async fn close(mut self) -> Result<()> {
        if let Some(client) = self.client.take() {
            client.close().await.context("close the browser session")?;
        }
        Ok(())
    }
}

/// `value` as a double-quoted CSS string.
fn css_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as an XPath 1.0 string literal (which has no escapes: split on quotes with concat()).
fn xpath_string(value: &str) -> String {
    if !value.contains('"') {
        return format!("\"{value}\"");
    }
    if !value.contains('\'') {
        return format!("'{value}'");
    }
    let parts: Vec<String> = value.split('"').map(|part| format!("\"{part}\"")).collect();
    format!("concat({})", parts.join(", '\"', "))
}

#[cfg(test)]
mod tests {
    use super::{css_string, xpath_string};

    #[test]
    fn quotes_selectors() {
        assert_eq!(css_string("email"), "\"email\"");
        assert_eq!(css_string("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(xpath_string("Create"), "\"Create\"");
        assert_eq!(xpath_string("say \"hi\""), "'say \"hi\"'");
        assert_eq!(
            xpath_string("it's \"x\""),
            "concat(\"it's \", '\"', \"x\", '\"', \"\")"
        );
    }
}
