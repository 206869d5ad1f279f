//! Talking to the CA (RFC 8555, through `instant-acme`): the node's account, and one order from
//! new order to certificate.
//!
//! The account's key is kept in `<state_dir>/acme-account.json` (0600), with the directory it
//! belongs to: naming another CA makes a new account. Challenges are answered by a [`Solver`]
//! (the manager's: files for nginx, TXT records for Knot), which is told to take them down
//! whatever the order's outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use protocol::names::DomainName;
use protocol::node::Challenge;
use serde::{Deserialize, Serialize};

use crate::atomic;

/// The account file, in the state directory.
pub const ACCOUNT_FILE: &str = "acme-account.json";

/// How long the CA may take to check every challenge of an order, then to issue.
const VALIDATION: Duration = Duration::from_secs(90);

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// One challenge to put up: for HTTP-01 the token (a file name) and its key authorization
/// (the file's contents); for DNS-01 the name and the TXT value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub name: DomainName,
    /// HTTP-01: the token, checked to be base64url (RFC 8555 §8.3) before it names a file.
    pub token: String,
    /// HTTP-01: the key authorization; DNS-01: its digest, base64url (the TXT value).
    pub value: String,
}

/// Puts challenge responses up for the CA to see, and takes them down.
#[allow(async_fn_in_trait)]
pub trait Solver {
    /// Publishes every response, returning once the CA can see them (DNS-01: our own name
    /// server answers them).
    async fn publish(&self, challenge: Challenge, responses: &[Response]) -> Result<(), String>;
    /// Takes `responses` down.
    async fn withdraw(&self, challenge: Challenge, responses: &[Response]);
}

/// Whether `token` may name a file: base64url characters only (RFC 8555 §8.1), at least 22
/// of them (128 bits) and not absurdly long. It comes from the CA, not from us.
pub fn token_is_safe(token: &str) -> bool {
    (22..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The node's account with the CA at `directory`: the saved one when it is for that
/// directory, else a new one (saved before use). `root`: the PEM of the CA's own HTTPS root
/// when it is not a public one (a test CA); `contact`: an address the CA may write to.
pub async fn account(
    state_dir: &Path,
    directory: &str,
    root: Option<&Path>,
    contact: Option<&str>,
) -> Result<Account, String> {
    let path = state_dir.join(ACCOUNT_FILE);
    let builder = || match root {
        Some(root) => Account::builder_with_root(root)
            .map_err(|e| format!("the CA's root {}: {e}", root.display())),
        None => Account::builder().map_err(|e| e.to_string()),
    };
    if let Ok(text) = std::fs::read(&path) {
        match serde_json::from_slice::<SavedAccount>(&text) {
            Ok(saved) if saved.directory == directory => {
                return builder()?
                    .from_credentials(saved.credentials)
                    .await
                    .map_err(|e| format!("the CA at {directory}: {}", crate::error_chain(&e)));
            }
            Ok(_) => tracing::info!(directory, "ACME: another CA named, making a new account"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ACME: the saved account does not read, making a new one")
            }
        }
    }
    let mailto = contact.map(|c| format!("mailto:{c}"));
    let contacts: Vec<&str> = mailto.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| format!("the CA at {directory}: {}", crate::error_chain(&e)))?;
    let saved = SavedAccount {
        directory: directory.to_owned(),
        credentials,
    };
    let text = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
    atomic::write(&path, &[&text], 0o600)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(directory, id = account.id(), "ACME: account made");
    Ok(account)
}

/// Orders a certificate for `names`, answering `challenge` through `solver`: the chain (PEM)
/// and its new private key (PEM, made here, never sent).
pub async fn order(
    account: &Account,
    names: &[DomainName],
    challenge: Challenge,
    solver: &impl Solver,
) -> Result<(String, String), String> {
    let identifiers: Vec<Identifier> = names
        .iter()
        .map(|n| Identifier::Dns(n.as_str().to_owned()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| format!("new order: {}", crate::error_chain(&e)))?;
    let kind = match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::Dns01 => ChallengeType::Dns01,
    };
    // First round: what each pending authorization asks.
    let mut responses = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization =
                authorization.map_err(|e| format!("authorization: {}", crate::error_chain(&e)))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let name = authorization.identifier().to_string();
            let handle = authorization
                .challenge(kind.clone())
                .ok_or_else(|| format!("the CA offers no {kind:?} challenge for {name}"))?;
            let name = DomainName::parse(&name)
                .map_err(|_| format!("the CA asks about a name we did not: {name:?}"))?;
            if !names.contains(&name) {
                return Err(format!("the CA asks about a name we did not: {name}"));
            }
            let value = match challenge {
                Challenge::Http01 => {
                    if !token_is_safe(&handle.token) {
                        return Err("the CA's challenge token is not base64url".to_owned());
                    }
                    handle.key_authorization().as_str().to_owned()
                }
                Challenge::Dns01 => handle.key_authorization().dns_value(),
            };
            responses.push(Response {
                name,
                token: handle.token.clone(),
                value,
            });
        }
    }
    let result = answer_and_finish(&mut order, kind, challenge, &responses, solver).await;
    solver.withdraw(challenge, &responses).await;
    result
}

