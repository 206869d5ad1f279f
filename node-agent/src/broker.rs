//! The auth broker: the one place on a node that decides whether a login is good. Dovecot's Lua
//! passdb asks it for IMAP logins and for Postfix's SASL (submission); later Prosody and nginx.
//!
//! It answers from the last *applied* desired state, which holds only verifiers: the argon2id
//! hash of each mailbox's password, and the member's app passwords (SHA-256 verifiers), each
//! scoped to one protocol and maybe bound to one mailbox. It keeps answering while the control
//! plane is away. It listens on loopback only, takes the password in a POST body, and never logs
//! a password.
//!
//! What one login may cost is bounded, whoever asks: an app password names itself
//! (`protocol::app_password`), so at most one app-password verifier (a fast hash) is checked,
//! found by its id, plus at most one argon2id check (the mailbox's password, or a dummy one for
//! an unknown name, so answers do not tell who exists); a member holds at most 50 app passwords
//! (the control plane's `db::app_passwords::MAX_ACTIVE`). Failures are limited per login name
//! and per remote address (`limits`; Dovecot passes `remote_ip`: the IMAP client's, or for
//! SMTP AUTH the Postfix client's): past the limit the broker refuses at once, before waiting
//! for a permit or hashing anything, so a flood costs a handful of checks and other members'
//! logins never wait behind it.
//!
//! A mailbox, or an app password, is usable the moment the apply that brings it completes, and
//! a client that tries a little earlier is not refused for it: while the agent holds a newer
//! desired state than the one the broker answers from (it is being applied), a refusal and an
//! unknown user wait for it, at most `CATCH_UP` (2 s), without holding a verification permit, and
//! only during the first `CATCH_UP` after the broker saw itself behind (an apply that takes
//! longer has failed). An unknown name waits *before* its dummy check: that check would be
//! spent for nothing, and its 19 MiB would be held while the apply holds its own (the agent's
//! peak). So a client that logs in the moment the API answered is not refused (and handed
//! Dovecot's failure delay), and mail Postfix accepted for a new mailbox during the apply is not
//! bounced by the userdb either.
//!
//! - `POST /v1/passdb/verify` `{"user", "password", "service", "remote_ip"}` → 200
//!   `{"user": <address>}`, or 403 for wrong credentials (unknown user, wrong password,
//!   suspended member, app password of another scope or another mailbox, too many failures).
//!   Anything else is a temporary failure to Dovecot.
//! - `POST /v1/passdb/lookup` `{"user"}` → 200 `{"user": <address>}` or 404.
//! - `POST /v1/userdb/lookup` `{"user"}` → 200 `{"user": <address>, "mailbox": <store id>,
//!   "quota_rule": "*:storage=<bytes>B"}`, or 404 for a name that is not an active mailbox with a
//!   store. Dovecot's Lua userdb asks this for every IMAP login and LMTP delivery, so a mailbox
//!   is served the moment the broker has it, without waiting for Dovecot to re-read a file.

mod limits;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use protocol::app_password::{AppPasswordText, PublicId, Verifier};
use protocol::desired::{Delta, DesiredState, Tenant};
use protocol::names::ObjectId;
use protocol::scope::AppScope;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

use limits::{Blocked, FailureLimits};
pub use limits::{Policies, Policy};

/// Verifications at once: argon2id is made to be expensive, and a flood of logins must not take
/// every core from the mail daemons.
const PARALLEL_VERIFICATIONS: usize = 4;
/// A login name or password longer than this is refused without hashing.
const MAX_INPUT: usize = 1024;
/// How long a refusal waits for a desired state being applied (a mailbox created a moment ago).
/// Below the Lua client's 5-second timeout; an apply of a change takes milliseconds, a
/// whole-node one about a second.
const CATCH_UP: Duration = Duration::from_secs(2);

/// Who may log in, built from one desired state: each member's logins apart, so the next state
/// rebuilds only the members it changed ([`Credentials::next`]).
#[derive(Default)]
pub struct Credentials {
    /// The generation of the desired state they come from.
    generation: Option<u64>,
    /// Each member's, by member id.
    members: HashMap<String, Arc<Member>>,
    /// The member holding each (lowercase) domain: where a login name's domain sends the lookup.
    domains: HashMap<String, Arc<Member>>,
}

/// One member's logins and app passwords.
struct Member {
    active: bool,
    /// By (lowercase, canonical) address.
    logins: HashMap<String, Login>,
    /// Every app password of the member that names itself, by its public id.
    app_passwords: HashMap<PublicId, App>,
}

