//! A plain HTTP client for the portal and the JSON API, for tests that need no browser.
//!
//! The portal's cookies are `__Host-` cookies with `Secure`, which generic cookie stores (reqwest's
//! included) refuse to send over plain HTTP. [`HttpClient`] keeps them by hand instead: it reads
//! every `Set-Cookie`, and sends them all back in a `Cookie` header, as a browser on `localhost`
//! does. Forms get the CSRF field (the `__Host-ruche_csrf` cookie's value) added for them.
//!
//! `localhost` is resolved to 127.0.0.1 only, and redirects are never followed: tests look at the
//! status and `Location` themselves.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Method;
use serde_json::Value;

/// The CSRF cookie every portal form echoes in its `csrf` field.
pub const CSRF_COOKIE: &str = "__Host-ruche_csrf";
/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-ruche_session";
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One answer, read to the end.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    /// The `Location` header, or "" when there is none.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether the body has an element with this `id`.
    pub fn has_id(&self, id: &str) -> bool {
        self.body.contains(&format!("id=\"{id}\""))
    }

    /// The text of the element with this `id` up to its first child tag, unescaped and trimmed
    /// (enough for `<code id="x">value</code>`).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\"");
        let at = self.body.find(&marker)?;
        let rest = &self.body[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')? + start;
        Some(html_unescape(rest[start..end].trim()))
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("HTTP {}: the body is not JSON: {}", self.status, self.body))
    }

    /// A short description for assertion messages.
    pub fn describe(&self) -> String {
        let location = self.location();
        let mut body: String = self.body.chars().take(2000).collect();
        if body.len() < self.body.len() {
            body.push('…');
        }
        if location.is_empty() {
            format!("HTTP {}: {body}", self.status)
        } else {
            format!("HTTP {} to {location}: {body}", self.status)
        }
    }
}

/// Undoes askama's HTML escaping.
pub fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A client of one portal: its own cookies (one "browser"), optionally a bearer token.
#[derive(Clone, Debug)]
pub struct HttpClient {
    base: String,
    http: reqwest::Client,
    cookies: Arc<Mutex<BTreeMap<String, String>>>,
    bearer: Option<String>,
}

