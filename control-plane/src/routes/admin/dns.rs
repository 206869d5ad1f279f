//! Admin: the collective's DNS. Each node's name server, catalog and secondaries, the external
//! secondaries (friendly collectives' servers that consume every node's catalog, with one key per
//! node), and what the last checks found wrong; adding and removing external secondaries,
//! rotating a node's TSIG keys or an external secondary's, showing once the keys made without
//! the admin (new nodes), naming who runs a node. The JSON API calls the same functions.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use protocol::names::DomainName;
use serde::Deserialize;
use uuid::Uuid;
use web::pages::{
    CreatedExternalRow, CreatedKeyRow, DnsAdminPage, DnsFaultRow, DnsNodeRow, DnsSecondaryRow,
    Errors, ExternalKeyRow, ExternalSecondaryRow,
};
use web::Notice;

use super::super::extract::{Form, Member};
use super::super::page::Admin;
use super::super::page::HtmlError;
use super::super::page::{render_status, second, PageCtx};
use super::super::AppState;
use crate::config::DnsConfig;
use crate::db;
use crate::db::dns_admin::DnsOverview;
use crate::db::tsig_keys::{self as keys, ExternalNodeKey};
use crate::error::Error;
use crate::model::ids::NodeId;
use crate::model::requests::Fields;
use crate::model::text::{Describe, Text};

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

/// An external secondary as typed in the form or sent to the API; empty optional fields are
/// the same as absent ones.
pub struct ExternalInput<'a> {
    pub nameserver: &'a str,
    pub address: &'a str,
    /// Its keys are `ns<N>.<suffix>`; generated when absent.
    pub key_suffix: Option<&'a str>,
    /// Refused when given: one secret for every node is what per-node keys replace.
    pub tsig_secret: Option<&'a str>,
}

/// The added secondary, with its key for every joined node: the only time the secrets are shown.
pub struct CreatedExternal {
    pub id: Uuid,
    pub nameserver: DomainName,
    pub address: SocketAddr,
    pub keys: Vec<ExternalNodeKey>,
}

/// Parses, stores and audits an external secondary and its keys; shared by the page and the API.
pub async fn add_external(
    state: &AppState,
    admin: &Member,
    input: &ExternalInput<'_>,
) -> Result<CreatedExternal, Error> {
    let config = dns_config(state).await?;
    let (nameserver, address, suffix) = parse_external(&config, input)?;
    let (id, keys) = db::dns_admin::add_external(
        &state.pool,
        &admin.actor(),
        &config,
        &nameserver,
        address,
        &suffix,
    )
    .await?;
    Ok(CreatedExternal {
        id,
        nameserver,
        address,
        keys,
    })
}

/// New secrets for an external secondary's keys (every node's, or one node's); shared by the
/// page and the API.
pub async fn rotate_external_keys(
    state: &AppState,
    admin: &Member,
    external: Uuid,
    node: Option<NodeId>,
) -> Result<Vec<ExternalNodeKey>, Error> {
    let config = dns_config(state).await?;
    keys::rotate_external(&state.pool, &admin.actor(), &config, external, node).await
}

/// The external secondary's keys not shown yet, shown now (once); shared by the page and the API.
pub async fn reveal_external_keys(
    state: &AppState,
    admin: &Member,
    external: Uuid,
) -> Result<Vec<ExternalNodeKey>, Error> {
    let config = dns_config(state).await?;
    keys::reveal_external(&state.pool, &admin.actor(), &config, external).await
}

/// The `[dns]` configuration with the platform domain named at setup (there is an admin, so
/// setup happened).
pub async fn dns_config(state: &AppState) -> Result<DnsConfig, Error> {
    crate::db::setup::dns_config(&state.pool, &state.config.dns)
        .await?
        .ok_or(Error::NotFound)
}

