//! A member types a record as four strings (name, type, TTL, value), the way registrars' forms
//! ask for them. [`Record::parse`] turns them into a [`Record`] whose parts can only hold what a
//! zone file may contain for that type, and whose [`Display`](std::fmt::Display) forms are the
//! canonical presentation text: the control plane stores that text, the agent renders it into
//! zone files, and deserializing parses it again. A value that could break out of its field in a
//! zone file (a line break, a `;` comment, an unbalanced quote, `$INCLUDE`) cannot be built.
//!
//! What is wrong with a value is a [`RecordError`], and a value's expected form an [`Expected`]:
//! values, which the web catalogs say in each language (their `Display` is English).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::names::DomainName;

/// Why a record was refused. Messages start in lowercase and never echo the input, so callers
/// can prefix the field: "Value: must be an IPv4 address like 192.0.2.1".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("is empty")]
    Empty,
    #[error("is too long (at most {max} characters)")]
    TooLong { max: usize },
    #[error("contains the character '{}' which is not allowed", .ch.escape_debug())]
    InvalidCharacter { ch: char },
    #[error("has an empty label (a leading dot or two dots in a row)")]
    EmptyLabel,
    #[error("has a label longer than 63 characters")]
    LabelTooLong,
    #[error("has a label that starts or ends with a hyphen")]
    Hyphen,
    #[error("may use * only as the whole first label, like *.dev")]
    Wildcard,
    #[error("must be the name inside the domain (like www or @), not a full name ending in a dot")]
    Absolute,
    #[error("is not a record type members can add (A, AAAA, CNAME, MX, TXT, SRV, CAA)")]
    UnsupportedType,
    #[error("must be a number of seconds between {min} and {max}")]
    Ttl { min: u32, max: u32 },
    #[error("must be {expected}")]
    Value { expected: Expected },
    #[error("names a host that is not a valid domain name")]
    Target,
}

/// What a value of each record type (or a TSIG secret) must look like, shown when it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Expected {
    #[error("an IPv4 address like 192.0.2.1")]
    Ipv4,
    #[error("an IPv6 address like 2001:db8::1")]
    Ipv6,
    #[error("a preference and a host, like 10 mail.example.org")]
    Mx,
    #[error("priority, weight, port and host, like 10 5 5060 sip.example.org")]
    Srv,
    #[error("flags, tag and value, like 0 issue \"letsencrypt.org\"")]
    Caa,
    #[error("a base64 key of 16 to 128 characters")]
    TsigSecret,
}

/// Where a member's record lives, relative to the zone apex: `@` for the apex, else one or more
/// labels such as `www`, `_sip._tcp` or `*.dev`.
///
/// Stored form: `@`, or lowercase labels of `[a-z0-9_-]` (1..=63 characters, no leading or
/// trailing hyphen), the first of which may be exactly `*`; at most 200 characters, so that with
/// any member domain the full name still has room in the 253 a name may have (checked again
/// against the zone by [`Owner::fits_in`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner(String);

impl Owner {
    pub const MAX_LEN: usize = 200;

    pub fn apex() -> Owner {
        Owner("@".to_owned())
    }

