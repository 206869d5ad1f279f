//! The node API (`/node-api/v1`): node agents join with a one-time token and then report in
//! with their credential (`Authorization: Bearer`). JSON in and out, errors as in the member
//! API. The wire types are `protocol::node`'s, shared with the agent.
//!
//! `GET /desired?after=G` is a long poll: it answers as soon as the node's generation passes G,
//! or 204 after 25 s. The triggers that bump a generation (`migrations/*_placement.sql`) also
//! `NOTIFY ruche_desired` in the changing transaction; the one `LISTEN` task of each control
//! plane (`workers::listener`) wakes the waiting polls, which re-read the generation every 5 s
//! anyway in case a notification was lost, and hold no connection while they wait. The answer
//! is the whole document (`db::desired::build`, one repeatable-read snapshot, so its generation
//! matches its content), or with `&delta=true` a `protocol::desired::Update`: a delta naming only
//! the members that changed since G, each whole, with their zones (and the whole DNS part after a
//! change to the node as a whole), when the change log holds every generation since G; else the
//! whole document. The log, `node_changes`, is written by the same triggers
//! (`migrations/*_node_changes.sql`): a row per generation, naming the member whose part changed,
//! or none for a change to the node as a whole; housekeeping keeps a week of it. A credential
//! revoked or replaced while the poll waited gets 401, not the document.
//!
//! A heartbeat's DKIM keys and mailbox usage are checked first (`model::report`: a bad entry is
//! skipped, never a 500) and stored only for the domains and mailboxes of members this node
//! hosts (`db::nodes::heartbeat`); the rest is ignored and logged with the node's id. Its
//! certificates, when it carries them, are checked the same way (`model::certificate`: names
//! within their domain, the error text made one short line) and replace the node's list, kept
//! only for the verified domains of members it hosts (`db::certificates::replace`).

use std::net::IpAddr;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::desired::Update;
use protocol::node::{Heartbeat, JoinRequest, JoinResponse};
use serde::Deserialize;
use tokio::sync::broadcast;
use web::Reason;

use super::error::ApiError;
use super::extract::{bearer, ClientIp};
use super::AppState;
use crate::db;
use crate::db::nodes::{Beat, Capacity, Joining};
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::model::input::Label;
use crate::model::requests::Fields;
use crate::model::{certificate, report};

/// Largest request body the node API takes. A heartbeat lists every mailbox's usage: 10,000
/// mailboxes with long addresses come to about 3 MiB of JSON. The portal keeps its 64 KiB.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Largest join request: a token, a name, up to 16 addresses and a few numbers fit in well under
/// this. `/join` is the one anonymous node endpoint, so it must not take megabytes from anyone.
pub const JOIN_BODY_LIMIT: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/join",
            post(join).layer(DefaultBodyLimit::max(JOIN_BODY_LIMIT)),
        )
        .route("/heartbeat", post(heartbeat))
        .route("/desired", get(desired))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// How long a long poll waits at most, and how often it re-reads the generation anyway.
const LONG_POLL: Duration = Duration::from_secs(25);
const RECHECK: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct DesiredQuery {
    /// The generation the node already has.
    after: Option<u64>,
    /// Seconds to wait for a newer one (at most 25, the default).
    wait: Option<u64>,
    /// Answer with a `protocol::desired::Update`: only what changed since `after` when the
    /// change log reaches back that far. Agents that do not ask get the whole document.
    #[serde(default)]
    delta: bool,
}

