//! The member's portal: dashboard with usage, domains, and on each domain its DNS (registrar
//! checklist, servers, the member's own records), mailboxes, aliases and XMPP accounts.
//! Security settings live in `security.rs`.
//!
//! Every handler takes `Member`, and every db call gets `member.id()`: another member's
//! domain or mailbox id simply isn't found (404), so nobody can even learn it exists.

mod security;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use web::pages::{
    AccountPage, AliasRow, DkimRow, DnsRecordRow, DnsServerRow, DomainForm, DomainPage, DomainRow,
    Errors, MailboxRow, MailboxUsed, NodeStatusKey, RecordFormValues, RegistrarRow, UsageRow,
    XmppRow,
};
use web::Notice;

use super::error::HtmlError;
use super::extract::{Form, Member};
use super::page::{minute, render, render_status, PageCtx};
use super::{hash_password, AppState};
use crate::db;
use crate::db::dns_records::RecordId;
use crate::db::domains::{RegistrarRecord, ServerStatus};
use crate::db::nodes::NodeStatus;
use crate::error::Error;
use crate::model::ids::{AliasId, DomainId, MailboxId, XmppAccountId};
use crate::model::input::MIB;
use crate::model::plan::{Limits, Usage};
use crate::model::requests;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(dashboard))
        .route("/account/domains", post(add_domain))
        .route("/account/domains/{id}", get(domain_page))
        .route("/account/domains/{id}/delete", post(delete_domain))
        .route("/account/domains/{id}/mailboxes", post(add_mailbox))
        .route("/account/domains/{id}/aliases", post(add_alias))
        .route("/account/domains/{id}/xmpp", post(add_xmpp))
        .route("/account/domains/{id}/verify", post(verify_domain))
        .route("/account/domains/{id}/records", post(add_record))
        .route("/account/domains/{id}/records/{record}", post(edit_record))
        .route(
            "/account/domains/{id}/records/{record}/delete",
            post(delete_record),
        )
        // Static segments win over `{kind}`: /account/domains/{id}/delete is delete_domain.
        .route("/account/{kind}/{id}/delete", post(delete_on_domain))
        .merge(security::router())
}

fn percent(used: i64, max: i64) -> u8 {
    if max <= 0 {
        return if used > 0 { 100 } else { 0 };
    }
    u8::try_from((used.saturating_mul(100) / max).clamp(0, 100)).unwrap_or(100)
}

/// The "usage against your plan" rows, shared by the member dashboard and the admin's view.
pub fn usage_rows(usage: &Usage, limits: &Limits) -> Vec<UsageRow> {
    let row = |label_key, id, used: i64, max: i64| UsageRow {
        label_key,
        id,
        used: used.to_string(),
        max: max.to_string(),
        percent: percent(used, max),
    };
    vec![
        row(
            "usage.domains",
            "usage-domains",
            usage.domains,
            limits.max_domains,
        ),
        row(
            "usage.mailboxes",
            "usage-mailboxes",
            usage.mailboxes,
            limits.max_mailboxes,
        ),
        row(
            "usage.aliases",
            "usage-aliases",
            usage.aliases,
            limits.max_aliases,
        ),
        row(
            "usage.xmpp",
            "usage-xmpp",
            usage.xmpp_accounts,
            limits.max_xmpp_accounts,
        ),
        UsageRow {
            label_key: "usage.storage",
            id: "usage-storage",
            used: format!("{} MiB", usage.storage_bytes / MIB),
            max: format!("{} MiB", limits.storage_bytes / MIB),
            percent: percent(usage.storage_bytes, limits.storage_bytes),
        },
        // What the mail actually takes, as the node measured it, against the same allowance.
        UsageRow {
            label_key: "usage.stored",
            id: "usage-stored",
            used: usage.stored_bytes.map_or_else(
                || "—".to_owned(),
                |b| {
                    let (amount, unit) = size(b);
                    format!(
                        "{amount} {}",
                        if unit == "unit.kib" { "KiB" } else { "MiB" }
                    )
                },
            ),
            max: format!("{} MiB", limits.storage_bytes / MIB),
            percent: percent(usage.stored_bytes.unwrap_or(0), limits.storage_bytes),
        },
    ]
}

/// A size as pages show it: whole KiB below one MiB (rounded up, so a few bytes never show as
/// nothing), whole MiB above; with the catalog key of its unit.
pub fn size(bytes: i64) -> (String, &'static str) {
    const KIB: i64 = 1024;
    if bytes < MIB {
        let kib = bytes.max(0).saturating_add(KIB - 1) / KIB;
        (kib.to_string(), "unit.kib")
    } else {
        (
            (bytes.saturating_add(MIB / 2) / MIB).to_string(),
            "unit.mib",
        )
    }
}

