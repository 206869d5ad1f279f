//! Admin: the collective's DNS. Each node's name server, catalog and secondaries, the external
//! secondaries (friendly collectives' servers that consume every node's catalog, with one key per
//! node), and what the last checks found wrong; adding and removing external secondaries,
//! rotating a node's TSIG keys or an external secondary's, showing once the keys made without
//! the admin (new nodes), naming who runs a node. The use cases are `services::dns_admin`, which
//! the JSON API calls too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;
use web::pages::{
    CreatedExternalRow, CreatedKeyRow, DnsAdminPage, DnsFaultRow, DnsNodeRow, DnsSecondaryRow,
    Errors, ExternalFormValues, ExternalKeyRow, ExternalSecondaryRow,
};
use web::states::SecondaryState;
use web::Notice;

use super::super::extract::Form;
use super::super::page::Admin;
use super::super::page::HtmlError;
use super::super::page::{render_status, second, PageCtx};
use super::super::AppState;
use crate::db;
use crate::db::dns_admin::DnsOverview;
use crate::db::tsig_keys::ExternalNodeKey;
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::services::dns_admin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/dns", get(show))
        .route("/admin/dns/external-secondaries", post(add))
        .route("/admin/dns/external-secondaries/{id}/delete", post(remove))
        .route(
            "/admin/dns/external-secondaries/{id}/rotate-keys",
            post(rotate_external),
        )
        .route(
            "/admin/dns/external-secondaries/{id}/reveal-keys",
            post(reveal_external),
        )
        .route("/admin/nodes/{id}/dns/rotate-keys", post(rotate))
        .route("/admin/nodes/{id}/operator", post(operator))
}

/// What the page shows besides the overview: the add form's values and errors (or the node
/// whose operator form failed), and the keys of a secondary just made (added, rotated or shown).
#[derive(Default)]
struct Outcome {
    errors: Errors,
    error_node: Option<String>,
    form: ExternalFormValues,
    created: Option<CreatedExternalRow>,
}

fn rows(o: DnsOverview) -> (Vec<DnsNodeRow>, Vec<ExternalSecondaryRow>, Vec<DnsFaultRow>) {
    let nodes = o
        .nodes
        .into_iter()
        .map(|n| DnsNodeRow {
            id: n.id.to_string(),
            name: n.name,
            nameserver: n.nameserver,
            address: n.address.unwrap_or_default(),
            catalog: n.catalog,
            operator: n.operator.unwrap_or_default(),
            secondaries: n
                .secondaries
                .into_iter()
                .map(|s| DnsSecondaryRow {
                    nameserver: s.nameserver,
                    state: match s.state.as_str() {
                        "pending" => SecondaryState::Pending,
                        "active" => SecondaryState::Active,
                        _ => SecondaryState::Retiring,
                    },
                })
                .collect(),
        })
        .collect();
    let externals = o
        .external_secondaries
        .into_iter()
        .map(|e| ExternalSecondaryRow {
            id: e.id.to_string(),
            nameserver: e.nameserver,
            address: e.address,
            unshown: e.keys.iter().any(|k| !k.shown),
            keys: e
                .keys
                .into_iter()
                .map(|k| ExternalKeyRow {
                    node_id: k.node_id.to_string(),
                    nameserver: k.nameserver,
                    name: k.name,
                    shown: k.shown,
                })
                .collect(),
        })
        .collect();
    let faults = o
        .faults
        .into_iter()
        .map(|f| DnsFaultRow {
            domain: f.domain,
            server: f.server,
            fault: f.fault,
            checked_at: second(f.checked_at),
        })
        .collect();
    (nodes, externals, faults)
}

async fn page_of(state: &AppState, page: &PageCtx, o: Outcome) -> Result<DnsAdminPage, Error> {
    let overview = db::dns_admin::overview(
        &state.pool,
        &dns_admin::dns_config(&state.pool, &state.config.dns).await?,
    )
    .await?;
    let (nodes, externals, faults) = rows(overview);
    Ok(DnsAdminPage {
        ctx: page.ctx(),
        nodes,
        externals,
        faults,
        errors: o.errors,
        error_node: o.error_node,
        form: o.form,
        created: o.created,
    })
}

