//! Admin: the collective's DNS. Each node's name server, catalog and secondaries, the external
//! secondaries (friendly collectives' servers that consume every node's catalog), and what the
//! last checks found wrong; adding and removing external secondaries, rotating a node's TSIG
//! keys, naming who runs a node. The JSON API calls the same functions.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use protocol::dns::{TsigAlgorithm, TsigKey, TsigSecret};
use protocol::names::DomainName;
use serde::Deserialize;
use uuid::Uuid;
use web::pages::{
    CreatedExternalRow, DnsAdminPage, DnsFaultRow, DnsNodeRow, DnsSecondaryRow, Errors,
    ExternalSecondaryRow,
};

use super::super::error::HtmlError;
use super::super::extract::{Admin, Form, Member};
use super::super::page::{render_status, second, PageCtx};
use super::super::AppState;
use crate::config::DnsConfig;
use crate::db;
use crate::db::dns_admin::DnsOverview;
use crate::dns::keys;
use crate::domain::ids::NodeId;
use crate::domain::requests::Fields;
use crate::domain::text::{Describe, Text};
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/dns", get(show))
        .route("/admin/dns/external-secondaries", post(add))
        .route("/admin/dns/external-secondaries/{id}/delete", post(remove))
        .route("/admin/nodes/{id}/dns/rotate-keys", post(rotate))
        .route("/admin/nodes/{id}/operator", post(operator))
}

/// An external secondary as typed in the form or sent to the API; empty optional fields are
/// the same as absent ones.
pub struct ExternalInput<'a> {
    pub nameserver: &'a str,
    pub address: &'a str,
    pub tsig_name: Option<&'a str>,
    pub tsig_secret: Option<&'a str>,
}

/// The added secondary, with its key: the only time the secret is shown.
pub struct CreatedExternal {
    pub id: Uuid,
    pub nameserver: DomainName,
    pub address: SocketAddr,
    pub tsig: TsigKey,
}

/// Parses, stores and audits an external secondary; shared by the page and the API.
pub async fn add_external(
    state: &AppState,
    admin: &Member,
    input: &ExternalInput<'_>,
) -> Result<CreatedExternal, Error> {
    let (nameserver, address, tsig) = parse_external(&dns_config(state).await?, input)?;
    let id = db::dns_admin::add_external(&state.pool, &admin.actor(), &nameserver, address, &tsig)
        .await?;
    Ok(CreatedExternal {
        id,
        nameserver,
        address,
        tsig,
    })
}

/// The `[dns]` configuration with the platform domain named at setup (there is an admin, so
/// setup happened).
pub async fn dns_config(state: &AppState) -> Result<DnsConfig, Error> {
    crate::dns::config(&state.pool, &state.config.dns)
        .await?
        .ok_or(Error::NotFound)
}

