//! Extractors: who is calling (session or API token), from where, in which language, and the
//! CSRF check for forms. Identity is a type: a handler that takes `Member` cannot run for an
//! anonymous visitor, one that takes `Admin` cannot run for a member.
//!
//! CSRF: a middleware issues a random `__Host-ruche_csrf` cookie (SameSite=Strict), every form
//! echoes it, and [`Form`] checks both, and the `Origin` header when present. The API
//! (`ApiMember`, `ApiAdmin`: bearer tokens) ignores cookies, so it needs no token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use web::states::Failure;
use web::{Lang, Tr};

use super::error::ApiError;
use super::AppState;
use crate::db::{self, Actor};
use crate::error::Error;
use crate::model::ids::MemberId;
use crate::model::secret;

pub const SESSION_COOKIE: &str = "__Host-ruche_session";
pub const CSRF_COOKIE: &str = "__Host-ruche_csrf";
pub const LANG_COOKIE: &str = "ruche_lang";

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` header: HttpOnly, Secure, SameSite, Path=/ (required by the `__Host-` prefix).
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_seconds: Option<i64>,
    same_site: &str,
) -> HeaderValue {
    let age = match max_age_seconds {
        Some(s) => format!("; Max-Age={s}"),
        None => String::new(),
    };
    let v = format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite={same_site}{age}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The client's address: the peer, or with `trust_forwarded_for` the last X-Forwarded-For hop
/// (the one our own proxy appended).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.http.trust_forwarded_for {
            if let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
            {
                return Ok(ClientIp(Some(ip.to_string())));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(ClientIp(peer))
    }
}

/// The CSRF token of this browser: a random value in a `__Host-` cookie (SameSite=Strict),
/// echoed by every form in a hidden field ("double submit"). The middleware below makes sure
/// every request has one, issuing the cookie on the way out when it was missing.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

pub async fn csrf_cookie(mut req: Request, next: Next) -> Response {
    let existing = cookie(req.headers(), CSRF_COOKIE)
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned);
    let (token, fresh) = match existing {
        Some(t) => (t, false),
        None => (secret::Token::generate().expose().to_owned(), true),
    };
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut res = next.run(req).await;
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(CSRF_COOKIE, &token, None, "Strict"),
        );
    }
    res
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The reader's language: the one they chose (cookie), else their browser's best, else English.
pub fn reader_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or(Lang::En)
        })
}

/// A form body that passed the CSRF check: its `csrf` field equals the cookie, and a present
/// `Origin` header names this site. Anything else is refused with 403 before the handler runs.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = reader_lang(req.headers());
        let forbidden = || {
            (
                axum::http::StatusCode::FORBIDDEN,
                Tr::new(lang).get(Failure::Csrf.key()),
            )
                .into_response()
        };
        if let Some(origin) = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
        {
            let ours = state.public_url.origin().ascii_serialization();
            if origin != ours {
                return Err(forbidden());
            }
        }
        let cookie_token = cookie(req.headers(), CSRF_COOKIE).map(str::to_owned);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| forbidden())?;
        let form_token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        match (cookie_token, form_token) {
            (Some(c), Some(f)) if secret::constant_time_eq(c.as_bytes(), f.as_bytes()) => {}
            _ => return Err(forbidden()),
        }
        let value = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            (
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!("malformed form: {e}"),
            )
                .into_response()
        })?;
        Ok(Form(value))
    }
}

/// A signed-in member, from the session cookie. Pages redirect anonymous visitors to /login.
#[derive(Debug, Clone)]
pub struct Member {
    pub member: db::members::Member,
    /// The raw session token (to keep this session when the password changes).
    pub session: String,
    pub ip: Option<String>,
}

impl Member {
    pub fn id(&self) -> MemberId {
        self.member.id
    }

    pub fn actor(&self) -> Actor {
        Actor {
            member_id: Some(self.member.id),
            email: Some(self.member.email.clone()),
            ip: self.ip.clone(),
        }
    }
}

fn to_login(parts: &Parts) -> Response {
    let back = parts.uri.path();
    let target = if back.starts_with('/') && !back.starts_with("//") {
        format!(
            "/login?back={}",
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        )
    } else {
        "/login".to_owned()
    };
    Redirect::to(&target).into_response()
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(to_login(parts));
        };
        // One connection for the session and its member (one query), released before the
        // handler runs.
        let mut conn = match state.pool.acquire().await {
            Ok(c) => c,
            Err(e) => return Err(super::error::render_plain(&Error::from(e))),
        };
        let session = match db::sessions::signed_in(&mut *conn, &token).await {
            Ok(Some(s)) if !s.mfa_pending => s,
            Ok(_) => return Err(to_login(parts)),
            Err(e) => return Err(super::error::render_plain(&e)),
        };
        // Record activity at most every five minutes, not on every request.
        if time::OffsetDateTime::now_utc() - session.last_seen_at > time::Duration::minutes(5) {
            if let Err(e) = db::sessions::touch(&mut *conn, &token).await {
                tracing::warn!(error = %e, "could not record session activity");
            }
        }
        drop(conn);
        let member = session.member;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(None));
        Ok(Member {
            member,
            session: token,
            ip,
        })
    }
}

/// The secret of an `Authorization: Bearer <secret>` header; an API call without one is 401.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError(Error::Unauthorized))
}

/// A caller of the JSON API, authenticated with `Authorization: Bearer <personal API token>`.
/// Cookies are ignored on the API, so it needs no CSRF protection.
#[derive(Debug, Clone)]
pub struct ApiMember(pub Member);

impl FromRequestParts<AppState> for ApiMember {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        // One connection for the token and its member (one query), released before the
        // handler runs.
        let mut conn = state.pool.acquire().await.map_err(Error::from)?;
        let member = db::api_tokens::authenticate(&mut conn, token)
            .await?
            .ok_or(ApiError(Error::Unauthorized))?;
        drop(conn);
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(None));
        Ok(ApiMember(Member {
            member,
            session: String::new(),
            ip,
        }))
    }
}

#[derive(Debug, Clone)]
pub struct ApiAdmin(pub Member);

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiMember(m) = ApiMember::from_request_parts(parts, state).await?;
        if !m.member.is_admin {
            return Err(ApiError(Error::NotFound));
        }
        Ok(ApiAdmin(m))
    }
}
