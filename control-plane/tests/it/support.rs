//! Test support: start the app on a pool, a small HTTP client that keeps cookies (the session
//! and CSRF cookies are `Secure`, which generic cookie jars refuse to send over plain HTTP),
//! and helpers that walk the real flows (setup, invitation) to get signed-in clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use control_plane::config::Config;
use control_plane::startup::{Application, Background};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use sqlx::PgPool;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
}

pub async fn spawn(pool: PgPool) -> TestApp {
    spawn_with(pool, Config::default()).await
}

/// The app as `control-plane serve` builds it (`Application::build`, on the database of
/// `pool`), serving with the `LISTEN` task but no housekeeping or DNS rounds (they would ask
/// resolvers outside loopback and change rows under the test), until the test ends.
pub async fn spawn_with(pool: PgPool, config: Config) -> TestApp {
    let app = build(&pool, config).await;
    let base = app.public_url().as_str().trim_end_matches('/').to_owned();
    tokio::spawn(app.run_with(Background::ListenerOnly, std::future::pending()));
    TestApp { base, pool }
}

/// `Application::build` on the database of `pool`, listening on a free loopback port.
async fn build(pool: &PgPool, mut config: Config) -> Application {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(pool.connect_options().get_database().unwrap());
    config.database.url = Some(url.to_string());
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    Application::build(config).await.unwrap()
}

/// The real server, as `control-plane serve` runs it: built by `Application::build` from
/// `config` (its own connection pools, sized by `config.database`, on the database of `pool`),
/// with its background tasks (housekeeping, DNS rounds, the LISTEN task), until `stop`.
/// `TestApp::pool` is the test's own pool, for the helpers that read or seed rows.
pub async fn start(pool: PgPool, config: Config) -> (TestApp, Running) {
    let app = build(&pool, config).await;
    let base = app.public_url().as_str().trim_end_matches('/').to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (TestApp { base, pool }, Running { stop, task })
}

/// A server started by [`start`].
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Finishes the requests in flight, stops the background tasks and closes the pools.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The text content of the element with this id (first text node after the opening tag).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\"");
        let at = self.body.find(&marker)?;
        let rest = &self.body[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')? + start;
        Some(html_unescape(rest[start..end].trim()))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Undoes askama's escaping (numeric entities) and the named ones; `&` last, so an escaped
/// entity stays text.
pub fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    cookies: Arc<Mutex<HashMap<String, String>>>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Arc::default(),
            bearer: None,
        }
    }

    pub fn with_bearer(&self, token: &str) -> Self {
        Self {
            base: self.base.clone(),
            http: self.http.clone(),
            cookies: Arc::default(),
            bearer: Some(token.to_owned()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let mut req = req.header(COOKIE, self.cookie_header());
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if value.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = res.text().await.unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// POSTs a form with this browser's CSRF token (fetching a page first if it has none).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        if self.cookie("__Host-ruche_csrf").is_none() {
            self.get("/healthz").await;
        }
        let csrf = self.cookie("__Host-ruche_csrf").unwrap();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// POSTs exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// A call to the member and admin API (`/api/v1` + `path`).
    pub async fn api(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
        self.json(method, &format!("/api/v1{path}"), body).await
    }

    /// A JSON call to any path.
    pub async fn json(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }
}

/// Runs the one-time setup through the page and returns the signed-in admin.
pub async fn setup_admin(app: &TestApp) -> Client {
    let token = control_plane::db::setup::issue_token(&app.pool)
        .await
        .unwrap()
        .unwrap();
    let admin = Client::new(app);
    let page = admin.get(&format!("/setup?token={}", token.expose())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let res = admin
        .post(
            "/setup",
            &[
                ("token", token.expose()),
                ("collective_name", "Les Abeilles"),
                ("platform_domain", "abeilles.test"),
                ("email", "admin@abeilles.test"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), "/admin");
    admin
}

/// The admin invites `email`; the invitee accepts through the invitation page. With no mail
/// relay in these tests, the page shows the link to the admin.
pub async fn invite_member(app: &TestApp, admin: &Client, email: &str) -> Client {
    let plan = plan_id(app, "Standard").await;
    let res = admin
        .post("/admin/invitations", &[("email", email), ("plan", &plan)])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let link = res
        .text_of("invitation-link")
        .expect("invitation link shown");
    let path = link.strip_prefix(&app.base).unwrap().to_owned();
    let member = Client::new(app);
    assert_eq!(member.get(&path).await.status, 200);
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let res = member
        .post(
            "/invite",
            &[
                ("token", &token),
                ("display_name", email.split('@').next().unwrap()),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), "/account");
    member
}

pub async fn plan_id(app: &TestApp, name: &str) -> String {
    control_plane::db::plans::find_by_name(&app.pool, name)
        .await
        .unwrap()
        .unwrap()
        .to_string()
}

/// Creates an API token through the security page and returns it.
pub async fn api_token(client: &Client) -> String {
    let res = client
        .post("/account/api-tokens", &[("label", "tests")])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.text_of("new-api-token").expect("token shown once")
}

/// Adds a domain through the portal; returns its id.
pub async fn add_domain(client: &Client, name: &str) -> String {
    let res = client.post("/account/domains", &[("domain", name)]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    res.location()
        .strip_prefix("/account/domains/")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// Adds a node through the admin API and joins it the way an agent does; returns the node's id
/// and a client that presents its credential.
/// Marks the domain `id` verified, as the control plane does once it sees the TXT challenge (the
/// DNS tests check that for real): only verified domains reach a node's desired state.
pub async fn verify_domain(app: &TestApp, id: &str) {
    sqlx::query("update domains set status = 'active', verified_at = now() where id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
}

pub async fn join_node(app: &TestApp, admin_api: &Client, name: &str) -> (String, Client) {
    let r = admin_api
        .api(
            "POST",
            "/admin/nodes",
            Some(serde_json::json!({"name": name})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let id = created["node"]["id"].as_str().unwrap().to_owned();
    let token = created["join_token"].as_str().unwrap().to_owned();
    let r = Client::new(app)
        .json(
            "POST",
            "/node-api/v1/join",
            Some(serde_json::json!({
                "token": token,
                "name": format!("{name}.example.org"),
                "addresses": ["127.0.0.2"],
                "capacity": {"cpus": 2, "memory_bytes": 1u64 << 32, "disk_bytes": 1u64 << 36},
                "version": "0.1.0"
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let credential = r.json()["credential"].as_str().unwrap().to_owned();
    (id, Client::new(app).with_bearer(&credential))
}

pub async fn heartbeat(node: &Client, body: serde_json::Value) -> Resp {
    node.json("POST", "/node-api/v1/heartbeat", Some(body))
        .await
}

/// A stand-in for a base64 SubjectPublicKeyInfo of a 2048-bit RSA key (294 bytes, 392
/// characters); `seed` makes different keys.
pub fn public_key(seed: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([0x30, seed].repeat(147))
}

/// A node's desired and observed generations, as the admin API shows them.
pub async fn generations(admin_api: &Client, node: &str) -> (i64, Option<i64>) {
    let nodes = admin_api.api("GET", "/admin/nodes", None).await.json();
    let n = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == node)
        .unwrap_or_else(|| panic!("node {node} not listed: {nodes}"));
    (
        n["desired_generation"].as_i64().unwrap(),
        n["observed_generation"].as_i64(),
    )
}
