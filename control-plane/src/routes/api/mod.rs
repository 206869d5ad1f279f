//! The JSON API under `/api/v1`: everything the portal pages do, for scripts. Authenticated
//! with personal API tokens (`Authorization: Bearer ruche_…`), never with cookies, so it needs
//! no CSRF token. The OpenAPI document at `/api/v1/openapi.json` is generated from the handler
//! annotations below, so it cannot drift from the code.

mod admin;
mod member;
mod schema;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Ruche API", description = "Members, domains, mailboxes, aliases, XMPP accounts, app passwords, plans and invitations of a Ruche collective."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "member", description = "What a member manages on their own account"),
        (name = "admin", description = "Collective administration (admin tokens only)")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(member::router())
        .merge(admin::router())
}

/// The OpenAPI document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

pub fn router() -> Router<AppState> {
    let (router, doc) = api().split_for_parts();
    router.route("/openapi.json", get(move || async move { Json(doc) }))
}

#[cfg(test)]
mod tests {
    /// The document clients are generated from changes only on purpose: it is compared with
    /// `control-plane/openapi.json`, which `RUCHE_BLESS=1 cargo test -p control-plane openapi`
    /// rewrites (then review its diff: a removed or renamed field breaks scripts).
    #[test]
    fn openapi_document_is_the_committed_one() {
        let served = serde_json::to_string_pretty(&super::openapi()).unwrap() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        if std::env::var_os("RUCHE_BLESS").is_some() {
            std::fs::write(&path, &served).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            served == committed,
            "the OpenAPI document differs from {}: bless it with RUCHE_BLESS=1 if the change is \
             meant, and review the diff",
            path.display()
        );
    }
}
