//! The member's security page: password, TOTP second factor, app passwords, API tokens.
//! Secrets (TOTP secret during enrolment, recovery codes, new app passwords, new API tokens)
//! are shown once in the response that created them, and never stored in clear.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use web::pages::{ApiTokenRow, AppPasswordRow, Enrolment, Errors, SecurityPage, SessionRow};
use web::{Notice, Reason};

use super::super::extract::{Form, Member};
use super::super::page::HtmlError;
use super::super::page::{minute, render_status, PageCtx};
use super::super::{hash_password, verify_password, AppState};
use super::Empty;
use crate::db;
use crate::error::Error;
use crate::model::ids::{ApiTokenId, AppPasswordId};
use crate::model::password::NewPassword;
use crate::model::{requests, totp};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/security", get(show))
        .route("/account/password", post(change_password))
        .route("/account/totp/start", post(totp_start))
        .route("/account/totp/confirm", post(totp_confirm))
        .route("/account/totp/disable", post(totp_disable))
        .route("/account/app-passwords", post(add_app_password))
        .route(
            "/account/app-passwords/{id}/revoke",
            post(revoke_app_password),
        )
        .route("/account/api-tokens", post(add_api_token))
        .route("/account/api-tokens/{id}/revoke", post(revoke_api_token))
        .route(
            "/account/sessions/revoke-others",
            post(revoke_other_sessions),
        )
}

/// What a particular response adds to the page.
#[derive(Default)]
struct Extra {
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    new_app_password: Option<(String, String)>,
    new_api_token: Option<String>,
    errors: Errors,
}

async fn page_of(
    state: &AppState,
    page: &PageCtx,
    m: &Member,
    extra: Extra,
) -> Result<SecurityPage, Error> {
    let member = db::members::get(&state.pool, m.id()).await?;
    let app_passwords = db::app_passwords::list(&state.pool, m.id()).await?;
    let bindable = db::app_passwords::mailboxes(&state.pool, m.id()).await?;
    let api_tokens = db::api_tokens::list(&state.pool, m.id()).await?;
    let sessions = db::sessions::list(&state.pool, m.id()).await?;
    let current = crate::model::secret::digest(&m.session);
    Ok(SecurityPage {
        ctx: page.clone().with_member(m).ctx(),
        totp_enabled: member.totp_enabled,
        enrolment: extra.enrolment,
        recovery_codes: extra.recovery_codes,
        app_passwords: app_passwords
            .into_iter()
            .map(|p| AppPasswordRow {
                id: p.id.to_string(),
                label: p.label,
                scope: p.scope.as_str().to_owned(),
                mailbox: p.mailbox.unwrap_or_default(),
                created: minute(p.created_at),
            })
            .collect(),
        app_password_mailboxes: bindable
            .into_iter()
            .map(|(id, address)| (id.to_string(), address))
            .collect(),
        new_app_password: extra.new_app_password,
        api_tokens: api_tokens
            .into_iter()
            .map(|t| ApiTokenRow {
                id: t.id.to_string(),
                label: t.label,
                created: minute(t.created_at),
                // Empty reads "never" in the page.
                last_used: t.last_used_at.map(minute).unwrap_or_default(),
            })
            .collect(),
        new_api_token: extra.new_api_token,
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                device: device(s.user_agent.as_deref().unwrap_or("")),
                ip: s.ip.unwrap_or_default(),
                created: minute(s.created_at),
                last_seen: minute(s.last_seen_at),
                current: s.token_hash == current,
            })
            .collect(),
        errors: extra.errors,
    })
}

