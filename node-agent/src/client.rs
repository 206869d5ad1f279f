//! HTTP to the control plane's node API (`protocol::node`).
//!
//! [`Client`] speaks for a machine that has not joined yet; [`NodeClient`] for a joined node: it
//! sends the node's credential with every request. Neither follows redirects, so the credential
//! only ever goes to the URL the node joined.

use std::time::Duration;

use protocol::desired::{DesiredState, Update};
use protocol::node::{Heartbeat, JoinRequest, JoinResponse, API_PREFIX};
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::identity::NodeState;
use crate::secret::Secret;

/// How long connecting to the control plane may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an unexpected answer is quoted in an error.
const QUOTE_CHARS: usize = 300;

/// A request to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    #[error("the control plane URL {0} cannot carry the node API")]
    BadUrl(String),
    #[error("cannot reach the control plane at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// 410 to a join.
    #[error(
        "the join token is no longer valid: it is unknown, already used or expired (the control \
         plane said: {message}); ask an admin for a new one"
    )]
    TokenNotValid { message: String },
    /// 401 after the join.
    #[error(
        "the control plane no longer knows this node's credential (it said: {message}); join \
         again with a new join token (`node-agent join --force …`)"
    )]
    Unauthorized { message: String },
    #[error("the control plane refused the request with HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    #[error(
        "the control plane answered HTTP {status}, which this agent does not understand: {detail}"
    )]
    Unexpected { status: u16, detail: String },
}

impl ClientError {
    /// The HTTP status the control plane answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Setup(_) | ClientError::BadUrl(_) | ClientError::Unreachable { .. } => {
                None
            }
            ClientError::TokenNotValid { .. } => Some(410),
            ClientError::Unauthorized { .. } => Some(401),
            ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
        }
    }
}

/// Checks a control plane URL given on the command line: `http` or `https`, a host, no user
/// name, password, query or fragment. The path, if any, is kept (a control plane behind a
/// reverse proxy under `/ruche/`).
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be https (or http)".to_owned());
    }
    if url.host().is_none() {
        return Err("the URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or a fragment".to_owned());
    }
    Ok(url)
}