    /// Never panics; never trims. Accepts any case; `@` or an empty string is the apex.
    pub fn parse(input: &str) -> Result<Owner, RecordError> {
        if input.is_empty() || input == "@" {
            return Ok(Owner::apex());
        }
        if input.len() > Self::MAX_LEN {
            return Err(RecordError::TooLong { max: Self::MAX_LEN });
        }
        if input.ends_with('.') {
            return Err(RecordError::Absolute);
        }
        let lower = input.to_ascii_lowercase();
        for (i, label) in lower.split('.').enumerate() {
            if label == "*" {
                if i == 0 {
                    continue;
                }
                return Err(RecordError::Wildcard);
            }
            check_label(label, true)?;
        }
        Ok(Owner(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_apex(&self) -> bool {
        self.0 == "@"
    }

    pub fn is_wildcard(&self) -> bool {
        self.0 == "*" || self.0.starts_with("*.")
    }

    /// The absolute name in `zone`, without the root dot.
    pub fn in_zone(&self, zone: &DomainName) -> String {
        if self.is_apex() {
            zone.as_str().to_owned()
        } else {
            format!("{}.{}", self.0, zone.as_str())
        }
    }

    /// Whether the absolute name stays within the 253 characters a name may have.
    pub fn fits_in(&self, zone: &DomainName) -> bool {
        self.in_zone(zone).len() <= DomainName::MAX_LEN
    }
}

/// A label of an owner or a target: `[a-z0-9_-]`, 1..=63, no hyphen at either end. Underscores
/// are allowed because service names (`_sip._tcp`, `s1._domainkey`) need them.
fn check_label(label: &str, lowercase_only: bool) -> Result<(), RecordError> {
    if label.is_empty() {
        return Err(RecordError::EmptyLabel);
    }
    if label.len() > 63 {
        return Err(RecordError::LabelTooLong);
    }
    if let Some(ch) = label.chars().find(|c| {
        !(c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || *c == '-'
            || *c == '_'
            || (!lowercase_only && c.is_ascii_uppercase()))
    }) {
        return Err(if ch == '*' {
            RecordError::Wildcard
        } else {
            RecordError::InvalidCharacter { ch }
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(RecordError::Hyphen);
    }
    Ok(())
}

string_impls!(Owner, RecordError);

/// A host a record points at (CNAME, MX, SRV targets): a domain name, which may contain
/// underscores (DKIM delegations such as `s1._domainkey.mailer.example` are CNAME targets).
/// Internationalized input is converted to A-labels by [`DomainName`]. Stored lowercase, without
/// the root dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Target(String);

impl Target {
    pub fn parse(input: &str) -> Result<Target, RecordError> {
        if input.is_empty() {
            return Err(RecordError::Empty);
        }
        if input.len() > 1024 {
            return Err(RecordError::TooLong { max: 253 });
        }
        if let Ok(name) = DomainName::parse(input) {
            return Ok(Target(name.as_str().to_owned()));
        }
        let name = input.strip_suffix('.').unwrap_or(input);
        if !name.is_ascii() {
            return Err(RecordError::Target);
        }
        let lower = name.to_ascii_lowercase();
        if lower.len() > DomainName::MAX_LEN {
            return Err(RecordError::TooLong {
                max: DomainName::MAX_LEN,
            });
        }
        let labels: Vec<&str> = lower.split('.').collect();
        if labels.len() < 2 {
            return Err(RecordError::Target);
        }
        for label in &labels {
            check_label(label, true)?;
        }
        if labels.last().is_some_and(|l| l.contains('_')) {
            return Err(RecordError::Target);
        }
        Ok(Target(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Target, RecordError);

/// Seconds a resolver may cache a record: 60 s to 1 day, default 1 hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Ttl(u32);

impl Ttl {
    pub const MIN: u32 = 60;
    pub const MAX: u32 = 86_400;
    pub const DEFAULT: Ttl = Ttl(3600);
    pub const SHORTEST: Ttl = Ttl(Self::MIN);

    pub fn new(seconds: u32) -> Result<Ttl, RecordError> {
        if (Self::MIN..=Self::MAX).contains(&seconds) {
            Ok(Ttl(seconds))
        } else {
            Err(RecordError::Ttl {
                min: Self::MIN,
                max: Self::MAX,
            })
        }
    }

    /// Form input: empty means the default.
    pub fn parse(input: &str) -> Result<Ttl, RecordError> {
        if input.is_empty() {
            return Ok(Self::DEFAULT);
        }
        let err = RecordError::Ttl {
            min: Self::MIN,
            max: Self::MAX,
        };
        if input.len() > 10 || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err);
        }
        Ttl::new(input.parse().map_err(|_| err)?)
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Ttl {
    type Error = RecordError;
    fn try_from(v: u32) -> Result<Ttl, RecordError> {
        Ttl::new(v)
    }
}

impl From<Ttl> for u32 {
    fn from(t: Ttl) -> u32 {
        t.0
    }
}

/// The record types members may add. NS, SOA, DNSKEY, DS and the rest belong to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Srv,
    Caa,
}

impl RecordType {
    pub const ALL: [RecordType; 7] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Txt,
        RecordType::Srv,
        RecordType::Caa,
    ];

    pub fn parse(input: &str) -> Result<RecordType, RecordError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(input))
            .ok_or(RecordError::UnsupportedType)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Srv => "SRV",
            RecordType::Caa => "CAA",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text of a TXT record: printable ASCII (space to `~`), 1..=2048 characters. Rendered as
/// quoted strings of at most 255 bytes, with `"` and `\` escaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxtData(String);

impl TxtData {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(input: &str) -> Result<TxtData, RecordError> {
        if input.is_empty() {
            return Err(RecordError::Empty);
        }
        if input.len() > Self::MAX_LEN {
            return Err(RecordError::TooLong { max: Self::MAX_LEN });
        }
        if let Some(ch) = input.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(RecordError::InvalidCharacter { ch });
        }
        Ok(TxtData(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Zone-file form: `"…" "…"`, each string at most 255 bytes, `"` and `\` escaped.
    pub fn zone_text(&self) -> String {
        let bytes = self.0.as_bytes();
        bytes
            .chunks(255)
            .map(|chunk| {
                let mut s = String::with_capacity(chunk.len() + 2);
                s.push('"');
                for &b in chunk {
                    if b == b'"' || b == b'\\' {
                        s.push('\\');
                    }
                    s.push(char::from(b));
                }
                s.push('"');
                s
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The tag of a CAA record (RFC 8659).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaaTag {
    Issue,
    IssueWild,
    Iodef,
}

impl CaaTag {
    fn as_str(self) -> &'static str {
        match self {
            CaaTag::Issue => "issue",
            CaaTag::IssueWild => "issuewild",
            CaaTag::Iodef => "iodef",
        }
    }
}

/// The data of a member record; each variant holds only valid values for its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Target),
    Mx {
        preference: u16,
        exchange: Target,
    },
    Txt(TxtData),
    /// `target` is `None` for "." (the service is decidedly not available, RFC 2782).
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Option<Target>,
    },
    /// `value` is printable ASCII without `"` or `\`, at most 255 characters.
    Caa {
        critical: bool,
        tag: CaaTag,
        value: String,
    },
}

impl RecordData {
    /// Parses the value a member typed for a record of type `kind`. Numbers are plain decimal;
    /// fields are separated by single spaces or runs of spaces.
    pub fn parse(kind: RecordType, input: &str) -> Result<RecordData, RecordError> {
        if input.is_empty() {
            return Err(RecordError::Empty);
        }
        if input.len() > TxtData::MAX_LEN {
            return Err(RecordError::TooLong {
                max: TxtData::MAX_LEN,
            });
        }
        match kind {
            RecordType::A => input
                .parse()
                .map(RecordData::A)
                .map_err(|_| RecordError::Value {
                    expected: Expected::Ipv4,
                }),
            RecordType::Aaaa => {
                input
                    .parse()
                    .map(RecordData::Aaaa)
                    .map_err(|_| RecordError::Value {
                        expected: Expected::Ipv6,
                    })
            }
            RecordType::Cname => Target::parse(input).map(RecordData::Cname),
            RecordType::Mx => {
                const EXPECTED: Expected = Expected::Mx;
                let [pref, host] = fields(input, EXPECTED)?;
                Ok(RecordData::Mx {
                    preference: number(pref, EXPECTED)?,
                    exchange: Target::parse(host)?,
                })
            }
            RecordType::Txt => TxtData::parse(input).map(RecordData::Txt),
            RecordType::Srv => {
                const EXPECTED: Expected = Expected::Srv;
                let [priority, weight, port, host] = fields(input, EXPECTED)?;
                Ok(RecordData::Srv {
                    priority: number(priority, EXPECTED)?,
                    weight: number(weight, EXPECTED)?,
                    port: number(port, EXPECTED)?,
                    target: if host == "." {
                        None
                    } else {
                        Some(Target::parse(host)?)
                    },
                })
            }
            RecordType::Caa => {
                const EXPECTED: Expected = Expected::Caa;
                let mut parts = input.splitn(3, ' ');
                let (Some(flags), Some(tag), Some(value)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(RecordError::Value { expected: EXPECTED });
                };
                let critical = match flags {
                    "0" => false,
                    "128" => true,
                    _ => return Err(RecordError::Value { expected: EXPECTED }),
                };
                let tag = match tag.to_ascii_lowercase().as_str() {
                    "issue" => CaaTag::Issue,
                    "issuewild" => CaaTag::IssueWild,
                    "iodef" => CaaTag::Iodef,
                    _ => return Err(RecordError::Value { expected: EXPECTED }),
                };
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                if value.is_empty() || value.len() > 255 {
                    return Err(RecordError::Value { expected: EXPECTED });
                }
                if let Some(ch) = value
                    .chars()
                    .find(|c| !(' '..='~').contains(c) || *c == '"' || *c == '\\')
                {
                    return Err(RecordError::InvalidCharacter { ch });
                }
                Ok(RecordData::Caa {
                    critical,
                    tag,
                    value: value.to_owned(),
                })
            }
        }
    }

    pub fn kind(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Cname(_) => RecordType::Cname,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Txt(_) => RecordType::Txt,
            RecordData::Srv { .. } => RecordType::Srv,
            RecordData::Caa { .. } => RecordType::Caa,
        }
    }

    /// The RDATA as it goes into a zone file: host names absolute (with the root dot), TXT
    /// quoted and escaped.
    pub fn zone_text(&self) -> String {
        match self {
            RecordData::A(a) => a.to_string(),
            RecordData::Aaaa(a) => a.to_string(),
            RecordData::Cname(t) => format!("{}.", t.as_str()),
            RecordData::Mx {
                preference,
                exchange,
            } => format!("{preference} {}.", exchange.as_str()),
            RecordData::Txt(t) => t.zone_text(),
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => format!(
                "{priority} {weight} {port} {}.",
                target.as_ref().map(Target::as_str).unwrap_or("")
            ),
            RecordData::Caa {
                critical,
                tag,
                value,
            } => format!(
                "{} {} \"{value}\"",
                if *critical { 128 } else { 0 },
                tag.as_str()
            ),
        }
    }
}

/// The canonical form a member would type: what [`RecordData::parse`] reads back.
impl fmt::Display for RecordData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordData::Txt(t) => f.write_str(t.as_str()),
            RecordData::Cname(t) => f.write_str(t.as_str()),
            RecordData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {}", exchange.as_str()),
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(
                f,
                "{priority} {weight} {port} {}",
                target.as_ref().map(Target::as_str).unwrap_or(".")
            ),
            other => f.write_str(&other.zone_text()),
        }
    }
}

/// Splits on runs of spaces into exactly `N` fields.
fn fields<const N: usize>(input: &str, expected: Expected) -> Result<[&str; N], RecordError> {
    let parts: Vec<&str> = input.split(' ').filter(|p| !p.is_empty()).collect();
    parts
        .try_into()
        .map_err(|_| RecordError::Value { expected })
}

fn number(input: &str, expected: Expected) -> Result<u16, RecordError> {
    if input.is_empty() || input.len() > 5 || !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RecordError::Value { expected });
    }
    input.parse().map_err(|_| RecordError::Value { expected })
}

/// A member's record, in the zone of the domain it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RecordText", into = "RecordText")]
pub struct Record {
    pub owner: Owner,
    pub ttl: Ttl,
    pub data: RecordData,
}

/// Which input field a record error is about, for forms and API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    Name,
    Type,
    Ttl,
    Value,
}

impl RecordField {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordField::Name => "name",
            RecordField::Type => "type",
            RecordField::Ttl => "ttl",
            RecordField::Value => "value",
        }
    }
}

