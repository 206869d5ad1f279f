//! A member's domain page: its DNS (registrar checklist, servers, the member's own records),
//! mailboxes, aliases and XMPP accounts, shown again with a refused form's values and errors;
//! ownership checks and the domain's deletion.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use web::pages::{
    AliasRow, DkimRow, DnsRecordRow, DnsServerRow, DomainForm, DomainPage, Errors, MailboxRow,
    RecordFormValues, RegistrarRow, XmppRow,
};
use web::states::{DnsRole, Seen, Visibility};
use web::Notice;

use super::super::extract::{Form, Member};
use super::super::page::{minute, render_status, HtmlError, PageCtx};
use super::super::AppState;
use super::{certificate_line, domain_status, mailbox_used, parse_id, sync, Empty};
use crate::db;
use crate::db::domains::{RegistrarRecord, ServerStatus};
use crate::error::Error;
use crate::model::ids::DomainId;
use crate::model::ids::RecordId;
use crate::model::input::MIB;

/// A form of the domain page shown again after a refusal, with what it held. The record form
/// keeps its values in [`Retry::record`]; "Check now" holds none.
pub(super) enum Shown {
    Nothing,
    Mailbox {
        local_part: String,
        quota_mib: String,
    },
    Alias {
        source: String,
        targets: String,
    },
    Xmpp {
        node: String,
    },
    Record,
    Verify,
}

impl Shown {
    fn form(&self) -> DomainForm {
        match self {
            Shown::Nothing => DomainForm::None,
            Shown::Mailbox { .. } => DomainForm::Mailbox,
            Shown::Alias { .. } => DomainForm::Alias,
            Shown::Xmpp { .. } => DomainForm::Xmpp,
            Shown::Record => DomainForm::Record,
            Shown::Verify => DomainForm::Verify,
        }
    }
}

/// The domain page, optionally re-shown with one form's errors and typed values.
pub(super) struct Retry {
    pub(super) shown: Shown,
    pub(super) errors: Errors,
    /// The record form's values (a new record, or the one being edited).
    pub(super) record: RecordFormValues,
    /// 422 for a form with errors; 409 when the challenge was not found.
    pub(super) status: StatusCode,
}

impl Retry {
    pub(super) fn none() -> Self {
        Retry {
            shown: Shown::Nothing,
            errors: Errors::default(),
            record: new_record_form(),
            status: StatusCode::OK,
        }
    }
}

pub(super) fn new_record_form() -> RecordFormValues {
    RecordFormValues {
        kind: "A".to_owned(),
        ..RecordFormValues::default()
    }
}

fn registrar_row(r: RegistrarRecord) -> RegistrarRow {
    let (mark, seen) = match r.seen {
        Some(true) => ("✓", Seen::Yes),
        Some(false) => ("✗", Seen::No),
        None => ("—", Seen::Unknown),
    };
    RegistrarRow {
        name: r.name,
        kind: r.kind,
        value: r.value,
        mark,
        seen,
    }
}

fn server_row(s: ServerStatus) -> DnsServerRow {
    DnsServerRow {
        role: match s.role.as_str() {
            "primary" => DnsRole::Primary,
            "secondary" => DnsRole::Secondary,
            _ => DnsRole::External,
        },
        serial: s.serial.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        checked: minute(s.checked_at),
        nameserver: s.nameserver,
        address: s.address,
        fault: s.fault,
    }
}

pub(super) async fn render_domain(
    state: &AppState,
    page: &PageCtx,
    m: &Member,
    id: DomainId,
    retry: Retry,
) -> Result<Response, Error> {
    let crate::services::domains::Page {
        domain: d,
        node,
        records,
        mailboxes,
        aliases,
        xmpp,
    } = crate::services::domains::page(&state.pool, &state.config.dns, m.id(), id).await?;
    let status = retry.status;
    let form = retry.shown.form();
    let mut certificate = certificate_line(
        d.status == "active",
        d.certificate.as_ref().map(|c| (c.state, c.not_after)),
        time::OffsetDateTime::now_utc(),
    );
    if let Some(c) = d.certificate {
        certificate.error = c.error;
        certificate.retry = c.retry_at.map(minute);
        certificate.names = c
            .names
            .iter()
            .map(|n| db::domains::display(n))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let (mut local_part, mut quota_mib) = (String::new(), String::new());
    let (mut alias_source, mut alias_targets, mut xmpp_node) =
        (String::new(), String::new(), String::new());
    match retry.shown {
        Shown::Mailbox {
            local_part: typed_local,
            quota_mib: typed_quota,
        } => (local_part, quota_mib) = (typed_local, typed_quota),
        Shown::Alias { source, targets } => (alias_source, alias_targets) = (source, targets),
        Shown::Xmpp { node } => xmpp_node = node,
        Shown::Nothing | Shown::Record | Shown::Verify => {}
    }
    Ok(render_status(
        status,
        DomainPage {
            ctx: page.clone().with_member(m).ctx(),
            id: d.id.to_string(),
            status: domain_status(&d.status),
            challenge_name: crate::model::claims::challenge_name(&d.name),
            challenge_value: d.verification_token,
            certificate,
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
            sync: sync(node),
            name: d.display_name.clone(),
            mailboxes: mailboxes
                .into_iter()
                .map(|mb| MailboxRow {
                    id: mb.id.to_string(),
                    address: mb.address,
                    quota_mib: mb.quota_bytes / MIB,
                    used: mailbox_used(mb.used_bytes, mb.used_messages, mb.quota_bytes),
                    public: Visibility::of(mb.public),
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
                    public: Visibility::of(x.public),
                })
                .collect(),
            form,
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

#[derive(Deserialize)]
pub(super) struct DomainQuery {
    /// A record to show in the record form, for editing.
    edit: Option<String>,
}

pub(super) async fn domain_page(
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
pub(super) async fn verify_domain(
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
                shown: Shown::Verify,
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

pub(super) async fn delete_domain(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let id: DomainId = parse_id(&page, &id)?;
    crate::services::domains::delete(&state.pool, &m.actor(), m.id(), id)
        .await
        .map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&Notice::DomainDeleted.on("/account")).into_response())
}

/// After a creation: back to the domain page with a notice, or the page again with the errors
/// and what the form held.
pub(super) async fn after_create<T>(
    state: &AppState,
    page: PageCtx,
    m: &Member,
    domain: DomainId,
    result: Result<T, Error>,
    done: Notice,
    shown: Shown,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&done.on(&format!("/account/domains/{domain}"))).into_response(),
        Err(
            e @ (Error::Invalid(_) | Error::Conflict(_) | Error::Limit(_) | Error::Forbidden(_)),
        ) => {
            let retry = Retry {
                shown,
                errors: page.errors(&e),
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
