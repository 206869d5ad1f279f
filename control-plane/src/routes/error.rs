//! How errors become responses: JSON for the API (`{"error": {code, message, fields}}`, in
//! English: the `Display` of the error's `web::Reason`), plain text before a page exists (an
//! error page is `page::render_html`). Unique violations are 409, database outages 503.
//! Server-side failures are logged with their cause chain; users see a plain sentence, never
//! internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::Error;

pub(super) fn status(err: &Error) -> StatusCode {
    match err {
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Invalid(_) | Error::Limit(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Error::Gone => StatusCode::GONE,
        Error::Unavailable(_) | Error::Busy => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(super) fn log(err: &Error) {
    match err {
        Error::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
        Error::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
        _ => {}
    }
}

/// Stable machine-readable codes for API clients.
fn code(err: &Error) -> &'static str {
    match err {
        Error::NotFound => "not_found",
        Error::Conflict(_) => "conflict",
        Error::Invalid(_) => "invalid",
        Error::Limit(_) => "limit_reached",
        Error::Forbidden(_) => "forbidden",
        Error::Unauthorized => "unauthorized",
        Error::RateLimited => "rate_limited",
        Error::Gone => "gone",
        Error::Unavailable(_) => "unavailable",
        Error::Busy => "busy",
        Error::Internal(_) => "internal",
    }
}

/// For failures before a page context exists (inside extractors).
pub fn render_plain(err: &Error) -> Response {
    log(err);
    (status(err), err.to_string()).into_response()
}

/// The JSON API's error: `{"error": {"code": "...", "message": "...", "fields": [...]}}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

/// One problem with one field of a form or API request. `field` is the form field name, so
/// the page can show the message next to the input and the API client knows what to fix.
/// The API shows `message` in English; pages pick the reader's language.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<&crate::model::input::FieldError> for FieldError {
    fn from(f: &crate::model::input::FieldError) -> Self {
        FieldError {
            field: f.field.clone(),
            message: f.message.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// One of not_found, conflict, invalid, limit_reached, forbidden, unauthorized,
    /// rate_limited, gone, unavailable, busy, internal.
    pub code: String,
    pub message: String,
    /// For `invalid`: what is wrong with which field.
    pub fields: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        log(&err);
        let fields = match &err {
            Error::Invalid(f) => f.iter().map(FieldError::from).collect(),
            _ => Vec::new(),
        };
        let message = match &err {
            Error::Invalid(f) => f
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
            Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut res = (
            status(&err),
            Json(ErrorBody {
                error: ErrorDetail {
                    code: code(&err).to_owned(),
                    message,
                    fields,
                },
            }),
        )
            .into_response();
        if matches!(err, Error::Unauthorized) {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}