/// `<base>/node-api/v1/<name>`, whether or not `base` ends with a slash.
pub fn endpoint(base: &Url, name: &str) -> Result<Url, ClientError> {
    let text = format!("{}{API_PREFIX}/{name}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|_| ClientError::BadUrl(base.to_string()))
}

/// The control plane, to a machine that has not joined yet.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl Client {
    /// A client of the control plane at `base` (see [`parse_base_url`]).
    pub fn new(base: Url) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ruche-node-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Setup)?;
        Ok(Client { http, base })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /node-api/v1/join`: spends the join token in `request`, returns the node's id and
    /// credential.
    #[tracing::instrument(skip_all)]
    pub async fn join(&self, request: &JoinRequest) -> Result<JoinResponse, ClientError> {
        let url = endpoint(&self.base, "join")?;
        let response = send(self.http.post(url.clone()).json(request), &url).await?;
        let status = response.status();
        if status == StatusCode::CREATED {
            let body = response
                .bytes()
                .await
                .map_err(|source| unreachable(&url, source))?;
            return serde_json::from_slice(&body).map_err(|err| ClientError::Unexpected {
                status: status.as_u16(),
                detail: format!("the join answer is not a JoinResponse: {err}"),
            });
        }
        let message = error_message(response).await;
        Err(match status {
            StatusCode::GONE => ClientError::TokenNotValid { message },
            _ => refused(status, message),
        })
    }

    /// The same control plane, for the node that holds `credential`.
    pub fn with_credential(self, credential: Secret) -> NodeClient {
        NodeClient {
            client: self,
            credential,
        }
    }
}

/// The control plane, to a joined node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    client: Client,
    credential: Secret,
}

impl NodeClient {
    /// A client for the node `state` describes.
    pub fn new(state: &NodeState) -> Result<NodeClient, ClientError> {
        Ok(Client::new(state.control_plane_url.clone())?.with_credential(state.credential.clone()))
    }

    pub fn base_url(&self) -> &Url {
        self.client.base_url()
    }

    /// `POST /node-api/v1/heartbeat`; the control plane answers 204.
    #[tracing::instrument(skip_all)]
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), ClientError> {
        let url = endpoint(&self.client.base, "heartbeat")?;
        let request = self
            .client
            .http
            .post(url.clone())
            .bearer_auth(self.credential.expose())
            .json(heartbeat);
        let response = send(request, &url).await?;
        let status = response.status();
        if status.is_success() {
            // 204 is the contract; any 2xx means the heartbeat was taken.
            return Ok(());
        }
        let message = error_message(response).await;
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized { message },
            _ => refused(status, message),
        })
    }
}

impl NodeClient {
    /// `GET /node-api/v1/desired?after=<after>&wait=<wait>`: the node's desired state once its
    /// generation passes `after`, or `None` when nothing changed within `wait` (a long poll).
    pub async fn desired(
        &self,
        after: u64,
        wait: Duration,
    ) -> Result<Option<DesiredState>, ClientError> {
        self.poll(after, wait, false).await
    }

    /// The same with `delta=true`: what changed since `after` (or the whole document when the
    /// control plane cannot say; a control plane that does not know `delta` answers with the
    /// whole document untagged, taken as such).
    pub async fn update(&self, after: u64, wait: Duration) -> Result<Option<Update>, ClientError> {
        self.poll(after, wait, true).await
    }

    #[tracing::instrument(skip_all)]
    async fn poll<T: Polled>(
        &self,
        after: u64,
        wait: Duration,
        delta: bool,
    ) -> Result<Option<T>, ClientError> {
        let mut url = endpoint(&self.client.base, "desired")?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("wait", &wait.as_secs().to_string());
        if delta {
            url.query_pairs_mut().append_pair("delta", "true");
        }
        let request = self
            .client
            .http
            .get(url.clone())
            .bearer_auth(self.credential.expose())
            // The long poll itself lasts up to `wait`.
            .timeout(wait + REQUEST_TIMEOUT);
        let response = send(request, &url).await?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if status == StatusCode::OK {
            let body = response
                .bytes()
                .await
                .map_err(|source| unreachable(&url, source))?;
            // Every name is parsed again here: a hostile or broken document is refused whole.
            return T::parse(&body)
                .map(Some)
                .map_err(|err| ClientError::Unexpected {
                    status: status.as_u16(),
                    detail: format!("the desired state does not parse: {err}"),
                });
        }
        let message = error_message(response).await;
        Err(match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized { message },
            _ => refused(status, message),
        })
    }
}

/// What a poll of the desired state answers.
trait Polled: Sized {
    fn parse(body: &[u8]) -> Result<Self, serde_json::Error>;
}

impl Polled for DesiredState {
    fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

impl Polled for Update {
    fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body).or_else(|err| {
            serde_json::from_slice(body)
                .map(Update::Full)
                .map_err(|_| err)
        })
    }
}

async fn send(
    request: reqwest::RequestBuilder,
    url: &Url,
) -> Result<reqwest::Response, ClientError> {
    request
        .send()
        .await
        .map_err(|source| unreachable(url, source))
}

fn unreachable(url: &Url, source: reqwest::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_string(),
        // reqwest's message repeats the URL; ours says it once.
        source: source.without_url(),
    }
}

fn refused(status: StatusCode, message: String) -> ClientError {
    ClientError::Refused {
        status: status.as_u16(),
        message,
    }
}

/// The control plane's errors: `{"error": {"code": …, "message": …}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The message of an error answer: the control plane's own sentence when the body is its JSON
/// error, else the start of the body (a proxy's page), else the status' reason.
async fn error_message(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    describe_error_body(status, &body)
}

fn describe_error_body(status: StatusCode, body: &[u8]) -> String {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        let message = error.message.map(|m| quote(&m)).filter(|m| !m.is_empty());
        let code = error.code.map(|c| quote(&c)).filter(|c| !c.is_empty());
        match (message, code) {
            (Some(message), Some(code)) => return format!("{message} ({code})"),
            (Some(message), None) => return message,
            (None, Some(code)) => return code,
            (None, None) => {}
        }
    }
    let text = quote(&String::from_utf8_lossy(body));
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_owned()
    } else {
        text
    }
}

