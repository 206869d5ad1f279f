//! The control plane's error type, shared by the database layer and the handlers.
//! How each variant becomes an HTTP response (HTML page or JSON) lives in `routes::error`.

use crate::model::input::FieldError;
use crate::model::plan::LimitError;
use crate::model::text::{Describe, Text};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A unique name is taken (409); the message says which.
    #[error("{0}")]
    Conflict(Text),
    /// Input failed its parser (422); one entry per field.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The member's plan does not allow it (422).
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Authenticated, but the action is not allowed in this state (e.g. a suspended account).
    #[error("{0}")]
    Forbidden(Text),
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
    pub fn field(field: &str, problem: impl Describe) -> Self {
        Self::Invalid(vec![FieldError::new(field, problem)])
    }

    /// The sentence for a person, in both languages, for the errors that have one of their own.
    pub fn describe(&self) -> Option<Text> {
        match self {
            Error::Conflict(t) | Error::Forbidden(t) => Some(t.clone()),
            Error::Limit(l) => Some(l.describe()),
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
                Error::Conflict(conflict_message(db.constraint().unwrap_or("")))
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

/// Unique constraints, named by Postgres' defaults in the migrations, as a sentence for users.
fn conflict_message(constraint: &str) -> Text {
    let (en, fr) = match constraint {
        "members_email_key" => (
            "an account with this email address already exists",
            "un compte existe déjà avec cette adresse e-mail",
        ),
        "domains_name_key" => (
            "this domain is already registered in this collective",
            "ce domaine est déjà enregistré dans ce collectif",
        ),
        "mailboxes_domain_id_local_part_key" | "aliases_domain_id_source_key" => (
            "this address is already taken",
            "cette adresse est déjà prise",
        ),
        "xmpp_accounts_domain_id_node_key" => (
            "this XMPP address is already taken",
            "cette adresse XMPP est déjà prise",
        ),
        "plans_name_key" => (
            "a plan with this name already exists",
            "une formule porte déjà ce nom",
        ),
        "collective_pkey" => (
            "the collective is already set up",
            "le collectif est déjà configuré",
        ),
        _ => ("this already exists", "cela existe déjà"),
    };
    Text::new(en, fr)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
