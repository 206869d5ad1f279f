//! Admin endpoints: plans, members, invitations, audit log, nodes and their DNS. Non-admin
//! tokens get 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use web::Reason;

use super::super::error::{ApiError, ErrorBody};
use super::super::extract::ApiAdmin;
use super::super::AppState;
use super::schema::{
    self, DnsOverview, Entry, Invitation, Limits, Member, Node, NodeStatus, Plan, Usage,
};
use crate::db;
use crate::error::Error;
use crate::model::ids::{InvitationId, MemberId, NodeId, PlanId};
use crate::model::requests::{self, Fields, PlanInput};
use crate::model::EmailAddress;
use crate::services::dns_admin;
use crate::services::members::{self, Action};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(update_plan))
        .routes(routes!(list_members))
        .routes(routes!(get_member))
        .routes(routes!(set_member_plan))
        .routes(routes!(set_member_node))
        .routes(routes!(member_action))
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(audit))
        .routes(routes!(list_nodes, create_node))
        .routes(routes!(dns_overview))
        .routes(routes!(add_external_secondary))
        .routes(routes!(remove_external_secondary))
        .routes(routes!(rotate_external_secondary_keys))
        .routes(routes!(reveal_external_secondary_keys))
        .routes(routes!(rotate_node_keys))
        .routes(routes!(revoke_node))
        .routes(routes!(rotate_node_credential))
        .routes(routes!(set_node_operator))
        .routes(routes!(list_workers))
}

type ApiResult<T> = Result<T, ApiError>;

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError(Error::NotFound))
}

#[utoipa::path(get, path = "/admin/plans", tag = "admin", security(("token" = [])),
    responses((status = 200, body = Vec<Plan>)))]
