//! The control plane's error type, shared by the store, the use cases and the handlers.
//! How each variant becomes an HTTP response (HTML page or JSON) lives in `routes::error`.
//!
//! An error carries why as a `web::Reason` (a value, never a sentence): pages say it in the
//! reader's language, the API and the logs in English. A unique violation becomes a conflict
//! (409) whose reason names what is taken; a database that cannot be reached is `Unavailable`
//! (503), the request having changed nothing.

use web::Reason;

use crate::model::input::FieldError;
use crate::model::plan::LimitError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A unique name is taken, or the thing is not in a state that allows it (409).
    #[error("{0}")]
    Conflict(Reason),
    /// Input failed its parser (422); one entry per field.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The member's plan does not allow it (422).
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Authenticated, but the action is not allowed in this state (e.g. a suspended account).
    #[error("{0}")]
    Forbidden(Reason),
    #[error("not signed in")]
    Unauthorized,
    #[error("too many attempts; please wait a few minutes and try again")]
    RateLimited,
    /// A one-time link that was used, revoked or has expired (410).
    #[error("this link is no longer valid")]
    Gone,
    /// Too many password hashes are running or waiting (503, `password::Gate`); the request
    /// changed nothing.
    #[error("the server is busy; please try again in a moment")]
    Busy,
    /// The database cannot be reached right now (503); the request changed nothing.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn field(field: &str, problem: impl Into<Reason>) -> Self {
        Self::Invalid(vec![FieldError::new(field, problem)])
    }

    /// Why, for the errors that have a reason of their own (the others are said by the page's
    /// `error.*` keys).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Conflict(r) | Error::Forbidden(r) => Some(r.clone()),
            Error::Limit(l) => Some((*l).into()),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict(taken(db.constraint().unwrap_or("")))
            }
            // Connection-level failures (admin shutdown, crash recovery) also mean "try again".
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                Error::Unavailable(e)
            }
            _ => Error::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<argon2::password_hash::Error> for Error {
    fn from(e: argon2::password_hash::Error) -> Self {
        Error::Internal(anyhow::anyhow!("password hashing failed: {e}"))
    }
}

impl From<crate::model::password::GateError> for Error {
    fn from(e: crate::model::password::GateError) -> Self {
        match e {
            crate::model::password::GateError::Busy => Error::Busy,
            crate::model::password::GateError::Task(e) => Error::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<crate::model::requests::Invalid> for Error {
    fn from(e: crate::model::requests::Invalid) -> Self {
        Error::Invalid(e.0)
    }
}

impl From<crate::model::nameservers::PlatformTooLong> for Error {
    fn from(e: crate::model::nameservers::PlatformTooLong) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}

/// Unique constraints, named by Postgres' defaults in the migrations, as the reason they give.
fn taken(constraint: &str) -> Reason {
    match constraint {
        "members_email_key" => Reason::EmailTaken,
        "domains_name_key" => Reason::DomainTaken,
        "mailboxes_domain_id_local_part_key" | "aliases_domain_id_source_key" => {
            Reason::AddressTaken
        }
        "xmpp_accounts_domain_id_node_key" => Reason::XmppAddressTaken,
        "plans_name_key" => Reason::PlanNameTaken,
        "collective_pkey" => Reason::CollectiveSetUp,
        _ => Reason::AlreadyExists,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