/// Its canonical address is its key in [`Member::logins`]: a local part and a domain name are
/// lowercase by type, so the address a login is known by is the one mail goes to.
struct Login {
    /// Shared with the desired document.
    password_hash: std::sync::Arc<str>,
    /// The mailbox's store (its home is named after it); `None`: not served on this node.
    store: Option<ObjectId>,
    quota_bytes: u64,
}

/// What Dovecot needs to open a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserdbEntry {
    /// The canonical address.
    pub user: String,
    /// The store's id: Dovecot's Lua userdb makes the home from it.
    pub mailbox: ObjectId,
    /// Dovecot's `quota_rule`, in bytes. Dovecot reads a zero limit as "no limit": the control
    /// plane never sends one, but a mailbox must not become unlimited by accident.
    pub quota_rule: String,
}

struct App {
    scope: AppScope,
    /// Lowercase address of the one mailbox it opens; `None`: any of the member's.
    mailbox: Option<String>,
    verifier: Verifier,
}

/// The answer to one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Good: the canonical address.
    Accept(String),
    Refuse,
}

/// The verifiers one login checked (what it cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// argon2id checks (a mailbox's password, or the dummy one).
    pub argon2: u32,
    /// App-password verifiers (SHA-256).
    pub app_passwords: u32,
}

impl Credentials {
    pub fn from_desired(desired: &DesiredState) -> Credentials {
        Credentials::default().next(None, desired)
    }

    /// The credentials of `desired`, given that these are those of the document `delta` leads
    /// from (`None`: build every member's): a member the delta does not name keeps its logins
    /// as they are (shared, not copied).
    pub fn next(&self, delta: Option<&Delta>, desired: &DesiredState) -> Credentials {
        let named = delta.map(Delta::members);
        let mut credentials = Credentials {
            generation: Some(desired.generation),
            ..Credentials::default()
        };
        for tenant in &desired.tenants {
            let id = tenant.member_id.as_str();
            let unchanged = named.as_ref().is_some_and(|named| !named.contains(id));
            let kept = self.members.get(id).filter(|_| unchanged);
            let member = match kept {
                Some(member) => Arc::clone(member),
                None => Arc::new(Member::from_tenant(tenant)),
            };
            for domain in &tenant.domains {
                credentials.domains.insert(
                    domain.name.as_str().to_ascii_lowercase(),
                    Arc::clone(&member),
                );
            }
            credentials.members.insert(tenant.member_id.clone(), member);
        }
        credentials
    }

    /// The member holding the lowercase address `key`, the login's canonical address, and the
    /// login.
    fn login(&self, key: &str) -> Option<(&Member, &str, &Login)> {
        let (_, domain) = key.rsplit_once('@')?;
        let member = self.domains.get(domain)?;
        let (address, login) = member.logins.get_key_value(key)?;
        Some((member, address.as_str(), login))
    }

    /// The canonical address of an active mailbox called `user`.
    pub fn lookup(&self, user: &str) -> Option<&str> {
        let (member, address, _) = self.login(&user.to_ascii_lowercase())?;
        member.active.then_some(address)
    }

    /// Where an active, served mailbox called `user` lives, and its quota.
    pub fn userdb(&self, user: &str) -> Option<UserdbEntry> {
        let (member, address, login) = self.login(&user.to_ascii_lowercase())?;
        if !member.active {
            return None;
        }
        Some(UserdbEntry {
            user: address.to_owned(),
            mailbox: login.store.clone()?,
            quota_rule: format!("*:storage={}B", login.quota_bytes.max(1)),
        })
    }

    /// Checks `password` for `user` logging in to `service` (Dovecot's service name: `imap`,
    /// `smtp` for submission, …): one of the member's app passwords made for that protocol (and
    /// that mailbox, if bound to one), found by the id in its text, or the mailbox's own
    /// password. Blocking (argon2id).
    pub fn verify(&self, user: &str, password: &str, service: &str) -> Verdict {
        self.verify_counted(user, password, service).0
    }

    /// [`Credentials::verify`], with what it checked: never more than one app-password verifier
    /// and one argon2id hash.
    pub fn verify_counted(&self, user: &str, password: &str, service: &str) -> (Verdict, Checks) {
        let mut checks = Checks::default();
        if user.len() > MAX_INPUT || password.len() > MAX_INPUT {
            return (Verdict::Refuse, checks);
        }
        let key = user.to_ascii_lowercase();
        let Some((member, address, login)) = self.login(&key) else {
            // Spend the time a known user costs, so answers do not tell who exists.
            checks.argon2 += 1;
            matches(dummy_hash(), password);
            return (Verdict::Refuse, checks);
        };
        if !member.active {
            return (Verdict::Refuse, checks);
        }
        if let (Some(text), Some(scope)) = (AppPasswordText::parse(password), scope_of(service)) {
            // Only the login's own member's app passwords.
            let candidate = member
                .app_passwords
                .get(text.id())
                .filter(|app| app.scope == scope && app.mailbox.as_ref().is_none_or(|m| *m == key));
            if let Some(app) = candidate {
                checks.app_passwords += 1;
                if app.verifier.matches(&text) {
                    return (Verdict::Accept(address.to_owned()), checks);
                }
            }
        }
        checks.argon2 += 1;
        if matches(&login.password_hash, password) {
            return (Verdict::Accept(address.to_owned()), checks);
        }
        (Verdict::Refuse, checks)
    }
}

