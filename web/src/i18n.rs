//! Languages, and the translator the pages hold.
//!
//! Each language's catalog (`crate::catalog`) has a static slice sorted by key, looked up with
//! a binary search. Templates
//! call `ctx.t.get("key")`; the control plane passes `*_key` values (statuses, usage labels,
//! notices) that templates translate the same way. Tests check that both languages have the
//! same keys, that every key a template uses exists, and that the slices stay sorted.

use crate::reason::Reason;

/// A language of the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The language's code, as in `<html lang>` and `/lang/{code}`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// `en` or `fr`, in any case; anything else is `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        if code.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if code.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else {
            None
        }
    }

    /// The best supported language of an `Accept-Language` header (RFC 9110 §12.5.4): the
    /// highest q-value wins, the earliest on a tie; `q=0` means "not this one"; malformed
    /// entries are skipped. English when nothing matches. Never panics.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(Lang, u16)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let primary = tag.split(['-', '_']).next().unwrap_or_default();
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let mut q = Some(1000);
            for param in parts {
                let param = param.trim();
                if let Some((name, value)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(value.trim());
                    }
                }
            }
            let Some(q) = q else {
                continue;
            };
            if q == 0 {
                continue;
            }
            if best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((lang, q));
            }
        }
        best.map_or(Lang::En, |(lang, _)| lang)
    }
}

