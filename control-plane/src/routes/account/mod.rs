//! The member's portal: the dashboard with usage and domains (here), each domain's page
//! (`domain.rs`), its own DNS records (`records.rs`), its mailboxes, aliases and XMPP accounts
//! and whether they are public (`addresses.rs`), and security settings (`security.rs`).
//!
//! Every handler takes `Member`, and every db call gets `member.id()`: another member's
//! domain or mailbox id simply isn't found (404), so nobody can even learn it exists.
//!
//! The dashboard's "Applying changes…" / "Live" line (`web::states::Sync`), like `GET
//! /api/v1/me`'s `node`, compares the hosting node's observed and desired generations
//! (`db::nodes`): they are the node's, so another member's change can keep it "applying" a
//! moment longer.

mod addresses;
mod domain;
mod records;
mod security;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use protocol::node::CertificateState;
use serde::Deserialize;
use time::OffsetDateTime;
use web::pages::{AccountPage, CertificateLine, DomainRow, Errors, MailboxUsed, UsageRow};
use web::states::{CertificateStatus, DomainStatus, Sync, Unit, UsageLabel};
use web::Notice;

use super::extract::{Form, Member};
use super::page::HtmlError;
use super::page::{minute, render, render_status, PageCtx};
use super::AppState;
use crate::db;
use crate::db::nodes::NodeStatus;
use crate::error::Error;
use crate::model::input::MIB;
use crate::model::plan::{Limits, Usage};
use crate::model::requests;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(dashboard))
        .route("/account/domains", post(add_domain))
        .route("/account/domains/{id}", get(domain::domain_page))
        .route("/account/domains/{id}/delete", post(domain::delete_domain))
        .route(
            "/account/domains/{id}/mailboxes",
            post(addresses::add_mailbox),
        )
        .route(
            "/account/domains/{id}/mailboxes/{mailbox}/public",
            post(addresses::mailbox_public),
        )
        .route("/account/domains/{id}/aliases", post(addresses::add_alias))
        .route("/account/domains/{id}/xmpp", post(addresses::add_xmpp))
        .route(
            "/account/domains/{id}/xmpp/{account}/public",
            post(addresses::xmpp_public),
        )
        .route("/account/domains/{id}/verify", post(domain::verify_domain))
        .route("/account/domains/{id}/records", post(records::add_record))
        .route(
            "/account/domains/{id}/records/{record}",
            post(records::edit_record),
        )
        .route(
            "/account/domains/{id}/records/{record}/delete",
            post(records::delete_record),
        )
        // Static segments win over `{kind}`: /account/domains/{id}/delete is delete_domain.
        .route(
            "/account/{kind}/{id}/delete",
            post(addresses::delete_on_domain),
        )
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
    let row = |label, id, used: i64, max: i64| UsageRow {
        label,
        id,
        used: used.to_string(),
        max: max.to_string(),
        percent: percent(used, max),
    };
    vec![
        row(
            UsageLabel::Domains,
            "usage-domains",
            usage.domains,
            limits.max_domains,
        ),
        row(
            UsageLabel::Mailboxes,
            "usage-mailboxes",
            usage.mailboxes,
            limits.max_mailboxes,
        ),
        row(
            UsageLabel::Aliases,
            "usage-aliases",
            usage.aliases,
            limits.max_aliases,
        ),
        row(
            UsageLabel::Xmpp,
            "usage-xmpp",
            usage.xmpp_accounts,
            limits.max_xmpp_accounts,
        ),
        UsageRow {
            label: UsageLabel::Storage,
            id: "usage-storage",
            used: format!("{} MiB", usage.storage_bytes / MIB),
            max: format!("{} MiB", limits.storage_bytes / MIB),
            percent: percent(usage.storage_bytes, limits.storage_bytes),
        },
        // What the mail actually takes, as the node measured it, against the same allowance.
        UsageRow {
            label: UsageLabel::Stored,
            id: "usage-stored",
            used: usage.stored_bytes.map_or_else(
                || "—".to_owned(),
                |b| {
                    let (amount, unit) = size(b);
                    let unit = match unit {
                        Unit::Kib => "KiB",
                        Unit::Mib => "MiB",
                    };
                    format!("{amount} {unit}")
                },
            ),
            max: format!("{} MiB", limits.storage_bytes / MIB),
            percent: percent(usage.stored_bytes.unwrap_or(0), limits.storage_bytes),
        },
    ]
}

/// A size as pages show it: whole KiB below one MiB (rounded up, so a few bytes never show as
/// nothing), whole MiB above; with its unit.
pub fn size(bytes: i64) -> (String, Unit) {
    const KIB: i64 = 1024;
    if bytes < MIB {
        let kib = bytes.max(0).saturating_add(KIB - 1) / KIB;
        (kib.to_string(), Unit::Kib)
    } else {
        ((bytes.saturating_add(MIB / 2) / MIB).to_string(), Unit::Mib)
    }
}

/// The status line: applying until the node reports the generation it was asked for.
pub fn sync(status: Option<NodeStatus>) -> Sync {
    match status {
        None => Sync::Waiting,
        Some(s) if s.applied => Sync::Live,
        Some(_) => Sync::Applying,
    }
}