/// The status line: applying until the node reports the generation it was asked for.
pub fn node_status_key(status: Option<NodeStatus>) -> NodeStatusKey {
    match status {
        None => "node.waiting",
        Some(s) if s.applied => "node.live",
        Some(_) => "node.applying",
    }
}

fn mailbox_used(
    used_bytes: Option<i64>,
    used_messages: Option<i64>,
    quota: i64,
) -> Option<MailboxUsed> {
    let bytes = used_bytes?;
    let (amount, unit_key) = size(bytes);
    Some(MailboxUsed {
        amount,
        unit_key,
        messages: used_messages.unwrap_or(0),
        percent: percent(bytes, quota),
    })
}

pub fn domain_status_key(status: &str) -> &'static str {
    if status == "active" {
        "domain.status.active"
    } else {
        "domain.status.pending_verification"
    }
}

async fn account_page(
    state: &AppState,
    page: &PageCtx,
    m: &Member,
    errors: Errors,
    domain_input: String,
) -> Result<AccountPage, Error> {
    let db::members::Overview {
        usage,
        limits,
        node,
        domains,
    } = db::members::overview(&state.pool, m.id()).await?;
    Ok(AccountPage {
        ctx: page.clone().with_member(m).ctx(),
        node_status_key: node_status_key(node),
        display_name: m.member.display_name.clone(),
        plan_name: m.member.plan_name.clone(),
        usage: usage_rows(&usage, &limits),
        domains: domains
            .into_iter()
            .map(|d| DomainRow {
                id: d.id.to_string(),
                name: d.display_name,
                status_key: domain_status_key(&d.status),
            })
            .collect(),
        errors,
        domain_input,
    })
}