impl Record {
    /// Parses the four fields of a record form. The error names the field it is about.
    pub fn parse(
        name: &str,
        kind: &str,
        ttl: &str,
        value: &str,
    ) -> Result<Record, (RecordField, RecordError)> {
        let owner = Owner::parse(name).map_err(|e| (RecordField::Name, e))?;
        let kind = RecordType::parse(kind).map_err(|e| (RecordField::Type, e))?;
        let ttl = Ttl::parse(ttl).map_err(|e| (RecordField::Ttl, e))?;
        let data = RecordData::parse(kind, value).map_err(|e| (RecordField::Value, e))?;
        Ok(Record { owner, ttl, data })
    }

    /// The zone-file line, relative owner names as they are (the file sets `$ORIGIN`).
    pub fn zone_line(&self) -> String {
        format!(
            "{} {} IN {} {}",
            self.owner.as_str(),
            self.ttl.seconds(),
            self.data.kind(),
            self.data.zone_text()
        )
    }
}

/// The wire form of a [`Record`]: the same four fields a member types.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordText {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ttl: u32,
    pub value: String,
}

impl TryFrom<RecordText> for Record {
    type Error = String;
    fn try_from(t: RecordText) -> Result<Record, String> {
        Record::parse(&t.name, &t.kind, &t.ttl.to_string(), &t.value)
            .map_err(|(field, e)| format!("{}: {e}", field.as_str()))
    }
}