/// The node's desired state as soon as its generation passes `after` (with `delta=true`, what
/// changed since `after`), or 204 when nothing changed within the wait.
async fn desired(
    State(state): State<AppState>,
    Node(node): Node,
    headers: axum::http::HeaderMap,
    Query(q): Query<DesiredQuery>,
) -> Result<Response, ApiError> {
    let after = q.after.unwrap_or(0);
    let wait = q.wait.map_or(LONG_POLL, Duration::from_secs).min(LONG_POLL);
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribe before reading, so a change between the read and the wait is not missed.
    let mut changes = state.desired_changes.subscribe();
    loop {
        let generation =
            u64::try_from(db::desired::generation(&state.pool, node).await?).unwrap_or(0);
        if generation > after {
            // The credential may have been revoked or replaced while the poll waited.
            if db::nodes::authenticate(&state.pool, bearer(&headers)?).await? != Some(node) {
                return Err(ApiError(Error::Unauthorized));
            }
            let dns = crate::db::setup::dns_config(&state.pool, &state.config.dns).await?;
            if q.delta {
                let update =
                    db::desired::update_since(&state.pool, dns.as_ref(), node, after).await?;
                let generation = match &update {
                    Update::Full(doc) => doc.generation,
                    Update::Delta(delta) => delta.generation,
                };
                let etag = format!("\"{generation}\"");
                return Ok(([(header::ETAG, etag)], Json(update)).into_response());
            }
            let doc = db::desired::build(&state.pool, dns.as_ref(), node).await?;
            let etag = format!("\"{}\"", doc.generation);
            return Ok(([(header::ETAG, etag)], Json(doc)).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        let _ = tokio::time::timeout(
            (deadline - now).min(RECHECK),
            next_change(&mut changes, node),
        )
        .await;
    }
}

async fn next_change(changes: &mut broadcast::Receiver<uuid::Uuid>, node: NodeId) {
    loop {
        match changes.recv().await {
            Ok(id) if id == node.0 => return,
            Ok(_) => {}
            // Missed some: re-read the generation.
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// A node, authenticated by its credential.
pub struct Node(pub NodeId);

impl FromRequestParts<AppState> for Node {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let node = db::nodes::authenticate(&state.pool, bearer(&parts.headers)?)
            .await?
            .ok_or(ApiError(Error::Unauthorized))?;
        Ok(Node(node))
    }
}

const MAX_ADDRESSES: usize = 16;

/// Validates what a joining node says about itself.
fn parse_join(req: &JoinRequest) -> Result<Joining, Error> {
    let mut f = Fields::default();
    let host_name = f.check("name", Label::parse(&req.name, 100));
    let version = f.check("version", Label::parse(&req.version, 50));
    let addresses = if req.addresses.is_empty() || req.addresses.len() > MAX_ADDRESSES {
        f.check::<Vec<String>, _>(
            "addresses",
            Err(Reason::AddressCount { max: MAX_ADDRESSES }),
        )
    } else {
        let parsed: Result<Vec<IpAddr>, _> =
            req.addresses.iter().map(|a| a.parse::<IpAddr>()).collect();
        f.check(
            "addresses",
            parsed
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(|_| Reason::NotIpAddresses),
        )
    };
    let cap = req.capacity;
    let capacity = Capacity {
        cpus: i64::from(cap.cpus),
        memory_bytes: i64::try_from(cap.memory_bytes).unwrap_or(i64::MAX),
        disk_bytes: i64::try_from(cap.disk_bytes).unwrap_or(i64::MAX),
    };
    let value = match (host_name, version, addresses) {
        (Some(h), Some(v), Some(a)) => Some(Joining {
            host_name: h.into_string(),
            addresses: a,
            version: v.into_string(),
            capacity,
        }),
        _ => None,
    };
    Ok(f.finish(value)?)
}

async fn join(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<JoinRequest>,
) -> Result<(StatusCode, Json<JoinResponse>), ApiError> {
    let joining = parse_join(&req)?;
    let (node, credential) =
        crate::services::nodes::join(&state.pool, &req.token, &joining, ip).await?;
    tracing::info!(node = %node, "node joined");
    Ok((
        StatusCode::CREATED,
        Json(JoinResponse {
            node_id: node.to_string(),
            credential: credential.expose().to_owned(),
        }),
    ))
}

/// Checks what the node says and stores it. Entries that fail their check, or that name a
/// domain or mailbox the node does not host, are skipped with a warning naming the node: one
/// bad entry must not stop a node reporting in, and a node must never publish a key for a
/// domain it does not serve.
async fn heartbeat(
    State(state): State<AppState>,
    Node(node): Node,
    Json(hb): Json<Heartbeat>,
) -> Result<StatusCode, ApiError> {
    let version = Label::parse(&hb.version, 50).map_err(|e| Error::field("version", e))?;
    let healthy = hb.services.iter().all(|s| s.healthy);
    let services =
        serde_json::to_value(&hb.services).map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    let observed = hb
        .observed_generation
        .map(|g| i64::try_from(g).unwrap_or(i64::MAX));
    let report = report::check(&hb.dkim_keys, &hb.usage);
    if !report.skipped.is_empty() {
        tracing::warn!(
            node = %node,
            count = report.skipped.len(),
            first = %report.skipped.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
            "heartbeat entries failed their checks; skipped"
        );
    }
    let certificates = hb.certificates.as_deref().map(certificate::check);
    if let Some(skipped) = certificates.as_ref().map(|c| &c.skipped) {
        if !skipped.is_empty() {
            tracing::warn!(
                node = %node,
                count = skipped.len(),
                first = %skipped.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
                "heartbeat certificates failed their checks; skipped"
            );
        }
    }
    let beat = Beat {
        version: version.as_str(),
        healthy,
        services,
        observed_generation: observed,
        dns_address: hb.dns.map(|d| d.address.to_string()),
    };
    let ignored = db::nodes::heartbeat(
        &state.pool,
        node,
        &beat,
        &report,
        certificates.as_ref().map(|c| c.certificates.as_slice()),
    )
    .await?;
    if !ignored.domains.is_empty() {
        tracing::warn!(
            node = %node,
            count = ignored.domains.len(),
            first = %ignored.domains.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            "heartbeat carried DKIM keys for domains this node does not host; ignored"
        );
    }
    if !ignored.addresses.is_empty() {
        tracing::warn!(
            node = %node,
            count = ignored.addresses.len(),
            first = %ignored.addresses.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            "heartbeat carried usage for mailboxes this node does not host; ignored"
        );
    }
    if !ignored.certificates.is_empty() {
        tracing::warn!(
            node = %node,
            count = ignored.certificates.len(),
            first = %ignored.certificates.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            "heartbeat carried certificates for domains not placed on this node; ignored"
        );
    }
    Ok(StatusCode::NO_CONTENT)
}
