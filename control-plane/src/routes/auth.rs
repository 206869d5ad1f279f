//! Signing in and out: password, then TOTP when enabled; password reset by mail; the language
//! switch. Login and reset are rate limited per account and per client address.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use web::catalog::Mail;
use web::pages::{Errors, ForgotPage, LoginPage, LoginTotpPage, ResetPage};
use web::{Lang, Notice, Reason};

use super::extract::{cookie, set_cookie, ClientIp, Form, LANG_COOKIE, SESSION_COOKIE};
use super::page::HtmlError;
use super::page::{render, render_status, PageCtx};
use super::AppState;
use crate::db;
use crate::error::Error;
use crate::model::ids::MemberId;
use crate::model::input::LocalPath;
use crate::model::password::{self, NewPassword};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/totp", get(totp_page).post(totp))
        .route("/logout", post(logout))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset", get(reset_page).post(reset))
        .route("/lang/{code}", get(set_lang))
}

/// Only local paths are followed (`model::input::LocalPath`), so `?back=` cannot send anyone
/// off-site.
fn safe_back(back: Option<&str>, fallback: &str) -> String {
    LocalPath::or(back, fallback).as_str().to_owned()
}

/// Creates a session and sends the browser on with its cookie.
pub async fn start_session(
    state: &AppState,
    member: MemberId,
    mfa_pending: bool,
    ip: Option<&str>,
    user_agent: Option<&str>,
    next: &str,
) -> Response {
    let hours = state.config.security.session_hours;
    match db::sessions::create(&state.pool, member, mfa_pending, hours, ip, user_agent).await {
        Ok(token) => {
            let max_age = if mfa_pending { 600 } else { hours * 3600 };
            // Lax, not Strict: a member following a link from a mail arrives signed in.
            let cookie = set_cookie(SESSION_COOKIE, token.expose(), Some(max_age), "Lax");
            ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
        }
        Err(e) => super::error::render_plain(&e),
    }
}

#[derive(Deserialize)]
struct BackQuery {
    back: Option<String>,
}

