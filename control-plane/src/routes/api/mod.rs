//! The JSON API under `/api/v1`: everything the portal pages do, for scripts. Authenticated
//! with personal API tokens (`Authorization: Bearer ruche_…`), never with cookies, so it needs
//! no CSRF token. The OpenAPI document at `/api/v1/openapi.json` is generated from the handler
//! annotations below, so it cannot drift from the code.

mod admin;
mod member;

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
