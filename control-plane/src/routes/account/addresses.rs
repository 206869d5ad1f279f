//! The addresses of a member's domain: mailboxes, aliases and XMPP accounts, created and
//! deleted; mailboxes and XMPP accounts made public in WebFinger or not.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use web::Notice;

use super::super::extract::{Form, Member};
use super::super::page::{HtmlError, PageCtx};
use super::super::{hash_password, AppState};
use super::domain::{after_create, Shown};
use super::{parse_id, Empty};
use crate::error::Error;
use crate::model::ids::{AliasId, DomainId, MailboxId, XmppAccountId};
use crate::model::requests;

#[derive(Deserialize)]
pub(super) struct MailboxForm {
    local_part: String,
    password: String,
    password_confirm: String,
    quota_mib: String,
}

pub(super) async fn add_mailbox(
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
        crate::services::addresses::create_mailbox(
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
    let shown = Shown::Mailbox {
        local_part: form.local_part,
        quota_mib: form.quota_mib,
    };
    Ok(after_create(
        &state,
        page,
        &m,
        domain,
        result,
        Notice::MailboxCreated,
        shown,
    )
    .await)
}

#[derive(Deserialize)]
pub(super) struct AliasForm {
    source: String,
    targets: String,
}

pub(super) async fn add_alias(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path(id): Path<String>,
    Form(form): Form<AliasForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &id)?;
    let result = async {
        let req = requests::alias(&form.source, &[&form.targets])?;
        crate::services::addresses::create_alias(
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
    let shown = Shown::Alias {
        source: form.source,
        targets: form.targets,
    };
    Ok(after_create(
        &state,
        page,
        &m,
        domain,
        result,
        Notice::AliasCreated,
        shown,
    )
    .await)
}

#[derive(Deserialize)]
pub(super) struct XmppForm {
    node: String,
    password: String,
    password_confirm: String,
}

pub(super) async fn add_xmpp(
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
        crate::services::addresses::create_xmpp(
            &state.pool,
            &m.actor(),
            m.id(),
            domain,
            &req.node,
            &hash,
        )
        .await
    }
    .await;
    let shown = Shown::Xmpp { node: form.node };
    Ok(after_create(&state, page, &m, domain, result, Notice::XmppCreated, shown).await)
}

/// Deletes a mailbox, an alias or an XMPP account (`kind` is `mailboxes`, `aliases` or
/// `xmpp`) and returns to the page of the domain it was on.
pub(super) async fn delete_on_domain(
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
                crate::services::addresses::delete_mailbox(pool, &actor, m.id(), id).await,
                Notice::MailboxDeleted,
            )
        }
        "aliases" => {
            let id: AliasId = parse_id(&page, &id)?;
            (
                crate::services::addresses::delete_alias(pool, &actor, m.id(), id).await,
                Notice::AliasDeleted,
            )
        }
        "xmpp" => {
            let id: XmppAccountId = parse_id(&page, &id)?;
            (
                crate::services::addresses::delete_xmpp(pool, &actor, m.id(), id).await,
                Notice::XmppDeleted,
            )
        }
        _ => return Err(HtmlError(page, Error::NotFound)),
    };
    let domain = result.map_err(|e| HtmlError(page, e))?;
    Ok(Redirect::to(&done.on(&format!("/account/domains/{domain}"))).into_response())
}

/// The public flag's form: the value the button sets (not "switch"), so a form sent twice
/// leaves the address as its member last saw the button say.
#[derive(Deserialize)]
pub(super) struct PublicForm {
    public: bool,
}

fn after_public(
    page: PageCtx,
    result: Result<DomainId, Error>,
    public: bool,
) -> Result<Response, HtmlError> {
    let domain = result.map_err(|e| HtmlError(page, e))?;
    let done = if public {
        Notice::AddressPublic
    } else {
        Notice::AddressNotPublic
    };
    Ok(Redirect::to(&done.on(&format!("/account/domains/{domain}"))).into_response())
}

/// Makes one of the domain's mailboxes public in WebFinger or not, and returns to the domain's
/// page.
pub(super) async fn mailbox_public(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((domain, mailbox)): Path<(String, String)>,
    Form(form): Form<PublicForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &domain)?;
    let mailbox: MailboxId = parse_id(&page, &mailbox)?;
    let result = crate::services::addresses::set_mailbox_public(
        &state.pool,
        &m.actor(),
        m.id(),
        domain,
        mailbox,
        form.public,
    )
    .await
    .map(|mb| mb.domain_id);
    after_public(page, result, form.public)
}

/// Makes one of the domain's XMPP accounts public in WebFinger or not, and returns to the
/// domain's page.
pub(super) async fn xmpp_public(
    State(state): State<AppState>,
    page: PageCtx,
    m: Member,
    Path((domain, account)): Path<(String, String)>,
    Form(form): Form<PublicForm>,
) -> Result<Response, HtmlError> {
    let domain: DomainId = parse_id(&page, &domain)?;
    let account: XmppAccountId = parse_id(&page, &account)?;
    let result = crate::services::addresses::set_xmpp_public(
        &state.pool,
        &m.actor(),
        m.id(),
        domain,
        account,
        form.public,
    )
    .await
    .map(|x| x.domain_id);
    after_public(page, result, form.public)
}