/// A q-value in thousandths: `0`, `0.5`, `0.875`, `1`, `1.000`. `None` when malformed.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Translates catalog keys into one language.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The catalog text for `key`, or `key` itself when the catalog lacks it (the tests make
    /// sure that never happens for keys the templates and the control plane use).
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        let keys = self.lang.catalog().keys;
        match keys.binary_search_by(|(k, _)| (*k).cmp(key)) {
            Ok(i) => keys[i].1,
            Err(_) => key,
        }
    }

    /// The sentence for why something was refused.
    pub fn reason(&self, reason: &Reason) -> String {
        (self.lang.catalog().reason)(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// `*_key` values and notices the control plane passes to the pages.
    const CONTROL_PLANE_KEYS: &[&str] = &[
        "usage.domains",
        "usage.mailboxes",
        "usage.aliases",
        "usage.xmpp",
        "usage.storage",
        "usage.stored",
        "unit.kib",
        "unit.mib",
        "node.applying",
        "node.live",
        "node.waiting",
        "domain.status.pending_verification",
        "domain.status.active",
        "member.status.active",
        "member.status.suspended",
        "member.status.deleting",
        "done.saved",
        "done.domain_created",
        "done.domain_deleted",
        "domain.dns.seen.yes",
        "domain.dns.seen.no",
        "domain.dns.seen.unknown",
        "domain.dns.role.primary",
        "domain.dns.role.secondary",
        "domain.dns.role.external",
        "done.mailbox_created",
        "done.mailbox_deleted",
        "done.alias_created",
        "done.alias_deleted",
        "done.xmpp_created",
        "done.xmpp_deleted",
        "done.app_password_revoked",
        "done.api_token_revoked",
        "done.node_revoked",
        "nodes.state.rotating",
        "nodes.state.revoked",
        "done.totp_disabled",
        "done.password_changed",
        "done.password_reset",
        "done.plan_created",
        "done.member_updated",
        "done.invitation_revoked",
        "done.logged_out",
        "error.title",
        "error.gone",
        "error.not_found",
        "error.rate_limited",
        "error.unavailable",
        "error.internal",
        "error.forbidden",
        "dns_admin.state.pending",
        "dns_admin.state.active",
        "dns_admin.state.retiring",
    ];

    /// Every form field name; the control plane shows `field.<name>` next to an error.
    const FIELDS: &[&str] = &[
        "token",
        "collective_name",
        "platform_domain",
        "email",
        "password",
        "password_confirm",
        "code",
        "display_name",
        "domain",
        "local_part",
        "quota_mib",
        "source",
        "targets",
        "node",
        "current_password",
        "label",
        "scope",
        "name",
        "max_domains",
        "max_mailboxes",
        "max_aliases",
        "max_xmpp_accounts",
        "storage_mib",
        "q",
        "plan",
        "node_id",
        "ttl",
        "type",
        "value",
        "nameserver",
        "address",
        "tsig_name",
        "tsig_secret",
        "key_suffix",
        "operator",
    ];

    fn has(catalog: &[(&str, &str)], key: &str) -> bool {
        catalog.binary_search_by(|(k, _)| (*k).cmp(key)).is_ok()
    }

    fn templates() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "html") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path, text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
            &mut out,
        );
        assert!(out.len() >= 17, "templates not found: {out:?}");
        out
    }

    /// Literal keys of `….get("key")` calls on a translator (`t.get(` or `ctx.t.get(`).
    fn template_keys(text: &str) -> Vec<String> {
        const OPEN: &str = "t.get(\"";
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            rest = &rest[start + OPEN.len()..];
            let end = rest.find("\")").expect("unterminated t.get(\"…\") call");
            keys.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        keys
    }

    #[test]
    fn catalogs_are_sorted_without_duplicates() {
        for catalog in Lang::ALL.map(|l| l.catalog().keys) {
            for pair in catalog.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{:?} >= {:?}", pair[0].0, pair[1].0);
            }
        }
    }

    #[test]
    fn every_key_has_a_translation_in_every_language() {
        let english = Lang::En.catalog().keys;
        fn keys(c: &[(&'static str, &'static str)]) -> Vec<&'static str> {
            c.iter().map(|(k, _)| *k).collect()
        }
        for lang in Lang::ALL {
            let catalog = lang.catalog().keys;
            assert_eq!(
                keys(catalog),
                keys(english),
                "{lang:?} has other keys than English"
            );
            for (key, text) in catalog {
                assert!(!text.trim().is_empty(), "{key} is empty in {lang:?}");
                assert!(!text.contains("TODO"), "{key} is a placeholder in {lang:?}");
            }
            if lang == Lang::En {
                continue;
            }
            // A translation, not a copy: only short words shared by both may match.
            let same = english
                .iter()
                .zip(catalog)
                .filter(|((_, e), (_, t))| e == t && e.len() > 16)
                .count();
            assert_eq!(same, 0, "{lang:?} entries copied from English");
        }
    }

    #[test]
    fn every_key_a_template_uses_exists() {
        let mut count = 0;
        for (path, text) in templates() {
            for key in template_keys(&text) {
                count += 1;
                for lang in Lang::ALL {
                    assert!(
                        has(lang.catalog().keys, &key),
                        "{}: {key} missing in {lang:?}",
                        path.display()
                    );
                }
            }
        }
        assert!(count > 100, "the key scanner found only {count} keys");
    }

    #[test]
    fn every_key_the_control_plane_passes_exists() {
        let fields: Vec<String> = FIELDS.iter().map(|f| format!("field.{f}")).collect();
        for key in CONTROL_PLANE_KEYS
            .iter()
            .copied()
            .chain(fields.iter().map(String::as_str))
        {
            for lang in Lang::ALL {
                assert!(has(lang.catalog().keys, key), "{key} missing in {lang:?}");
            }
        }
        assert!(Tr::new(Lang::En)
            .get("error.gone")
            .contains("no longer valid"));
    }

    #[test]
    fn lookup_falls_back_to_the_key() {
        assert_eq!(Tr::new(Lang::En).get("nav.account"), "Account");
        assert_eq!(Tr::new(Lang::Fr).get("nav.account"), "Compte");
        assert_eq!(Tr::new(Lang::Fr).get("no.such.key"), "no.such.key");
        assert_eq!(Tr::new(Lang::En).get(""), "");
    }

    #[test]
    fn templates_have_no_script_style_external_resource_or_safe_filter() {
        for (path, text) in templates() {
            let lower = text.to_lowercase();
            for banned in [
                "<script",
                "<style",
                " style=",
                "|safe",
                "://",
                " on",
                "javascript:",
            ] {
                if banned == " on" {
                    // Inline event handlers: ` onclick=`, ` onsubmit=`…
                    let handler = lower.match_indices(" on").any(|(i, _)| {
                        let tail = &lower[i + 3..];
                        let name_len = tail.bytes().take_while(u8::is_ascii_lowercase).count();
                        name_len > 0 && tail[name_len..].starts_with('=')
                    });
                    assert!(!handler, "{}: inline event handler", path.display());
                } else {
                    assert!(!lower.contains(banned), "{}: {banned}", path.display());
                }
            }
        }
    }

    #[test]
    fn every_post_form_carries_the_csrf_token() {
        for (path, text) in templates() {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("<form method=\"post\"") {
                let form = &rest[start..];
                let end = form.find("</form>").expect("unclosed form");
                assert!(
                    form[..end]
                        .contains("<input type=\"hidden\" name=\"csrf\" value=\"{{ ctx.csrf }}\">"),
                    "{}: a POST form without the csrf input",
                    path.display()
                );
                rest = &form[end..];
            }
            assert!(
                !text.contains("method=\"POST\""),
                "{}: use lowercase method",
                path.display()
            );
        }
    }

    #[test]
    fn lang_codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
        assert_eq!(Lang::parse("En"), Some(Lang::En));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::parse("fr-CH"), None);
    }

    #[test]
    fn accept_language_honours_order_and_q_values() {
        let cases = [
            ("fr-CH, fr;q=0.9, en;q=0.8", Lang::Fr),
            ("de, en;q=0.5", Lang::En),
            ("de, fr;q=0.5, en;q=0.4", Lang::Fr),
            ("en;q=0.4, fr;q=0.6", Lang::Fr),
            ("en, fr", Lang::En),
            ("fr, en", Lang::Fr),
            ("FR-fr", Lang::Fr),
            ("fr_FR", Lang::Fr),
            ("en;q=0, fr;q=0.1", Lang::Fr),
            ("fr;q=0", Lang::En),
            ("fr;q=0.000", Lang::En),
            ("fr;q=1.000, en", Lang::Fr),
            ("en;q=0.999, fr", Lang::Fr),
            ("fr;q=2, en;q=0.1", Lang::En),
            ("fr;q=abc, en;q=0.1", Lang::En),
            ("fr;q=0.5555, en;q=0.1", Lang::En),
            ("fr ; Q = 0.7 , en ; q=0.3", Lang::Fr),
            ("fr;level=1;q=0.8, en;q=0.7", Lang::Fr),
            ("*", Lang::En),
            ("*, fr;q=0.5", Lang::Fr),
            ("", Lang::En),
            ("de-DE, it", Lang::En),
            (",,;;==,q=,;q=;", Lang::En),
            ("français", Lang::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::from_accept_language(header), expected, "{header:?}");
        }
    }

    #[test]
    fn accept_language_never_panics() {
        let pieces = [
            "fr", "en", "-", "_", ";", ",", "q", "=", ".", "0", "1", " ", "é", "\u{0}", "9",
        ];
        // Every string of up to four pieces.
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = inputs
                .iter()
                .flat_map(|s| pieces.iter().map(move |p| format!("{s}{p}")))
                .collect();
            inputs.extend(next);
            inputs.dedup();
        }
        for input in &inputs {
            let _ = Lang::from_accept_language(input);
        }
        let _ = Lang::from_accept_language(&"fr;q=0.5,".repeat(10_000));
    }
}

