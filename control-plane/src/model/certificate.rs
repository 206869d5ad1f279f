//! The certificates a node reports in its heartbeat (`protocol::node::CertificateReport`),
//! checked before anything is stored: what the member and the admin are shown of them.
//!
//! A node is trusted to say how its own certificates stand, not to say anything about another
//! node's domains or to put markup or line breaks in front of a member: entries whose names are
//! not the domain's own are skipped (and named in the log), the error text is cleaned and capped
//! ([`ErrorText`]), and which domains the node may report at all is decided by the store
//! (`db::certificates`: only the verified domains of members it hosts). As with DKIM keys and
//! usage, a bad entry is skipped, never a reason to refuse the heartbeat.

use std::collections::BTreeMap;

use protocol::node::{CertificateReport, CertificateState, Challenge};
use time::OffsetDateTime;

use super::DomainName;

/// Most characters of an error kept: a CA's or resolver's sentence fits; a page of HTML or a
/// stack trace does not fill the member's page.
pub const ERROR_CHARS: usize = 300;

/// Most names on one certificate: Let's Encrypt's limit, far above the handful a member domain
/// needs (the domain, `www.`, `autoconfig.`, `mta-sts.`, `autodiscover.`).
pub const MAX_NAMES: usize = 100;

/// The node's words about why an attempt failed, made safe to keep and show: no control
/// character (a line break could not forge a log line or a second sentence), no bidirectional
/// override (which can make text read in another order than it is stored), whitespace runs
/// folded into one space, at most [`ERROR_CHARS`] characters (cut on a character, with `…`).
/// Pages escape it like any text; this is what makes it one short line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorText(String);

impl ErrorText {
    /// The cleaned text; `None` when nothing readable is left.
    pub fn clean(raw: &str) -> Option<ErrorText> {
        let folded = raw
            .split(|c: char| c.is_control() || c.is_whitespace())
            .map(|word| {
                word.chars()
                    .filter(|c| !is_bidi_control(*c))
                    .collect::<String>()
            })
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if folded.is_empty() {
            return None;
        }
        if folded.chars().count() <= ERROR_CHARS {
            return Some(ErrorText(folded));
        }
        let mut cut: String = folded.chars().take(ERROR_CHARS - 1).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        Some(ErrorText(cut))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode's explicit directional formatting characters (UAX #9): embeddings, overrides,
/// isolates and marks. They are format characters, not control characters, so `is_control`
/// lets them through.
fn is_bidi_control(ch: char) -> bool {
    matches!(ch, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One certificate as stored: checked, its times as times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The member domain (ASCII) it is for; `None` for the node's own host name.
    pub domain: Option<String>,
    /// That domain's id as the node knows it, when it says: the row is filed only under the
    /// domain with this id (a later holder of the name is another domain).
    pub domain_id: Option<String>,
    /// ASCII, the first the one it is filed under; the domain and names under it only.
    pub names: Vec<String>,
    pub challenge: Challenge,
    pub state: CertificateState,
    pub not_after: Option<OffsetDateTime>,
    pub error: Option<ErrorText>,
    pub retry_at: Option<OffsetDateTime>,
}

/// The checked list, with what was skipped and why (for the log).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// At most one per domain, and one for the node's own name: the last one listed wins.
    pub certificates: Vec<Certificate>,
    pub skipped: Vec<String>,
}

fn time(what: &str, secs: Option<i64>) -> Result<Option<OffsetDateTime>, String> {
    secs.map(|s| {
        OffsetDateTime::from_unix_timestamp(s).map_err(|_| format!("{what} {s} is not a time"))
    })
    .transpose()
}

fn check_one(c: &CertificateReport) -> Result<Certificate, String> {
    if c.names.is_empty() {
        return Err("no name".to_owned());
    }
    if c.names.len() > MAX_NAMES {
        return Err(format!("{} names, more than {MAX_NAMES}", c.names.len()));
    }
    if let Some(domain) = &c.domain {
        // A member domain's certificate covers that domain's names only: a node cannot make a
        // member's page list someone else's name.
        let foreign = |n: &&DomainName| *n != domain && !n.is_subdomain_of(domain);
        if let Some(n) = c.names.iter().find(foreign) {
            return Err(format!("{n} is not {domain} or a name under it"));
        }
    }
    Ok(Certificate {
        domain: c.domain.as_ref().map(|d| d.as_str().to_owned()),
        domain_id: c.domain_id.as_ref().map(|id| id.as_str().to_owned()),
        names: c.names.iter().map(|n| n.as_str().to_owned()).collect(),
        challenge: c.challenge,
        state: c.state,
        not_after: time("not_after", c.not_after)?,
        error: c.error.as_deref().and_then(ErrorText::clean),
        retry_at: time("retry_at", c.retry_at)?,
    })
}

pub fn check(reports: &[CertificateReport]) -> Checked {
    let mut skipped = Vec::new();
    let mut by_domain: BTreeMap<Option<String>, Certificate> = BTreeMap::new();
    for c in reports {
        match check_one(c) {
            Ok(cert) => {
                by_domain.insert(cert.domain.clone(), cert);
            }
            Err(why) => {
                let of = c
                    .domain
                    .as_ref()
                    .map_or_else(|| "the node's own name".to_owned(), ToString::to_string);
                skipped.push(format!("certificate of {of}: {why}"));
            }
        }
    }
    Checked {
        certificates: by_domain.into_values().collect(),
        skipped,
    }
}

/// How the database (and the API) spell a challenge: RFC 8555's word for it
/// (`migrations/*_node_certificates.sql` checks it).
pub fn challenge_name(c: Challenge) -> &'static str {
    match c {
        Challenge::Http01 => "http-01",
        Challenge::Dns01 => "dns-01",
    }
}

pub fn parse_challenge(s: &str) -> Option<Challenge> {
    [Challenge::Http01, Challenge::Dns01]
        .into_iter()
        .find(|c| challenge_name(*c) == s)
}

/// How the database (and the API) spell a state: as the wire does.
pub fn state_name(s: CertificateState) -> &'static str {
    match s {
        CertificateState::WaitingForDns => "waiting-for-dns",
        CertificateState::Pending => "pending",
        CertificateState::Valid => "valid",
        CertificateState::Failed => "failed",
    }
}

