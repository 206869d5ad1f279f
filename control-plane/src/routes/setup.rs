//! The one-time setup page: names the collective and creates the first admin. Once an admin
//! exists the page is gone (404). A submission is looked at in this order: setup done (404),
//! attempts from this address (429), the token (410), the fields (422), and only then the
//! password is hashed.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use web::pages::{Errors, SetupPage};

use super::auth::start_session;
use super::extract::{ClientIp, Form};
use super::page::HtmlError;
use super::page::{render, render_status, PageCtx};
use super::AppState;
use crate::db;
use crate::error::Error;
use crate::model::input::FieldError;
use crate::model::password::NewPassword;
use crate::model::{input::Label, DomainName, EmailAddress};

pub fn router() -> Router<AppState> {
    Router::new().route("/setup", get(show).post(submit))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// 404 once the collective is set up: the route no longer exists for anyone.
async fn done(state: &AppState, page: &PageCtx) -> Result<(), HtmlError> {
    match db::setup::is_done(&state.pool).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(HtmlError(page.clone(), Error::NotFound)),
        Err(e) => Err(HtmlError(page.clone(), e)),
    }
}

async fn show(
    State(state): State<AppState>,
    page: PageCtx,
    Query(q): Query<TokenQuery>,
) -> Result<Response, HtmlError> {
    done(&state, &page).await?;
    let token = q.token.unwrap_or_default();
    let valid = db::setup::token_is_valid(&state.pool, &token)
        .await
        .map_err(|e| HtmlError(page.clone(), e))?;
    if !valid {
        return Err(HtmlError(page, Error::Gone));
    }
    Ok(render(SetupPage {
        ctx: page.ctx(),
        token,
        errors: Errors::default(),
        collective_name: String::new(),
        platform_domain: String::new(),
        email: String::new(),
    }))
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    collective_name: String,
    platform_domain: String,
    email: String,
    password: String,
    password_confirm: String,
}

/// Parses every field, collecting all problems at once so the page can show them together.
fn parse(form: &SetupForm) -> Result<(Label, DomainName, EmailAddress, NewPassword), Error> {
    let mut errs = Vec::new();
    let name = Label::parse(&form.collective_name, 200)
        .map_err(|e| errs.push(FieldError::new("collective_name", e)))
        .ok();
    let domain = DomainName::parse(form.platform_domain.trim())
        .map_err(|e| errs.push(FieldError::new("platform_domain", e)))
        .ok();
    let email = EmailAddress::parse(form.email.trim())
        .map_err(|e| errs.push(FieldError::new("email", e)))
        .ok();
    let password = NewPassword::parse(&form.password, &form.password_confirm)
        .map_err(|e| errs.push(FieldError::new("password", e)))
        .ok();
    match (name, domain, email, password) {
        (Some(n), Some(d), Some(e), Some(p)) if errs.is_empty() => Ok((n, d, e, p)),
        _ => Err(Error::Invalid(errs)),
    }
}

async fn submit(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    Form(form): Form<SetupForm>,
) -> Response {
    let again = |page: &PageCtx, form: &SetupForm, e: &Error| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            SetupPage {
                ctx: page.ctx(),
                token: form.token.clone(),
                errors: page.errors(e),
                collective_name: form.collective_name.clone(),
                platform_domain: form.platform_domain.clone(),
                email: form.email.clone(),
            },
        )
    };
    if let Err(e) = done(&state, &page).await {
        return e.into_response();
    }
    let slot = match super::auth::take_token_attempt(&state, ip.as_deref()).await {
        Ok(slot) => slot,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match db::setup::token_is_valid(&state.pool, &form.token).await {
        Ok(true) => {}
        Ok(false) => return HtmlError(page, Error::Gone).into_response(),
        Err(e) => return HtmlError(page, e).into_response(),
    }
    if let Err(e) = db::rate_limit::give_back(&state.pool, slot).await {
        return HtmlError(page, e).into_response();
    }
    let (name, domain, email, password) = match parse(&form) {
        Ok(v) => v,
        Err(e) => return again(&page, &form, &e),
    };
    let hash = match super::hash_password(password).await {
        Ok(h) => h,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    let setup = crate::services::setup::Setup {
        collective_name: name.into_string(),
        platform_domain: domain.as_str().to_owned(),
        admin_email: email.to_string(),
        admin_password_hash: hash,
    };
    match crate::services::setup::complete(&state.pool, &form.token, &setup, ip.clone()).await {
        Ok(admin) => {
            tracing::info!(admin = %admin, "setup complete; first admin created");
            start_session(&state, admin, false, ip.as_deref(), None, "/admin").await
        }
        Err(e @ Error::Gone) => HtmlError(page, e).into_response(),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => again(&page, &form, &e),
        Err(e) => HtmlError(page, e).into_response(),
    }
}
