//! Admin: invite members by email, see and revoke pending invitations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use web::pages::{Errors, InvitationRow, InvitationsPage, PlanOption};
use web::{Notice, Reason};

use super::super::extract::Form;
use super::super::page::Admin;
use super::super::page::HtmlError;
use super::super::page::{minute, render, render_status, PageCtx};
use super::super::AppState;
use crate::db;
use crate::error::Error;
use crate::model::ids::{InvitationId, PlanId};
use crate::model::requests::Fields;
use crate::model::EmailAddress;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/invitations", get(show).post(create))
        .route("/admin/invitations/{id}/revoke", post(revoke))
}

struct Outcome {
    errors: Errors,
    email: String,
    created_link: Option<String>,
    mail_sent: bool,
}

async fn page_of(state: &AppState, page: &PageCtx, o: Outcome) -> Result<InvitationsPage, Error> {
    let pending = db::invitations::pending(&state.pool).await?;
    let plans = db::plans::list(&state.pool).await?;
    Ok(InvitationsPage {
        ctx: page.ctx(),
        pending: pending
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id.to_string(),
                email: i.email,
                expires: minute(i.expires_at),
            })
            .collect(),
        plans: plans
            .into_iter()
            .enumerate()
            .map(|(n, p)| PlanOption {
                id: p.id.to_string(),
                name: p.name,
                selected: n == 0,
            })
            .collect(),
        errors: o.errors,
        email: o.email,
        created_link: o.created_link,
        mail_sent: o.mail_sent,
    })
}

async fn show(State(state): State<AppState>, page: PageCtx, Admin(a): Admin) -> Response {
    let page = page.with_member(&a);
    let o = Outcome {
        errors: Errors::default(),
        email: String::new(),
        created_link: None,
        mail_sent: false,
    };
    match page_of(&state, &page, o).await {
        Ok(p) => render(p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    plan: String,
}

async fn create(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Form(f): Form<InviteForm>,
) -> Response {
    let page = page.with_member(&a);
    let result = async {
        let mut fields = Fields::default();
        let email = fields.check("email", EmailAddress::parse(f.email.trim()));
        let plan = fields.check(
            "plan",
            f.plan.parse::<PlanId>().map_err(|_| Reason::ChoosePlan),
        );
        let (email, plan) = fields.finish(email.zip(plan))?;
        db::plans::get(&state.pool, plan)
            .await
            .map_err(|_| Error::field("plan", Reason::ChoosePlan))?;
        state.invite(&a.actor(), &email, plan).await
    }
    .await;
    let outcome = match result {
        Ok((_, link, sent)) => Outcome {
            errors: Errors::default(),
            email: String::new(),
            created_link: (!sent).then_some(link),
            mail_sent: sent,
        },
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => Outcome {
            errors: page.errors(&e),
            email: f.email.clone(),
            created_link: None,
            mail_sent: false,
        },
        Err(e) => return HtmlError(page, e).into_response(),
    };
    let status = if outcome.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    match page_of(&state, &page, outcome).await {
        Ok(p) => render_status(status, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn revoke(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(id) = id.parse::<InvitationId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    match crate::services::invitations::revoke(&state.pool, &a.actor(), id).await {
        Ok(()) => Redirect::to(&Notice::InvitationRevoked.on("/admin/invitations")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}