/// Every field checked, every problem reported with its field. A key suffix not given is made
/// here; a secret cannot be given (each node's key is made here).
pub fn parse_external(
    config: &DnsConfig,
    input: &ExternalInput<'_>,
) -> Result<(DomainName, SocketAddr, DomainName), Error> {
    let mut f = Fields::default();
    let nameserver = f.check("nameserver", nameserver(config, input.nameserver.trim()));
    let address = f.check("address", address(input.address.trim()));
    let suffix = match given(input.key_suffix) {
        Some(n) => f.check("key_suffix", key_suffix(config, n)),
        None => Some(generated_suffix(config)?),
    };
    if given(input.tsig_secret).is_some() {
        let _: Option<()> = f.check(
            "tsig_secret",
            Err::<(), _>(Text::new(
                "cannot be given: each node gets its own key, made here",
                "ne peut pas être fourni\u{a0}: chaque nœud reçoit sa propre clé, créée ici",
            )),
        );
    }
    let value = match (nameserver, address, suffix) {
        (Some(n), Some(a), Some(s)) => Some((n, a, s)),
        _ => None,
    };
    Ok(f.finish(value)?)
}

fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A host name, but not one of the nodes' own `ns<N>.<platform domain>`: those are derived,
/// and a second server under the same name would be listed twice in every zone.
fn nameserver(config: &DnsConfig, input: &str) -> Result<DomainName, Text> {
    let name = DomainName::parse(input).map_err(|e| e.describe())?;
    let node_label = name
        .as_str()
        .strip_suffix(&format!(".{}", config.platform_domain))
        .and_then(|label| label.strip_prefix("ns"))
        .is_some_and(all_digits);
    if node_label {
        return Err(Text::new(
            "is the name of a node’s own name server",
            "est le nom du serveur de noms d’un nœud",
        ));
    }
    Ok(name)
}

/// `ip:port`, or an IP address alone for port 53.
fn address(input: &str) -> Result<SocketAddr, Text> {
    let parsed = input
        .parse::<SocketAddr>()
        .or_else(|_| input.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
    match parsed {
        Ok(a) if a.port() != 0 && !a.ip().is_unspecified() => Ok(a),
        _ => Err(Text::new(
            "must be an IP address and port, like 192.0.2.1:53 or [2001:db8::1]:53",
            "doit être une adresse IP et un port, comme 192.0.2.1:53 ou [2001:db8::1]:53",
        )),
    }
}

/// The suffix of the secondary's key names: a domain name short enough for `ns<N>.` in front,
/// and not under the names of the keys nodes share (`ns<a>-ns<b>.tsig.<platform domain>`), so
/// one name never stands for two secrets in a node's configuration.
fn key_suffix(config: &DnsConfig, input: &str) -> Result<DomainName, Text> {
    let name = DomainName::parse(input).map_err(|e| e.describe())?;
    if name.as_str().len() > keys::MAX_KEY_SUFFIX {
        return Err(Text::new(
            "must be at most 240 characters long",
            "doit faire au plus 240 caractères",
        ));
    }
    let pair = name
        .as_str()
        .strip_suffix(&format!(".tsig.{}", config.platform_domain))
        .and_then(|rest| rest.rsplit('.').next())
        .and_then(|label| label.split_once('-'))
        .is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|n| n.strip_prefix("ns").is_some_and(all_digits))
        });
    if pair {
        return Err(Text::new(
            "is reserved for the keys nodes share",
            "est réservé aux clés que partagent les nœuds",
        ));
    }
    Ok(name)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `ext-<8 random hex digits>.tsig.<platform domain>`.
fn generated_suffix(config: &DnsConfig) -> Result<DomainName, Error> {
    let n: u32 = rand::random();
    DomainName::parse(&format!("ext-{n:08x}.tsig.{}", config.platform_domain))
        .map_err(|e| Error::Internal(anyhow::anyhow!("TSIG key suffix: {e}")))
}

