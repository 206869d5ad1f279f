//! What every page needs (language, CSRF token, path, notice, who is signed in), taken from
//! the request once and turned into the `web::pages::Ctx` each view model carries; errors as
//! pages ([`HtmlError`]: the status, and the error's `web::Reason` or `web::states::Failure` in
//! the reader's language); and the [`Admin`] extractor (a non-admin gets 404).
//!
//! A form that fails is shown again with every field's error and the values typed (never
//! passwords), status 422 ([`render_status`]).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use web::pages::{Ctx, NavUser};
use web::states::Failure;
use web::{Lang, Notice, Tr};

use super::extract::{reader_lang, CsrfToken, Member};
use super::AppState;
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct PageCtx {
    pub lang: Lang,
    pub csrf: String,
    pub path: String,
    pub notice: Option<Notice>,
    /// Who is signed in, as the navigation shows them.
    pub user: Option<NavUser>,
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CsrfToken(csrf) = CsrfToken::from_request_parts(parts, state).await?;
        let lang = reader_lang(&parts.headers);
        let notice = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "done")
                .and_then(|(_, v)| Notice::from_name(&v))
        });
        Ok(PageCtx {
            lang,
            csrf,
            path: return_path(parts, state),
            notice,
            user: None,
        })
    }
}

/// Where the language switch returns to: this page, query included (a one-time link keeps its
/// token). A page answering a form post has no address of its own; the switch then returns to
/// the page the form was on (the same-origin `Referer`, which our referrer policy sends).
fn return_path(parts: &Parts, state: &AppState) -> String {
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
        return here;
    }
    parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|r| r.origin() == state.public_url.origin())
        .map(|r| match r.query() {
            Some(q) => format!("{}?{q}", r.path()),
            None => r.path().to_owned(),
        })
        .unwrap_or_else(|| "/account".to_owned())
}

impl PageCtx {
    pub fn with_member(mut self, m: &Member) -> Self {
        self.user = Some(NavUser {
            email: m.member.email.clone(),
            is_admin: m.member.is_admin,
        });
        self
    }

    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    pub fn ctx(&self) -> Ctx {
        let t = self.tr();
        Ctx {
            t,
            csrf: self.csrf.clone(),
            user: self.user.clone(),
            path: self.path.clone(),
            notice: self.notice.map(|n| t.get(n.key())),
        }
    }
}

/// A time as pages show it, to the minute ("2026-11-26 19:08 UTC").
pub fn minute(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_default()
}

/// A time to the second, where order within a minute matters (audit log, heartbeats).
pub fn second(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_default()
}

/// Renders a page, or a plain 500 if the template fails (it cannot, for well-formed models).
pub fn render(page: impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Renders a page with a status (422 for a form with errors).
pub fn render_status(status: axum::http::StatusCode, page: impl askama::Template) -> Response {
    let mut res = render(page);
    if res.status().is_success() {
        *res.status_mut() = status;
    }
    res
}

impl PageCtx {
    /// The error as the page's error list, in the reader's language: one entry per field for
    /// invalid input, otherwise one general entry.
    pub fn errors(&self, err: &crate::error::Error) -> web::pages::Errors {
        use crate::error::Error;
        match err {
            Error::Invalid(fields) => web::pages::Errors(
                fields
                    .iter()
                    .map(|f| (f.field.clone(), self.tr().reason(&f.message)))
                    .collect(),
            ),
            other => web::pages::Errors(vec![(String::new(), self.sentence(other))]),
        }
    }

    /// One sentence for an error that is not about a particular field.
    pub fn sentence(&self, err: &crate::error::Error) -> String {
        use crate::error::Error;
        let t = self.tr();
        match err {
            Error::NotFound => t.get(Failure::NotFound.key()).to_owned(),
            Error::Gone => t.get(Failure::Gone.key()).to_owned(),
            Error::RateLimited => t.get(Failure::RateLimited.key()).to_owned(),
            Error::Unavailable(_) | Error::Busy => t.get(Failure::Unavailable.key()).to_owned(),
            Error::Internal(_) => t.get(Failure::Internal.key()).to_owned(),
            Error::Unauthorized => t.get(Failure::Unauthorized.key()).to_owned(),
            Error::Invalid(fields) => fields
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        t.get(&format!("field.{}", f.field)),
                        t.reason(&f.message)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other
                .reason()
                .map_or_else(|| other.to_string(), |r| t.reason(&r)),
        }
    }
}

/// An error as a page (status, the sentence in the reader's language; 401 goes to the login).
pub fn render_html(page: &PageCtx, err: &Error) -> Response {
    super::error::log(err);
    if matches!(err, Error::Unauthorized) {
        return Redirect::to("/login").into_response();
    }
    render_status(
        super::error::status(err),
        web::pages::ErrorPage {
            ctx: page.ctx(),
            status: super::error::status(err).as_u16(),
            message: page.sentence(err),
        },
    )
}

/// An error on a page, with the page's context: `Result<Response, HtmlError>` handlers.
pub struct HtmlError(pub PageCtx, pub Error);

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        render_html(&self.0, &self.1)
    }
}

/// A signed-in admin. A member who is not an admin gets 404, as if the page did not exist.
#[derive(Debug, Clone)]
pub struct Admin(pub Member);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let m = Member::from_request_parts(parts, state).await?;
        if !m.member.is_admin {
            let page = PageCtx::from_request_parts(parts, state).await?;
            return Err(render_html(&page, &Error::NotFound));
        }
        Ok(Admin(m))
    }
}