impl From<Record> for RecordText {
    fn from(r: Record) -> RecordText {
        RecordText {
            name: r.owner.as_str().to_owned(),
            kind: r.data.kind().as_str().to_owned(),
            ttl: r.ttl.seconds(),
            value: r.data.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(name: &str, kind: &str, value: &str) -> Result<Record, (RecordField, RecordError)> {
        Record::parse(name, kind, "", value)
    }

    #[test]
    fn parses_each_type_to_its_canonical_text() {
        let cases = [
            ("www", "a", "192.0.2.1", "www 3600 IN A 192.0.2.1"),
            ("@", "AAAA", "2001:DB8::1", "@ 3600 IN AAAA 2001:db8::1"),
            (
                "Blog",
                "CNAME",
                "Host.Example.NET.",
                "blog 3600 IN CNAME host.example.net.",
            ),
            (
                "s1._domainkey",
                "CNAME",
                "s1._domainkey.mailer.example",
                "s1._domainkey 3600 IN CNAME s1._domainkey.mailer.example.",
            ),
            (
                "lists",
                "MX",
                "10  mx.example.org",
                "lists 3600 IN MX 10 mx.example.org.",
            ),
            (
                "_sip._tcp",
                "SRV",
                "10 5 5060 sip.example.org",
                "_sip._tcp 3600 IN SRV 10 5 5060 sip.example.org.",
            ),
            (
                "_sip._udp",
                "SRV",
                "0 0 0 .",
                "_sip._udp 3600 IN SRV 0 0 0 .",
            ),
            (
                "@",
                "CAA",
                "0 issue \"sectigo.com\"",
                "@ 3600 IN CAA 0 issue \"sectigo.com\"",
            ),
            ("*.dev", "A", "192.0.2.9", "*.dev 3600 IN A 192.0.2.9"),
            (
                "@",
                "TXT",
                "say \"hi\" \\o/",
                "@ 3600 IN TXT \"say \\\"hi\\\" \\\\o/\"",
            ),
        ];
        for (name, kind, value, line) in cases {
            let r = rec(name, kind, value).unwrap();
            assert_eq!(r.zone_line(), line);
            let again: Record = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            assert_eq!(again, r);
        }
    }

    #[test]
    fn refuses_hostile_and_malformed_input_naming_the_field() {
        let cases: &[(&str, &str, &str, RecordField)] = &[
            ("www\nevil", "A", "192.0.2.1", RecordField::Name),
            ("a;b", "A", "192.0.2.1", RecordField::Name),
            ("a.*.b", "A", "192.0.2.1", RecordField::Name),
            ("**", "A", "192.0.2.1", RecordField::Name),
            ("*foo", "A", "192.0.2.1", RecordField::Name),
            ("www.example.org.", "A", "192.0.2.1", RecordField::Name),
            (&"a".repeat(64), "A", "192.0.2.1", RecordField::Name),
            ("$INCLUDE", "A", "192.0.2.1", RecordField::Name),
            ("www", "NS", "ns.example.org", RecordField::Type),
            ("www", "A\n", "192.0.2.1", RecordField::Type),
            (
                "www",
                "A",
                "192.0.2.1\n@ IN NS evil.example.",
                RecordField::Value,
            ),
            ("www", "A", "999.0.2.1", RecordField::Value),
            ("www", "TXT", "line\nbreak", RecordField::Value),
            ("www", "TXT", "caf\u{e9}", RecordField::Value),
            ("www", "CNAME", "evil.example.org. ; x", RecordField::Value),
            ("www", "MX", "10", RecordField::Value),
            ("www", "MX", "70000 mx.example.org", RecordField::Value),
            ("www", "SRV", "1 2 3", RecordField::Value),
            ("@", "CAA", "0 issue \"a\" \"b\"", RecordField::Value),
            ("@", "CAA", "5 issue \"a\"", RecordField::Value),
        ];
        for (name, kind, value, field) in cases {
            let err = rec(name, kind, value).unwrap_err();
            assert_eq!(err.0, *field, "{name:?} {kind:?} {value:?}: {err:?}");
        }
        assert!(Record::parse("www", "A", "30", "192.0.2.1").is_err());
        assert!(Record::parse("www", "A", "1e3", "192.0.2.1").is_err());
    }

    proptest! {
        /// Whatever is typed, a record that parses renders to one zone-file line whose only
        /// quotes are balanced TXT/CAA quoting, with no comment, directive or line break, and
        /// reads back to itself.
        #[test]
        fn any_parsed_record_renders_one_safe_line(
            name in "\\PC{0,80}|[a-z_*.@-]{0,40}",
            kind in "A|AAAA|CNAME|MX|TXT|SRV|CAA|NS|\\PC{0,6}",
            ttl in "[0-9]{0,6}|\\PC{0,4}",
            value in "\\PC{0,300}|[0-9 .a-z:\"\\\\;()$*_-]{0,80}",
        ) {
            if let Ok(r) = Record::parse(&name, &kind, &ttl, &value) {
                let line = r.zone_line();
                prop_assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\0'));
                prop_assert!(!r.owner.as_str().starts_with('$'));
                // Outside quoted strings there is no ';' (comment), '(' or ')' (multi-line).
                let mut quoted = false;
                let mut escaped = false;
                for c in line.chars() {
                    if escaped { escaped = false; continue; }
                    match c {
                        '\\' if quoted => escaped = true,
                        '"' => quoted = !quoted,
                        ';' | '(' | ')' | '$' if !quoted => prop_assert!(false, "{line}"),
                        _ => {}
                    }
                }
                prop_assert!(!quoted, "unbalanced quotes: {line}");
                let back: Record = RecordText::from(r.clone()).try_into().unwrap();
                prop_assert_eq!(back, r);
            }
        }
    }
}
