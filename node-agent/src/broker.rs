//! The auth broker: the one place on a node that decides whether a login is good. Dovecot's Lua
//! passdb asks it for IMAP logins and for Postfix's SASL (submission); later Prosody and nginx.
//!
//! It answers from the last *applied* desired state, which holds only argon2id verifiers: the
//! account password of each mailbox and the member's app passwords, each scoped to one protocol.
//! It keeps answering while the control plane is away. It listens on loopback only, takes the
//! password in a POST body, and never logs a password.
//!
//! - `POST /v1/passdb/verify` `{"user", "password", "service"}` → 200 `{"user": <address>}`, or
//!   403 for wrong credentials (unknown user, wrong password, suspended member, app password of
//!   another scope). Anything else is a temporary failure to Dovecot.
//! - `POST /v1/passdb/lookup` `{"user"}` → 200 `{"user": <address>}` or 404.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use protocol::desired::DesiredState;
use protocol::scope::AppScope;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

/// Verifications at once: argon2id is made to be expensive, and a flood of logins must not take
/// every core from the mail daemons.
const PARALLEL_VERIFICATIONS: usize = 4;
/// A login name or password longer than this is refused without hashing.
const MAX_INPUT: usize = 1024;

/// Who may log in, built from one desired state.
#[derive(Default)]
pub struct Credentials {
    /// By lowercase address.
    logins: HashMap<String, Login>,
    members: Vec<Member>,
}

struct Login {
    address: String,
    password_hash: String,
    member: usize,
}

struct Member {
    active: bool,
    app_passwords: Vec<(AppScope, String)>,
}

/// The answer to one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Good: the canonical address.
    Accept(String),
    Refuse,
}

impl Credentials {
    pub fn from_desired(desired: &DesiredState) -> Credentials {
        let mut credentials = Credentials::default();
        for tenant in &desired.tenants {
            let member = credentials.members.len();
            credentials.members.push(Member {
                active: tenant.active,
                app_passwords: tenant
                    .app_passwords
                    .iter()
                    .map(|p| (p.scope, p.password_hash.clone()))
                    .collect(),
            });
            for domain in &tenant.domains {
                for mailbox in &domain.mailboxes {
                    let address =
                        format!("{}@{}", mailbox.local_part.as_str(), domain.name.as_str());
                    credentials.logins.insert(
                        address.to_ascii_lowercase(),
                        Login {
                            address,
                            password_hash: mailbox.password_hash.clone(),
                            member,
                        },
                    );
                }
            }
        }
        credentials
    }

    /// The canonical address of an active mailbox called `user`.
    pub fn lookup(&self, user: &str) -> Option<&str> {
        let login = self.logins.get(&user.to_ascii_lowercase())?;
        self.members[login.member]
            .active
            .then_some(login.address.as_str())
    }

    /// Checks `password` for `user` logging in to `service` (Dovecot's service name: `imap`,
    /// `smtp` for submission, …): the mailbox's own password, or one of the member's app
    /// passwords made for that protocol. Blocking (argon2id).
    pub fn verify(&self, user: &str, password: &str, service: &str) -> Verdict {
        if user.len() > MAX_INPUT || password.len() > MAX_INPUT {
            return Verdict::Refuse;
        }
        let Some(login) = self.logins.get(&user.to_ascii_lowercase()) else {
            // Spend the time a known user costs, so answers do not tell who exists.
            matches(dummy_hash(), password);
            return Verdict::Refuse;
        };
        let member = &self.members[login.member];
        if !member.active {
            return Verdict::Refuse;
        }
        if matches(&login.password_hash, password) {
            return Verdict::Accept(login.address.clone());
        }
        let Some(scope) = scope_of(service) else {
            return Verdict::Refuse;
        };
        let app = member
            .app_passwords
            .iter()
            .filter(|(s, _)| *s == scope)
            .any(|(_, hash)| matches(hash, password));
        if app {
            Verdict::Accept(login.address.clone())
        } else {
            Verdict::Refuse
        }
    }
}

/// The app-password scope a Dovecot service name stands for.
fn scope_of(service: &str) -> Option<AppScope> {
    match service {
        "imap" => Some(AppScope::Imap),
        // Postfix asks through Dovecot's auth service with service "smtp".
        "smtp" | "submission" => Some(AppScope::Smtp),
        "xmpp" => Some(AppScope::Xmpp),
        "dav" => Some(AppScope::Dav),
        _ => None,
    }
}

/// A verifier of a random password with the default parameters, made once.
fn dummy_hash() -> &'static str {
    use argon2::password_hash::{PasswordHasher, SaltString};
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let password: [u8; 16] = rand::random();
        Argon2::default()
            .hash_password(&password, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn matches(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(err) => {
            tracing::error!(error = %err, "a verifier in the desired state is not a PHC string");
            false
        }
    }
}

#[derive(Clone)]
struct BrokerState {
    credentials: watch::Receiver<Arc<Credentials>>,
    permits: Arc<Semaphore>,
}

#[derive(Deserialize)]
struct VerifyRequest {
    user: String,
    password: String,
    #[serde(default)]
    service: String,
}

#[derive(Deserialize)]
struct LookupRequest {
    user: String,
}

#[derive(Serialize)]
struct UserAnswer {
    user: String,
}

/// The broker's routes, answering from whatever `credentials` holds at each request.
pub fn router(credentials: watch::Receiver<Arc<Credentials>>) -> Router {
    Router::new()
        .route("/v1/passdb/verify", post(verify))
        .route("/v1/passdb/lookup", post(lookup))
        .with_state(BrokerState {
            credentials,
            permits: Arc::new(Semaphore::new(PARALLEL_VERIFICATIONS)),
        })
}