/// What the page shows besides the overview: the add form's values and errors (or the node
/// whose operator form failed), and the keys of a secondary just made (added, rotated or shown).
#[derive(Default)]
struct Outcome {
    errors: Errors,
    error_node: Option<String>,
    form: [String; 3],
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
                    state_key: match s.state.as_str() {
                        "pending" => "dns_admin.state.pending",
                        "active" => "dns_admin.state.active",
                        _ => "dns_admin.state.retiring",
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
    let overview = db::dns_admin::overview(&state.pool, &dns_config(state).await?).await?;
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
    let input = ExternalInput {
        nameserver: &f.nameserver,
        address: &f.address,
        key_suffix: Some(&f.key_suffix),
        tsig_secret: None,
    };
    match add_external(&state, &a, &input).await {
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
                form: [f.nameserver, f.address, f.key_suffix],
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::UNPROCESSABLE_ENTITY, o).await
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// The name server of an external secondary, for the box that shows its keys.
async fn external_name(state: &AppState, id: Uuid) -> Result<String, Error> {
    let config = dns_config(state).await?;
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
    let node = match given(Some(&f.node)).map(str::parse::<NodeId>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return HtmlError(page, Error::NotFound).into_response(),
    };
    let made = match rotate_external_keys(&state, &a, id, node).await {
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
    let shown = match reveal_external_keys(&state, &a, id).await {
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
    match db::dns_admin::remove_external(&state.pool, &a.actor(), id).await {
        Ok(()) => Redirect::to(&Notice::Saved.on("/admin/dns")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// Replaces every TSIG key the node shares; shared by the page and the API.
pub async fn rotate_keys(state: &AppState, admin: &Member, node: NodeId) -> Result<u64, Error> {
    db::dns_admin::ensure_node(&state.pool, node).await?;
    keys::rotate_node(&state.pool, &admin.actor(), node).await
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
    match rotate_keys(&state, &a, node).await {
        Ok(_) => Redirect::to(&Notice::Saved.on("/admin/dns")).into_response(),
        Err(e) => HtmlError(page, e).into_response(),
    }
}

/// Sets or clears (`None`, or an empty form field) who runs a node; shared by the page and the
/// API.
pub async fn set_operator(
    state: &AppState,
    admin: &Member,
    node: NodeId,
    operator: Option<&str>,
) -> Result<(), Error> {
    let operator = match operator {
        Some(o) => Some(crate::model::requests::label("operator", o)?),
        None => None,
    };
    db::dns_admin::set_operator(
        &state.pool,
        &admin.actor(),
        node,
        operator.as_ref().map(|o| o.as_str()),
    )
    .await
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
    let operator = given(Some(&f.operator));
    match set_operator(&state, &a, node, operator).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DnsConfig {
        DnsConfig {
            platform_domain: DomainName::parse("ruche.test").unwrap(),
            ..DnsConfig::default()
        }
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Invalid(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_missing_key_suffix_is_generated() {
        let (ns, addr, suffix) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: " ns1.friends.example ",
                address: "192.0.2.7",
                key_suffix: Some(""),
                tsig_secret: None,
            },
        )
        .unwrap();
        assert_eq!(ns.as_str(), "ns1.friends.example");
        assert_eq!(addr, "192.0.2.7:53".parse().unwrap());
        let name = suffix.as_str();
        assert!(
            name.starts_with("ext-") && name.ends_with(".tsig.ruche.test"),
            "{name}"
        );
        assert_eq!(name.len(), "ext-12345678.tsig.ruche.test".len());
    }

    #[test]
    fn a_given_suffix_is_kept_and_a_given_secret_refused() {
        let (_, addr, suffix) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "ns.friends.example",
                address: "[2001:db8::1]:5353",
                key_suffix: Some("friends.key.example"),
                tsig_secret: Some("  "),
            },
        )
        .unwrap();
        assert_eq!(addr.port(), 5353);
        assert_eq!(suffix.as_str(), "friends.key.example");
        let e = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "ns.friends.example",
                address: "192.0.2.7",
                key_suffix: None,
                tsig_secret: Some("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="),
            },
        )
        .unwrap_err();
        assert_eq!(fields(e), ["tsig_secret"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "not a name",
                address: "192.0.2.1:0",
                key_suffix: Some("bad name"),
                tsig_secret: Some("short"),
            },
        )
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["nameserver", "address", "key_suffix", "tsig_secret"]
        );
        for bad in [
            "",
            "example.org",
            "0.0.0.0:53",
            "192.0.2.1:99999",
            "1.2.3.4:53\n",
        ] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.example", vec!["a".repeat(60); 4].join("."));
        assert!(key_suffix(&config(), &long).is_err());
    }

    #[test]
    fn node_names_are_reserved() {
        let c = config();
        assert!(nameserver(&c, "ns3.ruche.test").is_err());
        assert!(nameserver(&c, "ns.ruche.test").is_ok());
        assert!(nameserver(&c, "ns3.other.test").is_ok());
        assert!(key_suffix(&c, "ns1-ns2.tsig.ruche.test").is_err());
        assert!(key_suffix(&c, "ext-1.tsig.ruche.test").is_ok());
        assert!(key_suffix(&c, "ns1-ns2.tsig.other.test").is_ok());
    }
}
