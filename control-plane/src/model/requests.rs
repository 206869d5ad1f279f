//! The creation requests members and admins make, parsed field by field into typed values.
//! The portal's forms and the JSON API both go through these, so the rules are the same
//! whichever way a value arrives, and every problem is reported with its field name.

use protocol::app_password::AppPasswordText;
use web::Reason;

use super::ids::MailboxId;
use super::input::{parse_count, parse_mib, FieldError, Label};
use super::password::NewPassword;
use super::plan::Limits;
use super::{AliasSource, AppScope, DomainName, EmailAddress, LocalPart, XmppNode};

/// Collects field errors while parsing several fields.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

/// Fields that did not parse, each with its problem (`crate::error::Error::Invalid` once it
/// reaches a handler).
#[derive(Debug)]
pub struct Invalid(pub Vec<FieldError>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&fields.join("; "))
    }
}

impl Invalid {
    pub fn field(field: &str, problem: impl Into<Reason>) -> Invalid {
        Invalid(vec![FieldError::new(field, problem)])
    }
}

impl Fields {
    pub fn check<T, E: Into<Reason>>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(FieldError::new(field, e));
                None
            }
        }
    }

    /// `Ok` with the value when no field failed.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Invalid> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(Invalid(self.0)),
        }
    }
}

/// `confirmation` is what the form's second password field held; the API sends none.
fn password(
    fields: &mut Fields,
    password: &str,
    confirmation: Option<&str>,
) -> Option<NewPassword> {
    fields.check(
        "password",
        NewPassword::parse(password, confirmation.unwrap_or(password)),
    )
}

pub fn domain(name: &str) -> Result<DomainName, Invalid> {
    let mut f = Fields::default();
    let d = f.check("domain", DomainName::parse(name.trim()));
    f.finish(d)
}

pub struct NewMailbox {
    pub local_part: LocalPart,
    pub password: NewPassword,
    pub quota_bytes: i64,
}

pub fn mailbox(
    local_part: &str,
    pw: &str,
    confirmation: Option<&str>,
    quota_mib: &str,
) -> Result<NewMailbox, Invalid> {
    let mut f = Fields::default();
    let local = f.check("local_part", LocalPart::parse(local_part.trim()));
    let password = password(&mut f, pw, confirmation);
    let quota = f.check("quota_mib", parse_mib(quota_mib));
    let value = match (local, password, quota) {
        (Some(local_part), Some(password), Some(quota_bytes)) => Some(NewMailbox {
            local_part,
            password,
            quota_bytes,
        }),
        _ => None,
    };
    f.finish(value)
}

pub struct NewAlias {
    pub source: AliasSource,
    pub targets: Vec<EmailAddress>,
}

/// The most targets an alias may have.
const MAX_TARGETS: usize = 50;

/// Targets are separated by commas, spaces or line breaks; 1 to `MAX_TARGETS` of them.
pub fn alias(source: &str, targets: &[&str]) -> Result<NewAlias, Invalid> {
    let mut f = Fields::default();
    let source = f.check("source", AliasSource::parse(source.trim()));
    let mut parsed = Vec::new();
    let mut bad: Option<Reason> = None;
    for t in targets
        .iter()
        .flat_map(|t| t.split([',', '\n', '\r', ' ', '\t']))
        .filter(|t| !t.is_empty())
    {
        match EmailAddress::parse(t) {
            Ok(a) => {
                if !parsed.contains(&a) {
                    parsed.push(a);
                }
            }
            Err(e) => {
                bad = Some(e.into());
                break;
            }
        }
    }
    let targets = match (bad, parsed.len()) {
        (Some(e), _) => f.check::<Vec<EmailAddress>, _>("targets", Err(e)),
        (None, 0) => f.check::<Vec<EmailAddress>, _>("targets", Err(Reason::NoTarget)),
        (None, n) if n > MAX_TARGETS => f.check::<Vec<EmailAddress>, _>(
            "targets",
            Err(Reason::TooManyTargets { max: MAX_TARGETS }),
        ),
        (None, _) => Some(parsed),
    };
    let value = match (source, targets) {
        (Some(source), Some(targets)) => Some(NewAlias { source, targets }),
        _ => None,
    };
    f.finish(value)
}

pub struct NewXmpp {
    pub node: XmppNode,
    pub password: NewPassword,
}

pub fn xmpp(node: &str, pw: &str, confirmation: Option<&str>) -> Result<NewXmpp, Invalid> {
    let mut f = Fields::default();
    let node = f.check("node", XmppNode::parse(node.trim()));
    let password = password(&mut f, pw, confirmation);
    let value = match (node, password) {
        (Some(node), Some(password)) => Some(NewXmpp { node, password }),
        _ => None,
    };
    f.finish(value)
}

