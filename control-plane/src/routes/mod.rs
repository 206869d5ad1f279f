//! HTTP: the portal and admin pages (server-rendered, no JavaScript needed), the JSON API under
//! `/api/v1`, and health checks. One module per resource; each exposes `router()`.
//!
//! Layers are applied here, in one place: security headers on every response, the CSRF cookie
//! for forms, a body size limit, request tracing.
//!
//! Architecture invariant: handlers parse input into `model` types before calling `services` or
//! `db`; no handler builds SQL or touches a node. Handlers run their queries one after the other,
//! never at once (`db`'s `connection_rule` test).

pub mod account;
pub mod admin;
pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod health;
pub mod invite;
pub mod node_api;
pub mod page;
pub mod setup;

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

use crate::config::Config;
use crate::mailer::Mailer;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Where members reach the portal; links in mails start with it.
    pub public_url: Url,
    pub mailer: Option<Mailer>,
    /// Ids of nodes whose desired state changed, from Postgres `NOTIFY` (see
    /// `workers::listener`); long polls wait on it.
    pub desired_changes: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// The background workers' state, for the admin.
    pub workers: crate::workers::Workers,
}

impl AppState {
    pub fn link(&self, path_and_query: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path_and_query}")
    }

    /// Invites `email` with this server's relay, portal address and invitation lifetime
    /// ([`crate::services::invitations::invite`]): the invitation, its link, whether it was
    /// mailed. The admin page, the API and the command line all invite this way.
    pub async fn invite(
        &self,
        actor: &crate::db::Actor,
        email: &crate::model::EmailAddress,
        plan: crate::model::ids::PlanId,
    ) -> Result<(crate::db::invitations::Invitation, String, bool), crate::error::Error> {
        crate::services::invitations::invite(
            &self.pool,
            self.mailer.as_ref(),
            &self.public_url,
            self.config.security.invitation_days,
            actor,
            email,
            plan,
        )
        .await
    }
}

pub fn router(state: AppState) -> Router {
    let hsts = state.public_url.scheme() == "https";
    let mut app = Router::new()
        .merge(health::router())
        .merge(setup::router())
        .merge(auth::router())
        .merge(invite::router())
        .merge(account::router())
        .merge(admin::router())
        .nest("/api/v1", api::router())
        .route("/static/style.css", get(style))
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/account") }),
        )
        .fallback(fallback)
        .layer(axum::middleware::from_fn(extract::csrf_cookie))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        // Added after the two layers above: nodes send no forms and need no CSRF cookie, and a
        // heartbeat listing every mailbox is larger than any form (node_api::BODY_LIMIT).
        .nest(protocol::node::API_PREFIX, node_api::router())
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ));
    if hsts {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    // Spans carry the method and path only: query strings hold one-time tokens (setup,
    // invitation, reset links), which must never reach a log.
    app.layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            },
        ),
    )
    .with_state(state)
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        web::STYLE_CSS,
    )
}

async fn fallback(page: page::PageCtx) -> axum::response::Response {
    page::render_html(&page, &crate::error::Error::NotFound)
}

/// argon2id through the process's gate (`model::password::gate`): on the blocking pool, never
/// more at once than there are cores, 503 when too many wait.
pub async fn hash_password(
    password: crate::model::password::NewPassword,
) -> Result<String, crate::error::Error> {
    Ok(crate::model::password::hash_gated(password).await??)
}

/// Checks a password against a stored argon2id hash, through the same gate.
pub async fn verify_password(given: &str, stored: String) -> Result<bool, crate::error::Error> {
    Ok(crate::model::password::verify_gated(given.to_owned(), stored).await?)
}