/// `text` on one line, without control characters, at most [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTE_CHARS + 1)
        .collect();
    if out.chars().count() > QUOTE_CHARS {
        out = out.chars().take(QUOTE_CHARS).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn checks_base_urls() {
        for good in [
            "https://cp.example.org",
            "https://cp.example.org/",
            "http://127.0.0.1:8080",
            "https://example.org/ruche/",
        ] {
            assert!(parse_base_url(good).is_ok(), "{good}");
        }
        for bad in [
            "cp.example.org",
            "ftp://cp.example.org",
            "https://user:pw@cp.example.org",
            "https://cp.example.org/?x=1",
            "https://cp.example.org/#x",
            "file:///etc/passwd",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builds_endpoints_under_the_base() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/node-api/v1/join",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/node-api/v1/join",
            ),
            (
                "https://example.org/ruche/",
                "https://example.org/ruche/node-api/v1/join",
            ),
            (
                "https://example.org/ruche",
                "https://example.org/ruche/node-api/v1/join",
            ),
        ];
        for (base, expected) in cases {
            let base = parse_base_url(base).unwrap();
            assert_eq!(endpoint(&base, "join").unwrap().as_str(), expected);
        }
    }

    #[test]
    fn describes_error_bodies() {
        let json = br#"{"error":{"code":"gone","message":"This join token is no longer valid."}}"#;
        assert_eq!(
            describe_error_body(StatusCode::GONE, json),
            "This join token is no longer valid. (gone)"
        );
        assert_eq!(
            describe_error_body(StatusCode::BAD_GATEWAY, b"<html>\n<b>Bad\tgateway</b>\x07"),
            "<html> <b>Bad gateway</b>"
        );
        assert_eq!(
            describe_error_body(StatusCode::SERVICE_UNAVAILABLE, b""),
            "Service Unavailable"
        );
        let long = "x".repeat(1000);
        let quoted = describe_error_body(StatusCode::BAD_REQUEST, long.as_bytes());
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 1);
    }

    /// One request as a tiny HTTP server saw it.
    #[derive(Debug, Clone, Default)]
    struct Seen {
        head: String,
        body: String,
    }

    /// Serves `answers` (raw HTTP responses) one connection each on 127.0.0.1, recording what it
    /// was sent. Returns the base URL.
    async fn serve(answers: Vec<String>) -> (Url, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let seen = loop {
                    let n = socket.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let head = text[..end].to_owned();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break Seen {
                                head,
                                body: text[end + 4..].to_owned(),
                            };
                        }
                    }
                    assert!(n > 0, "the client hung up");
                };
                record.lock().unwrap().push(seen);
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        (url, seen)
    }

    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn join_request() -> JoinRequest {
        JoinRequest {
            token: "join-token-1".to_owned(),
            name: "node-a".to_owned(),
            addresses: vec!["127.0.0.2".to_owned()],
            capacity: protocol::node::Capacity {
                cpus: 2,
                memory_bytes: 1 << 30,
                disk_bytes: 1 << 40,
            },
            version: "0.1.0".to_owned(),
        }
    }

    #[tokio::test]
    async fn joins_and_reports() {
        let (url, seen) = serve(vec![
            answer("201 Created", r#"{"node_id":"n1","credential":"cred-1"}"#),
            "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned(),
        ])
        .await;
        let client = Client::new(url).unwrap();
        let joined = client.join(&join_request()).await.unwrap();
        assert_eq!(joined.node_id, "n1");
        assert_eq!(joined.credential, "cred-1");

        let node = client.with_credential(Secret::new(joined.credential));
        let heartbeat = Heartbeat {
            version: "0.1.0".to_owned(),
            observed_generation: None,
            services: vec![],
            dkim_keys: vec![],
            usage: vec![],
            dns: None,
            certificates: None,
        };
        node.heartbeat(&heartbeat).await.unwrap();

        let seen = seen.lock().unwrap().clone();
        assert!(
            seen[0].head.starts_with("POST /node-api/v1/join HTTP/1.1"),
            "{seen:?}"
        );
        let sent: JoinRequest = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(sent, join_request());
        assert!(!seen[0].head.to_ascii_lowercase().contains("authorization"));
        assert!(seen[1]
            .head
            .starts_with("POST /node-api/v1/heartbeat HTTP/1.1"));
        assert!(
            seen[1]
                .head
                .lines()
                .any(|l| l == "authorization: Bearer cred-1"),
            "{}",
            seen[1].head
        );
        let sent: Heartbeat = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(sent, heartbeat);
    }

    #[tokio::test]
    async fn explains_refusals() {
        let gone = r#"{"error":{"code":"gone","message":"This join token cannot be used."}}"#;
        let (url, _) = serve(vec![
            answer("410 Gone", gone),
            answer(
                "422 Unprocessable Entity",
                r#"{"error":{"code":"invalid","message":"Bad name."}}"#,
            ),
            answer(
                "401 Unauthorized",
                r#"{"error":{"code":"unauthorized","message":"Who?"}}"#,
            ),
            answer("503 Service Unavailable", ""),
        ])
        .await;
        let client = Client::new(url).unwrap();
        let err = client.join(&join_request()).await.unwrap_err();
        assert!(matches!(err, ClientError::TokenNotValid { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("no longer valid"), "{text}");
        assert!(text.contains("This join token cannot be used."), "{text}");
        assert!(!text.contains("join-token-1"), "{text}");

        let err = client.join(&join_request()).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.to_string().contains("Bad name. (invalid)"), "{err}");

        let node = client.with_credential(Secret::new("cred-1"));
        let heartbeat = Heartbeat {
            version: "0.1.0".to_owned(),
            observed_generation: None,
            services: vec![],
            dkim_keys: vec![],
            usage: vec![],
            dns: None,
            certificates: None,
        };
        let err = node.heartbeat(&heartbeat).await.unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
        assert!(err.to_string().contains("join again"), "{err}");
        assert!(!err.to_string().contains("cred-1"), "{err}");
        let err = node.heartbeat(&heartbeat).await.unwrap_err();
        assert_eq!(err.status(), Some(503));
    }

    #[tokio::test]
    async fn a_control_plane_that_is_away_is_unreachable() {
        // A port that was free a moment ago: nothing listens there.
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let node = Client::new(url).unwrap().with_credential(Secret::new("c"));
        let heartbeat = Heartbeat {
            version: "0.1.0".to_owned(),
            observed_generation: None,
            services: vec![],
            dkim_keys: vec![],
            usage: vec![],
            dns: None,
            certificates: None,
        };
        let err = node.heartbeat(&heartbeat).await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert_eq!(err.status(), None);
    }
}