async fn dashboard(State(state): State<AppState>, page: PageCtx, m: Member) -> Response {
    match account_page(&state, &page, &m, Errors::default(), String::new()).await {
        Ok(p) => render(p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct DomainFormInput {
    domain: String,
}

async fn add_domain(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Form(form): Form<DomainFormInput>,
) -> Response {
    let result = match requests::domain(&form.domain) {
        Ok(name) => {
            db::domains::create(&state.pool, &state.config.dns, &m.actor(), m.id(), &name).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Redirect::to(&Notice::DomainCreated.on(&format!("/account/domains/{}", d.id)))
            .into_response(),
        Err(
            e @ (Error::Invalid(_) | Error::Conflict(_) | Error::Limit(_) | Error::Forbidden(_)),
        ) => match account_page(&state, &page, &m, page.errors(&e), form.domain).await {
            Ok(p) => render_status(StatusCode::UNPROCESSABLE_ENTITY, p),
            Err(e) => HtmlError(page, e).into_response(),
        },
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// The domain page, optionally re-shown with one form's errors and typed values.
struct Retry {
    form: DomainForm,
    errors: Errors,
    values: [String; 5],
    /// The record form's values (a new record, or the one being edited).
    record: RecordFormValues,
    /// 422 for a form with errors; 409 when the challenge was not found.
    status: StatusCode,
}

impl Retry {
    fn none() -> Self {
        Retry {
            form: DomainForm::None,
            errors: Errors::default(),
            values: Default::default(),
            record: new_record_form(),
            status: StatusCode::OK,
        }
    }
}

fn new_record_form() -> RecordFormValues {
    RecordFormValues {
        kind: "A".to_owned(),
        ..RecordFormValues::default()
    }
}

fn registrar_row(r: RegistrarRecord) -> RegistrarRow {
    let (mark, seen_key) = match r.seen {
        Some(true) => ("✓", "domain.dns.seen.yes"),
        Some(false) => ("✗", "domain.dns.seen.no"),
        None => ("—", "domain.dns.seen.unknown"),
    };
    RegistrarRow {
        name: r.name,
        kind: r.kind,
        value: r.value,
        mark,
        seen_key,
    }
}

fn server_row(s: ServerStatus) -> DnsServerRow {
    DnsServerRow {
        role_key: match s.role.as_str() {
            "primary" => "domain.dns.role.primary",
            "secondary" => "domain.dns.role.secondary",
            _ => "domain.dns.role.external",
        },
        serial: s.serial.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        checked: minute(s.checked_at),
        nameserver: s.nameserver,
        address: s.address,
        fault: s.fault,
    }
}

async fn render_domain(
    state: &AppState,
    page: &PageCtx,
    m: &Member,
    id: DomainId,
    retry: Retry,
) -> Result<Response, Error> {
    let db::domains::Page {
        domain: d,
        node,
        records,
        mailboxes,
        aliases,
        xmpp,
    } = db::domains::page(&state.pool, &state.config.dns, m.id(), id).await?;
    let status = retry.status;
    let [local_part, quota_mib, alias_source, alias_targets, xmpp_node] = retry.values;
    Ok(render_status(
        status,
        DomainPage {
            ctx: page.clone().with_member(m).ctx(),
            id: d.id.to_string(),
            status_key: domain_status_key(&d.status),
            challenge_name: crate::dns::verify::challenge_name(&d.name),
            challenge_value: d.verification_token,
            dkim: d.dkim.map(|k| DkimRow {
                zone_line: k.zone_line(),
                name: k.name,
                value: k.value,
            }),
            verified_at: d.verified_at.map(minute),
            claim_expires: (d.status == "pending_verification")
                .then(|| minute(db::domains::claim_expires_at(d.created_at))),
            has_nameservers: !d.dns.nameservers.is_empty(),
            registrar: d.dns.registrar.into_iter().map(registrar_row).collect(),
            ds: d.dns.ds,
            dns_servers: d.dns.servers.into_iter().map(server_row).collect(),
            records: records
                .into_iter()
                .map(|r| DnsRecordRow {
                    id: r.id.to_string(),
                    name: r.name,
                    kind: r.kind,
                    ttl: r.ttl,
                    value: r.value,
                })
                .collect(),
            record_form: retry.record,
            node_status_key: node_status_key(node),
            name: d.display_name.clone(),
            mailboxes: mailboxes
                .into_iter()
                .map(|mb| MailboxRow {
                    id: mb.id.to_string(),
                    address: mb.address,
                    quota_mib: mb.quota_bytes / MIB,
                    used: mailbox_used(mb.used_bytes, mb.used_messages, mb.quota_bytes),
                })
                .collect(),
            aliases: aliases
                .into_iter()
                .map(|a| AliasRow {
                    id: a.id.to_string(),
                    address: format!("{}@{}", a.source, d.display_name),
                    targets: a.targets.join(", "),
                })
                .collect(),
            xmpp_accounts: xmpp
                .into_iter()
                .map(|x| XmppRow {
                    id: x.id.to_string(),
                    jid: x.jid,
                })
                .collect(),
            form: retry.form,
            errors: retry.errors,
            local_part,
            quota_mib: if quota_mib.is_empty() {
                "1024".to_owned()
            } else {
                quota_mib
            },
            alias_source,
            alias_targets,
            xmpp_node,
        },
    ))
}

fn parse_id<T: std::str::FromStr>(page: &PageCtx, raw: &str) -> Result<T, HtmlError> {
    raw.parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))
}

#[derive(Deserialize)]
struct DomainQuery {
    /// A record to show in the record form, for editing.
    edit: Option<String>,
}

async fn domain_page(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Query(query): Query<DomainQuery>,
) -> Result<Response, HtmlError> {
    let id: DomainId = parse_id(&page, &id)?;
    let mut retry = Retry::none();
    // An edit link to a record that is gone (or not the member's) just shows the add form.
    if let Some(rid) = query.edit.and_then(|r| r.parse::<RecordId>().ok()) {
        if let Ok(r) = db::dns_records::get(&state.pool, m.id(), id, rid).await {
            retry.record = RecordFormValues {
                editing: Some(r.id.to_string()),
                name: r.name,
                kind: r.kind,
                ttl: r.ttl.to_string(),
                value: r.value,
            };
        }
    }
    render_domain(&state, &page, &m, id, retry)
        .await
        .map_err(|e| HtmlError(page, e))
}

/// "Check now": active → back to the page; not visible yet → the page with the reason (409).
async fn verify_domain(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let id: DomainId = parse_id(&page, &id)?;
    let result =
        crate::dns::verify::check_domain(&state.pool, &state.config.dns, &m.actor(), m.id(), id)
            .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/account/domains/{id}")).into_response()),
        Err(e @ (Error::Conflict(_) | Error::RateLimited)) => {
            let retry = Retry {
                form: DomainForm::Verify,
                errors: page.errors(&e),
                status: if matches!(e, Error::RateLimited) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::CONFLICT
                },
                ..Retry::none()
            };
            render_domain(&state, &page, &m, id, retry)
                .await
                .map_err(|e| HtmlError(page, e))
        }
        Err(e) => Err(HtmlError(page, e)),
    }
}

#[derive(Deserialize)]
struct RecordForm {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    /// Empty or absent: one hour.
    #[serde(default)]
    ttl: String,
    value: String,
}

/// Adds (`record` is `None`) or replaces one of the member's records, then back to the page; on
/// a refusal, the page again with the typed values and the error next to its field.
async fn save_record(
    state: &AppState,
    page: PageCtx,
    m: &Member,
    domain: DomainId,
    record: Option<RecordId>,
    form: RecordForm,
) -> Response {
    let result = async {
        db::domains::owned(&state.pool, m.id(), domain).await?;
        if let Some(r) = record {
            db::dns_records::get(&state.pool, m.id(), domain, r).await?;
        }
        let parsed = db::dns_records::parse(&form.name, &form.kind, &form.ttl, &form.value)?;
        match record {
            Some(r) => {
                db::dns_records::update(&state.pool, &m.actor(), m.id(), domain, r, &parsed).await
            }
            None => db::dns_records::create(&state.pool, &m.actor(), m.id(), domain, &parsed).await,
        }
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&records_saved(domain)).into_response(),
        Err(
            e @ (Error::Invalid(_) | Error::Conflict(_) | Error::Limit(_) | Error::Forbidden(_)),
        ) => {
            let retry = Retry {
                form: DomainForm::Record,
                errors: page.errors(&e),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                record: RecordFormValues {
                    editing: record.map(|r| r.to_string()),
                    name: form.name,
                    kind: form.kind,
                    ttl: form.ttl,
                    value: form.value,
                },
                ..Retry::none()
            };
            match render_domain(state, &page, m, domain, retry).await {
                Ok(r) => r,
                Err(e) => HtmlError(page, e).into_response(),
            }
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn add_record(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<RecordForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    Ok(save_record(&state, page, &m, domain, None, form).await)
}

async fn edit_record(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((id, record)): Path<(String, String)>,
    Form(form): Form<RecordForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let record: RecordId = parse_id(&page, &record)?;
    Ok(save_record(&state, page, &m, domain, Some(record), form).await)
}

async fn delete_record(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((id, record)): Path<(String, String)>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let record: RecordId = parse_id(&page, &record)?;
    db::dns_records::delete(&state.pool, &m.actor(), m.id(), domain, record)
        .await
        .map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&records_saved(domain)).into_response())
}

async fn delete_domain(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let id: DomainId = parse_id(&page, &id)?;
    db::domains::delete(&state.pool, &m.actor(), m.id(), id)
        .await
        .map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&Notice::DomainDeleted.on("/account")).into_response())
}