async fn list_plans(State(state): State<AppState>, _: ApiAdmin) -> ApiResult<Json<Vec<Plan>>> {
    Ok(Json(schema::all(db::plans::list(&state.pool).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct PlanBody {
    pub name: String,
    pub max_domains: i64,
    pub max_mailboxes: i64,
    pub max_aliases: i64,
    pub max_xmpp_accounts: i64,
    pub storage_mib: i64,
}

fn parse_plan(b: &PlanBody) -> Result<db::plans::NewPlan, Error> {
    let (d, m, a, x, s) = (
        b.max_domains.to_string(),
        b.max_mailboxes.to_string(),
        b.max_aliases.to_string(),
        b.max_xmpp_accounts.to_string(),
        b.storage_mib.to_string(),
    );
    let (name, limits) = requests::plan(&PlanInput {
        name: &b.name,
        max_domains: &d,
        max_mailboxes: &m,
        max_aliases: &a,
        max_xmpp_accounts: &x,
        storage_mib: &s,
    })?;
    Ok(db::plans::NewPlan {
        name: name.into_string(),
        limits,
    })
}

#[utoipa::path(post, path = "/admin/plans", tag = "admin", security(("token" = [])), request_body = PlanBody,
    responses((status = 201, body = Plan), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_plan(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Json(body): Json<PlanBody>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    let plan = parse_plan(&body)?;
    let id = crate::services::plans::create(&state.pool, &a.actor(), &plan).await?;
    Ok((
        StatusCode::CREATED,
        Json(db::plans::get(&state.pool, id).await?.into()),
    ))
}

#[utoipa::path(put, path = "/admin/plans/{id}", tag = "admin", security(("token" = [])), request_body = PlanBody,
    params(("id" = String, Path)),
    responses((status = 200, body = Plan), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_plan(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(p): Path<String>,
    Json(body): Json<PlanBody>,
) -> ApiResult<Json<Plan>> {
    let p: PlanId = id(&p)?;
    let plan = parse_plan(&body)?;
    crate::services::plans::update(&state.pool, &a.actor(), p, &plan).await?;
    Ok(Json(db::plans::get(&state.pool, p).await?.into()))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// Search in address and name.
    q: Option<String>,
    /// 1-based page of 50.
    page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

#[utoipa::path(get, path = "/admin/members", tag = "admin", security(("token" = [])), params(ListQuery),
    responses((status = 200, body = MemberList)))]
async fn list_members(
    State(state): State<AppState>,
    _: ApiAdmin,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<MemberList>> {
    const PAGE: i64 = db::members::PAGE_SIZE;
    let page = q.page.unwrap_or(1).max(1);
    let query = q.q.unwrap_or_default();
    let result = db::members::list(
        &state.pool,
        query.trim(),
        (page - 1).saturating_mul(PAGE),
        PAGE,
    )
    .await?;
    Ok(Json(MemberList {
        pages: ((result.total + PAGE - 1) / PAGE).max(1),
        members: schema::all(result.members),
        total: result.total,
        page,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MemberDetail {
    pub member: Member,
    pub usage: Usage,
    pub limits: Limits,
    /// The generations of the node that serves the member (`member.node_id`); null while none.
    pub node: Option<NodeStatus>,
}

#[utoipa::path(get, path = "/admin/members/{id}", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MemberDetail), (status = 404, body = ErrorBody)))]
async fn get_member(
    State(state): State<AppState>,
    _: ApiAdmin,
    Path(m): Path<String>,
) -> ApiResult<Json<MemberDetail>> {
    let m: MemberId = id(&m)?;
    let member = db::members::get(&state.pool, m).await?;
    let db::members::Overview {
        usage,
        limits,
        node,
        ..
    } = db::members::overview(&state.pool, m).await?;
    Ok(Json(MemberDetail {
        member: member.into(),
        usage: usage.into(),
        limits: limits.into(),
        node: node.map(Into::into),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SetNode {
    /// A node that has joined.
    pub node_id: String,
}

/// Hosts the member on this node, moving them off the one that served them before. Both
/// nodes' desired generations grow: the old one stops serving the member, the new one starts.
#[utoipa::path(put, path = "/admin/members/{id}/node", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), request_body = SetNode,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_member_node(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(m): Path<String>,
    Json(body): Json<SetNode>,
) -> ApiResult<StatusCode> {
    let m: MemberId = id(&m)?;
    let node: NodeId = body
        .node_id
        .parse()
        .map_err(|_| Error::field("node_id", Reason::NotNodeId))?;
    members::set_node(&state.pool, &a.actor(), m, node).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct SetPlan {
    pub plan_id: String,
}

#[utoipa::path(put, path = "/admin/members/{id}/plan", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), request_body = SetPlan,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_member_plan(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(m): Path<String>,
    Json(body): Json<SetPlan>,
) -> ApiResult<StatusCode> {
    let m: MemberId = id(&m)?;
    let plan: PlanId = body
        .plan_id
        .parse()
        .map_err(|_| Error::field("plan_id", Reason::NotPlanId))?;
    db::plans::get(&state.pool, plan)
        .await
        .map_err(|_| Error::field("plan_id", Reason::NoSuchPlan))?;
    members::set_plan(&state.pool, &a.actor(), m, plan).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `suspend`, `unsuspend`, `delete` (schedules the purge after the grace period) or
/// `cancel-delete`.
#[utoipa::path(post, path = "/admin/members/{id}/{action}", tag = "admin", security(("token" = [])),
    params(("id" = String, Path), ("action" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn member_action(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path((m, action)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let m: MemberId = id(&m)?;
    let action = Action::parse(&action).ok_or(ApiError(Error::NotFound))?;
    let grace = state.config.security.deletion_grace_days;
    members::act(&state.pool, &a.actor(), m, action, grace).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/invitations", tag = "admin", security(("token" = [])),
    responses((status = 200, body = Vec<Invitation>)))]
async fn list_invitations(
    State(state): State<AppState>,
    _: ApiAdmin,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(schema::all(
        db::invitations::pending(&state.pool).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewInvitation {
    pub email: String,
    pub plan_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// Whether the invitation mail went out.
    pub mail_sent: bool,
    /// The one-time link, returned when no mail went out so it can be passed on another way.
    pub link: Option<String>,
}

#[utoipa::path(post, path = "/admin/invitations", tag = "admin", security(("token" = [])), request_body = NewInvitation,
    responses((status = 201, body = CreatedInvitation), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Json(body): Json<NewInvitation>,
) -> ApiResult<(StatusCode, Json<CreatedInvitation>)> {
    let mut f = Fields::default();
    let email = f.check("email", EmailAddress::parse(body.email.trim()));
    let plan = f.check(
        "plan_id",
        body.plan_id
            .parse::<PlanId>()
            .map_err(|_| Reason::NotPlanId),
    );
    let (email, plan) = f.finish(email.zip(plan))?;
    db::plans::get(&state.pool, plan)
        .await
        .map_err(|_| Error::field("plan_id", Reason::NoSuchPlan))?;
    let (invitation, link, sent) = state.invite(&a.actor(), &email, plan).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation: invitation.into(),
            mail_sent: sent,
            link: (!sent).then_some(link),
        }),
    ))
}

#[utoipa::path(delete, path = "/admin/invitations/{id}", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(i): Path<String>,
) -> ApiResult<StatusCode> {
    let i: InvitationId = id(&i)?;
    crate::services::invitations::revoke(&state.pool, &a.actor(), i).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
struct AuditQuery {
    /// Id of the last entry of the previous page.
    before: Option<i64>,
}

#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("token" = [])), params(AuditQuery),
    responses((status = 200, body = Vec<Entry>)))]
async fn audit(
    State(state): State<AppState>,
    _: ApiAdmin,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<Entry>>> {
    Ok(Json(schema::all(
        db::audit::list(&state.pool, q.before, 100).await?,
    )))
}

#[utoipa::path(get, path = "/admin/nodes", tag = "admin", security(("token" = [])),
    responses((status = 200, body = Vec<Node>)))]
async fn list_nodes(State(state): State<AppState>, _: ApiAdmin) -> ApiResult<Json<Vec<Node>>> {
    Ok(Json(schema::all(db::nodes::list(&state.pool).await?)))
}

/// One background worker of the control plane that answers (each control plane runs its own).
#[derive(Serialize, ToSchema)]
pub struct Worker {
    /// `housekeeping`, `dns` or `desired-listener`.
    pub name: String,
    /// Seconds between two rounds; absent for a worker that runs continuously.
    pub every_seconds: Option<u64>,
    /// When its last round ended (RFC 3339); absent before the first.
    pub last_run: Option<String>,
    pub runs: u64,
    pub failures: u64,
    /// The last round's failure, cleared by the next round that succeeds.
    pub last_error: Option<String>,
}

/// The background workers of this control plane: how often each runs, when it last ran, and
/// its last error.
#[utoipa::path(get, path = "/admin/workers", tag = "admin", security(("token" = [])),
    responses((status = 200, body = Vec<Worker>)))]
async fn list_workers(State(state): State<AppState>, _: ApiAdmin) -> Json<Vec<Worker>> {
    let rfc3339 = time::format_description::well_known::Rfc3339;
    Json(
        state
            .workers
            .statuses()
            .into_iter()
            .map(|w| Worker {
                name: w.name.to_owned(),
                every_seconds: w.every.map(|d| d.as_secs()),
                last_run: w.last_run.and_then(|t| t.format(&rfc3339).ok()),
                runs: w.runs,
                failures: w.failures,
                last_error: w.last_error,
            })
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
pub struct NewNode {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedNode {
    pub node: Node,
    /// For `node-agent join <portal URL> --token-file - --address <IP>` (the token is read from
    /// standard input): works once, for 24 hours. Only a hash is kept.
    pub join_token: String,
}

/// Revokes the node's credential at once: its polls and heartbeats get 401, it leaves DNS
/// placement and hosts no new members (those it hosts stay until moved). It keeps serving what
/// it last applied. Rotate to let it join again.
#[utoipa::path(post, path = "/admin/nodes/{id}/revoke", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_node(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(n): Path<String>,
) -> ApiResult<StatusCode> {
    let n: NodeId = id(&n)?;
    crate::services::nodes::revoke(&state.pool, &a.actor(), n).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RotatedNode {
    /// For `node-agent join <portal URL> --token-file - --address <IP> --force` on the node:
    /// works once, for 24 hours, and gives the node a new credential. Until then its current
    /// credential (if not revoked) keeps working.
    pub join_token: String,
}

/// Issues a new one-time join token for the node; joining with it replaces the node's
/// credential (same node, members and DNS role).
#[utoipa::path(post, path = "/admin/nodes/{id}/rotate", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 201, body = RotatedNode), (status = 404, body = ErrorBody)))]
async fn rotate_node_credential(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(n): Path<String>,
) -> ApiResult<(StatusCode, Json<RotatedNode>)> {
    let n: NodeId = id(&n)?;
    let token = crate::services::nodes::rotate(&state.pool, &a.actor(), n).await?;
    Ok((
        StatusCode::CREATED,
        Json(RotatedNode {
            join_token: token.expose().to_owned(),
        }),
    ))
}

/// Adds a node waiting to join, and returns its one-time join token.
#[utoipa::path(post, path = "/admin/nodes", tag = "admin", security(("token" = [])), request_body = NewNode,
    responses((status = 201, body = CreatedNode), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_node(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Json(body): Json<NewNode>,
) -> ApiResult<(StatusCode, Json<CreatedNode>)> {
    let name = requests::label("name", &body.name)?;
    let (id, token) =
        crate::services::nodes::create(&state.pool, &a.actor(), name.as_str()).await?;
    let node = db::nodes::list(&state.pool)
        .await?
        .into_iter()
        .find(|n| n.id == id)
        .ok_or(Error::NotFound)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedNode {
            node: node.into(),
            join_token: token.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(get, path = "/admin/dns", tag = "admin", security(("token" = [])),
    responses((status = 200, body = DnsOverview)))]
async fn dns_overview(State(state): State<AppState>, _: ApiAdmin) -> ApiResult<Json<DnsOverview>> {
    let config = dns_admin::dns_config(&state.pool, &state.config.dns).await?;
    Ok(Json(
        db::dns_admin::overview(&state.pool, &config).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct NewExternalSecondary {
    /// Its host name, e.g. `ns1.friends.example`.
    pub nameserver: String,
    /// `ip:port` where it answers (an IP address alone means port 53).
    pub address: String,
    /// Its key for node N is named `ns<N>.<key_suffix>`; generated
    /// (`ext-<random>.tsig.<platform domain>`) when absent.
    #[serde(alias = "tsig_name")]
    pub key_suffix: Option<String>,
    /// Refused (422): each node's key is made here, so that no two nodes share one.
    pub tsig_secret: Option<String>,
}

/// An external secondary's key for one node: what its operator configures to transfer that
/// node's catalog zone (and the zones it lists) from that node.
#[derive(Serialize, ToSchema)]
pub struct CreatedTsig {
    pub node_id: NodeId,
    /// The node's name server.
    pub nameserver: String,
    /// Where it answers (`ip:port`); null before the node reports it.
    pub address: Option<String>,
    /// The node's catalog zone.
    pub catalog: String,
    pub name: String,
    /// Always `hmac-sha256`.
    pub algorithm: String,
    /// Shown here only; configure it on the secondary for this node alone.
    pub secret: String,
}

fn created_keys(keys: Vec<crate::db::tsig_keys::ExternalNodeKey>) -> Vec<CreatedTsig> {
    keys.into_iter()
        .map(|k| CreatedTsig {
            node_id: k.node_id,
            nameserver: k.nameserver.to_string(),
            address: k.address.map(|a| a.to_string()),
            catalog: k.catalog.to_string(),
            name: k.key.name.to_string(),
            algorithm: k.key.algorithm.as_str().to_owned(),
            secret: k.key.secret.expose().to_owned(),
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct CreatedExternalSecondary {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub nameserver: String,
    pub address: String,
    /// One key per joined node (nodes that join later get theirs from `reveal-keys`).
    pub keys: Vec<CreatedTsig>,
}

/// Adds a friendly collective's name server as a secondary of every zone: every node serves it
/// its catalog zone with a key of its own, and every zone's NS records list it.
#[utoipa::path(post, path = "/admin/dns/external-secondaries", tag = "admin", security(("token" = [])),
    request_body = NewExternalSecondary,
    responses((status = 201, body = CreatedExternalSecondary), (status = 422, body = ErrorBody)))]
async fn add_external_secondary(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Json(body): Json<NewExternalSecondary>,
) -> ApiResult<(StatusCode, Json<CreatedExternalSecondary>)> {
    let input = dns_admin::ExternalInput {
        nameserver: &body.nameserver,
        address: &body.address,
        key_suffix: body.key_suffix.as_deref(),
        tsig_secret: body.tsig_secret.as_deref(),
    };
    let c = dns_admin::add_external(&state.pool, &state.config.dns, &a.actor(), &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedExternalSecondary {
            id: c.id,
            nameserver: c.nameserver.to_string(),
            address: c.address.to_string(),
            keys: created_keys(c.keys),
        }),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RotateExternalKeys {
    /// Only this node's key; every joined node's when absent.
    pub node_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExternalKeys {
    pub keys: Vec<CreatedTsig>,
}

/// New secrets for an external secondary's keys (every node's, or one node's), shown here only.
/// Transfers to it fail until its operator configures them.
#[utoipa::path(post, path = "/admin/dns/external-secondaries/{id}/rotate-keys", tag = "admin",
    security(("token" = [])), params(("id" = String, Path)), request_body = RotateExternalKeys,
    responses((status = 200, body = ExternalKeys), (status = 404, body = ErrorBody)))]
async fn rotate_external_secondary_keys(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(e): Path<String>,
    body: Option<Json<RotateExternalKeys>>,
) -> ApiResult<Json<ExternalKeys>> {
    let e: uuid::Uuid = id(&e)?;
    let node = match body.and_then(|Json(b)| b.node_id) {
        Some(n) => Some(id::<NodeId>(&n)?),
        None => None,
    };
    let keys = dns_admin::rotate_external_keys(&state.pool, &state.config.dns, &a.actor(), e, node)
        .await?;
    Ok(Json(ExternalKeys {
        keys: created_keys(keys),
    }))
}

/// The external secondary's keys the admin has not seen (made for nodes that joined after it
/// was added, or by the upgrade to per-node keys), shown here once; an empty list afterwards.
#[utoipa::path(post, path = "/admin/dns/external-secondaries/{id}/reveal-keys", tag = "admin",
    security(("token" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ExternalKeys), (status = 404, body = ErrorBody)))]
async fn reveal_external_secondary_keys(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(e): Path<String>,
) -> ApiResult<Json<ExternalKeys>> {
    let e: uuid::Uuid = id(&e)?;
    let keys =
        dns_admin::reveal_external_keys(&state.pool, &state.config.dns, &a.actor(), e).await?;
    Ok(Json(ExternalKeys {
        keys: created_keys(keys),
    }))
}

#[utoipa::path(delete, path = "/admin/dns/external-secondaries/{id}", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_external_secondary(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(e): Path<String>,
) -> ApiResult<StatusCode> {
    let e: uuid::Uuid = id(&e)?;
    dns_admin::remove_external(&state.pool, &a.actor(), e).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces every TSIG key the node shares with other nodes. Transfers between them pause until
/// both ends applied the new key (seconds).
#[utoipa::path(post, path = "/admin/nodes/{id}/dns/rotate-keys", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn rotate_node_keys(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(n): Path<String>,
) -> ApiResult<StatusCode> {
    let n: NodeId = id(&n)?;
    dns_admin::rotate_keys(&state.pool, &a.actor(), n).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct SetOperator {
    /// Who runs the machine (1 to 100 characters); null forgets it.
    pub operator: Option<String>,
}

/// Names who runs a node; secondaries are picked among other operators first.
#[utoipa::path(put, path = "/admin/nodes/{id}/operator", tag = "admin", security(("token" = [])),
    params(("id" = String, Path)), request_body = SetOperator,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_node_operator(
    State(state): State<AppState>,
    ApiAdmin(a): ApiAdmin,
    Path(n): Path<String>,
    Json(body): Json<SetOperator>,
) -> ApiResult<StatusCode> {
    let n: NodeId = id(&n)?;
    dns_admin::set_operator(&state.pool, &a.actor(), n, body.operator.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