async fn answer_and_finish(
    order: &mut instant_acme::Order,
    kind: ChallengeType,
    challenge: Challenge,
    responses: &[Response],
    solver: &impl Solver,
) -> Result<(String, String), String> {
    solver.publish(challenge, responses).await?;
    // Second round: tell the CA to look.
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization =
                authorization.map_err(|e| format!("authorization: {}", crate::error_chain(&e)))?;
            if authorization.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut handle) = authorization.challenge(kind.clone()) {
                handle
                    .set_ready()
                    .await
                    .map_err(|e| format!("challenge: {}", crate::error_chain(&e)))?;
            }
        }
    }
    let policy = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(VALIDATION);
    let status = order
        .poll_ready(&policy)
        .await
        .map_err(|e| format!("waiting for the CA's checks: {}", crate::error_chain(&e)))?;
    if status != OrderStatus::Ready {
        return Err(why_invalid(order, kind).await);
    }
    let key = order
        .finalize()
        .await
        .map_err(|e| format!("finalize: {}", crate::error_chain(&e)))?;
    let chain = order
        .poll_certificate(&policy)
        .await
        .map_err(|e| format!("certificate: {}", crate::error_chain(&e)))?;
    Ok((chain, key))
}

/// The CA's words about the first failed challenge of an invalid order.
async fn why_invalid(order: &mut instant_acme::Order, kind: ChallengeType) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        let name = authorization.identifier().to_string();
        for challenge in &authorization.challenges {
            if challenge.r#type == kind {
                if let Some(problem) = &challenge.error {
                    let detail = problem.detail.as_deref().unwrap_or("no detail");
                    return format!("the CA could not check {name}: {detail}");
                }
            }
        }
    }
    "the CA refused the order".to_owned()
}

/// The path of the saved account (removed when the CA forgot it).
pub fn account_path(state_dir: &Path) -> PathBuf {
    state_dir.join(ACCOUNT_FILE)
}

#[cfg(test)]
mod tests {
    use super::token_is_safe;

    #[test]
    fn only_base64url_tokens_name_a_file() {
        assert!(token_is_safe("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        for bad in [
            "",
            "short",
            "../../../../etc/passwd/xxxxxxxxxxxxxxxx",
            "aaaaaaaaaaaaaaaaaaaaaa/b",
            "aaaaaaaaaaaaaaaaaaaaaa\nb",
            "aaaaaaaaaaaaaaaaaaaaaa.b",
            &"a".repeat(257),
        ] {
            assert!(!token_is_safe(bad), "{bad:?}");
        }
    }
}
