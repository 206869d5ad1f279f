//! The collective admin's pages: overview (with the certificates nodes could not get or renew),
//! plans, members, nodes, invitations, audit log.
//! Every handler takes `Admin`; a member who is not an admin gets 404 for all of them.

pub(super) mod dns;
pub(super) mod invitations;
mod members;
mod nodes;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use web::pages::{
    AdminHomePage, AuditPage, AuditRow, Errors, PlanFormValues, PlanRow, PlansPage, WorkerRow,
};
use web::Notice;

use super::extract::{Form, Member};
use super::page::Admin;
use super::page::HtmlError;
use super::page::{render, render_status, second, PageCtx};
use super::AppState;
use crate::db;
use crate::error::Error;
use crate::model::ids::PlanId;
use crate::model::input::MIB;
use crate::model::requests::{self, PlanInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/plans", get(plans).post(add_plan))
        .route("/admin/plans/{id}", get(edit_plan).post(update_plan))
        .route("/admin/audit", get(audit))
        .merge(members::router())
        .merge(invitations::router())
        .merge(nodes::router())
        .merge(dns::router())
}

/// Most certificates in trouble the overview lists; the rest are on their nodes' pages.
const CERTIFICATE_PROBLEMS: i64 = 50;

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
        let (troubles, total) =
            db::certificates::in_trouble(&state.pool, CERTIFICATE_PROBLEMS).await?;
        let now = time::OffsetDateTime::now_utc();
        let listed = i64::try_from(troubles.len()).unwrap_or(i64::MAX);
        Ok::<_, Error>(AdminHomePage {
            ctx: page.ctx(),
            collective_name: collective.name,
            platform_domain: collective.platform_domain,
            member_count: members,
            plan_count: plans.len(),
            pending_invitations: pending.len(),
            workers: state
                .workers
                .statuses()
                .into_iter()
                .map(worker_row)
                .collect(),
            certificate_problems: troubles
                .into_iter()
                .map(|t| {
                    let own = t.domain_id.is_none();
                    nodes::certificate_row(t.node_id, &t.node_name, own, t.certificate, now)
                })
                .collect(),
            certificate_problems_unlisted: total - listed,
        })
    };
    Ok(render(load.await.map_err(|e| HtmlError(page.clone(), e))?))
}

fn worker_row(w: crate::workers::Status) -> WorkerRow {
    let at = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    WorkerRow {
        name: w.name.to_owned(),
        every_seconds: w.every.map(|d| d.as_secs()),
        last_run: w.last_run.and_then(|t| t.format(&at).ok()),
        runs: w.runs,
        failures: w.failures,
        last_error: w.last_error,
    }
}

async fn plans_page(
    state: &AppState,
    page: &PageCtx,
    errors: Errors,
    form: PlanFormValues,
    editing: Option<PlanId>,
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
        editing: editing.map(|id| id.to_string()),
    })
}

async fn plans(State(state): State<AppState>, page: PageCtx, Admin(a): Admin) -> Response {
    let page = page.with_member(&a);
    match plans_page(&state, &page, Errors::default(), Default::default(), None).await {
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

impl PlanForm {
    fn parse(&self) -> Result<db::plans::NewPlan, Error> {
        let (name, limits) = requests::plan(&PlanInput {
            name: &self.name,
            max_domains: &self.max_domains,
            max_mailboxes: &self.max_mailboxes,
            max_aliases: &self.max_aliases,
            max_xmpp_accounts: &self.max_xmpp_accounts,
            storage_mib: &self.storage_mib,
        })?;
        Ok(db::plans::NewPlan {
            name: name.into_string(),
            limits,
        })
    }

    /// What was typed, to show the form again.
    fn values(self) -> PlanFormValues {
        PlanFormValues {
            name: self.name,
            max_domains: self.max_domains,
            max_mailboxes: self.max_mailboxes,
            max_aliases: self.max_aliases,
            max_xmpp_accounts: self.max_xmpp_accounts,
            storage_mib: self.storage_mib,
        }
    }
}

/// Creates a plan (`editing` None) or changes one, then back to the list; on bad input, the
/// form again with the errors.
async fn save_plan(
    state: &AppState,
    page: PageCtx,
    a: &Member,
    editing: Option<PlanId>,
    f: PlanForm,
) -> Response {
    let result = async {
        let plan = f.parse()?;
        match editing {
            None => crate::services::plans::create(&state.pool, &a.actor(), &plan)
                .await
                .map(|_| Notice::PlanCreated),
            Some(id) => crate::services::plans::update(&state.pool, &a.actor(), id, &plan)
                .await
                .map(|()| Notice::Saved),
        }
    }
    .await;
    match result {
        Ok(done) => Redirect::to(&done.on("/admin/plans")).into_response(),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            match plans_page(state, &page, page.errors(&e), f.values(), editing).await {
                Ok(p) => render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, p),
                Err(e) => HtmlError(page, e).into_response(),
            }
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn add_plan(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Form(f): Form<PlanForm>,
) -> Response {
    let page = page.with_member(&a);
    save_plan(&state, page, &a, None, f).await
}

/// The plans page with the form filled with one plan, to change it.
async fn edit_plan(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let load = async {
        let id: PlanId = id.parse().map_err(|_| Error::NotFound)?;
        let p = db::plans::get(&state.pool, id).await?;
        let l = p.limits;
        let form = PlanFormValues {
            name: p.name,
            max_domains: l.max_domains.to_string(),
            max_mailboxes: l.max_mailboxes.to_string(),
            max_aliases: l.max_aliases.to_string(),
            max_xmpp_accounts: l.max_xmpp_accounts.to_string(),
            storage_mib: (l.storage_bytes / MIB).to_string(),
        };
        plans_page(&state, &page, Errors::default(), form, Some(id)).await
    };
    Ok(render(load.await.map_err(|e| HtmlError(page.clone(), e))?))
}

async fn update_plan(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(f): Form<PlanForm>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(id) = id.parse::<PlanId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    save_plan(&state, page, &a, Some(id), f).await
}

pub fn audit_rows(entries: Vec<db::audit::Entry>) -> Vec<AuditRow> {
    entries
        .into_iter()
        .map(|e| AuditRow {
            at: second(e.at),
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
