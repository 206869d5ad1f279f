//! The collective admin's pages: overview, plans, members, invitations, audit log.
//! Every handler takes `Admin`; a member who is not an admin gets 404 for all of them.

pub(super) mod invitations;
mod members;

pub use invitations::invite;
pub const MEMBERS_PAGE_SIZE: i64 = members::PAGE_SIZE;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use web::pages::{AdminHomePage, AuditPage, AuditRow, Errors, PlanRow, PlansPage};

use super::error::HtmlError;
use super::extract::{Admin, Form};
use super::page::{render, render_status, PageCtx};
use super::AppState;
use crate::db;
use crate::domain::input::MIB;
use crate::domain::requests::{self, PlanInput};
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/plans", get(plans).post(add_plan))
        .route("/admin/audit", get(audit))
        .merge(members::router())
        .merge(invitations::router())
}

async fn home(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let load = async {
        let collective = db::setup::collective(&state.pool)
            .await?
            .ok_or(Error::NotFound)?;
        let members = db::members::count(&state.pool).await?;
        let plans = db::plans::list(&state.pool).await?;
        let pending = db::invitations::pending(&state.pool).await?;
        Ok::<_, Error>(AdminHomePage {
            ctx: page.ctx(),
            collective_name: collective.name,
            platform_domain: collective.platform_domain,
            member_count: members,
            plan_count: plans.len(),
            pending_invitations: pending.len(),
        })
    };
    Ok(render(load.await.map_err(|e| HtmlError(page.clone(), e))?))
}

async fn plans_page(
    state: &AppState,
    page: &PageCtx,
    errors: Errors,
    form: [String; 6],
) -> Result<PlansPage, Error> {
    let plans = db::plans::list(&state.pool).await?;
    Ok(PlansPage {
        ctx: page.ctx(),
        plans: plans
            .into_iter()
            .map(|p| PlanRow {
                id: p.id.to_string(),
                name: p.name,
                max_domains: p.limits.max_domains,
                max_mailboxes: p.limits.max_mailboxes,
                max_aliases: p.limits.max_aliases,
                max_xmpp_accounts: p.limits.max_xmpp_accounts,
                storage_mib: p.limits.storage_bytes / MIB,
            })
            .collect(),
        errors,
        form,
    })
}

async fn plans(State(state): State<AppState>, page: PageCtx, Admin(a): Admin) -> Response {
    let page = page.with_member(&a);
    match plans_page(&state, &page, Errors::default(), Default::default()).await {
        Ok(p) => render(p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct PlanForm {
    name: String,
    max_domains: String,
    max_mailboxes: String,
    max_aliases: String,
    max_xmpp_accounts: String,
    storage_mib: String,
}

async fn add_plan(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Form(f): Form<PlanForm>,
) -> Response {
    let page = page.with_member(&a);
    let result = async {
        let (name, limits) = requests::plan(&PlanInput {
            name: &f.name,
            max_domains: &f.max_domains,
            max_mailboxes: &f.max_mailboxes,
            max_aliases: &f.max_aliases,
            max_xmpp_accounts: &f.max_xmpp_accounts,
            storage_mib: &f.storage_mib,
        })?;
        let plan = db::plans::NewPlan {
            name: name.into_string(),
            limits,
        };
        db::plans::create(&state.pool, &a.actor(), &plan).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/admin/plans?done=plan_created").into_response(),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let form = [
                f.name,
                f.max_domains,
                f.max_mailboxes,
                f.max_aliases,
                f.max_xmpp_accounts,
                f.storage_mib,
            ];
            match plans_page(&state, &page, page.errors(&e), form).await {
                Ok(p) => render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, p),
                Err(e) => HtmlError(page, e).into_response(),
            }
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

pub fn audit_rows(entries: Vec<db::audit::Entry>) -> Vec<AuditRow> {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    entries
        .into_iter()
        .map(|e| AuditRow {
            at: e.at.format(&f).unwrap_or_default(),
            actor: e.actor_email.unwrap_or_else(|| "—".to_owned()),
            ip: e.ip.unwrap_or_else(|| "—".to_owned()),
            action: e.action,
            details: e.details.to_string(),
        })
        .collect()
}

#[derive(Deserialize)]
struct AuditQuery {
    before: Option<i64>,
}

const AUDIT_PAGE: i64 = 100;

async fn audit(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let entries = db::audit::list(&state.pool, q.before, AUDIT_PAGE)
        .await
        .map_err(|e| HtmlError(page.clone(), e))?;
    let next_href = if entries.len() == usize::try_from(AUDIT_PAGE).unwrap_or(100) {
        entries
            .last()
            .map(|e| format!("/admin/audit?before={}", e.id))
    } else {
        None
    };
    Ok(render(AuditPage {
        ctx: page.ctx(),
        entries: audit_rows(entries),
        next_href,
    }))
}
