//! Admin: list, search and page through members; change a member's plan; suspend; delete in
//! two steps (scheduled purge after a grace period, cancellable until then).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use web::pages::{Errors, MemberPage, MemberRow, MembersPage, NodeOption, PlanOption};
use web::states::MemberStatus;
use web::{Notice, Reason};

use super::super::account::{sync, usage_rows};
use super::super::extract::Form;
use super::super::page::Admin;
use super::super::page::HtmlError;
use super::super::page::{minute, render, render_status, PageCtx};
use super::super::AppState;
use super::audit_rows;
use crate::db;
use crate::db::members::{Member, Status};
use crate::error::Error;
use crate::model::ids::{MemberId, NodeId, PlanId};
use crate::services::members::{self, Action};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/members", get(list))
        .route("/admin/members/{id}", get(show))
        .route("/admin/members/{id}/plan", post(set_plan))
        .route("/admin/members/{id}/node", post(set_node))
        .route("/admin/members/{id}/{action}", post(act))
}

pub fn status(s: Status) -> MemberStatus {
    match s {
        Status::Active => MemberStatus::Active,
        Status::Suspended => MemberStatus::Suspended,
        Status::Deleting => MemberStatus::Deleting,
    }
}

fn row(m: Member) -> MemberRow {
    MemberRow {
        id: m.id.to_string(),
        email: m.email,
        display_name: m.display_name,
        plan: m.plan_name.unwrap_or_else(|| "—".to_owned()),
        status: status(m.status),
        is_admin: m.is_admin,
    }
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

fn href(q: &str, page: i64) -> String {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    format!("/admin/members?q={q}&page={page}")
}

async fn list(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Query(query): Query<ListQuery>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let q = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect::<String>();
    let n = query.page.unwrap_or(1).max(1);
    let result = db::members::list(
        &state.pool,
        &q,
        (n - 1).saturating_mul(db::members::PAGE_SIZE),
        db::members::PAGE_SIZE,
    )
    .await
    .map_err(|e| HtmlError(page.clone(), e))?;
    let pages = ((result.total + db::members::PAGE_SIZE - 1) / db::members::PAGE_SIZE).max(1);
    Ok(render(MembersPage {
        ctx: page.ctx(),
        members: result.members.into_iter().map(row).collect(),
        prev_href: (n > 1).then(|| href(&q, n - 1)),
        next_href: (n < pages).then(|| href(&q, n + 1)),
        q,
        page: n,
        pages,
        total: result.total,
    }))
}

async fn member_page(
    state: &AppState,
    page: &PageCtx,
    id: MemberId,
    errors: Errors,
) -> Result<MemberPage, Error> {
    let m = db::members::get(&state.pool, id).await?;
    let plans = db::plans::list(&state.pool).await?;
    let nodes = db::nodes::list(&state.pool).await?;
    let db::members::Overview {
        usage,
        limits,
        node: status,
        ..
    } = db::members::overview(&state.pool, id).await?;
    let audit = db::audit::list_for_member(&state.pool, id, 50).await?;
    Ok(MemberPage {
        ctx: page.ctx(),
        created: minute(m.created_at),
        delete_after: m.delete_after.map(minute),
        totp_enabled: m.totp_enabled,
        plans: plans
            .into_iter()
            .map(|p| PlanOption {
                selected: Some(p.id) == m.plan_id,
                id: p.id.to_string(),
                name: p.name,
            })
            .collect(),
        node_name: nodes
            .iter()
            .find(|n| Some(n.id) == m.node_id)
            .map(|n| n.name.clone()),
        sync: sync(status),
        // Only joined nodes can host anyone; the database refuses the others too.
        nodes: nodes
            .into_iter()
            .filter(|n| n.joined)
            .map(|n| NodeOption {
                selected: Some(n.id) == m.node_id,
                id: n.id.to_string(),
                name: n.name,
            })
            .collect(),
        usage: usage_rows(&usage, &limits),
        audit: audit_rows(audit),
        errors,
        member: row(m),
    })
}

async fn show(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let id: MemberId = id
        .parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))?;
    let p = member_page(&state, &page, id, Errors::default())
        .await
        .map_err(|e| HtmlError(page.clone(), e))?;
    Ok(render(p))
}

#[derive(Deserialize)]
struct NodeForm {
    node_id: String,
}

/// Hosts the member on the chosen node (audited); a node that has not joined is refused with
/// the page shown again.
async fn set_node(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(f): Form<NodeForm>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let id: MemberId = id
        .parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))?;
    let result = match f.node_id.parse::<NodeId>() {
        Ok(node) => members::set_node(&state.pool, &a.actor(), id, node).await,
        Err(_) => Err(Error::field("node_id", Reason::ChooseNode)),
    };
    match result {
        Ok(()) => Ok(
            Redirect::to(&Notice::MemberUpdated.on(&format!("/admin/members/{id}")))
                .into_response(),
        ),
        Err(e @ Error::Invalid(_)) => {
            let p = member_page(&state, &page, id, page.errors(&e))
                .await
                .map_err(|e| HtmlError(page.clone(), e))?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, p))
        }
        Err(e) => Err(HtmlError(page, e)),
    }
}

#[derive(Deserialize)]
struct PlanForm {
    plan: String,
}

async fn set_plan(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(f): Form<PlanForm>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let id: MemberId = id
        .parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))?;
    let plan: PlanId = f
        .plan
        .parse()
        .map_err(|_| HtmlError(page.clone(), Error::field("plan", Reason::ChoosePlan)))?;
    members::set_plan(&state.pool, &a.actor(), id, plan)
        .await
        .map_err(|e| HtmlError(page.clone(), e))?;
    Ok(Redirect::to(&Notice::MemberUpdated.on(&format!("/admin/members/{id}"))).into_response())
}

#[derive(Deserialize)]
struct Empty {}

async fn act(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path((id, action)): Path<(String, String)>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let page = page.with_member(&a);
    let id: MemberId = id
        .parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))?;
    let action = Action::parse(&action).ok_or_else(|| HtmlError(page.clone(), Error::NotFound))?;
    let grace = state.config.security.deletion_grace_days;
    members::act(&state.pool, &a.actor(), id, action, grace)
        .await
        .map_err(|e| HtmlError(page.clone(), e))?;
    Ok(Redirect::to(&Notice::MemberUpdated.on(&format!("/admin/members/{id}"))).into_response())
}
