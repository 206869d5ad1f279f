//! The node API (`/node-api/v1`): node agents join with a one-time token and then report in
//! with their credential (`Authorization: Bearer`). JSON in and out, errors as in the member
//! API. The wire types are `protocol::node`'s, shared with the agent.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use protocol::node::{Heartbeat, JoinRequest, JoinResponse};

use super::error::ApiError;
use super::extract::{bearer, ClientIp};
use super::AppState;
use crate::db;
use crate::db::nodes::{Capacity, Joining};
use crate::domain::ids::NodeId;
use crate::domain::input::Label;
use crate::domain::requests::Fields;
use crate::domain::text::Text;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/join", post(join))
        .route("/heartbeat", post(heartbeat))
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
            Err(Text::new(
                format!("must list 1 to {MAX_ADDRESSES} addresses"),
                format!("doit indiquer de 1 à {MAX_ADDRESSES} adresses"),
            )),
        )
    } else {
        let parsed: Result<Vec<IpAddr>, _> =
            req.addresses.iter().map(|a| a.parse::<IpAddr>()).collect();
        f.check(
            "addresses",
            parsed
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(|_| Text::new("must be IP addresses", "doivent être des adresses IP")),
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
    f.finish(value)
}

async fn join(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<JoinRequest>,
) -> Result<(StatusCode, Json<JoinResponse>), ApiError> {
    let joining = parse_join(&req)?;
    let (node, credential) = db::nodes::join(&state.pool, &req.token, &joining, ip).await?;
    tracing::info!(node = %node, "node joined");
    Ok((
        StatusCode::CREATED,
        Json(JoinResponse {
            node_id: node.to_string(),
            credential: credential.expose().to_owned(),
        }),
    ))
}

async fn heartbeat(
    State(state): State<AppState>,
    Node(node): Node,
    Json(hb): Json<Heartbeat>,
) -> Result<StatusCode, ApiError> {
    let version = Label::parse(&hb.version, 50).map_err(|e| Error::field("version", e))?;
    let healthy = hb.services.iter().all(|s| s.healthy);
    let services =
        serde_json::to_value(&hb.services).map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    db::nodes::heartbeat(&state.pool, node, version.as_str(), healthy, services).await?;
    Ok(StatusCode::NO_CONTENT)
}