/// Renders every page with hostile sample data in both languages.
#[cfg(test)]
mod render_tests {
    use askama::Template;

    use super::{Lang, Tr};
    use crate::pages::*;

    const EVIL: &str = "<script>alert(1)</script>\"'&";

    fn ctx(lang: Lang, admin: bool) -> Ctx {
        Ctx {
            t: Tr::new(lang),
            csrf: "CSRF-TOKEN".to_owned(),
            user: Some(NavUser {
                email: format!("{EVIL}@example.org"),
                is_admin: admin,
            }),
            path: "/admin/members?q=a b&page=2".to_owned(),
            notice: Some(Tr::new(lang).get("done.saved")),
        }
    }

    fn errors(fields: &[&str]) -> Errors {
        Errors(
            fields
                .iter()
                .map(|f| ((*f).to_owned(), format!("{EVIL} bad {f}")))
                .collect(),
        )
    }

    fn usage() -> Vec<UsageRow> {
        vec![
            UsageRow {
                label_key: "usage.mailboxes",
                id: "usage-mailboxes",
                used: "3".to_owned(),
                max: "10".to_owned(),
                percent: 30,
            },
            UsageRow {
                label_key: "usage.storage",
                id: "usage-storage",
                used: "900".to_owned(),
                max: "1000".to_owned(),
                percent: 90,
            },
        ]
    }

