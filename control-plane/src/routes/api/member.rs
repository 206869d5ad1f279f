//! Member endpoints. Every call is scoped to the token owner's id: another member's objects
//! are 404, exactly like objects that do not exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ErrorBody};
use super::super::extract::ApiMember;
use super::super::{hash_password, AppState};
use super::schema::{
    self, Alias, ApiToken, AppPassword, DnsRecord, Domain, Limits, Mailbox, Member, NodeStatus,
    Usage, XmppAccount,
};
use crate::db;
use crate::error::Error;
use crate::model::ids::RecordId;
use crate::model::ids::{AliasId, ApiTokenId, AppPasswordId, DomainId, MailboxId, XmppAccountId};
use crate::model::requests;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_domains, create_domain))
        .routes(routes!(get_domain, delete_domain))
        .routes(routes!(verify_domain))
        .routes(routes!(list_records, create_record))
        .routes(routes!(update_record, delete_record))
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(delete_mailbox))
        .routes(routes!(set_mailbox_public))
        .routes(routes!(list_aliases, create_alias))
        .routes(routes!(delete_alias))
        .routes(routes!(list_xmpp, create_xmpp))
        .routes(routes!(delete_xmpp))
        .routes(routes!(set_xmpp_public))
        .routes(routes!(list_app_passwords, create_app_password))
        .routes(routes!(revoke_app_password))
        .routes(routes!(list_api_tokens, create_api_token))
        .routes(routes!(revoke_api_token))
}

type ApiResult<T> = Result<T, ApiError>;

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError(Error::NotFound))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub member: Member,
    pub usage: Usage,
    pub limits: Limits,
    /// Whether the member's last changes are live on the node that serves them (`applied`) or
    /// still being applied. Null while no node serves the member yet.
    pub node: Option<NodeStatus>,
}

/// The calling member, with usage against their plan and whether their changes are live.
#[utoipa::path(get, path = "/me", tag = "member", security(("token" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, ApiMember(m): ApiMember) -> ApiResult<Json<Me>> {
    let db::members::Overview {
        usage,
        limits,
        node,
        ..
    } = db::members::overview(&state.pool, m.id()).await?;
    Ok(Json(Me {
        member: m.member.into(),
        usage: usage.into(),
        limits: limits.into(),
        node: node.map(Into::into),
    }))
}

#[utoipa::path(get, path = "/domains", tag = "member", security(("token" = [])),
    responses((status = 200, body = Vec<Domain>)))]