#[derive(Deserialize)]
pub(super) struct Empty {}

/// After a creation: back to the domain page with a notice, or the page again with the errors.
/// Back to the domain's records, saying they were saved.
fn records_saved(domain: DomainId) -> String {
    format!(
        "{}#records-heading",
        Notice::Saved.on(&format!("/account/domains/{domain}"))
    )
}

async fn after_create<T>(
    state: &AppState,
    page: PageCtx,
    m: &Member,
    domain: DomainId,
    result: Result<T, Error>,
    done: Notice,
    (form, values): (DomainForm, [String; 5]),
) -> Response {
    match result {
        Ok(_) => Redirect::to(&done.on(&format!("/account/domains/{domain}"))).into_response(),
        Err(
            e @ (Error::Invalid(_) | Error::Conflict(_) | Error::Limit(_) | Error::Forbidden(_)),
        ) => {
            let retry = Retry {
                form,
                errors: page.errors(&e),
                values,
                status: StatusCode::UNPROCESSABLE_ENTITY,
                record: new_record_form(),
            };
            match render_domain(state, &page, m, domain, retry).await {
                Ok(r) => r,
                Err(e) => HtmlError(page, e).into_response(),
            }
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct MailboxForm {
    local_part: String,
    password: String,
    password_confirm: String,
    quota_mib: String,
}

async fn add_mailbox(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<MailboxForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let result = async {
        let req = requests::mailbox(
            &form.local_part,
            &form.password,
            Some(&form.password_confirm),
            &form.quota_mib,
        )?;
        let hash = hash_password(req.password).await?;
        db::mailboxes::create(
            &state.pool,
            &m.actor(),
            m.id(),
            domain,
            &req.local_part,
            &hash,
            req.quota_bytes,
        )
        .await
    }
    .await;
    let values = [
        form.local_part,
        form.quota_mib,
        String::new(),
        String::new(),
        String::new(),
    ];
    Ok(after_create(
        &state,
        page,
        &m,
        domain,
        result,
        Notice::MailboxCreated,
        (DomainForm::Mailbox, values),
    )
    .await)
}

#[derive(Deserialize)]
struct AliasForm {
    source: String,
    targets: String,
}

async fn add_alias(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<AliasForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let result = async {
        let req = requests::alias(&form.source, &[&form.targets])?;
        db::aliases::create(
            &state.pool,
            &m.actor(),
            m.id(),
            domain,
            &req.source,
            &req.targets,
        )
        .await
    }
    .await;
    let values = [
        String::new(),
        String::new(),
        form.source,
        form.targets,
        String::new(),
    ];
    Ok(after_create(
        &state,
        page,
        &m,
        domain,
        result,
        Notice::AliasCreated,
        (DomainForm::Alias, values),
    )
    .await)
}

#[derive(Deserialize)]
struct XmppForm {
    node: String,
    password: String,
    password_confirm: String,
}

async fn add_xmpp(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<XmppForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let result = async {
        let req = requests::xmpp(&form.node, &form.password, Some(&form.password_confirm))?;
        let hash = hash_password(req.password).await?;
        db::xmpp::create(&state.pool, &m.actor(), m.id(), domain, &req.node, &hash).await
    }
    .await;
    let values = [
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        form.node,
    ];
    Ok(after_create(
        &state,
        page,
        &m,
        domain,
        result,
        Notice::XmppCreated,
        (DomainForm::Xmpp, values),
    )
    .await)
}

/// Deletes a mailbox, an alias or an XMPP account (`kind` is `mailboxes`, `aliases` or
/// `xmpp`) and returns to the page of the domain it was on.
async fn delete_on_domain(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((kind, id)): Path<(String, String)>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let (pool, actor) = (&state.pool, m.actor());
    let (result, done) = match kind.as_str() {
        "mailboxes" => {
            let id: MailboxId = parse_id(&page, &id)?;
            (
                db::mailboxes::delete(pool, &actor, m.id(), id).await,
                Notice::MailboxDeleted,
            )
        }
        "aliases" => {
            let id: AliasId = parse_id(&page, &id)?;
            (
                db::aliases::delete(pool, &actor, m.id(), id).await,
                Notice::AliasDeleted,
            )
        }
        "xmpp" => {
            let id: XmppAccountId = parse_id(&page, &id)?;
            (
                db::xmpp::delete(pool, &actor, m.id(), id).await,
                Notice::XmppDeleted,
            )
        }
        _ => return Err(HtmlError(page, Error::NotFound)),
    };
    let domain = result.map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&done.on(&format!("/account/domains/{domain}"))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_readable() {
        assert_eq!(size(0), ("0".to_owned(), "unit.kib"));
        assert_eq!(size(1), ("1".to_owned(), "unit.kib"));
        assert_eq!(size(1024), ("1".to_owned(), "unit.kib"));
        assert_eq!(size(1025), ("2".to_owned(), "unit.kib"));
        assert_eq!(size(MIB - 1), ("1024".to_owned(), "unit.kib"));
        assert_eq!(size(MIB), ("1".to_owned(), "unit.mib"));
        assert_eq!(size(3 * MIB / 2), ("2".to_owned(), "unit.mib"));
        assert_eq!(size(-5), ("0".to_owned(), "unit.kib"));
        assert_eq!(size(i64::MAX).1, "unit.mib");
    }

    #[test]
    fn the_status_line_follows_the_generations() {
        assert_eq!(node_status_key(None), "node.waiting");
        assert_eq!(
            node_status_key(Some(NodeStatus::new(5, None))),
            "node.applying"
        );
        assert_eq!(
            node_status_key(Some(NodeStatus::new(5, Some(4)))),
            "node.applying"
        );
        assert_eq!(
            node_status_key(Some(NodeStatus::new(5, Some(5)))),
            "node.live"
        );
        assert_eq!(
            node_status_key(Some(NodeStatus::new(5, Some(6)))),
            "node.live"
        );
    }

    #[test]
    fn unmeasured_mailboxes_show_no_usage() {
        assert!(mailbox_used(None, None, MIB).is_none());
        let u = mailbox_used(Some(MIB / 2), Some(7), MIB).unwrap();
        assert_eq!((u.amount.as_str(), u.unit_key), ("512", "unit.kib"));
        assert_eq!((u.messages, u.percent), (7, 50));
    }
}