async fn respond(state: &AppState, page: PageCtx, m: &Member, extra: Extra) -> Response {
    let status = if extra.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    match page_of(state, &page, m, extra).await {
        Ok(p) => render_status(status, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// Where on the page an error is shown. Two pairs of forms here share field names (`password`
/// in "change password" and "turn off two-factor", `label` for app passwords and API tokens);
/// errors of the second form of each pair go at the top of the page, named in full.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    ByField,
    Top,
}

/// Shows the page again with the error when it is the member's to fix; otherwise an error page.
async fn respond_err(
    state: &AppState,
    page: PageCtx,
    m: &Member,
    e: Error,
    place: Place,
) -> Response {
    match e {
        Error::Invalid(_)
        | Error::Conflict(_)
        | Error::Limit(_)
        | Error::Forbidden(_)
        | Error::Unauthorized => {
            let errors = if place == Place::Top {
                web::pages::Errors(vec![(String::new(), page.sentence(&e))])
            } else {
                page.errors(&e)
            };
            let extra = Extra {
                errors,
                ..Extra::default()
            };
            respond(state, page, m, extra).await
        }
        e => HtmlError(page, e).into_response(),
    }
}

async fn show(State(state): State<AppState>, page: PageCtx, m: Member) -> Response {
    // An enrolment started but not confirmed is shown again, so a reload does not lose it.
    let enrolment = match db::second_factor::pending_secret(&state.pool, m.id()).await {
        Ok(Some(secret)) if !m.member.totp_enabled => Some(enrolment_of(&secret, &m)),
        Ok(_) => None,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    respond(
        &state,
        page,
        &m,
        Extra {
            enrolment,
            ..Extra::default()
        },
    )
    .await
}

fn enrolment_of(secret: &[u8], m: &Member) -> Enrolment {
    Enrolment {
        secret_base32: totp::secret_base32(secret),
        otpauth_uri: totp::otpauth_uri(secret, &m.member.email, "Ruche").unwrap_or_default(),
    }
}

/// Checks the member's current password (for changing it or turning the second factor off).
async fn check_current(
    state: &AppState,
    m: &Member,
    given: &str,
    field: &str,
) -> Result<(), Error> {
    let stored = db::members::password_hash(&state.pool, m.id()).await?;
    if verify_password(given, stored).await? {
        Ok(())
    } else {
        Err(Error::field(field, Reason::NotCurrentPassword))
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
    /// The checkbox "also revoke my API tokens and app passwords", checked on the page; absent
    /// when unchecked.
    revoke_credentials: Option<String>,
}

async fn change_password(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<PasswordForm>,
) -> Response {
    let result = async {
        check_current(&state, &m, &form.current_password, "current_password").await?;
        let new = NewPassword::parse(&form.password, &form.password_confirm)
            .map_err(|e| Error::field("password", e))?;
        let hash = hash_password(new).await?;
        let keep = crate::model::secret::digest(&m.session);
        let revoke = form.revoke_credentials.is_some();
        crate::services::passwords::change(
            &state.pool,
            &m.actor(),
            m.id(),
            &hash,
            Some(&keep),
            revoke,
        )
        .await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&Notice::PasswordChanged.on("/account/security")).into_response(),
        Err(e) => respond_err(&state, page, &m, e, Place::ByField).await,
    }
}

async fn totp_start(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(_): Form<Empty>,
) -> Response {
    let secret = totp::generate_secret();
    match db::second_factor::begin_enrolment(&state.pool, m.id(), &secret).await {
        Ok(()) => {
            let extra = Extra {
                enrolment: Some(enrolment_of(&secret, &m)),
                ..Extra::default()
            };
            respond(&state, page, &m, extra).await
        }
        Err(e) => respond_err(&state, page, &m, e, Place::ByField).await,
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn totp_confirm(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<CodeForm>,
) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match crate::services::second_factor::confirm(&state.pool, &m.actor(), m.id(), &form.code, now)
        .await
    {
        Ok(codes) => {
            let extra = Extra {
                recovery_codes: codes,
                ..Extra::default()
            };
            respond(&state, page, &m, extra).await
        }
        Err(e) => {
            // Keep the enrolment on screen so the member can try the next code.
            let enrolment = db::second_factor::pending_secret(&state.pool, m.id())
                .await
                .ok()
                .flatten()
                .map(|s| enrolment_of(&s, &m));
            let extra = Extra {
                enrolment,
                errors: page.errors(&e),
                ..Extra::default()
            };
            respond(&state, page, &m, extra).await
        }
    }
}

#[derive(Deserialize)]
struct ConfirmPasswordForm {
    password: String,
}

async fn totp_disable(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<ConfirmPasswordForm>,
) -> Response {
    let result = async {
        check_current(&state, &m, &form.password, "password").await?;
        crate::services::second_factor::disable(&state.pool, &m.actor(), m.id()).await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&Notice::TotpDisabled.on("/account/security")).into_response(),
        Err(e) => respond_err(&state, page, &m, e, Place::Top).await,
    }
}

#[derive(Deserialize)]
struct AppPasswordForm {
    label: String,
    scope: String,
    /// A mailbox id, or `all` for every mailbox (the form preselects the first mailbox).
    #[serde(default)]
    mailbox: Option<String>,
}

async fn add_app_password(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<AppPasswordForm>,
) -> Response {
    let result = async {
        let (label, scope) = requests::app_password(&form.label, &form.scope)?;
        let mailbox = requests::app_password_mailbox(form.mailbox.as_deref())?;
        let text = requests::generate_app_password();
        crate::services::app_passwords::create(
            &state.pool,
            &m.actor(),
            m.id(),
            label.as_str(),
            scope,
            mailbox,
            &text,
        )
        .await
        // Another member's mailbox is not found: say so on the field, as for a typo.
        .map_err(|e| match e {
            Error::NotFound => Error::field("mailbox", Reason::NotYourMailbox),
            e => e,
        })?;
        Ok::<_, Error>((label.into_string(), text.expose()))
    }
    .await;
    match result {
        Ok(new) => {
            let extra = Extra {
                new_app_password: Some(new),
                ..Extra::default()
            };
            respond(&state, page, &m, extra).await
        }
        Err(e) => respond_err(&state, page, &m, e, Place::ByField).await,
    }
}

async fn revoke_app_password(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let Ok(id) = id.parse::<AppPasswordId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    match crate::services::app_passwords::revoke(&state.pool, &m.actor(), m.id(), id).await {
        Ok(()) => Redirect::to(&Notice::AppPasswordRevoked.on("/account/security")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct ApiTokenForm {
    label: String,
}

async fn add_api_token(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<ApiTokenForm>,
) -> Response {
    let result = async {
        let label = requests::label("label", &form.label)?;
        crate::services::api_tokens::create(&state.pool, &m.actor(), m.id(), label.as_str()).await
    }
    .await;
    match result {
        Ok((_, token)) => {
            let extra = Extra {
                new_api_token: Some(token.expose().to_owned()),
                ..Extra::default()
            };
            respond(&state, page, &m, extra).await
        }
        Err(e) => respond_err(&state, page, &m, e, Place::Top).await,
    }
}

async fn revoke_api_token(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let Ok(id) = id.parse::<ApiTokenId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    match crate::services::api_tokens::revoke(&state.pool, &m.actor(), m.id(), id).await {
        Ok(()) => Redirect::to(&Notice::ApiTokenRevoked.on("/account/security")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// "Firefox on Linux": enough to recognise one's own browsers, from the user agent.
fn device(user_agent: &str) -> String {
    // Order matters: Edge and Chrome claim to be Safari, Edge claims to be Chrome.
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("?", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("?", |(_, name)| name);
    format!("{browser} / {system}")
}

async fn revoke_other_sessions(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(_): Form<Empty>,
) -> Response {
    let keep = crate::model::secret::digest(&m.session);
    match crate::services::sessions::revoke_others(&state.pool, &m.actor(), m.id(), &keep).await {
        Ok(_) => Redirect::to(&Notice::SessionsRevoked.on("/account/security")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn devices_are_recognised() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device(firefox), "Firefox / Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        assert_eq!(device(chrome), "Chromium / Windows");
        assert_eq!(device(""), "? / ?");
    }
}