impl Member {
    fn from_tenant(tenant: &Tenant) -> Member {
        let mut member = Member {
            active: tenant.active,
            logins: HashMap::new(),
            app_passwords: HashMap::new(),
        };
        for p in &tenant.app_passwords {
            // The old kind (argon2id, no id in its text) is not checked any more: it would
            // cost one argon2id check per app password at every failed login.
            let Some(id) = &p.public_id else {
                continue;
            };
            let Ok(verifier) = Verifier::parse(&p.password_hash) else {
                tracing::error!(app_password = %p.id, "an app password's verifier is not sha256:<hex>");
                continue;
            };
            member.app_passwords.insert(
                id.clone(),
                App {
                    scope: p.scope,
                    mailbox: p.mailbox.as_ref().map(|m| m.as_str().to_ascii_lowercase()),
                    verifier,
                },
            );
        }
        for domain in &tenant.domains {
            for mailbox in &domain.mailboxes {
                let mut address =
                    format!("{}@{}", mailbox.local_part.as_str(), domain.name.as_str());
                // Already lowercase (see `Login`); kept so a lookup can never miss.
                address.make_ascii_lowercase();
                member.logins.insert(
                    address,
                    Login {
                        password_hash: mailbox.password_hash.clone(),
                        store: mailbox.id.clone(),
                        quota_bytes: mailbox.quota_bytes,
                    },
                );
            }
        }
        member
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

/// The broker's clock (a parameter, so tests can move time).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Clone)]
struct BrokerState {
    credentials: watch::Receiver<Arc<Credentials>>,
    /// The newest desired state the agent holds (applied or not).
    latest: watch::Receiver<Option<Arc<DesiredState>>>,
    /// The generation of `latest` the broker last found itself behind, and since when.
    behind_since: Arc<Mutex<Option<(u64, Instant)>>>,
    permits: Arc<Semaphore>,
    limits: Arc<Mutex<FailureLimits>>,
    clock: Clock,
}

impl BrokerState {
    fn limits(&self) -> std::sync::MutexGuard<'_, FailureLimits> {
        // The tables stay consistent whatever panicked while holding them.
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `credentials` are older than a desired state the agent holds and an apply of it
    /// may still be under way: for [`CATCH_UP`] after the broker first saw it behind. An apply
    /// that takes longer has failed (a refused check), and refusals stop waiting for it, so a
    /// flood of bad logins cannot hold Dovecot's auth workers for as long as it lasts.
    fn behind(&self, credentials: &Credentials) -> bool {
        let latest = self.latest.borrow().as_ref().map(|d| d.generation);
        let behind = match (latest, credentials.generation) {
            (Some(latest), Some(have)) => have < latest,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let (Some(latest), true) = (latest, behind) else {
            return false;
        };
        let now = (self.clock)();
        let mut since = self.behind_since.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, seen) = *since.get_or_insert((latest, now));
        if generation != latest {
            *since = Some((latest, now));
            return true;
        }
        now.duration_since(seen) < CATCH_UP
    }

    /// Waits until the credentials change, or `deadline`; whether they did.
    async fn changed_before(
        credentials: &mut watch::Receiver<Arc<Credentials>>,
        deadline: tokio::time::Instant,
    ) -> bool {
        matches!(
            tokio::time::timeout_at(deadline, credentials.changed()).await,
            Ok(Ok(()))
        )
    }
}

#[derive(Deserialize)]
struct VerifyRequest {
    user: String,
    password: String,
    #[serde(default)]
    service: String,
    /// The client's address as Dovecot saw it (for SMTP AUTH, Postfix's client); may be absent.
    #[serde(default)]
    remote_ip: String,
}

#[derive(Deserialize)]
struct LookupRequest {
    user: String,
}

#[derive(Serialize)]
struct UserAnswer {
    user: String,
}

/// The broker's routes, answering from whatever `credentials` holds at each request; `latest` is
/// the newest desired state the agent holds, which refusals wait for while it is applied.
pub fn router(
    credentials: watch::Receiver<Arc<Credentials>>,
    latest: watch::Receiver<Option<Arc<DesiredState>>>,
) -> Router {
    router_with(
        credentials,
        latest,
        Policies::default(),
        Arc::new(Instant::now),
    )
}

/// [`router`] with its failure limits and clock given.
pub fn router_with(
    credentials: watch::Receiver<Arc<Credentials>>,
    latest: watch::Receiver<Option<Arc<DesiredState>>>,
    policies: Policies,
    clock: Clock,
) -> Router {
    Router::new()
        .route("/v1/passdb/verify", post(verify))
        .route("/v1/passdb/lookup", post(lookup))
        .route("/v1/userdb/lookup", post(userdb))
        .with_state(BrokerState {
            credentials,
            latest,
            permits: Arc::new(Semaphore::new(PARALLEL_VERIFICATIONS)),
            limits: Arc::new(Mutex::new(FailureLimits::new(policies))),
            behind_since: Arc::new(Mutex::new(None)),
            clock,
        })
}

/// A refusal without a check, logged with what it was.
fn too_many(user: &str, service: &str, blocked: Blocked) -> Response {
    tracing::info!(user = ?user, service, ?blocked, "login refused: too many failures");
    StatusCode::FORBIDDEN.into_response()
}

#[tracing::instrument(skip_all)]
async fn verify(State(state): State<BrokerState>, Json(request): Json<VerifyRequest>) -> Response {
    if request.user.len() > MAX_INPUT || request.password.len() > MAX_INPUT {
        return StatusCode::FORBIDDEN.into_response();
    }
    let address = request.remote_ip.parse::<IpAddr>().ok();
    let service = request.service.clone();
    let user = request.user.clone();
    let request = Arc::new(request);
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    let mut credentials = state.credentials.clone();
    let verdict = loop {
        // Refused before queueing for a permit: a flood waits for nothing and delays no one.
        let blocked = state.limits().blocked(&user, address, (state.clock)());
        if let Some(blocked) = blocked {
            return too_many(&user, &service, blocked);
        }
        // A name these credentials do not admit, while a newer state is being applied: wait
        // for it before hashing. The refusal's dummy check would be spent for nothing (the login
        // is checked again once the state lands), and it would hold its 19 MiB while the apply
        // holds its own.
        let current = credentials.borrow_and_update().clone();
        if current.lookup(&user).is_none()
            && state.behind(&current)
            && BrokerState::changed_before(&mut credentials, deadline).await
        {
            continue;
        }
        let Ok(permit) = state.permits.acquire().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        // The limit may have been reached while this request waited.
        let blocked = state.limits().blocked(&user, address, (state.clock)());
        if let Some(blocked) = blocked {
            return too_many(&user, &service, blocked);
        }
        let current = credentials.borrow_and_update().clone();
        let checked = current.clone();
        let asked = request.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            checked.verify(&asked.user, &asked.password, &asked.service)
        })
        .await;
        drop(permit);
        let retry = matches!(verdict, Ok(Verdict::Refuse))
            && state.behind(&current)
            && BrokerState::changed_before(&mut credentials, deadline).await;
        if !retry {
            break verdict;
        }
    };
    match verdict {
        Ok(Verdict::Accept(canonical)) => {
            state.limits().success(&user);
            tracing::debug!(user = canonical, service, "login accepted");
            (StatusCode::OK, Json(UserAnswer { user: canonical })).into_response()
        }
        Ok(Verdict::Refuse) => {
            state.limits().failure(&user, address, (state.clock)());
            // The login name is what the client typed: quoted, never the password.
            tracing::info!(user = ?user, service, remote = ?address, "login refused");
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

/// An unknown user waits for an apply under way: Postfix may have accepted mail for a mailbox
/// its table already has, and an authoritative "unknown" here would bounce it.
async fn userdb(State(state): State<BrokerState>, Json(request): Json<LookupRequest>) -> Response {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    let mut credentials = state.credentials.clone();
    loop {
        let current = credentials.borrow_and_update().clone();
        if let Some(entry) = current.userdb(&request.user) {
            return (StatusCode::OK, Json(entry)).into_response();
        }
        if !(state.behind(&current)
            && BrokerState::changed_before(&mut credentials, deadline).await)
        {
            return StatusCode::NOT_FOUND.into_response();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};
    use protocol::app_password::{ID_LEN, SECRET_LEN};
    use protocol::desired::{AppPassword, Domain, Mailbox, Tenant};
    use protocol::names::{DomainName, EmailAddress, LocalPart, ObjectId};
    use std::time::Duration;

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

    /// A self-naming app password; `seed` makes each one different.
    fn text(seed: u8) -> AppPasswordText {
        // Distinct seeds give distinct ids (the first two characters spell the seed).
        let id: [u8; ID_LEN] = std::array::from_fn(|i| match i {
            0 => seed % 32,
            1 => seed / 32,
            _ => i as u8,
        });
        let secret: [u8; SECRET_LEN] =
            std::array::from_fn(|i| seed.wrapping_mul(13).wrapping_add(3 * i as u8));
        AppPasswordText::from_indices(id, secret)
    }

    /// An app password for the desired state: `(scope, text, bound mailbox)`.
    fn app(scope: AppScope, text: &AppPasswordText, mailbox: Option<&str>) -> AppPassword {
        AppPassword {
            id: format!("uuid-{}", text.id()),
            scope,
            password_hash: text.verifier().to_text(),
            public_id: Some(text.id().clone()),
            mailbox: mailbox.map(|m| EmailAddress::parse(m).unwrap()),
        }
    }

    fn tenant(
        active: bool,
        domain: &str,
        mailboxes: &[(&str, &str)],
        app_passwords: Vec<AppPassword>,
    ) -> Tenant {
        Tenant {
            member_id: format!("m-{domain}"),
            active,
            domains: vec![Domain {
                id: Some(ObjectId::parse("d1").unwrap()),
                name: DomainName::parse(domain).unwrap(),
                verified: true,
                mailboxes: mailboxes
                    .iter()
                    .map(|(local, password)| Mailbox {
                        id: Some(ObjectId::parse(&format!("mb-{local}")).unwrap()),
                        local_part: LocalPart::parse(local).unwrap(),
                        password_hash: hash(password).into(),
                        quota_bytes: 1 << 20,
                        public: false,
                    })
                    .collect(),
                aliases: vec![],
                xmpp_accounts: vec![],
            }],
            app_passwords,
            contact: None,
        }
    }

    fn desired(tenants: Vec<Tenant>) -> DesiredState {
        DesiredState {
            dns: None,
            schema: 1,
            generation: 1,
            node_id: "n".into(),
            tenants: tenants.into_iter().map(Arc::new).collect(),
        }
    }

    /// The next state's credentials, built from the last ones, answer as if built afresh; a
    /// member that did not change keeps its logins as they were, shared.
    #[test]
    fn the_next_credentials_rebuild_only_the_members_that_changed() {
        let imap = text(1);
        let kept = tenant(true, "kept.example", &[("kim", "kim-password")], vec![]);
        let changed = tenant(
            true,
            "changed.example",
            &[("carl", "carl-password")],
            vec![app(AppScope::Imap, &imap, None)],
        );
        let before = desired(vec![kept.clone(), changed.clone()]);
        let first = Credentials::from_desired(&before);
        let mut after_changed = tenant(
            true,
            "changed.example",
            &[("dana", "dana-password")],
            vec![],
        );
        after_changed.member_id = changed.member_id.clone();
        let gone = tenant(true, "gone.example", &[("gil", "gil-password")], vec![]);
        let mut after = desired(vec![kept.clone(), after_changed]);
        after.generation += 1;
        let next = first.next(Some(&before.delta_to(&after)), &after);
        let imap_text = imap.expose();
        // Before: carl's app password opens carl's mailbox.
        assert_eq!(
            first.verify("carl@changed.example", &imap_text, "imap"),
            Verdict::Accept("carl@changed.example".to_owned())
        );
        let member = |c: &Credentials, id: &str| Arc::clone(&c.members[id]);
        assert!(Arc::ptr_eq(
            &member(&first, &kept.member_id),
            &member(&next, &kept.member_id)
        ));
        for (user, password, verdict) in [
            ("kim@kept.example", "kim-password", true),
            ("dana@changed.example", "dana-password", true),
            ("carl@changed.example", "carl-password", false),
            ("carl@changed.example", imap_text.as_str(), false),
        ] {
            let expected = if verdict {
                Verdict::Accept(user.to_owned())
            } else {
                Verdict::Refuse
            };
            assert_eq!(next.verify(user, password, "imap"), expected, "{user}");
            let fresh = Credentials::from_desired(&after);
            assert_eq!(fresh.verify(user, password, "imap"), expected, "{user}");
        }
        // A member that left takes its domain with it.
        let with_gone = desired(vec![kept.clone(), gone]);
        let third = next.next(Some(&after.delta_to(&with_gone)), &with_gone);
        assert!(third.lookup("gil@gone.example").is_some());
        let last = desired(vec![kept]);
        let fourth = third.next(Some(&with_gone.delta_to(&last)), &last);
        assert!(fourth.lookup("gil@gone.example").is_none());
        assert!(fourth.lookup("KIM@Kept.Example").is_some());
    }

    fn credentials() -> Credentials {
        Credentials::from_desired(&desired(vec![
            tenant(
                true,
                "example.org",
                &[("alice", "alice-pw"), ("shop", "shop-pw")],
                vec![
                    app(AppScope::Imap, &text(1), None),
                    app(AppScope::Imap, &text(2), Some("shop@example.org")),
                    app(AppScope::Smtp, &text(3), Some("alice@example.org")),
                ],
            ),
            tenant(
                true,
                "other.test",
                &[("olga", "olga-pw")],
                vec![app(AppScope::Imap, &text(4), None)],
            ),
            tenant(false, "suspended.test", &[("sam", "sam-pw")], vec![]),
        ]))
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
        let phone = text(1).expose();
        assert_eq!(
            c.verify("alice@example.org", &phone, "imap"),
            Verdict::Accept("alice@example.org".into())
        );
        // Typed in capitals by a phone keyboard: still the same.
        assert_eq!(
            c.verify("alice@example.org", &phone.to_uppercase(), "imap"),
            Verdict::Accept("alice@example.org".into())
        );
        assert_eq!(
            c.verify("alice@example.org", &phone, "smtp"),
            Verdict::Refuse
        );
        assert_eq!(
            c.verify("alice@example.org", &phone, "doveadm"),
            Verdict::Refuse
        );
    }

    #[test]
    fn boundary_a_bound_app_password_opens_only_its_mailbox() {
        let c = credentials();
        let shop = text(2).expose();
        assert_eq!(
            c.verify("shop@example.org", &shop, "imap"),
            Verdict::Accept("shop@example.org".into())
        );
        // Another mailbox of the same member: refused.
        assert_eq!(
            c.verify("alice@example.org", &shop, "imap"),
            Verdict::Refuse
        );
        let alice_smtp = text(3).expose();
        assert_eq!(
            c.verify("alice@example.org", &alice_smtp, "smtp"),
            Verdict::Accept("alice@example.org".into())
        );
        assert_eq!(
            c.verify("shop@example.org", &alice_smtp, "smtp"),
            Verdict::Refuse
        );
        // An unbound one opens every mailbox of its member.
        assert_eq!(
            c.verify("shop@example.org", &text(1).expose(), "imap"),
            Verdict::Accept("shop@example.org".into())
        );
    }

    #[test]
    fn boundary_another_members_app_password_opens_nothing() {
        let c = credentials();
        let olga = text(4).expose();
        assert_eq!(
            c.verify("olga@other.test", &olga, "imap"),
            Verdict::Accept("olga@other.test".into())
        );
        assert_eq!(
            c.verify("alice@example.org", &olga, "imap"),
            Verdict::Refuse
        );
        assert_eq!(
            c.verify("alice@example.org", &text(1).expose(), "imap"),
            Verdict::Accept("alice@example.org".into())
        );
        assert_eq!(
            c.verify("olga@other.test", &text(1).expose(), "imap"),
            Verdict::Refuse
        );
    }

    #[test]
    fn an_old_argon2_app_password_opens_nothing() {
        let mut old = app(AppScope::Imap, &text(9), None);
        old.public_id = None;
        old.password_hash = hash("old-app-password");
        let c = Credentials::from_desired(&desired(vec![tenant(
            true,
            "example.org",
            &[("alice", "alice-pw")],
            vec![old],
        )]));
        assert_eq!(
            c.verify("alice@example.org", "old-app-password", "imap"),
            Verdict::Refuse
        );
    }

    #[test]
    fn boundary_a_login_checks_at_most_one_app_password() {
        // A member at the cap of app passwords, every one for IMAP.
        let apps: Vec<AppPassword> = (0..50)
            .map(|i| app(AppScope::Imap, &text(10 + i), None))
            .collect();
        let c = Credentials::from_desired(&desired(vec![tenant(
            true,
            "example.org",
            &[("alice", "alice-pw")],
            apps,
        )]));
        let user = "alice@example.org";
        let one = |argon2, app_passwords| Checks {
            argon2,
            app_passwords,
        };
        // A plain wrong password: the mailbox's argon2id, no app password.
        assert_eq!(
            c.verify_counted(user, "wrong", "imap"),
            (Verdict::Refuse, one(1, 0))
        );
        // A wrong secret for a real id: that one verifier, then the mailbox's password.
        let mut guess = text(30).expose();
        guess.replace_range(guess.len() - 4.., "zzzz");
        assert_eq!(
            c.verify_counted(user, &guess, "imap"),
            (Verdict::Refuse, one(1, 1))
        );
        // An unknown id: no app-password verifier at all.
        assert_eq!(
            c.verify_counted(user, &text(200).expose(), "imap"),
            (Verdict::Refuse, one(1, 0))
        );
        // The right one: a single fast check.
        assert_eq!(
            c.verify_counted(user, &text(59).expose(), "imap"),
            (Verdict::Accept(user.into()), one(0, 1))
        );
        // An unknown user costs what a known one does.
        assert_eq!(
            c.verify_counted("nobody@example.org", "wrong", "imap"),
            (Verdict::Refuse, one(1, 0))
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
        // Nor receive: LMTP's userdb lookup finds no one (Postfix defers their mail before).
        assert_eq!(c.userdb("sam@suspended.test"), None);
    }

    #[test]
    fn the_userdb_names_the_store_by_id_and_the_quota_in_bytes() {
        let c = credentials();
        let entry = c.userdb("Alice@Example.org").unwrap();
        assert_eq!(entry.user, "alice@example.org");
        assert_eq!(entry.mailbox.as_str(), "mb-alice");
        assert_eq!(entry.quota_rule, "*:storage=1048576B");
        assert_eq!(c.userdb("nobody@example.org"), None);
        // A mailbox without a store (not served here) opens nothing.
        let mut state = desired(vec![tenant(
            true,
            "example.org",
            &[("alice", "pw")],
            vec![],
        )]);
        Arc::make_mut(&mut state.tenants[0]).domains[0].mailboxes[0].id = None;
        assert_eq!(
            Credentials::from_desired(&state).userdb("alice@example.org"),
            None
        );
        // Zero never means unlimited.
        let mailbox = &mut Arc::make_mut(&mut state.tenants[0]).domains[0].mailboxes[0];
        mailbox.id = Some(ObjectId::parse("m1").unwrap());
        mailbox.quota_bytes = 0;
        let entry = Credentials::from_desired(&state)
            .userdb("alice@example.org")
            .unwrap();
        assert_eq!(entry.quota_rule, "*:storage=1B");
    }

    #[tokio::test]
    async fn serves_over_http_from_the_latest_credentials() {
        let (sender, receiver) = watch::channel(Arc::new(Credentials::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_, nothing_newer) = watch::channel(None);
        tokio::spawn(async move { axum::serve(listener, router(receiver, nothing_newer)).await });
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
        let userdb = http
            .post(format!("http://{address}/v1/userdb/lookup"))
            .json(&serde_json::json!({"user": "alice@example.org"}))
            .send()
            .await
            .unwrap();
        assert_eq!(userdb.status(), 200);
        let body: serde_json::Value = userdb.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"user": "alice@example.org", "mailbox": "mb-alice", "quota_rule": "*:storage=1048576B"})
        );
    }

    /// A mailbox that arrives with the desired state being applied: its login and its userdb
    /// lookup wait for the apply instead of being refused, and a name no newer state brings is
    /// refused at once.
    #[tokio::test]
    async fn a_login_during_an_apply_waits_for_it() {
        let mut older = desired(vec![]);
        older.generation = 1;
        let (credentials_tx, credentials_rx) =
            watch::channel(Arc::new(Credentials::from_desired(&older)));
        let (latest_tx, latest_rx) = watch::channel(Some(Arc::new(older)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(credentials_rx, latest_rx)).await });
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("http://{address}{path}"))
                .json(&body)
                .send()
        };
        let login = serde_json::json!({"user": "alice@example.org", "password": "alice-pw", "service": "imap"});
        let user = serde_json::json!({"user": "alice@example.org"});

        // Nothing newer is held: refused without waiting for anything.
        assert_eq!(
            post("/v1/passdb/verify", login.clone())
                .await
                .unwrap()
                .status(),
            403
        );
        assert_eq!(
            post("/v1/userdb/lookup", user.clone())
                .await
                .unwrap()
                .status(),
            404
        );

        // Generation 2 (with alice) is held but not applied yet: both ask now, and are answered
        // once the apply hands the broker its credentials.
        let mut newer = desired(vec![tenant(
            true,
            "example.org",
            &[("alice", "alice-pw")],
            vec![],
        )]);
        newer.generation = 2;
        latest_tx.send_replace(Some(Arc::new(newer.clone())));
        let verify = tokio::spawn(post("/v1/passdb/verify", login.clone()));
        let userdb = tokio::spawn(post("/v1/userdb/lookup", user.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!verify.is_finished() && !userdb.is_finished());
        credentials_tx.send_replace(Arc::new(Credentials::from_desired(&newer)));
        assert_eq!(verify.await.unwrap().unwrap().status(), 200);
        assert_eq!(userdb.await.unwrap().unwrap().status(), 200);

        // Applied: a wrong password is refused at once again.
        let wrong =
            serde_json::json!({"user": "alice@example.org", "password": "nope", "service": "imap"});
        assert_eq!(
            post("/v1/passdb/verify", wrong).await.unwrap().status(),
            403
        );
    }

    /// An apply that does not land within the catch-up (a refused check) is not waited for
    /// again, until a newer desired state arrives.
    #[test]
    fn a_state_not_applied_within_the_catch_up_is_not_waited_for() {
        let applied = Credentials::from_desired(&desired(vec![]));
        let (_credentials_tx, credentials) = watch::channel(Arc::new(Credentials::default()));
        let newer = |generation| {
            let mut state = desired(vec![]);
            state.generation = generation;
            Some(Arc::new(state))
        };
        let (latest_tx, latest) = watch::channel(newer(2));
        let now = Arc::new(Mutex::new(Instant::now()));
        let hand = now.clone();
        let state = BrokerState {
            credentials,
            latest,
            behind_since: Arc::new(Mutex::new(None)),
            permits: Arc::new(Semaphore::new(1)),
            limits: Arc::new(Mutex::new(FailureLimits::new(Policies::default()))),
            clock: Arc::new(move || *hand.lock().unwrap()),
        };
        assert!(state.behind(&applied));
        *now.lock().unwrap() += CATCH_UP;
        assert!(!state.behind(&applied));
        latest_tx.send_replace(newer(3));
        assert!(state.behind(&applied));
    }

    /// A broker on an injected clock; returns its address and the clock's hand.
    async fn limited_broker() -> (std::net::SocketAddr, Arc<Mutex<Instant>>) {
        let (sender, receiver) = watch::channel(Arc::new(credentials()));
        let now = Arc::new(Mutex::new(Instant::now()));
        let hand = now.clone();
        let clock: Clock = Arc::new(move || *hand.lock().unwrap());
        let policies = Policies {
            user: Policy {
                max_failures: 3,
                window: Duration::from_secs(300),
                capacity: 100,
            },
            address: Policy {
                max_failures: 5,
                window: Duration::from_secs(300),
                capacity: 100,
            },
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = router_with(receiver, watch::channel(None).1, policies, clock);
        tokio::spawn(async move {
            // The credentials stay as they are for as long as the broker runs.
            let _keep = sender;
            axum::serve(listener, app).await
        });
        (address, now)
    }

    async fn ask(
        http: &reqwest::Client,
        broker: std::net::SocketAddr,
        user: &str,
        password: &str,
        remote_ip: &str,
    ) -> u16 {
        http.post(format!("http://{broker}/v1/passdb/verify"))
            .json(&serde_json::json!({
                "user": user, "password": password, "service": "imap", "remote_ip": remote_ip,
            }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn boundary_failures_limit_a_user_and_an_address_and_no_one_else() {
        let (broker, now) = limited_broker().await;
        let http = reqwest::Client::new();
        // Three failures for alice, from three addresses: alice is refused even with her
        // password, from anywhere; olga is not.
        for i in 1..=3 {
            let from = format!("192.0.2.{i}");
            assert_eq!(
                ask(&http, broker, "alice@example.org", "wrong", &from).await,
                403
            );
        }
        assert_eq!(
            ask(
                &http,
                broker,
                "alice@example.org",
                "alice-pw",
                "198.51.100.1"
            )
            .await,
            403
        );
        assert_eq!(
            ask(&http, broker, "olga@other.test", "olga-pw", "192.0.2.1").await,
            200
        );
        // Five failures from one address, for anyone: that address is refused for everyone,
        // other addresses are not.
        for i in 0..5 {
            let who = format!("guess{i}@example.org");
            assert_eq!(ask(&http, broker, &who, "x", "203.0.113.5").await, 403);
        }
        assert_eq!(
            ask(&http, broker, "olga@other.test", "olga-pw", "203.0.113.5").await,
            403
        );
        assert_eq!(
            ask(&http, broker, "olga@other.test", "olga-pw", "203.0.113.6").await,
            200
        );
        // Once the window has passed, both are free again.
        *now.lock().unwrap() += Duration::from_secs(301);
        assert_eq!(
            ask(
                &http,
                broker,
                "alice@example.org",
                "alice-pw",
                "198.51.100.1"
            )
            .await,
            200
        );
        assert_eq!(
            ask(&http, broker, "olga@other.test", "olga-pw", "203.0.113.5").await,
            200
        );
    }
}