pub(super) fn mailbox_used(
    used_bytes: Option<i64>,
    used_messages: Option<i64>,
    quota: i64,
) -> Option<MailboxUsed> {
    let bytes = used_bytes?;
    let (amount, unit) = size(bytes);
    Some(MailboxUsed {
        amount,
        unit,
        messages: used_messages.unwrap_or(0),
        percent: percent(bytes, quota),
    })
}

/// What a reported certificate is to the reader at `now`: a "valid" one past its expiry is
/// expired (the node stopped renewing or reporting it), and one being renewed while the
/// current one still serves is "being renewed", not "being issued".
pub fn certificate_status(
    state: CertificateState,
    not_after: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> CertificateStatus {
    let serving = not_after.is_some_and(|t| t > now);
    match state {
        CertificateState::WaitingForDns => CertificateStatus::WaitingForDns,
        CertificateState::Pending if serving => CertificateStatus::Renewing,
        CertificateState::Pending => CertificateStatus::Pending,
        CertificateState::Valid if not_after.is_some() && !serving => CertificateStatus::Expired,
        CertificateState::Valid => CertificateStatus::Valid,
        CertificateState::Failed => CertificateStatus::Failed,
    }
}

/// A domain's certificate line: as reported (`state` and expiry; the error, next attempt and
/// names when the page shows them), or, with no report, why there is none yet.
pub fn certificate_line(
    verified: bool,
    reported: Option<(CertificateState, Option<OffsetDateTime>)>,
    now: OffsetDateTime,
) -> CertificateLine {
    let Some((state, not_after)) = reported else {
        return CertificateLine {
            status: if verified {
                CertificateStatus::NotReported
            } else {
                CertificateStatus::AfterVerification
            },
            until: None,
            error: None,
            retry: None,
            names: String::new(),
        };
    };
    let status = certificate_status(state, not_after, now);
    CertificateLine {
        status,
        until: not_after.filter(|_| status.serves()).map(minute),
        error: None,
        retry: None,
        names: String::new(),
    }
}

pub fn domain_status(status: &str) -> DomainStatus {
    if status == "active" {
        DomainStatus::Active
    } else {
        DomainStatus::PendingVerification
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
    let now = OffsetDateTime::now_utc();
    Ok(AccountPage {
        ctx: page.clone().with_member(m).ctx(),
        sync: sync(node),
        display_name: m.member.display_name.clone(),
        plan_name: m.member.plan_name.clone(),
        usage: usage_rows(&usage, &limits),
        domains: domains
            .into_iter()
            .map(|d| DomainRow {
                id: d.id.to_string(),
                name: d.display_name,
                certificate: certificate_line(d.status == "active", d.certificate, now),
                status: domain_status(&d.status),
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
            crate::services::domains::create(
                &state.pool,
                &state.config.dns,
                &m.actor(),
                m.id(),
                &name,
            )
            .await
        }
        Err(e) => Err(e.into()),
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

pub(super) fn parse_id<T: std::str::FromStr>(page: &PageCtx, raw: &str) -> Result<T, HtmlError> {
    raw.parse()
        .map_err(|_| HtmlError(page.clone(), Error::NotFound))
}

#[derive(Deserialize)]
pub(super) struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_readable() {
        let size = |bytes| {
            let (amount, unit) = size(bytes);
            (amount, unit.key())
        };
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
        let node_status_key = |status| sync(status).key();
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
    fn a_certificate_line_says_what_the_reader_can_rely_on() {
        let now = time::macros::datetime!(2027-01-10 12:00 UTC);
        let later = time::macros::datetime!(2027-01-15 08:00 UTC);
        let earlier = time::macros::datetime!(2027-01-09 08:00 UTC);
        let status = |state, not_after| certificate_status(state, not_after, now);
        use CertificateState as S;
        use CertificateStatus as C;
        assert_eq!(status(S::Valid, Some(later)), C::Valid);
        assert_eq!(status(S::Valid, Some(earlier)), C::Expired);
        assert_eq!(status(S::Valid, None), C::Valid);
        assert_eq!(status(S::Pending, Some(later)), C::Renewing);
        assert_eq!(status(S::Pending, Some(earlier)), C::Pending);
        assert_eq!(status(S::Pending, None), C::Pending);
        assert_eq!(status(S::WaitingForDns, Some(later)), C::WaitingForDns);
        assert_eq!(status(S::Failed, Some(later)), C::Failed);

        let line = certificate_line(false, None, now);
        assert_eq!(line.status, C::AfterVerification);
        assert_eq!(certificate_line(true, None, now).status, C::NotReported);
        let line = certificate_line(true, Some((S::Valid, Some(later))), now);
        assert_eq!(line.until.as_deref(), Some("2027-01-15 08:00 UTC"));
        // The expiry of a certificate not served (a failed one's) is not shown as "until".
        let line = certificate_line(true, Some((S::Failed, Some(later))), now);
        assert_eq!((line.status, line.until), (C::Failed, None));
    }

    #[test]
    fn unmeasured_mailboxes_show_no_usage() {
        assert!(mailbox_used(None, None, MIB).is_none());
        let u = mailbox_used(Some(MIB / 2), Some(7), MIB).unwrap();
        assert_eq!((u.amount.as_str(), u.unit.key()), ("512", "unit.kib"));
        assert_eq!((u.messages, u.percent), (7, 50));
    }
}