async fn respond(state: &AppState, page: PageCtx, status: StatusCode, o: Outcome) -> Response {
    match page_of(state, &page, o).await {
        Ok(p) => render_status(status, p),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

async fn show(State(state): State<AppState>, page: PageCtx, Admin(a): Admin) -> Response {
    let page = page.with_member(&a);
    respond(&state, page, StatusCode::OK, Outcome::default()).await
}

#[derive(Deserialize)]
struct ExternalForm {
    nameserver: String,
    address: String,
    #[serde(default)]
    key_suffix: String,
}

/// The keys just made, for the page (the only time it shows their secrets).
fn created_row(nameserver: String, keys: Vec<ExternalNodeKey>) -> CreatedExternalRow {
    CreatedExternalRow {
        nameserver,
        keys: keys
            .into_iter()
            .map(|k| CreatedKeyRow {
                node: k.node_name,
                nameserver: k.nameserver.to_string(),
                address: k.address.map(|a| a.to_string()).unwrap_or_default(),
                catalog: k.catalog.to_string(),
                tsig_name: k.key.name.to_string(),
                algorithm: k.key.algorithm.as_str(),
                secret: k.key.secret.expose().to_owned(),
            })
            .collect(),
    }
}

async fn add(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Form(f): Form<ExternalForm>,
) -> Response {
    let page = page.with_member(&a);
    let input = dns_admin::ExternalInput {
        nameserver: &f.nameserver,
        address: &f.address,
        key_suffix: Some(&f.key_suffix),
        tsig_secret: None,
    };
    match dns_admin::add_external(&state.pool, &state.config.dns, &a.actor(), &input).await {
        Ok(c) => {
            let o = Outcome {
                created: Some(created_row(c.nameserver.to_string(), c.keys)),
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::OK, o).await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            let o = Outcome {
                errors: page.errors(&e),
                form: ExternalFormValues {
                    nameserver: f.nameserver,
                    address: f.address,
                    key_suffix: f.key_suffix,
                },
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::UNPROCESSABLE_ENTITY, o).await
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// The name server of an external secondary, for the box that shows its keys.
async fn external_name(state: &AppState, id: Uuid) -> Result<String, Error> {
    let config = dns_admin::dns_config(&state.pool, &state.config.dns).await?;
    db::dns_admin::overview(&state.pool, &config)
        .await?
        .external_secondaries
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| e.nameserver)
        .ok_or(Error::NotFound)
}

#[derive(Deserialize)]
struct RotateExternalForm {
    /// One node's key only; empty: every node's.
    #[serde(default)]
    node: String,
}

async fn rotate_external(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(f): Form<RotateExternalForm>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(id) = id.parse::<Uuid>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    let node = match dns_admin::given(Some(&f.node)).map(str::parse::<NodeId>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return HtmlError(page, Error::NotFound).into_response(),
    };
    let made =
        match dns_admin::rotate_external_keys(&state.pool, &state.config.dns, &a.actor(), id, node)
            .await
        {
            Ok(made) => made,
            Err(e) => return HtmlError(page, e).into_response(),
        };
    show_keys(&state, page, id, made).await
}

async fn reveal_external(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(id) = id.parse::<Uuid>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    let shown =
        match dns_admin::reveal_external_keys(&state.pool, &state.config.dns, &a.actor(), id).await
        {
            Ok(shown) => shown,
            Err(e) => return HtmlError(page, e).into_response(),
        };
    show_keys(&state, page, id, shown).await
}

async fn show_keys(
    state: &AppState,
    page: PageCtx,
    id: Uuid,
    keys: Vec<ExternalNodeKey>,
) -> Response {
    let nameserver = match external_name(state, id).await {
        Ok(n) => n,
        Err(e) => return HtmlError(page, e).into_response(),
    };
    let o = Outcome {
        created: Some(created_row(nameserver, keys)),
        ..Outcome::default()
    };
    respond(state, page, StatusCode::OK, o).await
}

#[derive(Deserialize)]
struct Empty {}

async fn remove(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(id) = id.parse::<Uuid>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    match dns_admin::remove_external(&state.pool, &a.actor(), id).await {
        Ok(()) => Redirect::to(&Notice::Saved.on("/admin/dns")).into_response(),
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
    match dns_admin::rotate_keys(&state.pool, &a.actor(), node).await {
        Ok(_) => Redirect::to(&Notice::Saved.on("/admin/dns")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

#[derive(Deserialize)]
struct OperatorForm {
    operator: String,
}

async fn operator(
    State(state): State<AppState>,
    page: PageCtx,
    Admin(a): Admin,
    Path(id): Path<String>,
    Form(f): Form<OperatorForm>,
) -> Response {
    let page = page.with_member(&a);
    let Ok(node) = id.parse::<NodeId>() else {
        return HtmlError(page, Error::NotFound).into_response();
    };
    let operator = dns_admin::given(Some(&f.operator));
    match dns_admin::set_operator(&state.pool, &a.actor(), node, operator).await {
        Ok(()) => Redirect::to(&Notice::Saved.on("/admin/dns")).into_response(),
        Err(e @ Error::Invalid(_)) => {
            let o = Outcome {
                errors: page.errors(&e),
                error_node: Some(node.to_string()),
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::UNPROCESSABLE_ENTITY, o).await
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}