async fn list_domains(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
) -> ApiResult<Json<Vec<Domain>>> {
    Ok(Json(schema::all(
        db::domains::list(&state.pool, &state.config.dns, m.id()).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewDomain {
    /// Unicode or punycode; stored in ASCII form.
    pub name: String,
}

/// Adds a domain; it starts as `pending_verification` and is deleted if still unverified 7 days
/// later. Refused: the collective's platform domain and names under it (422), a name another
/// member holds or a name under one (409, the same answer whether theirs is verified or not).
#[utoipa::path(post, path = "/domains", tag = "member", security(("token" = [])), request_body = NewDomain,
    responses((status = 201, body = Domain), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_domain(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Json(body): Json<NewDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    let name = requests::domain(&body.name).map_err(|e| rename(e.into(), "domain", "name"))?;
    let d =
        crate::services::domains::create(&state.pool, &state.config.dns, &m.actor(), m.id(), &name)
            .await
            .map_err(|e| rename(e, "domain", "name"))?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// The portal's field names differ from the API's in a few places; errors name the API's.
fn rename(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Invalid(fields) => Error::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    if f.field == from {
                        f.field = to.to_owned();
                    }
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

#[utoipa::path(get, path = "/domains/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Domain), (status = 404, body = ErrorBody)))]
async fn get_domain(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(
        db::domains::get(&state.pool, &state.config.dns, m.id(), id(&d)?)
            .await?
            .into(),
    ))
}

/// Looks for the ownership challenge (the TXT record `_ruche-challenge.<domain>`) now, through
/// the public DNS, and activates the domain when it is there. 409 says what the world shows
/// otherwise. Rate-limited per member.
#[utoipa::path(post, path = "/domains/{id}/verify", tag = "member", security(("token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Domain), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn verify_domain(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Domain>> {
    let d = crate::dns::verify::check_domain(
        &state.pool,
        &state.config.dns,
        &m.actor(),
        m.id(),
        id(&d)?,
    )
    .await?;
    Ok(Json(d.into()))
}

/// The member's own DNS records on the domain (the platform's records are not listed).
#[utoipa::path(get, path = "/domains/{id}/records", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<DnsRecord>), (status = 404, body = ErrorBody)))]
async fn list_records(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Vec<DnsRecord>>> {
    let d: DomainId = id(&d)?;
    db::domains::owned(&state.pool, m.id(), d).await?;
    Ok(Json(schema::all(
        db::dns_records::list(&state.pool, m.id(), d).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct RecordBody {
    /// `@` (or empty) for the domain itself, else the name inside it: `www`, `_sip._tcp`, `*.dev`.
    pub name: String,
    /// A, AAAA, CNAME, MX, TXT, SRV or CAA.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds, 60 to 86400; one hour when absent.
    #[schema(value_type = Option<u32>)]
    pub ttl: Option<serde_json::Value>,
    /// As in a zone file, without quotes for TXT: `192.0.2.1`, `10 mx.example.net`,
    /// `10 5 5060 sip.example.net`, `0 issue "letsencrypt.org"`.
    pub value: String,
}

impl RecordBody {
    /// Parsed into a record; a 422 names the field (`name`, `type`, `ttl` or `value`).
    fn record(&self) -> Result<protocol::dns::Record, Error> {
        let ttl = match &self.ttl {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            // Anything else cannot be a number of seconds; let the parser say so.
            Some(_) => "-".to_owned(),
        };
        db::dns_records::parse(&self.name, &self.kind, &ttl, &self.value)
    }
}

#[utoipa::path(post, path = "/domains/{id}/records", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), request_body = RecordBody,
    responses((status = 201, body = DnsRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_record(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
    Json(body): Json<RecordBody>,
) -> ApiResult<(StatusCode, Json<DnsRecord>)> {
    let d: DomainId = id(&d)?;
    db::domains::owned(&state.pool, m.id(), d).await?;
    let record = body.record()?;
    let r =
        crate::services::dns_records::create(&state.pool, &m.actor(), m.id(), d, &record).await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// Replaces a record (every field; `ttl` back to one hour when absent).
#[utoipa::path(put, path = "/domains/{id}/records/{record_id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path), ("record_id" = String, Path)), request_body = RecordBody,
    responses((status = 200, body = DnsRecord), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_record(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path((d, r)): Path<(String, String)>,
    Json(body): Json<RecordBody>,
) -> ApiResult<Json<DnsRecord>> {
    let (d, r): (DomainId, RecordId) = (id(&d)?, id(&r)?);
    db::dns_records::get(&state.pool, m.id(), d, r).await?;
    let record = body.record()?;
    Ok(Json(
        crate::services::dns_records::update(&state.pool, &m.actor(), m.id(), d, r, &record)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/domains/{id}/records/{record_id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path), ("record_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_record(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path((d, r)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (d, r): (DomainId, RecordId) = (id(&d)?, id(&r)?);
    crate::services::dns_records::delete(&state.pool, &m.actor(), m.id(), d, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a domain with everything on it.
#[utoipa::path(delete, path = "/domains/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_domain(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<StatusCode> {
    crate::services::domains::delete(&state.pool, &m.actor(), m.id(), id(&d)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/domains/{id}/mailboxes", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<Mailbox>)))]
async fn list_mailboxes(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Vec<Mailbox>>> {
    let d: DomainId = id(&d)?;
    db::domains::owned(&state.pool, m.id(), d).await?;
    Ok(Json(schema::all(
        db::mailboxes::list(&state.pool, m.id(), d).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewMailbox {
    pub local_part: String,
    /// At least 12 characters.
    pub password: String,
    pub quota_mib: i64,
}

#[utoipa::path(post, path = "/domains/{id}/mailboxes", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), request_body = NewMailbox,
    responses((status = 201, body = Mailbox), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_mailbox(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
    Json(body): Json<NewMailbox>,
) -> ApiResult<(StatusCode, Json<Mailbox>)> {
    let d: DomainId = id(&d)?;
    let req = requests::mailbox(
        &body.local_part,
        &body.password,
        None,
        &body.quota_mib.to_string(),
    )?;
    let hash = hash_password(req.password).await?;
    let mb = crate::services::addresses::create_mailbox(
        &state.pool,
        &m.actor(),
        m.id(),
        d,
        &req.local_part,
        &hash,
        req.quota_bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(mb.into())))
}

#[utoipa::path(delete, path = "/mailboxes/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_mailbox(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(x): Path<String>,
) -> ApiResult<StatusCode> {
    let x: MailboxId = id(&x)?;
    crate::services::addresses::delete_mailbox(&state.pool, &m.actor(), m.id(), x).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct PublicFlag {
    /// Whether anyone may look up the address's public profile (WebFinger, RFC 7033): the
    /// address and its XMPP address, nothing else.
    pub public: bool,
}

/// Makes the mailbox public in WebFinger, or not (every mailbox starts not public). Setting the
/// value it already has changes nothing.
#[utoipa::path(patch, path = "/domains/{id}/mailboxes/{mailbox_id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path), ("mailbox_id" = String, Path)), request_body = PublicFlag,
    responses((status = 200, body = Mailbox), (status = 404, body = ErrorBody)))]
async fn set_mailbox_public(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path((d, x)): Path<(String, String)>,
    Json(body): Json<PublicFlag>,
) -> ApiResult<Json<Mailbox>> {
    let (d, x): (DomainId, MailboxId) = (id(&d)?, id(&x)?);
    let mb = crate::services::addresses::set_mailbox_public(
        &state.pool,
        &m.actor(),
        m.id(),
        d,
        x,
        body.public,
    )
    .await?;
    Ok(Json(mb.into()))
}

#[utoipa::path(get, path = "/domains/{id}/aliases", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<Alias>)))]
async fn list_aliases(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Vec<Alias>>> {
    let d: DomainId = id(&d)?;
    db::domains::owned(&state.pool, m.id(), d).await?;
    Ok(Json(schema::all(
        db::aliases::list(&state.pool, m.id(), d).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewAlias {
    /// A local part, or `*` for the domain's catch-all.
    pub source: String,
    pub targets: Vec<String>,
}

#[utoipa::path(post, path = "/domains/{id}/aliases", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), request_body = NewAlias,
    responses((status = 201, body = Alias), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_alias(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
    Json(body): Json<NewAlias>,
) -> ApiResult<(StatusCode, Json<Alias>)> {
    let d: DomainId = id(&d)?;
    let targets: Vec<&str> = body.targets.iter().map(String::as_str).collect();
    let req = requests::alias(&body.source, &targets)?;
    let a = crate::services::addresses::create_alias(
        &state.pool,
        &m.actor(),
        m.id(),
        d,
        &req.source,
        &req.targets,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(delete, path = "/aliases/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_alias(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(x): Path<String>,
) -> ApiResult<StatusCode> {
    let x: AliasId = id(&x)?;
    crate::services::addresses::delete_alias(&state.pool, &m.actor(), m.id(), x).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/domains/{id}/xmpp-accounts", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Vec<XmppAccount>)))]
async fn list_xmpp(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
) -> ApiResult<Json<Vec<XmppAccount>>> {
    let d: DomainId = id(&d)?;
    db::domains::owned(&state.pool, m.id(), d).await?;
    Ok(Json(schema::all(
        db::xmpp::list(&state.pool, m.id(), d).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewXmppAccount {
    pub node: String,
    pub password: String,
}

#[utoipa::path(post, path = "/domains/{id}/xmpp-accounts", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), request_body = NewXmppAccount,
    responses((status = 201, body = XmppAccount), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_xmpp(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(d): Path<String>,
    Json(body): Json<NewXmppAccount>,
) -> ApiResult<(StatusCode, Json<XmppAccount>)> {
    let d: DomainId = id(&d)?;
    let req = requests::xmpp(&body.node, &body.password, None)?;
    let hash = hash_password(req.password).await?;
    let x = crate::services::addresses::create_xmpp(
        &state.pool,
        &m.actor(),
        m.id(),
        d,
        &req.node,
        &hash,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(x.into())))
}

#[utoipa::path(delete, path = "/xmpp-accounts/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_xmpp(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(x): Path<String>,
) -> ApiResult<StatusCode> {
    let x: XmppAccountId = id(&x)?;
    crate::services::addresses::delete_xmpp(&state.pool, &m.actor(), m.id(), x).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes the XMPP account public in WebFinger, or not (every account starts not public).
/// Setting the value it already has changes nothing.
#[utoipa::path(patch, path = "/domains/{id}/xmpp-accounts/{account_id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path), ("account_id" = String, Path)), request_body = PublicFlag,
    responses((status = 200, body = XmppAccount), (status = 404, body = ErrorBody)))]
async fn set_xmpp_public(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path((d, x)): Path<(String, String)>,
    Json(body): Json<PublicFlag>,
) -> ApiResult<Json<XmppAccount>> {
    let (d, x): (DomainId, XmppAccountId) = (id(&d)?, id(&x)?);
    let account = crate::services::addresses::set_xmpp_public(
        &state.pool,
        &m.actor(),
        m.id(),
        d,
        x,
        body.public,
    )
    .await?;
    Ok(Json(account.into()))
}

#[utoipa::path(get, path = "/app-passwords", tag = "member", security(("token" = [])),
    responses((status = 200, body = Vec<AppPassword>)))]
async fn list_app_passwords(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
) -> ApiResult<Json<Vec<AppPassword>>> {
    Ok(Json(schema::all(
        db::app_passwords::list(&state.pool, m.id()).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewAppPassword {
    pub label: String,
    /// imap, smtp, xmpp or dav.
    pub scope: String,
    /// The one mailbox (id) it may log in to; absent, null or `all`: every mailbox of the
    /// member. Another member's mailbox is not found (404).
    #[serde(default)]
    pub mailbox_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAppPassword {
    pub app_password: AppPassword,
    /// Shown this once; only a hash is kept. `ap-<id>-<secret>-<secret>-<secret>`, read
    /// without regard to case.
    pub password: String,
}

/// At most 50 active app passwords per member (422 `limit_reached` beyond).
#[utoipa::path(post, path = "/app-passwords", tag = "member", security(("token" = [])), request_body = NewAppPassword,
    responses((status = 201, body = CreatedAppPassword), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_app_password(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Json(body): Json<NewAppPassword>,
) -> ApiResult<(StatusCode, Json<CreatedAppPassword>)> {
    let (label, scope) = requests::app_password(&body.label, &body.scope)?;
    let mailbox = requests::app_password_mailbox(body.mailbox_id.as_deref())?;
    let text = requests::generate_app_password();
    let p = crate::services::app_passwords::create(
        &state.pool,
        &m.actor(),
        m.id(),
        label.as_str(),
        scope,
        mailbox,
        &text,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAppPassword {
            app_password: p.into(),
            password: text.expose(),
        }),
    ))
}

#[utoipa::path(delete, path = "/app-passwords/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_app_password(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(x): Path<String>,
) -> ApiResult<StatusCode> {
    let x: AppPasswordId = id(&x)?;
    crate::services::app_passwords::revoke(&state.pool, &m.actor(), m.id(), x).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api-tokens", tag = "member", security(("token" = [])),
    responses((status = 200, body = Vec<ApiToken>)))]
async fn list_api_tokens(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(schema::all(
        db::api_tokens::list(&state.pool, m.id()).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiToken {
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    pub api_token: ApiToken,
    /// Shown this once; only a hash is kept.
    pub token: String,
}

#[utoipa::path(post, path = "/api-tokens", tag = "member", security(("token" = [])), request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 422, body = ErrorBody)))]
async fn create_api_token(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Json(body): Json<NewApiToken>,
) -> ApiResult<(StatusCode, Json<CreatedApiToken>)> {
    let label = requests::label("label", &body.label)?;
    let (t, token) =
        crate::services::api_tokens::create(&state.pool, &m.actor(), m.id(), label.as_str())
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            api_token: t.into(),
            token: token.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api-tokens/{id}", tag = "member", security(("token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_api_token(
    State(state): State<AppState>,
    ApiMember(m): ApiMember,
    Path(x): Path<String>,
) -> ApiResult<StatusCode> {
    let x: ApiTokenId = id(&x)?;
    crate::services::api_tokens::revoke(&state.pool, &m.actor(), m.id(), x).await?;
    Ok(StatusCode::NO_CONTENT)
}