#[tracing::instrument(skip_all)]
async fn verify(State(state): State<BrokerState>, Json(request): Json<VerifyRequest>) -> Response {
    let Ok(_permit) = state.permits.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let credentials = state.credentials.borrow().clone();
    let service = request.service.clone();
    let user = request.user.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        credentials.verify(&request.user, &request.password, &request.service)
    })
    .await;
    match verdict {
        Ok(Verdict::Accept(address)) => {
            tracing::debug!(user = address, service, "login accepted");
            (StatusCode::OK, Json(UserAnswer { user: address })).into_response()
        }
        Ok(Verdict::Refuse) => {
            // The login name is what the client typed: quoted, never the password.
            tracing::info!(user = ?user, service, "login refused");
            StatusCode::FORBIDDEN.into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "verification task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn lookup(State(state): State<BrokerState>, Json(request): Json<LookupRequest>) -> Response {
    let credentials = state.credentials.borrow().clone();
    match credentials.lookup(&request.user) {
        Some(address) => (
            StatusCode::OK,
            Json(UserAnswer {
                user: address.to_owned(),
            }),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};
    use protocol::desired::{AppPassword, Domain, Mailbox, Tenant};
    use protocol::names::{DomainName, LocalPart, ObjectId};

    fn hash(password: &str) -> String {
        // Small parameters: these tests check the logic, not the cost.
        let params = argon2::Params::new(1024, 1, 1, None).unwrap();
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(
                password.as_bytes(),
                &SaltString::generate(&mut rand::rngs::OsRng),
            )
            .unwrap()
            .to_string()
    }

    fn tenant(
        active: bool,
        domain: &str,
        local: &str,
        password: &str,
        apps: &[(AppScope, &str)],
    ) -> Tenant {
        Tenant {
            member_id: format!("m-{local}"),
            active,
            domains: vec![Domain {
                id: Some(ObjectId::parse("d1").unwrap()),
                name: DomainName::parse(domain).unwrap(),
                verified: true,
                mailboxes: vec![Mailbox {
                    id: Some(ObjectId::parse(&format!("mb-{local}")).unwrap()),
                    local_part: LocalPart::parse(local).unwrap(),
                    password_hash: hash(password),
                    quota_bytes: 1 << 20,
                }],
                aliases: vec![],
                xmpp_accounts: vec![],
            }],
            app_passwords: apps
                .iter()
                .enumerate()
                .map(|(i, (scope, p))| AppPassword {
                    id: format!("a{i}"),
                    scope: *scope,
                    password_hash: hash(p),
                })
                .collect(),
            contact: None,
        }
    }

    fn credentials() -> Credentials {
        Credentials::from_desired(&DesiredState {
            dns: None,
            schema: 1,
            generation: 1,
            node_id: "n".into(),
            tenants: vec![
                tenant(
                    true,
                    "example.org",
                    "alice",
                    "alice-pw",
                    &[(AppScope::Imap, "phone-imap")],
                ),
                tenant(false, "suspended.test", "sam", "sam-pw", &[]),
            ],
        })
    }

    #[test]
    fn accepts_the_mailbox_password_whatever_the_case_of_the_name() {
        let c = credentials();
        let ok = Verdict::Accept("alice@example.org".into());
        assert_eq!(c.verify("alice@example.org", "alice-pw", "imap"), ok);
        assert_eq!(c.verify("Alice@Example.org", "alice-pw", "smtp"), ok);
        assert_eq!(
            c.verify("alice@example.org", "wrong", "imap"),
            Verdict::Refuse
        );
        assert_eq!(
            c.verify("bob@example.org", "alice-pw", "imap"),
            Verdict::Refuse
        );
        assert_eq!(c.lookup("ALICE@example.org"), Some("alice@example.org"));
    }

    #[test]
    fn an_app_password_works_only_for_its_protocol() {
        let c = credentials();
        assert_eq!(
            c.verify("alice@example.org", "phone-imap", "imap"),
            Verdict::Accept("alice@example.org".into())
        );
        assert_eq!(
            c.verify("alice@example.org", "phone-imap", "smtp"),
            Verdict::Refuse
        );
        assert_eq!(
            c.verify("alice@example.org", "phone-imap", "doveadm"),
            Verdict::Refuse
        );
    }

    #[test]
    fn a_suspended_member_cannot_log_in() {
        let c = credentials();
        assert_eq!(
            c.verify("sam@suspended.test", "sam-pw", "imap"),
            Verdict::Refuse
        );
        assert_eq!(c.lookup("sam@suspended.test"), None);
    }

    #[tokio::test]
    async fn serves_over_http_from_the_latest_credentials() {
        let (sender, receiver) = watch::channel(Arc::new(Credentials::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(receiver)).await });
        let http = reqwest::Client::new();
        let verify = |password: &'static str| {
            http.post(format!("http://{address}/v1/passdb/verify"))
                .json(&serde_json::json!({"user": "alice@example.org", "password": password, "service": "imap"}))
                .send()
        };
        assert_eq!(verify("alice-pw").await.unwrap().status(), 403);
        sender.send(Arc::new(credentials())).unwrap();
        let answer = verify("alice-pw").await.unwrap();
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["user"], "alice@example.org");
        assert_eq!(verify("nope").await.unwrap().status(), 403);
        let lookup = http
            .post(format!("http://{address}/v1/passdb/lookup"))
            .json(&serde_json::json!({"user": "nobody@example.org"}))
            .send()
            .await
            .unwrap();
        assert_eq!(lookup.status(), 404);
    }
}