async fn login_page(State(state): State<AppState>, page: PageCtx) -> Response {
    render(LoginPage {
        ctx: page.ctx(),
        errors: Errors::default(),
        email: String::new(),
        reset_available: state.mailer.is_some(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<BackQuery>,
    Form(form): Form<LoginForm>,
) -> Response {
    let fail = |e: Error| {
        render_status(
            match e {
                Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            },
            LoginPage {
                ctx: page.ctx(),
                errors: match e {
                    // Never say which of the two was wrong.
                    Error::Unauthorized => {
                        Errors(vec![(String::new(), page.tr().reason(&Reason::WrongLogin))])
                    }
                    e => page.errors(&e),
                },
                email: form.email.clone(),
                reset_available: state.mailer.is_some(),
            },
        )
    };
    let email = form.email.trim().to_lowercase();
    match login_check(&state, &email, &form.password, ip.as_deref()).await {
        Ok((member, totp)) => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            if totp {
                start_session(&state, member, true, ip.as_deref(), ua, "/login/totp").await
            } else {
                start_session(
                    &state,
                    member,
                    false,
                    ip.as_deref(),
                    ua,
                    &safe_back(q.back.as_deref(), "/account"),
                )
                .await
            }
        }
        Err(e @ (Error::Unauthorized | Error::RateLimited | Error::Forbidden(_))) => fail(e),
        Err(e) => HtmlError(page.clone(), e).into_response(),
    }
}

/// Checks a password login, counting failures for the rate limit. Returns the member and
/// whether a second factor is still owed. Unknown addresses cost the same time as known ones.
pub async fn login_check(
    state: &AppState,
    email: &str,
    password_given: &str,
    ip: Option<&str>,
) -> Result<(MemberId, bool), Error> {
    let sec = &state.config.security;
    let account_key = format!("login-account:{email}");
    let ip_key = format!("login-ip:{}", ip.unwrap_or("unknown"));
    // Counted before the password is checked, in one step per key, so parallel guesses cannot
    // all pass the count; a successful login gives its attempts back.
    let slots = db::rate_limit::take_all(
        &state.pool,
        &[
            (account_key.as_str(), sec.login_failures_per_account),
            (ip_key.as_str(), sec.login_failures_per_address),
        ],
        sec.rate_window_minutes,
    )
    .await?;
    let creds = db::members::credentials_by_email(&state.pool, email).await?;
    let stored = creds
        .as_ref()
        .map(|c| c.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let ok = match super::verify_password(password_given, stored).await {
        Ok(ok) => ok,
        Err(e) => {
            // Not an attempt: the server was too busy to check it.
            for s in slots {
                db::rate_limit::give_back(&state.pool, s).await?;
            }
            return Err(e);
        }
    };
    match creds {
        Some(c) if ok => {
            for s in slots {
                db::rate_limit::give_back(&state.pool, s).await?;
            }
            if c.status != db::members::Status::Active {
                return Err(Error::Forbidden(Reason::SuspendedSignIn));
            }
            Ok((c.id, c.totp_enabled))
        }
        _ => {
            tracing::info!(known_account = creds.is_some(), "failed login");
            Err(Error::Unauthorized)
        }
    }
}

async fn pending_member(state: &AppState, headers: &HeaderMap) -> Option<(String, MemberId)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    match db::sessions::find(&state.pool, token).await {
        Ok(Some(s)) if s.mfa_pending => Some((token.to_owned(), s.member_id)),
        _ => None,
    }
}

async fn totp_page(State(state): State<AppState>, page: PageCtx, headers: HeaderMap) -> Response {
    if pending_member(&state, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    render(LoginTotpPage {
        ctx: page.ctx(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn totp(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some((token, member)) = pending_member(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let again = |e: Error| {
        render_status(
            StatusCode::UNAUTHORIZED,
            LoginTotpPage {
                ctx: page.ctx(),
                errors: page.errors(&e),
            },
        )
    };
    let key = format!("totp:{member}");
    let sec = &state.config.security;
    // Counted and recorded in one step before the code is evaluated: parallel guesses cannot
    // all pass the count (check-then-record let them). A right code gives its attempt back.
    let slot = match db::rate_limit::take(
        &state.pool,
        &key,
        sec.login_failures_per_account,
        sec.rate_window_minutes,
    )
    .await
    {
        Ok(slot) => slot,
        Err(e @ Error::RateLimited) => return again(e),
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match crate::services::second_factor::check(&state.pool, member, &form.code, unix_now()).await {
        Ok(true) => {
            if let Err(e) = db::rate_limit::give_back(&state.pool, slot).await {
                return HtmlError(page, e).into_response();
            }
            // A fresh session replaces the half-authenticated one (no fixation).
            if let Err(e) = db::sessions::delete(&state.pool, &token).await {
                return HtmlError(page, e).into_response();
            }
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            start_session(&state, member, false, ip.as_deref(), ua, "/account").await
        }
        Ok(false) => again(Error::field("code", Reason::CodeInvalid)),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(_): Form<Empty>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = db::sessions::delete(&state.pool, token).await {
            return super::error::render_plain(&e);
        }
    }
    (
        [(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", Some(0), "Lax"),
        )],
        Redirect::to(&Notice::LoggedOut.on("/login")),
    )
        .into_response()
}

async fn forgot_page(State(state): State<AppState>, page: PageCtx) -> Response {
    let errors = if state.mailer.is_none() {
        page.errors(&Error::Forbidden(Reason::ResetUnavailableAskAdmin))
    } else {
        Errors::default()
    };
    render(ForgotPage {
        ctx: page.ctx(),
        errors,
        email: String::new(),
        sent: false,
    })
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    Form(form): Form<ForgotForm>,
) -> Response {
    let email = form.email.trim().to_lowercase();
    let again = |e: Error| {
        render_status(
            StatusCode::TOO_MANY_REQUESTS,
            ForgotPage {
                ctx: page.ctx(),
                errors: page.errors(&e),
                email: form.email.clone(),
                sent: false,
            },
        )
    };
    match request_reset(&state, &email, ip.as_deref()).await {
        Ok(()) => render(ForgotPage {
            ctx: page.ctx(),
            errors: Errors::default(),
            email: String::new(),
            sent: true,
        }),
        Err(e @ (Error::RateLimited | Error::Forbidden(_))) => again(e),
        Err(e) => HtmlError(page.clone(), e).into_response(),
    }
}

/// Sends a reset link if the account exists; says nothing either way (no account discovery).
async fn request_reset(state: &AppState, email: &str, ip: Option<&str>) -> Result<(), Error> {
    let Some(mailer) = &state.mailer else {
        return Err(Error::Forbidden(Reason::ResetUnavailable));
    };
    let sec = &state.config.security;
    let account_key = format!("reset-account:{email}");
    let ip_key = format!("reset-ip:{}", ip.unwrap_or("unknown"));
    db::rate_limit::check(&state.pool, &account_key, sec.resets_per_account, 60).await?;
    db::rate_limit::check(&state.pool, &ip_key, sec.resets_per_address, 60).await?;
    db::rate_limit::record(&state.pool, &account_key).await?;
    db::rate_limit::record(&state.pool, &ip_key).await?;
    let Some(creds) = db::members::credentials_by_email(&state.pool, email).await? else {
        return Ok(());
    };
    if creds.status != db::members::Status::Active {
        return Ok(());
    }
    let token = db::resets::create(&state.pool, creds.id, sec.password_reset_minutes).await?;
    let link = state.link(&format!("/reset?token={}", token.expose()));
    let mail = Mail::PasswordReset {
        minutes: sec.password_reset_minutes,
        link: &link,
    };
    if let Err(e) = mailer.send(email, mail.subject(), mail.body()).await {
        tracing::error!(error = %e, "could not send the password reset mail");
        return Err(Error::Internal(e));
    }
    Ok(())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn reset_page(
    State(state): State<AppState>,
    page: PageCtx,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match db::resets::is_valid(&state.pool, &token).await {
        Ok(true) => render(ResetPage {
            ctx: page.ctx(),
            token,
            errors: Errors::default(),
        }),
        Ok(false) => HtmlError(page, Error::Gone).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
    password_confirm: String,
}

/// One-time tokens (setup and reset links) guessed from one address: attempts counted per
/// address before the token is looked at, so nobody can make the server hash passwords or query
/// tokens without bound.
pub async fn take_token_attempt(
    state: &AppState,
    ip: Option<&str>,
) -> Result<db::rate_limit::Slot, Error> {
    let sec = &state.config.security;
    db::rate_limit::take(
        &state.pool,
        &format!("token-ip:{}", ip.unwrap_or("unknown")),
        sec.login_failures_per_address,
        sec.rate_window_minutes,
    )
    .await
}

async fn reset(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    Form(form): Form<ResetForm>,
) -> Response {
    // The token first (rate limited per address), then the password, then the hash.
    let slot = match take_token_attempt(&state, ip.as_deref()).await {
        Ok(slot) => slot,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match db::resets::is_valid(&state.pool, &form.token).await {
        Ok(true) => {}
        Ok(false) => return HtmlError(page, Error::Gone).into_response(),
        Err(e) => return HtmlError(page, e).into_response(),
    }
    if let Err(e) = db::rate_limit::give_back(&state.pool, slot).await {
        return HtmlError(page, e).into_response();
    }
    let password = match NewPassword::parse(&form.password, &form.password_confirm) {
        Ok(p) => p,
        Err(e) => {
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                ResetPage {
                    ctx: page.ctx(),
                    token: form.token,
                    errors: page.errors(&Error::field("password", e)),
                },
            )
        }
    };
    let hash = match super::hash_password(password).await {
        Ok(h) => h,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match crate::services::passwords::reset(&state.pool, &form.token, &hash, ip).await {
        Ok(_) => Redirect::to(&Notice::PasswordReset.on("/login")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn set_lang(Path(code): Path<String>, Query(q): Query<BackQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::En);
    let back = safe_back(q.back.as_deref(), "/");
    (
        [(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, lang.code(), Some(365 * 24 * 3600), "Lax"),
        )],
        Redirect::to(&back),
    )
        .into_response()
}
