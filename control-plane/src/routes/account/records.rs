//! A member's own DNS records on one of their domains: added, replaced, deleted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use web::pages::RecordFormValues;
use web::Notice;

use super::super::extract::{Form, Member};
use super::super::page::{HtmlError, PageCtx};
use super::super::AppState;
use super::domain::{render_domain, Retry, Shown};
use super::{parse_id, Empty};
use crate::db;
use crate::error::Error;
use crate::model::ids::DomainId;
use crate::model::ids::RecordId;

#[derive(Deserialize)]
pub(super) struct RecordForm {
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
                crate::services::dns_records::update(
                    &state.pool,
                    &m.actor(),
                    m.id(),
                    domain,
                    r,
                    &parsed,
                )
                .await
            }
            None => {
                crate::services::dns_records::create(
                    &state.pool,
                    &m.actor(),
                    m.id(),
                    domain,
                    &parsed,
                )
                .await
            }
        }
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&records_saved(domain)).into_response(),
        Err(
            e @ (Error::Invalid(_) | Error::Conflict(_) | Error::Limit(_) | Error::Forbidden(_)),
        ) => {
            let retry = Retry {
                shown: Shown::Record,
                errors: page.errors(&e),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                record: RecordFormValues {
                    editing: record.map(|r| r.to_string()),
                    name: form.name,
                    kind: form.kind,
                    ttl: form.ttl,
                    value: form.value,
                },
            };
            match render_domain(state, &page, m, domain, retry).await {
                Ok(r) => r,
                Err(e) => HtmlError(page, e).into_response(),
            }
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

pub(super) async fn add_record(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<RecordForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    Ok(save_record(&state, page, &m, domain, None, form).await)
}

pub(super) async fn edit_record(
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

pub(super) async fn delete_record(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((id, record)): Path<(String, String)>,
    Form(_): Form<Empty>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let record: RecordId = parse_id(&page, &record)?;
    crate::services::dns_records::delete(&state.pool, &m.actor(), m.id(), domain, record)
        .await
        .map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&records_saved(domain)).into_response())
}

/// Back to the domain's records, saying they were saved.
fn records_saved(domain: DomainId) -> String {
    format!(
        "{}#records-heading",
        Notice::Saved.on(&format!("/account/domains/{domain}"))
    )
}