    /// Checks that apply to every rendered page.
    fn check(html: &str) {
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(!html.contains("<script"), "unescaped user data: {html}");
        assert!(!html.contains("alert(1)</"), "unescaped user data: {html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "escaped sample missing"
        );
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/style.css\">"));
        assert!(
            html.contains("/lang/fr?back=%2Fadmin%2Fmembers%3Fq%3Da%20b%26page%3D2")
                || html.contains("/lang/fr?back=/admin/members%3Fq%3Da%20b%26page%3D2")
        );
        assert!(html.contains("<div class=\"flash\" role=\"status\">"));
        assert_eq!(
            html.contains("<form method=\"post\" action=\"/logout\""),
            html.contains("class=\"user-email\"")
        );
        let posts = html.matches("<form method=\"post\"").count();
        let csrf = html
            .matches("<input type=\"hidden\" name=\"csrf\" value=\"CSRF-TOKEN\">")
            .count();
        assert_eq!(posts, csrf, "every POST form carries the token");
        // Labels point to inputs that exist.
        let mut rest = html;
        while let Some(i) = rest.find("<label for=\"") {
            rest = &rest[i + 12..];
            let id = &rest[..rest.find('"').unwrap_or(0)];
            assert!(
                html.contains(&format!(" id=\"{id}\"")),
                "label for missing id {id}"
            );
        }
    }

    fn render(page: &impl Template) -> String {
        let html = page.render().unwrap();
        check(&html);
        html
    }

    #[test]
    fn public_pages() {
        for lang in Lang::ALL {
            let html = render(&SetupPage {
                ctx: ctx(lang, false),
                token: "tok".to_owned(),
                errors: errors(&["", "platform_domain", "password"]),
                collective_name: EVIL.to_owned(),
                platform_domain: "example.org".to_owned(),
                email: "a@example.org".to_owned(),
            });
            assert!(html.contains("action=\"/setup\""));
            assert!(html.contains("name=\"token\" value=\"tok\""));
            assert!(html.contains("<p class=\"error\" role=\"alert\" id=\"error-password\">"));
            assert!(html.contains("<div class=\"error\" role=\"alert\">"));
            for name in [
                "collective_name",
                "platform_domain",
                "email",
                "password_confirm",
            ] {
                assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
            }

            for reset_available in [true, false] {
                let html = render(&LoginPage {
                    ctx: ctx(lang, false),
                    errors: errors(&[""]),
                    email: EVIL.to_owned(),
                    reset_available,
                });
                assert_eq!(html.contains("href=\"/forgot\""), reset_available);
                assert!(html.contains("autocomplete=\"current-password\""));
            }

            let html = render(&LoginTotpPage {
                ctx: ctx(lang, false),
                errors: errors(&["code"]),
            });
            assert!(html.contains("action=\"/login/totp\""));
            assert!(html.contains("autocomplete=\"one-time-code\""));

            for sent in [true, false] {
                let html = render(&ForgotPage {
                    ctx: ctx(lang, false),
                    errors: errors(&["email"]),
                    email: EVIL.to_owned(),
                    sent,
                });
                assert_eq!(html.contains("action=\"/forgot\""), !sent);
            }

            render(&ResetPage {
                ctx: ctx(lang, false),
                token: EVIL.to_owned(),
                errors: errors(&["password_confirm"]),
            });

            let html = render(&InvitePage {
                ctx: ctx(lang, false),
                token: "tok".to_owned(),
                email: "new@example.org".to_owned(),
                display_name: EVIL.to_owned(),
                errors: errors(&["display_name"]),
            });
            assert!(html.contains("new@example.org"));

            let html = render(&ErrorPage {
                ctx: ctx(lang, false),
                status: 410,
                message: format!("{} {EVIL}", Tr::new(lang).get("error.gone")),
            });
            assert!(html.contains("<p id=\"error-message\">"));
        }
        let html = render(&ErrorPage {
            ctx: Ctx {
                user: None,
                ..ctx(Lang::En, false)
            },
            status: 404,
            message: EVIL.to_owned(),
        });
        assert!(html.contains("<a class=\"brand\" href=\"/login\">"));
        assert!(!html.contains("action=\"/logout\""));
    }

    #[test]
    fn account_and_domain_pages() {
        for lang in Lang::ALL {
            let html = render(&AccountPage {
                ctx: ctx(lang, true),
                node_status_key: "node.applying",
                display_name: EVIL.to_owned(),
                plan_name: Some("Basic".to_owned()),
                usage: usage(),
                domains: vec![DomainRow {
                    id: "d1".to_owned(),
                    name: "example.org".to_owned(),
                    status_key: "domain.status.pending_verification",
                }],
                errors: errors(&["domain"]),
                domain_input: EVIL.to_owned(),
            });
            assert!(html.contains("<td id=\"usage-mailboxes\">3 / 10</td>"));
            assert!(html.contains("href=\"/account/domains/d1\""));
            assert!(html.contains("href=\"/admin\""));
            assert!(html.contains(Tr::new(lang).get("domain.status.pending_verification")));
            assert_eq!(
                html.matches(&format!(
                    "<span class=\"status\" id=\"node-status\">{}</span>",
                    Tr::new(lang).get("node.applying")
                ))
                .count(),
                1
            );
            assert!(html.contains(Tr::new(lang).get("node.applying_hint")));
            // No automatic reload, no script: the line is plain text.
            assert!(!html.contains("http-equiv"));

            for (key, hint) in [("node.live", false), ("node.waiting", false)] {
                let html = render(&AccountPage {
                    ctx: ctx(lang, false),
                    node_status_key: key,
                    display_name: EVIL.to_owned(),
                    plan_name: None,
                    usage: usage(),
                    domains: vec![],
                    errors: Errors::default(),
                    domain_input: String::new(),
                });
                assert!(html.contains(Tr::new(lang).get(key)));
                assert_eq!(html.contains(Tr::new(lang).get("node.applying_hint")), hint);
            }

            for (form, with_dkim) in [
                (DomainForm::None, true),
                (DomainForm::Mailbox, false),
                (DomainForm::Alias, true),
                (DomainForm::Xmpp, false),
                (DomainForm::Record, true),
                (DomainForm::Verify, false),
            ] {
                let html = render(&DomainPage {
                    ctx: ctx(lang, false),
                    id: "d1".to_owned(),
                    name: "example.org".to_owned(),
                    status_key: if form == DomainForm::Verify {
                        "domain.status.pending_verification"
                    } else {
                        "domain.status.active"
                    },
                    challenge_name: "_ruche.example.org".to_owned(),
                    challenge_value: "ruche-verify=abc".to_owned(),
                    dkim: with_dkim.then(|| DkimRow {
                        name: format!("s1._domainkey.{EVIL}"),
                        value: "v=DKIM1; k=rsa; p=MIIB".to_owned(),
                        zone_line: format!(
                            "s1._domainkey.{EVIL}. IN TXT \"v=DKIM1; k=rsa; p=MIIB\""
                        ),
                    }),
                    verified_at: with_dkim.then(|| "2026-11-26 19:08 UTC".to_owned()),
                    claim_expires: (form == DomainForm::Verify)
                        .then(|| "2026-12-03 19:08 UTC".to_owned()),
                    registrar: vec![RegistrarRow {
                        name: "example.org".to_owned(),
                        kind: "NS".to_owned(),
                        value: format!("ns1.{EVIL}"),
                        mark: "✓",
                        seen_key: "domain.dns.seen.yes",
                    }],
                    ds: if with_dkim {
                        vec!["12345 13 2 ABCDEF".to_owned()]
                    } else {
                        vec![]
                    },
                    has_nameservers: with_dkim,
                    dns_servers: vec![DnsServerRow {
                        nameserver: "ns2.ruche.test".to_owned(),
                        address: "127.0.0.3:40053".to_owned(),
                        role_key: "domain.dns.role.secondary",
                        serial: "1764180000".to_owned(),
                        fault: Some(EVIL.to_owned()),
                        checked: "2026-11-26 19:08 UTC".to_owned(),
                    }],
                    records: vec![DnsRecordRow {
                        id: "r1".to_owned(),
                        name: "blog".to_owned(),
                        kind: "TXT".to_owned(),
                        ttl: 3600,
                        value: EVIL.to_owned(),
                    }],
                    record_form: RecordFormValues {
                        editing: (form == DomainForm::Record).then(|| "r1".to_owned()),
                        name: EVIL.to_owned(),
                        kind: "MX".to_owned(),
                        ttl: "600".to_owned(),
                        value: "10 mx.example.net".to_owned(),
                    },
                    node_status_key: "node.live",
                    mailboxes: vec![
                        MailboxRow {
                            id: "m1".to_owned(),
                            address: format!("{EVIL}@example.org"),
                            quota_mib: 1024,
                            used: Some(MailboxUsed {
                                amount: "12".to_owned(),
                                unit_key: "unit.mib",
                                messages: 34,
                                percent: 1,
                            }),
                        },
                        MailboxRow {
                            id: "m2".to_owned(),
                            address: "new@example.org".to_owned(),
                            quota_mib: 10,
                            used: None,
                        },
                    ],
                    aliases: vec![AliasRow {
                        id: "a1".to_owned(),
                        address: "*@example.org".to_owned(),
                        targets: "x@example.net".to_owned(),
                    }],
                    xmpp_accounts: vec![XmppRow {
                        id: "x1".to_owned(),
                        jid: "bob@example.org".to_owned(),
                    }],
                    form,
                    errors: errors(&[
                        "",
                        "password",
                        "local_part",
                        "source",
                        "node",
                        "name",
                        "type",
                        "ttl",
                        "value",
                    ]),
                    local_part: "alice".to_owned(),
                    quota_mib: "512".to_owned(),
                    alias_source: "sales".to_owned(),
                    alias_targets: "a@example.net\nb@example.net".to_owned(),
                    xmpp_node: "bob".to_owned(),
                });
                let shown = html.matches("id=\"error-password\"").count();
                assert_eq!(
                    shown,
                    usize::from(form == DomainForm::Mailbox || form == DomainForm::Xmpp)
                );
                for field in ["name", "type", "ttl", "value"] {
                    assert_eq!(
                        html.contains(&format!("id=\"error-{field}\"")),
                        form == DomainForm::Record,
                        "{field}"
                    );
                }
                let editing = form == DomainForm::Record;
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/records/r1\""),
                    editing
                );
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/records\""),
                    !editing
                );
                for needle in [
                    "action=\"/account/domains/d1/records/r1/delete\"",
                    "href=\"/account/domains/d1?edit=r1#record-form\"",
                    "<option value=\"MX\" selected>MX</option>",
                    "name=\"ttl\" value=\"600\"",
                    "10 mx.example.net</textarea>",
                    "<table id=\"registrar\">",
                    "<table id=\"dns-servers\">",
                    "<code>ns2.ruche.test</code>",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                assert_eq!(html.contains("<ul id=\"ds\">"), with_dkim);
                assert_eq!(html.contains("id=\"ds-waiting\""), !with_dkim);
                assert_eq!(html.contains("id=\"dns-no-nameservers\""), !with_dkim);
                assert_eq!(html.contains("id=\"verified-at\""), with_dkim);
                // "Check now" is offered while the domain is pending.
                assert_eq!(
                    html.contains("action=\"/account/domains/d1/verify\""),
                    form == DomainForm::Verify
                );
                assert_eq!(
                    html.contains("id=\"error-local_part\""),
                    form == DomainForm::Mailbox
                );
                assert_eq!(
                    html.contains("id=\"error-source\""),
                    form == DomainForm::Alias
                );
                assert_eq!(html.contains("id=\"error-node\""), form == DomainForm::Xmpp);
                let general = html.matches("<div class=\"error\" role=\"alert\">").count();
                assert_eq!(general, usize::from(form != DomainForm::None));
                for needle in [
                    "action=\"/account/mailboxes/m1/delete\"",
                    "action=\"/account/aliases/a1/delete\"",
                    "action=\"/account/xmpp/x1/delete\"",
                    "action=\"/account/domains/d1/mailboxes\"",
                    "action=\"/account/domains/d1/aliases\"",
                    "action=\"/account/domains/d1/xmpp\"",
                    "action=\"/account/domains/d1/delete\"",
                    "<code id=\"challenge-value\">ruche-verify=abc</code>",
                    "id=\"domain-status\"",
                    "name=\"quota_mib\" value=\"512\"",
                    "a@example.net\nb@example.net</textarea>",
                    "<td class=\"num\" id=\"messages-m1\">34</td>",
                    "<td class=\"num\" id=\"messages-m2\">—</td>",
                    "id=\"node-status\"",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                let t = Tr::new(lang);
                assert!(html.contains(&format!("12 {}", t.get("unit.mib"))));
                assert!(html.contains(&format!(
                    "<td class=\"num hint\" id=\"used-m2\">{}</td>",
                    t.get("domain.not_measured")
                )));
                assert!(html.contains(t.get("node.live")));
                assert_eq!(
                    html.contains(
                        "<code id=\"dkim-value\" class=\"wrap\">v=DKIM1; k=rsa; p=MIIB</code>"
                    ),
                    with_dkim
                );
                assert_eq!(html.contains("id=\"dkim-zone\""), with_dkim);
                assert_eq!(html.contains("id=\"dkim-waiting\""), !with_dkim);
                if with_dkim {
                    // The record's name and the zone line carry the escaped sample, quotes included.
                    assert!(html.contains(
                        "<code id=\"dkim-name\">s1._domainkey.&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;</code>"
                    ));
                    assert!(html.contains("IN TXT &#34;v=DKIM1; k=rsa; p=MIIB&#34;</code>"));
                }
            }
        }
    }

    #[test]
    fn security_page_states() {
        for lang in Lang::ALL {
            for (totp_enabled, enrolment) in [(false, false), (false, true), (true, false)] {
                let html = render(&SecurityPage {
                    ctx: ctx(lang, false),
                    totp_enabled,
                    enrolment: enrolment.then(|| Enrolment {
                        secret_base32: "JBSWY3DPEHPK3PXP".to_owned(),
                        otpauth_uri: "otpauth://totp/Ruche:a?secret=JBSWY3DPEHPK3PXP&issuer=Ruche"
                            .to_owned(),
                    }),
                    recovery_codes: if totp_enabled {
                        vec!["aaaa-bbbb".to_owned()]
                    } else {
                        vec![]
                    },
                    app_passwords: vec![AppPasswordRow {
                        id: "p1".to_owned(),
                        label: EVIL.to_owned(),
                        scope: "imap".to_owned(),
                        mailbox: EVIL.to_owned(),
                        created: "2024-01-01".to_owned(),
                    }],
                    app_password_mailboxes: vec![("m1".to_owned(), EVIL.to_owned())],
                    new_app_password: Some(("Phone".to_owned(), "pw-123".to_owned())),
                    api_tokens: vec![ApiTokenRow {
                        id: "t1".to_owned(),
                        label: "script".to_owned(),
                        created: "2024-01-01".to_owned(),
                        last_used: String::new(),
                    }],
                    new_api_token: Some("tok-456".to_owned()),
                    sessions: vec![SessionRow {
                        device: EVIL.to_owned(),
                        ip: "127.0.0.1".to_owned(),
                        created: "2024-01-01".to_owned(),
                        last_seen: "2024-01-02".to_owned(),
                        current: true,
                    }],
                    errors: errors(&["current_password"]),
                });
                assert_eq!(
                    html.contains("action=\"/account/totp/disable\""),
                    totp_enabled
                );
                assert_eq!(html.contains("action=\"/account/totp/confirm\""), enrolment);
                assert_eq!(
                    html.contains("action=\"/account/totp/start\""),
                    !totp_enabled && !enrolment
                );
                assert_eq!(html.contains("<code id=\"totp-secret\">"), enrolment);
                assert_eq!(html.contains("<ul id=\"recovery-codes\""), totp_enabled);
                for needle in [
                    "<code id=\"new-app-password\">pw-123</code>",
                    "<code id=\"new-api-token\">tok-456</code>",
                    "action=\"/account/app-passwords/p1/revoke\"",
                    "action=\"/account/api-tokens/t1/revoke\"",
                    "action=\"/account/password\"",
                    "<option value=\"dav\">",
                    "href=\"/api/v1/openapi.json\"",
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
            }
        }
    }

    fn plans() -> Vec<PlanOption> {
        vec![
            PlanOption {
                id: "p1".to_owned(),
                name: EVIL.to_owned(),
                selected: false,
            },
            PlanOption {
                id: "p2".to_owned(),
                name: "Large".to_owned(),
                selected: true,
            },
        ]
    }

    fn audit() -> Vec<AuditRow> {
        vec![AuditRow {
            at: "2024-01-01 12:00".to_owned(),
            actor: EVIL.to_owned(),
            ip: "192.0.2.1".to_owned(),
            action: "member.suspend".to_owned(),
            details: "{}".to_owned(),
        }]
    }

    #[test]
    fn admin_pages() {
        for lang in Lang::ALL {
            let html = render(&AdminHomePage {
                ctx: ctx(lang, true),
                collective_name: EVIL.to_owned(),
                platform_domain: "example.org".to_owned(),
                member_count: 3,
                plan_count: 2,
                pending_invitations: 1,
                workers: vec![
                    WorkerRow {
                        name: "dns".to_owned(),
                        every_seconds: Some(60),
                        last_run: Some("2024-01-01 12:00:00".to_owned()),
                        runs: 3,
                        failures: 1,
                        last_error: Some(EVIL.to_owned()),
                    },
                    WorkerRow {
                        name: "desired-listener".to_owned(),
                        every_seconds: None,
                        last_run: None,
                        runs: 0,
                        failures: 0,
                        last_error: None,
                    },
                ],
            });
            assert!(html.contains("<tr id=\"worker-dns\"><td>dns</td><td>60 s</td>"));
            assert!(html.contains(Tr::new(lang).get("workers.continuous")));
            assert!(html.contains(Tr::new(lang).get("workers.never")));
            assert!(!html.contains(EVIL), "the error text is escaped");
            for href in [
                "/admin/members",
                "/admin/plans",
                "/admin/invitations",
                "/admin/audit",
                "/admin/dns",
            ] {
                assert!(html.contains(&format!("href=\"{href}\"")), "{href}");
            }

            let html = render(&PlansPage {
                ctx: ctx(lang, true),
                plans: vec![PlanRow {
                    id: "p1".to_owned(),
                    name: EVIL.to_owned(),
                    max_domains: 1,
                    max_mailboxes: 5,
                    max_aliases: 10,
                    max_xmpp_accounts: 2,
                    storage_mib: 2048,
                }],
                errors: errors(&["storage_mib"]),
                form: PlanFormValues {
                    name: "n".into(),
                    max_domains: "1".into(),
                    max_mailboxes: "2".into(),
                    max_aliases: "3".into(),
                    max_xmpp_accounts: "4".into(),
                    storage_mib: "5".into(),
                },
                editing: Some("p1".to_owned()),
            });
            assert!(html.contains("action=\"/admin/plans/p1\""));
            assert!(html.contains("name=\"storage_mib\" value=\"5\""));
            assert!(html.contains("name=\"max_domains\" value=\"1\""));
            assert!(html.contains("<table id=\"plans\">"));

            let html = render(&MembersPage {
                ctx: ctx(lang, true),
                members: vec![MemberRow {
                    id: "u1".to_owned(),
                    email: "a@example.org".to_owned(),
                    display_name: EVIL.to_owned(),
                    plan: "Basic".to_owned(),
                    status_key: "member.status.suspended",
                    is_admin: true,
                }],
                q: EVIL.to_owned(),
                page: 2,
                pages: 3,
                total: 42,
                prev_href: Some("/admin/members?q=a&page=1".to_owned()),
                next_href: None,
            });
            assert!(html.contains("href=\"/admin/members/u1\""));
            assert!(html.contains("href=\"/admin/members?q=a&#38;page=1\""));
            assert!(!html.contains("rel=\"next\""));
            assert!(html.contains(Tr::new(lang).get("member.status.suspended")));

            for (status_key, is_admin) in [
                ("member.status.active", false),
                ("member.status.active", true),
                ("member.status.suspended", false),
                ("member.status.deleting", false),
            ] {
                let html = render(&MemberPage {
                    ctx: ctx(lang, true),
                    member: MemberRow {
                        id: "u1".to_owned(),
                        email: "a@example.org".to_owned(),
                        display_name: EVIL.to_owned(),
                        plan: "Basic".to_owned(),
                        status_key,
                        is_admin,
                    },
                    created: "2024-01-01".to_owned(),
                    delete_after: (status_key == "member.status.deleting")
                        .then(|| "2024-02-01".to_owned()),
                    totp_enabled: true,
                    plans: plans(),
                    node_name: is_admin.then(|| EVIL.to_owned()),
                    node_status_key: if is_admin {
                        "node.live"
                    } else {
                        "node.waiting"
                    },
                    nodes: if status_key == "member.status.deleting" {
                        vec![]
                    } else {
                        vec![
                            NodeOption {
                                id: "n1".to_owned(),
                                name: EVIL.to_owned(),
                                selected: false,
                            },
                            NodeOption {
                                id: "n2".to_owned(),
                                name: "node-b".to_owned(),
                                selected: true,
                            },
                        ]
                    },
                    usage: usage(),
                    audit: audit(),
                    errors: errors(&["plan", "node_id"]),
                });
                let has =
                    |action: &str| html.contains(&format!("action=\"/admin/members/u1/{action}\""));
                assert!(has("plan"));
                assert_eq!(
                    has("suspend"),
                    status_key == "member.status.active" && !is_admin
                );
                assert_eq!(has("unsuspend"), status_key == "member.status.suspended");
                assert_eq!(
                    has("delete"),
                    status_key != "member.status.deleting" && !is_admin
                );
                assert_eq!(has("cancel-delete"), status_key == "member.status.deleting");
                assert!(html.contains("<option value=\"p2\" selected>Large</option>"));
                assert!(html.contains("<table id=\"usage\">"));
                let joined = status_key != "member.status.deleting";
                assert_eq!(has("node"), joined);
                assert_eq!(html.contains("id=\"no-joined-nodes\""), !joined);
                if joined {
                    assert!(html.contains("<option value=\"n2\" selected>node-b</option>"));
                    assert!(html.contains("id=\"error-node_id\""));
                    assert!(html.contains("aria-describedby=\"node-hint error-node_id\""));
                }
                assert!(html.contains("id=\"node-status\""));
            }

            for (created_link, mail_sent) in [
                (None, false),
                (None, true),
                (
                    Some("https://example.org/invite?token=x&y=1".to_owned()),
                    false,
                ),
            ] {
                let html = render(&InvitationsPage {
                    ctx: ctx(lang, true),
                    pending: vec![InvitationRow {
                        id: "i1".to_owned(),
                        email: EVIL.to_owned(),
                        expires: "2024-01-08".to_owned(),
                    }],
                    plans: plans(),
                    errors: errors(&["email"]),
                    email: EVIL.to_owned(),
                    created_link: created_link.clone(),
                    mail_sent,
                });
                assert_eq!(
                    html.contains("<code id=\"invitation-link\">"),
                    created_link.is_some()
                );
                assert_eq!(html.contains("id=\"invitation-sent\""), mail_sent);
                assert!(html.contains("action=\"/admin/invitations/i1/revoke\""));
                assert!(html.contains("<select id=\"plan\" name=\"plan\""));
            }

            let html = render(&NodesPage {
                ctx: ctx(lang, true),
                nodes: vec![NodeRow {
                    id: "n1".to_owned(),
                    name: EVIL.to_owned(),
                    state_key: "nodes.state.joined",
                    host_name: "node-a.example.org".to_owned(),
                    addresses: "127.0.0.2".to_owned(),
                    version: "0.1.0".to_owned(),
                    capacity: "2 CPU".to_owned(),
                    last_heartbeat: "2024-01-01 12:00:00 UTC".to_owned(),
                    health_key: "nodes.health.ok",
                    members: 3,
                    generations: "41 / 42".to_owned(),
                }],
                errors: errors(&["name"]),
                name: EVIL.to_owned(),
                join_command: Some("node-agent join https://example.org --token-file -".to_owned()),
                join_token: Some("join_tok".to_owned()),
            });
            assert!(html.contains("<code id=\"join-token\">join_tok</code>"));
            assert!(html.contains("action=\"/admin/nodes/n1/revoke\""));
            assert!(html.contains("action=\"/admin/nodes/n1/rotate\""));
            assert!(html.contains("<td class=\"num nowrap\" id=\"generations-n1\">41 / 42</td>"));
            assert!(html.contains("<td class=\"num\">3</td>"));

            let html = render(&AuditPage {
                ctx: ctx(lang, true),
                entries: audit(),
                next_href: Some("/admin/audit?before=5".to_owned()),
            });
            assert!(html.contains("<table id=\"audit\">"));
            assert!(html.contains("href=\"/admin/audit?before=5\""));
        }
    }

    #[test]
    fn admin_dns_page() {
        for lang in Lang::ALL {
            for (error_node, created) in
                [(None, true), (None, false), (Some("n1".to_owned()), false)]
            {
                let html = render(&DnsAdminPage {
                    ctx: ctx(lang, true),
                    nodes: vec![DnsNodeRow {
                        id: "n1".to_owned(),
                        name: EVIL.to_owned(),
                        nameserver: "ns1.example.org".to_owned(),
                        address: "127.0.0.2:40053".to_owned(),
                        catalog: "catalog.ns1.example.org".to_owned(),
                        operator: EVIL.to_owned(),
                        secondaries: vec![DnsSecondaryRow {
                            nameserver: "ns2.example.org".to_owned(),
                            state_key: "dns_admin.state.pending",
                        }],
                    }],
                    externals: vec![ExternalSecondaryRow {
                        id: "e1".to_owned(),
                        nameserver: EVIL.to_owned(),
                        address: "192.0.2.1:53".to_owned(),
                        keys: vec![ExternalKeyRow {
                            node_id: "n1".to_owned(),
                            nameserver: "ns1.example.org".to_owned(),
                            name: EVIL.to_owned(),
                            shown: false,
                        }],
                        unshown: true,
                    }],
                    faults: vec![DnsFaultRow {
                        domain: EVIL.to_owned(),
                        server: "ns2.example.org".to_owned(),
                        fault: "unreachable".to_owned(),
                        checked_at: "2024-01-01 12:00:00 UTC".to_owned(),
                    }],
                    errors: errors(&["nameserver", "operator"]),
                    error_node: error_node.clone(),
                    form: ExternalFormValues {
                        nameserver: EVIL.to_owned(),
                        address: "192.0.2.9".to_owned(),
                        key_suffix: String::new(),
                    },
                    created: created.then(|| CreatedExternalRow {
                        nameserver: "ns.friends.example".to_owned(),
                        keys: vec![CreatedKeyRow {
                            node: EVIL.to_owned(),
                            nameserver: "ns1.example.org".to_owned(),
                            address: "127.0.0.2:40053".to_owned(),
                            catalog: "catalog.ns1.example.org".to_owned(),
                            tsig_name: "ns1.ext-1.tsig.example.org".to_owned(),
                            algorithm: "hmac-sha256",
                            secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".to_owned(),
                        }],
                    }),
                });
                for needle in [
                    "action=\"/admin/nodes/n1/operator\"",
                    "action=\"/admin/nodes/n1/dns/rotate-keys\"",
                    "action=\"/admin/dns/external-secondaries/e1/delete\"",
                    "action=\"/admin/dns/external-secondaries/e1/rotate-keys\"",
                    "action=\"/admin/dns/external-secondaries/e1/reveal-keys\"",
                    "name=\"node\" value=\"n1\"",
                    "action=\"/admin/dns/external-secondaries\"",
                    "<table id=\"dns-faults\">",
                    "name=\"address\" value=\"192.0.2.9\"",
                    Tr::new(lang).get("dns_admin.state.pending"),
                ] {
                    assert!(html.contains(needle), "{needle}");
                }
                assert_eq!(
                    html.contains(
                        "<code id=\"created-tsig-secret-1\">c2VjcmV0LXNlY3JldC1zZWNyZXQ=</code>"
                    ),
                    created
                );
                // The errors show on the form they belong to, once.
                let on_node = error_node.is_some();
                assert_eq!(html.contains("id=\"error-operator\""), on_node);
                assert_eq!(html.contains("id=\"error-nameserver\""), !on_node);
                // A typed secret is never sent back.
                assert!(!html.contains("name=\"tsig_secret\" value"));
            }
        }
    }
}