pub fn parse_state(s: &str) -> Option<CertificateState> {
    [
        CertificateState::WaitingForDns,
        CertificateState::Pending,
        CertificateState::Valid,
        CertificateState::Failed,
    ]
    .into_iter()
    .find(|c| state_name(*c) == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    fn report(domain: Option<&str>, names: &[&str]) -> CertificateReport {
        CertificateReport {
            domain: domain.map(name),
            domain_id: None,
            names: names.iter().map(|n| name(n)).collect(),
            challenge: Challenge::Http01,
            state: CertificateState::Valid,
            not_after: Some(1_800_000_000),
            error: None,
            retry_at: None,
        }
    }

    #[test]
    fn error_text_is_one_short_line() {
        assert_eq!(ErrorText::clean(""), None);
        assert_eq!(ErrorText::clean(" \n\t\u{202E}"), None);
        assert_eq!(
            ErrorText::clean("  urn:ietf:params:acme:error:dns\r\n  NXDOMAIN\u{0}here ")
                .unwrap()
                .as_str(),
            "urn:ietf:params:acme:error:dns NXDOMAIN here"
        );
        // An override would show "gpj.exe" as "exe.jpg".
        assert_eq!(
            ErrorText::clean("a\u{202E}gpj.exe\u{2066}b")
                .unwrap()
                .as_str(),
            "agpj.exeb"
        );
        let exact = "é".repeat(ERROR_CHARS);
        assert_eq!(ErrorText::clean(&exact).unwrap().as_str(), exact);
        let long = ErrorText::clean(&format!("<script>{}", "ü".repeat(5_000))).unwrap();
        assert_eq!(long.as_str().chars().count(), ERROR_CHARS);
        assert!(long.as_str().starts_with("<script>üü"));
        assert!(long.as_str().ends_with("ü…"));
        // Cut at a space: no space is left before the ellipsis.
        let words = ErrorText::clean(&"ab ".repeat(200)).unwrap();
        assert!(words.as_str().chars().count() <= ERROR_CHARS);
        assert!(words.as_str().ends_with("ab…"), "{}", words.as_str());
    }

    #[test]
    fn error_text_never_exceeds_the_cap_nor_keeps_a_control_character() {
        let pieces = [
            "a",
            " ",
            "\n",
            "é",
            "\u{202E}",
            "\u{1F41D}",
            "\r\n",
            "\u{7F}",
            "…",
        ];
        let mut seed = 7u64;
        for _ in 0..2_000 {
            let mut s = String::new();
            for _ in 0..(seed % 700) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                s.push_str(pieces[usize::try_from(seed >> 33).unwrap() % pieces.len()]);
            }
            if let Some(e) = ErrorText::clean(&s) {
                let e = e.as_str();
                assert!(e.chars().count() <= ERROR_CHARS, "{e:?}");
                assert!(!e.chars().any(|c| c.is_control() || is_bidi_control(c)));
                assert!(!e.starts_with(' ') && !e.ends_with(' ') && !e.contains("  "));
            }
        }
    }

    #[test]
    fn names_stay_within_their_domain_and_the_last_entry_wins() {
        let mut evil = report(Some("alice.test"), &["alice.test", "bob.test"]);
        evil.error = Some("x".to_owned());
        let mut late = report(Some("alice.test"), &["alice.test", "www.alice.test"]);
        late.state = CertificateState::Failed;
        late.error = Some("boom\nbang".to_owned());
        late.retry_at = Some(1_800_000_100);
        let mut bad_time = report(Some("carol.test"), &["carol.test"]);
        bad_time.not_after = Some(i64::MAX);
        let c = check(&[
            report(Some("alice.test"), &["alice.test"]),
            evil,
            report(Some("alice.test"), &["badalice.test"]),
            report(None, &["node-a.example.org"]),
            report(Some("dave.test"), &[]),
            bad_time,
            late,
        ]);
        assert_eq!(c.skipped.len(), 4, "{:?}", c.skipped);
        assert!(c.skipped[0].contains("bob.test is not alice.test"));
        assert!(c.skipped[1].contains("badalice.test"));
        assert!(c.skipped[2].contains("dave.test: no name"));
        assert!(c.skipped[3].contains("carol.test: not_after"));
        assert_eq!(c.certificates.len(), 2);
        let own = &c.certificates[0];
        assert_eq!(
            (own.domain.as_deref(), own.names.as_slice()),
            (None, &["node-a.example.org".to_owned()][..])
        );
        let alice = &c.certificates[1];
        assert_eq!(alice.domain.as_deref(), Some("alice.test"));
        assert_eq!(alice.names, ["alice.test", "www.alice.test"]);
        assert_eq!(alice.state, CertificateState::Failed);
        assert_eq!(alice.error.as_ref().unwrap().as_str(), "boom bang");
        assert_eq!(alice.retry_at.unwrap().unix_timestamp(), 1_800_000_100);
    }

    #[test]
    fn names_of_states_and_challenges_round_trip() {
        for s in [
            CertificateState::WaitingForDns,
            CertificateState::Pending,
            CertificateState::Valid,
            CertificateState::Failed,
        ] {
            assert_eq!(parse_state(state_name(s)), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), state_name(s));
        }
        // The wire, the store and the API all use RFC 8555's words.
        for (c, wire) in [(Challenge::Http01, "http-01"), (Challenge::Dns01, "dns-01")] {
            assert_eq!(parse_challenge(challenge_name(c)), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), wire);
        }
        assert_eq!(parse_state("Valid"), None);
        assert_eq!(parse_challenge("tls-alpn-01"), None);
    }
}