impl HttpClient {
    /// A client of the portal at `base_url` (e.g. `ControlPlane::base_url()`), with no cookies.
    pub fn new(base_url: &str) -> Result<HttpClient> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            // Only 127.0.0.1, never ::1 or whatever else a resolver says (the port is ignored).
            .resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .build()
            .context("build the HTTP client")?;
        Ok(HttpClient {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            cookies: Arc::default(),
            bearer: None,
        })
    }

    /// A client of the same portal that sends `Authorization: Bearer <token>` and no cookies.
    pub fn with_bearer(&self, token: &str) -> HttpClient {
        HttpClient {
            base: self.base.clone(),
            http: self.http.clone(),
            cookies: Arc::default(),
            bearer: Some(token.to_owned()),
        }
    }

    /// A client of the same portal with no cookies of its own (another person).
    pub fn fresh(&self) -> HttpClient {
        HttpClient {
            base: self.base.clone(),
            http: self.http.clone(),
            cookies: Arc::default(),
            bearer: None,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `path` under the base URL; a full `http(s)://` URL is kept as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The value of a cookie this client holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get(name).cloned()
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.cookies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.jar();
        if jar.is_empty() {
            return None;
        }
        Some(
            jar.iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn keep_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.jar();
        for header in headers.get_all(SET_COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = attributes
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("Max-Age=0"));
            if value.is_empty() || expired {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// Sends `request` with this client's cookies (and bearer token), keeps the cookies set by
    /// the answer and reads it whole.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response> {
        let mut request = request;
        if let Some(cookies) = self.cookie_header() {
            request = request.header(COOKIE, cookies);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        let request = request.build().context("build the request")?;
        let what = format!("{} {}", request.method(), request.url());
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| what.clone())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let body = response
            .text()
            .await
            .with_context(|| format!("{what}: read the body"))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Response> {
        self.send(self.http.get(self.url(path))).await
    }

    /// The CSRF token of this client, fetching a page first if it has none yet.
    pub async fn csrf(&self) -> Result<String> {
        if self.cookie(CSRF_COOKIE).is_none() {
            self.get("/login").await?;
        }
        self.cookie(CSRF_COOKIE)
            .with_context(|| format!("{} set no {CSRF_COOKIE} cookie", self.base))
    }

    /// POSTs a form with `fields` and this client's CSRF token, as the portal's pages do.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Result<Response> {
        let csrf = self.csrf().await?;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form_exact(path, &all).await
    }

    /// POSTs exactly `fields` as a form (no CSRF token added).
    pub async fn post_form_exact(&self, path: &str, fields: &[(&str, &str)]) -> Result<Response> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.http
                .post(self.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// A JSON API call: `method path` with an optional JSON body.
    pub async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// Completes the one-time setup through its page: opens `setup_link` and posts the form.
    /// On success the client is signed in as the new admin (303 to `/admin`).
    pub async fn complete_setup(&self, setup_link: &str, setup: &Setup<'_>) -> Result<()> {
        let page = self.get(setup_link).await?;
        if page.status != 200 || !page.body.contains("name=\"collective_name\"") {
            bail!("the setup link shows no setup form: {}", page.describe());
        }
        let token = url::Url::parse(setup_link)
            .context("the setup link is not a URL")?
            .query_pairs()
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned())
            .context("the setup link has no token")?;
        let response = self
            .post_form(
                "/setup",
                &[
                    ("token", &token),
                    ("collective_name", setup.collective_name),
                    ("platform_domain", setup.platform_domain),
                    ("email", setup.email),
                    ("password", setup.password),
                    ("password_confirm", setup.password),
                ],
            )
            .await?;
        if response.status != 303 || response.location() != "/admin" {
            bail!("setup did not redirect to /admin: {}", response.describe());
        }
        if self.cookie(SESSION_COOKIE).is_none() {
            bail!("setup set no session cookie");
        }
        Ok(())
    }

    /// Signs in with a password; returns the answer (303 to `/account`, or to `/login/totp`
    /// when a second factor is owed; 401 with the form again when refused).
    pub async fn login(&self, email: &str, password: &str) -> Result<Response> {
        self.post_form("/login", &[("email", email), ("password", password)])
            .await
    }

    /// Creates a personal API token on the security page and returns it (shown once there).
    pub async fn create_api_token(&self, label: &str) -> Result<String> {
        let response = self
            .post_form("/account/api-tokens", &[("label", label)])
            .await?;
        if response.status != 200 {
            bail!("creating an API token failed: {}", response.describe());
        }
        response
            .text_of("new-api-token")
            .filter(|token| !token.is_empty())
            .with_context(|| format!("no #new-api-token on the page: {}", response.describe()))
    }
}

/// What the setup form asks for.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub collective_name: &'a str,
    pub platform_domain: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

#[cfg(test)]
mod tests {
    use super::{html_unescape, Response};
    use reqwest::header::HeaderMap;

    #[test]
    fn reads_text_by_id() {
        let response = Response {
            status: 200,
            headers: HeaderMap::new(),
            body: "<p><code id=\"new-api-token\">ruche_a&amp;b</code></p><p id=\"x\"> y </p>"
                .to_owned(),
        };
        assert_eq!(
            response.text_of("new-api-token").as_deref(),
            Some("ruche_a&b")
        );
        assert_eq!(response.text_of("x").as_deref(), Some("y"));
        assert_eq!(response.text_of("z"), None);
        assert!(response.has_id("x"));
        assert_eq!(html_unescape("&amp;lt;&quot;"), "&lt;\"");
    }
}
