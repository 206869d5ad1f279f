//! Accepting an invitation: the invited person chooses a name and a password.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use web::pages::{Errors, InvitePage};

use super::auth::start_session;
use super::extract::{ClientIp, Form};
use super::page::HtmlError;
use super::page::{render, render_status, PageCtx};
use super::AppState;
use crate::db;
use crate::error::Error;
use crate::model::input::{FieldError, Label};
use crate::model::password::NewPassword;

pub fn router() -> Router<AppState> {
    Router::new().route("/invite", get(show).post(accept))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    page: PageCtx,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match db::invitations::find_valid(&state.pool, &token).await {
        Ok(Some(inv)) => render(InvitePage {
            ctx: page.ctx(),
            token,
            email: inv.email,
            display_name: String::new(),
            errors: Errors::default(),
        }),
        Ok(None) => HtmlError(page, Error::Gone).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct AcceptForm {
    token: String,
    display_name: String,
    password: String,
    password_confirm: String,
}

async fn accept(
    State(state): State<AppState>,
    page: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Response {
    let slot = match super::auth::take_token_attempt(&state, ip.as_deref()).await {
        Ok(slot) => slot,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    let invitation = match db::invitations::find_valid(&state.pool, &form.token).await {
        Ok(Some(inv)) => inv,
        Ok(None) => return HtmlError(page, Error::Gone).into_response(),
        Err(e) => return HtmlError(page, e).into_response(),
    };
    if let Err(e) = db::rate_limit::give_back(&state.pool, slot).await {
        return HtmlError(page, e).into_response();
    }
    let mut errs = Vec::new();
    let name = Label::parse(&form.display_name, 200)
        .map_err(|e| errs.push(FieldError::new("display_name", e)))
        .ok();
    let password = NewPassword::parse(&form.password, &form.password_confirm)
        .map_err(|e| errs.push(FieldError::new("password", e)))
        .ok();
    let (Some(name), Some(password)) = (name, password) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            InvitePage {
                ctx: page.ctx(),
                token: form.token,
                email: invitation.email,
                display_name: form.display_name,
                errors: page.errors(&Error::Invalid(errs)),
            },
        );
    };
    let hash = match super::hash_password(password).await {
        Ok(h) => h,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match crate::services::invitations::accept(
        &state.pool,
        &form.token,
        name.as_str(),
        &hash,
        ip.clone(),
    )
    .await
    {
        Ok(member) => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            start_session(&state, member, false, ip.as_deref(), ua, "/account").await
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}
