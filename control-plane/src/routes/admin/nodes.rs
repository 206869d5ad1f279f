//! Admin: the collective's nodes, adding one (which yields its one-time join command), revoking
//! a node's credential and rotating it (a new one-time join token for the same node); a node's
//! own page, with the certificates it last reported.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use protocol::node::Challenge;
use serde::Deserialize;
use time::OffsetDateTime;
use web::pages::{CertificateRow, Errors, NodePage, NodeRow, NodesPage};
use web::states::{CertificateChallenge, Health, NodeState};
use web::Notice;

use super::super::account::certificate_status;
use super::super::extract::Form;
use super::super::page::Admin;
use super::super::page::HtmlError;
use super::super::page::{minute, render_status, second, PageCtx};
use super::super::AppState;
use crate::db;
use crate::db::nodes::Node;
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::model::input::MIB;
use crate::model::requests;
use crate::model::secret::Token;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/nodes", get(show).post(create))
        .route("/admin/nodes/{id}", get(show_node))
        .route("/admin/nodes/{id}/revoke", post(revoke))
        .route("/admin/nodes/{id}/rotate", post(rotate))
}

/// The command the page shows: the token is not on it (it would stay in the shell's history
/// and be visible to every user in the process list); `--token-file -` reads it from standard
/// input, where the operator pastes it. A rotation joins a machine that has a `node.json`
/// already, hence `--force`.
fn join_command(state: &AppState, rejoin: bool) -> String {
    format!(
        "node-agent join {} --token-file - --address <this node's IP address>{}",
        state.public_url.as_str().trim_end_matches('/'),
        if rejoin { " --force" } else { "" }
    )
}

fn row(n: Node) -> NodeRow {
    NodeRow {
        id: n.id.to_string(),
        name: n.name,
        state: match n.state.as_str() {
            "joined" => NodeState::Joined,
            "rotating" => NodeState::Rotating,
            "revoked" => NodeState::Revoked,
            _ => NodeState::Waiting,
        },
        host_name: n.host_name.unwrap_or_default(),
        addresses: n.addresses.join(", "),
        version: n.version.unwrap_or_default(),
        capacity: n
            .capacity
            .map(|c| {
                format!(
                    "{} CPU, {} MiB RAM, {} GiB disk",
                    c.cpus,
                    c.memory_bytes / MIB,
                    c.disk_bytes / (1024 * MIB)
                )
            })
            .unwrap_or_default(),
        last_heartbeat: n.last_heartbeat_at.map(second).unwrap_or_default(),
        health: match n.healthy {
            Some(true) => Health::Ok,
            Some(false) => Health::Problem,
            None => Health::Unknown,
        },
        members: n.members,
        generations: format!(
            "{} / {}",
            n.observed_generation
                .map_or_else(|| "—".to_owned(), |g| g.to_string()),
            n.desired_generation
        ),
    }
}

/// A certificate as the admin is shown it: the reader's view of its state (expired, being
/// renewed), its names in Unicode.
pub(super) fn certificate_row(
    node_id: NodeId,
    node_name: &str,
    own: bool,
    c: db::certificates::Stored,
    now: OffsetDateTime,
) -> CertificateRow {
    let status = certificate_status(c.state, c.not_after, now);
    CertificateRow {
        node_id: node_id.to_string(),
        node_name: node_name.to_owned(),
        names: c
            .names
            .iter()
            .map(|n| db::domains::display(n))
            .collect::<Vec<_>>()
            .join(", "),
        own,
        challenge: match c.challenge {
            Challenge::Http01 => CertificateChallenge::Http01,
            Challenge::Dns01 => CertificateChallenge::Dns01,
        },
        status,
        until: c.not_after.filter(|_| status.serves()).map(minute),
        error: c.error,
        retry: c.retry_at.map(minute),
        reported: second(c.reported_at),
    }
}

/// A node's page: what it says of itself, and its certificates.
async fn show_node(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
) -> Response {
    let page = page.with_member(&a);
    let load = async {
        let id: NodeId = id.parse().map_err(|_| Error::NotFound)?;
        let node = db::nodes::get(&state.pool, id).await?;
        let certificates = db::certificates::of_node(&state.pool, id).await?;
        let now = OffsetDateTime::now_utc();
        let name = node.name.clone();
        Ok::<_, Error>(NodePage {
            ctx: page.ctx(),
            node: row(node),
            certificates: certificates
                .into_iter()
                .map(|c| certificate_row(id, &name, c.domain_id.is_none(), c.certificate, now))
                .collect(),
        })
    };
    match load.await {
        Ok(p) => render_status(StatusCode::OK, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn page_of(
    state: &AppState,
    page: &PageCtx,
    errors: Errors,
    name: String,
    join: Option<(String, Token)>,
) -> Result<NodesPage, Error> {
    let nodes = db::nodes::list(&state.pool).await?;
    let (join_command, join_token) = match join {
        Some((command, token)) => (Some(command), Some(token.expose().to_owned())),
        None => (None, None),
    };
    Ok(NodesPage {
        ctx: page.ctx(),
        nodes: nodes.into_iter().map(row).collect(),
        errors,
        name,
        join_command,
        join_token,
    })
}

async fn show(State(state): State<AppState>, page: PageCtx, Admin(a): Admin) -> Response {
    let page = page.with_member(&a);
    match page_of(&state, &page, Errors::default(), String::new(), None).await {
        Ok(p) => render_status(StatusCode::OK, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct NodeForm {
    name: String,
}

async fn create(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Form(f): Form<NodeForm>,
) -> Response {
    let page = page.with_member(&a);
    let result = async {
        let name = requests::label("name", &f.name)?;
        crate::services::nodes::create(&state.pool, &a.actor(), name.as_str()).await
    }
    .await;
    let (status, errors, name, command) = match result {
        Ok((_, token)) => (
            StatusCode::OK,
            Errors::default(),
            String::new(),
            Some((join_command(&state, false), token)),
        ),
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page.errors(&e),
            f.name,
            None,
        ),
        Err(e) => return HtmlError(page, e).into_response(),
    };
    match page_of(&state, &page, errors, name, command).await {
        Ok(p) => render_status(status, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn revoke(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(node) = id.parse::<NodeId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    match crate::services::nodes::revoke(&state.pool, &a.actor(), node).await {
        Ok(()) => Redirect::to(&Notice::NodeRevoked.on("/admin/nodes")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn rotate(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(node) = id.parse::<NodeId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    let result = async {
        let token = crate::services::nodes::rotate(&state.pool, &a.actor(), node).await?;
        page_of(
            &state,
            &page,
            Errors::default(),
            String::new(),
            Some((join_command(&state, true), token)),
        )
        .await
    }
    .await;
    match result {
        Ok(p) => render_status(StatusCode::OK, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct Empty {}