/// Every field checked, every problem reported with its field. A key name or secret not given
/// is made here.
pub fn parse_external(
    config: &DnsConfig,
    input: &ExternalInput<'_>,
) -> Result<(DomainName, SocketAddr, TsigKey), Error> {
    let mut f = Fields::default();
    let nameserver = f.check("nameserver", nameserver(config, input.nameserver.trim()));
    let address = f.check("address", address(input.address.trim()));
    let name = match given(input.tsig_name) {
        Some(n) => f.check("tsig_name", tsig_name(config, n)),
        None => Some(generated_name(config)?),
    };
    let secret = match given(input.tsig_secret) {
        Some(s) => f.check(
            "tsig_secret",
            TsigSecret::parse(s).map_err(|_| {
                Text::new(
                    "must be a base64 key of 16 to 128 characters, like the output of `openssl rand -base64 32`",
                    "doit être une clé en base64 de 16 à 128 caractères, comme ce qu’affiche `openssl rand -base64 32`",
                )
            }),
        ),
        None => Some(keys::generate_secret()),
    };
    let value = match (nameserver, address, name, secret) {
        (Some(n), Some(a), Some(name), Some(secret)) => Some((
            n,
            a,
            TsigKey {
                name,
                algorithm: TsigAlgorithm::HmacSha256,
                secret,
            },
        )),
        _ => None,
    };
    f.finish(value)
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

/// A key name, but not one of the names of the keys nodes share (`ns<a>-ns<b>.tsig.<platform
/// domain>`): one name must never stand for two secrets in a node's configuration.
fn tsig_name(config: &DnsConfig, input: &str) -> Result<DomainName, Text> {
    let name = DomainName::parse(input).map_err(|e| e.describe())?;
    let pair = name
        .as_str()
        .strip_suffix(&format!(".tsig.{}", config.platform_domain))
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
fn generated_name(config: &DnsConfig) -> Result<DomainName, Error> {
    let n: u32 = rand::random();
    DomainName::parse(&format!("ext-{n:08x}.tsig.{}", config.platform_domain))
        .map_err(|e| Error::Internal(anyhow::anyhow!("TSIG key name: {e}")))
}

/// What the page shows besides the overview: the add form's values and errors (or the node
/// whose operator form failed), and the key of a secondary just added.
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
            tsig_name: e.tsig_name,
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
    tsig_name: String,
    #[serde(default)]
    tsig_secret: String,
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
        tsig_name: Some(&f.tsig_name),
        tsig_secret: Some(&f.tsig_secret),
    };
    match add_external(&state, &a, &input).await {
        Ok(c) => {
            let created = CreatedExternalRow {
                nameserver: c.nameserver.to_string(),
                tsig_name: c.tsig.name.to_string(),
                algorithm: c.tsig.algorithm.as_str(),
                secret: c.tsig.secret.expose().to_owned(),
            };
            let o = Outcome {
                created: Some(created),
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::OK, o).await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict(_))) => {
            // The secret typed is not sent back into the page.
            let o = Outcome {
                errors: page.errors(&e),
                form: [f.nameserver, f.address, f.tsig_name],
                ..Outcome::default()
            };
            respond(&state, page, StatusCode::UNPROCESSABLE_ENTITY, o).await
        }
        Err(e) => HtmlError(page, e).into_response(),
    }
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
        Ok(()) => Redirect::to("/admin/dns?done=saved").into_response(),
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
        Ok(_) => Redirect::to("/admin/dns?done=saved").into_response(),
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
        Some(o) => Some(crate::domain::requests::label("operator", o)?),
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
        Ok(()) => Redirect::to("/admin/dns?done=saved").into_response(),
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
    fn missing_key_parts_are_generated() {
        let (ns, addr, key) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: " ns1.friends.example ",
                address: "192.0.2.7",
                tsig_name: Some(""),
                tsig_secret: None,
            },
        )
        .unwrap();
        assert_eq!(ns.as_str(), "ns1.friends.example");
        assert_eq!(addr, "192.0.2.7:53".parse().unwrap());
        let name = key.name.as_str();
        assert!(
            name.starts_with("ext-") && name.ends_with(".tsig.ruche.test"),
            "{name}"
        );
        assert_eq!(name.len(), "ext-12345678.tsig.ruche.test".len());
        assert_eq!(key.secret.expose().len(), 44);
    }

    #[test]
    fn given_key_parts_are_kept() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";
        let (_, addr, key) = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "ns.friends.example",
                address: "[2001:db8::1]:5353",
                tsig_name: Some("friends.key.example"),
                tsig_secret: Some(secret),
            },
        )
        .unwrap();
        assert_eq!(addr.port(), 5353);
        assert_eq!(key.name.as_str(), "friends.key.example");
        assert_eq!(key.secret.expose(), secret);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse_external(
            &config(),
            &ExternalInput {
                nameserver: "not a name",
                address: "192.0.2.1:0",
                tsig_name: Some("bad name"),
                tsig_secret: Some("short"),
            },
        )
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["nameserver", "address", "tsig_name", "tsig_secret"]
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
    }

    #[test]
    fn node_names_are_reserved() {
        let c = config();
        assert!(nameserver(&c, "ns3.ruche.test").is_err());
        assert!(nameserver(&c, "ns.ruche.test").is_ok());
        assert!(nameserver(&c, "ns3.other.test").is_ok());
        assert!(tsig_name(&c, "ns1-ns2.tsig.ruche.test").is_err());
        assert!(tsig_name(&c, "ext-1.tsig.ruche.test").is_ok());
        assert!(tsig_name(&c, "ns1-ns2.tsig.other.test").is_ok());
    }
}