pub fn label(field: &str, input: &str) -> Result<Label, Invalid> {
    let mut f = Fields::default();
    let l = f.check(field, Label::parse(input, 100));
    f.finish(l)
}

pub fn app_password(label_input: &str, scope: &str) -> Result<(Label, AppScope), Invalid> {
    let mut f = Fields::default();
    let l = f.check("label", Label::parse(label_input, 100));
    let s = f.check("scope", scope.parse::<AppScope>());
    let value = match (l, s) {
        (Some(l), Some(s)) => Some((l, s)),
        _ => None,
    };
    f.finish(value)
}

pub struct PlanInput<'a> {
    pub name: &'a str,
    pub max_domains: &'a str,
    pub max_mailboxes: &'a str,
    pub max_aliases: &'a str,
    pub max_xmpp_accounts: &'a str,
    pub storage_mib: &'a str,
}

pub fn plan(input: &PlanInput<'_>) -> Result<(Label, Limits), Invalid> {
    const MAX: i64 = 100_000;
    let mut f = Fields::default();
    let name = f.check("name", Label::parse(input.name, 100));
    let d = f.check("max_domains", parse_count(input.max_domains, MAX));
    let m = f.check("max_mailboxes", parse_count(input.max_mailboxes, MAX));
    let a = f.check("max_aliases", parse_count(input.max_aliases, MAX));
    let x = f.check(
        "max_xmpp_accounts",
        parse_count(input.max_xmpp_accounts, MAX),
    );
    let s = f.check("storage_mib", parse_mib(input.storage_mib));
    let value = match (name, d, m, a, x, s) {
        (Some(name), Some(d), Some(m), Some(a), Some(x), Some(s)) => Some((
            name,
            Limits {
                max_domains: d,
                max_mailboxes: m,
                max_aliases: a,
                max_xmpp_accounts: x,
                storage_bytes: s,
            },
        )),
        _ => None,
    };
    f.finish(value)
}

/// A new app password that names itself (`ap-<id>-<secret>-<secret>-<secret>`): a random
/// 50-bit public id and a random 150-bit secret, from the operating system's generator.
pub fn generate_app_password() -> AppPasswordText {
    use rand::RngCore;
    let mut id = [0u8; protocol::app_password::ID_LEN];
    let mut secret = [0u8; protocol::app_password::SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    // Each byte is taken modulo 32: uniform, since 256 is a multiple of 32.
    AppPasswordText::from_indices(id, secret)
}

/// Where an app password may be used, as a form or the API says it: `all` (or nothing) for every
/// mailbox of the member, or a mailbox id (whose owner the database checks).
pub fn app_password_mailbox(input: Option<&str>) -> Result<Option<MailboxId>, Invalid> {
    match input.map(str::trim) {
        None | Some("" | "all") => Ok(None),
        Some(id) => id
            .parse::<MailboxId>()
            .map(Some)
            .map_err(|_| Invalid::field("mailbox", Reason::NotYourMailbox)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(e: Invalid) -> Vec<String> {
        e.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn every_bad_field_is_reported_by_name() {
        let err = mailbox("al\nice", "short", Some("short"), "0")
            .err()
            .unwrap();
        assert_eq!(fields_of(err), ["local_part", "password", "quota_mib"]);
        let err = alias("a\"b", &["x@y"]).err().unwrap();
        assert_eq!(fields_of(err), ["source", "targets"]);
        let err = xmpp("bad node", "long enough password", None)
            .err()
            .unwrap();
        assert_eq!(fields_of(err), ["node"]);
    }

    #[test]
    fn valid_requests_parse() {
        let m = mailbox(
            " Alice ",
            "correct horse battery",
            Some("correct horse battery"),
            "512",
        )
        .unwrap();
        assert_eq!(m.local_part.as_str(), "alice");
        assert_eq!(m.quota_bytes, 512 * 1024 * 1024);
        let a = alias(
            "*",
            &["bob@example.org, carol@example.net\nbob@example.org"],
        )
        .unwrap();
        assert_eq!(a.source, AliasSource::CatchAll);
        assert_eq!(a.targets.len(), 2);
        assert!(alias("x", &[""]).is_err());
        let p = generate_app_password();
        let text = p.expose();
        assert_eq!(text.len(), protocol::app_password::TEXT_LEN);
        assert_eq!(AppPasswordText::parse(&text), Some(p.clone()));
        assert_ne!(generate_app_password().expose(), text);
        assert_eq!(app_password_mailbox(Some("all")).unwrap(), None);
        assert_eq!(app_password_mailbox(None).unwrap(), None);
        assert!(app_password_mailbox(Some("x")).is_err());
    }
}
