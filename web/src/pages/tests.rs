//! Renders every page with hostile sample data in every language.

use askama::Template;

use crate::i18n::{Lang, Tr};
use crate::pages::*;
use crate::states::*;

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
            label: UsageLabel::Mailboxes,
            id: "usage-mailboxes",
            used: "3".to_owned(),
            max: "10".to_owned(),
            percent: 30,
        },
        UsageRow {
            label: UsageLabel::Storage,
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

/// The domain page with hostile sample data, the errors of `form` and, with `with_dkim`, a
/// DKIM key, DS records and name servers; its certificate was reported valid.
fn domain_page(lang: Lang, form: DomainForm, with_dkim: bool) -> DomainPage {
    DomainPage {
        ctx: ctx(lang, false),
        id: "d1".to_owned(),
        name: "example.org".to_owned(),
        status: if form == DomainForm::Verify {
            DomainStatus::PendingVerification
        } else {
            DomainStatus::Active
        },
        challenge_name: "_ruche.example.org".to_owned(),
        challenge_value: "ruche-verify=abc".to_owned(),
        dkim: with_dkim.then(|| DkimRow {
            name: format!("s1._domainkey.{EVIL}"),
            value: "v=DKIM1; k=rsa; p=MIIB".to_owned(),
            zone_line: format!("s1._domainkey.{EVIL}. IN TXT \"v=DKIM1; k=rsa; p=MIIB\""),
        }),
        certificate: CertificateLine {
            status: CertificateStatus::Valid,
            until: Some("2027-01-15 08:00 UTC".to_owned()),
            error: None,
            retry: None,
            names: "example.org, www.example.org".to_owned(),
        },
        verified_at: with_dkim.then(|| "2026-11-26 19:08 UTC".to_owned()),
        claim_expires: (form == DomainForm::Verify).then(|| "2026-12-03 19:08 UTC".to_owned()),
        registrar: vec![RegistrarRow {
            name: "example.org".to_owned(),
            kind: "NS".to_owned(),
            value: format!("ns1.{EVIL}"),
            mark: "✓",
            seen: Seen::Yes,
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
            role: DnsRole::Secondary,
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
        sync: Sync::Live,
        mailboxes: vec![
            MailboxRow {
                id: "m1".to_owned(),
                address: format!("{EVIL}@example.org"),
                quota_mib: 1024,
                used: Some(MailboxUsed {
                    amount: "12".to_owned(),
                    unit: Unit::Mib,
                    messages: 34,
                    percent: 1,
                }),
                public: Visibility::Public,
            },
            MailboxRow {
                id: "m2".to_owned(),
                address: "new@example.org".to_owned(),
                quota_mib: 10,
                used: None,
                public: Visibility::NotPublic,
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
            public: Visibility::NotPublic,
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
    }
}

/// Every certificate state reads as its own sentence, the node's error is shown escaped with
/// the right words (a failure, or a served certificate's failed renewal), and the next attempt.
#[test]
fn the_certificate_line_in_every_state() {
    for lang in Lang::ALL {
        let t = Tr::new(lang);
        for &status in CertificateStatus::ALL {
            let mut page = domain_page(lang, DomainForm::None, true);
            let failing = matches!(status, CertificateStatus::Failed | CertificateStatus::Valid);
            page.certificate = CertificateLine {
                status,
                until: status.serves().then(|| "2027-01-15 08:00 UTC".to_owned()),
                error: failing.then(|| EVIL.to_owned()),
                retry: failing.then(|| "2027-01-01 00:00 UTC".to_owned()),
                names: String::new(),
            };
            let html = render(&page);
            let state = format!(
                "<span class=\"status\" id=\"certificate-state\">{}{}</span>",
                t.get(status.key()),
                if status.serves() {
                    " 2027-01-15 08:00 UTC"
                } else {
                    ""
                }
            );
            assert!(html.contains(&state), "{status:?}: {state}");
            assert!(!html.contains("id=\"certificate-names\""));
            let hint = html.split("id=\"certificate-hint\">").nth(1).unwrap();
            assert!(
                !hint.trim_start().starts_with('<'),
                "{status:?} has no hint"
            );
            if failing {
                let words = if status == CertificateStatus::Valid {
                    "certificate.renewal_failed"
                } else {
                    "certificate.error"
                };
                assert!(html.contains(&format!(
                    "{} <span id=\"certificate-error\">&#60;script&#62;alert(1)&#60;/script&#62;",
                    t.get(words)
                )));
                assert!(html.contains(&format!(
                    "{} <span id=\"certificate-retry\">2027-01-01 00:00 UTC</span>",
                    t.get("certificate.next_attempt")
                )));
            } else {
                assert!(!html.contains("id=\"certificate-problem\""));
                assert!(!html.contains("id=\"certificate-retry\""));
            }
        }
        let html = render(&domain_page(lang, DomainForm::None, true));
        assert!(html.contains("<span id=\"certificate-names\">example.org, www.example.org</span>"));
    }
}

#[test]
fn account_and_domain_pages() {
    for lang in Lang::ALL {
        let html = render(&AccountPage {
            ctx: ctx(lang, true),
            sync: Sync::Applying,
            display_name: EVIL.to_owned(),
            plan_name: Some("Basic".to_owned()),
            usage: usage(),
            domains: vec![
                DomainRow {
                    id: "d1".to_owned(),
                    name: "example.org".to_owned(),
                    status: DomainStatus::PendingVerification,
                    certificate: CertificateLine {
                        status: CertificateStatus::AfterVerification,
                        until: None,
                        error: None,
                        retry: None,
                        names: String::new(),
                    },
                },
                DomainRow {
                    id: "d2".to_owned(),
                    name: EVIL.to_owned(),
                    status: DomainStatus::Active,
                    certificate: CertificateLine {
                        status: CertificateStatus::Valid,
                        until: Some("2027-01-15 08:00 UTC".to_owned()),
                        error: None,
                        retry: None,
                        names: String::new(),
                    },
                },
            ],
            errors: errors(&["domain"]),
            domain_input: EVIL.to_owned(),
        });
        assert!(html.contains("<td id=\"usage-mailboxes\">3 / 10</td>"));
        assert!(html.contains("href=\"/account/domains/d1\""));
        assert!(html.contains("href=\"/admin\""));
        assert!(html.contains(Tr::new(lang).get("domain.status.pending_verification")));
        let t = Tr::new(lang);
        let line = |id: &str, state: &str, until: &str| {
            format!(
                "<span class=\"hint\" id=\"certificate-{id}\">{} {}{until}</span>",
                t.get("certificate.label"),
                t.get(state)
            )
        };
        assert!(html.contains(&line("d1", "certificate.state.after_verification", "")));
        assert!(html.contains(&line(
            "d2",
            "certificate.state.valid",
            " 2027-01-15 08:00 UTC"
        )));
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

        for (sync, hint) in [(Sync::Live, false), (Sync::Waiting, false)] {
            let html = render(&AccountPage {
                ctx: ctx(lang, false),
                sync,
                display_name: EVIL.to_owned(),
                plan_name: None,
                usage: usage(),
                domains: vec![],
                errors: Errors::default(),
                domain_input: String::new(),
            });
            assert!(html.contains(Tr::new(lang).get(sync.key())));
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
            let html = render(&domain_page(lang, form, with_dkim));
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

/// Each mailbox and XMPP account says whether it is public, with one button that sets the other
/// value (a POST with the CSRF token, `check` counts it), and the page says once per list what
/// public means; with nothing listed, nothing is said.
#[test]
fn addresses_say_whether_they_are_public_with_a_button_to_switch() {
    for lang in Lang::ALL {
        let t = Tr::new(lang);
        let mut page = domain_page(lang, DomainForm::None, true);
        page.xmpp_accounts.push(XmppRow {
            id: "x2".to_owned(),
            jid: format!("{EVIL}@example.org"),
            public: Visibility::Public,
        });
        let html = render(&page);
        for (id, kind, visibility) in [
            ("m1", "mailboxes", Visibility::Public),
            ("m2", "mailboxes", Visibility::NotPublic),
            ("x1", "xmpp", Visibility::NotPublic),
            ("x2", "xmpp", Visibility::Public),
        ] {
            let state = format!(
                "<span class=\"status\" id=\"public-{id}\">{}</span>",
                t.get(visibility.key())
            );
            assert!(html.contains(&state), "{lang:?} {id}: {state}");
            let action = format!("action=\"/account/domains/d1/{kind}/{id}/public\"");
            let form = html.split(&action).nth(1).expect(&action);
            let form = &form[..form.find("</form>").unwrap()];
            let (value, button) = match visibility {
                Visibility::Public => ("false", "domain.public.make_not_public"),
                Visibility::NotPublic => ("true", "domain.public.make_public"),
            };
            assert!(
                form.contains(&format!(
                    "<input type=\"hidden\" name=\"public\" value=\"{value}\">"
                )),
                "{form}"
            );
            assert!(
                form.contains(&format!(">{}</button>", t.get(button))),
                "{form}"
            );
            assert!(form.contains("name=\"csrf\" value=\"CSRF-TOKEN\""));
        }
        assert_ne!(t.get("domain.public.yes"), t.get("domain.public.no"));
        // askama escapes the apostrophe of "address's".
        let hint = t.get("domain.public_hint").replace('\'', "&#39;");
        assert!(hint.contains("WebFinger"));
        assert_eq!(html.matches(&hint).count(), 2);
        assert!(html.contains("id=\"mailboxes-public-hint\""));
        assert!(html.contains("id=\"xmpp-public-hint\""));

        page = domain_page(lang, DomainForm::None, true);
        page.mailboxes.clear();
        page.xmpp_accounts.clear();
        let html = render(&page);
        assert!(!html.contains("/public\""));
        assert!(!html.contains(&hint));
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
            certificate_problems: vec![certificate_row(CertificateStatus::Failed)],
            certificate_problems_unlisted: 4,
        });
        let t = Tr::new(lang);
        assert!(html.contains("<table id=\"certificate-problems\">"));
        assert!(html.contains("<a href=\"/admin/nodes/n1\">"));
        assert!(html.contains(&format!("<td>{}</td>", t.get("certificate.state.failed"))));
        let more = html
            .split("id=\"certificate-problems-more\">")
            .nth(1)
            .unwrap();
        let words: String = t
            .get("admin.certificate_problems_more")
            .chars()
            .take(8)
            .collect();
        assert!(more.starts_with(&words));
        assert!(more.contains(" 4</p>"));
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

        let html = render(&AdminHomePage {
            ctx: ctx(lang, true),
            collective_name: EVIL.to_owned(),
            platform_domain: "example.org".to_owned(),
            member_count: 3,
            plan_count: 2,
            pending_invitations: 1,
            workers: vec![],
            certificate_problems: vec![],
            certificate_problems_unlisted: 0,
        });
        assert!(html.contains("id=\"no-certificate-problems\""));
        assert!(!html.contains("id=\"certificate-problems-more\""));

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
                status: MemberStatus::Suspended,
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

        for (status, is_admin) in [
            (MemberStatus::Active, false),
            (MemberStatus::Active, true),
            (MemberStatus::Suspended, false),
            (MemberStatus::Deleting, false),
        ] {
            let html = render(&MemberPage {
                ctx: ctx(lang, true),
                member: MemberRow {
                    id: "u1".to_owned(),
                    email: "a@example.org".to_owned(),
                    display_name: EVIL.to_owned(),
                    plan: "Basic".to_owned(),
                    status,
                    is_admin,
                },
                created: "2024-01-01".to_owned(),
                delete_after: (status == MemberStatus::Deleting).then(|| "2024-02-01".to_owned()),
                totp_enabled: true,
                plans: plans(),
                node_name: is_admin.then(|| EVIL.to_owned()),
                sync: if is_admin { Sync::Live } else { Sync::Waiting },
                nodes: if status == MemberStatus::Deleting {
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
            assert_eq!(has("suspend"), status == MemberStatus::Active && !is_admin);
            assert_eq!(has("unsuspend"), status == MemberStatus::Suspended);
            assert_eq!(has("delete"), status != MemberStatus::Deleting && !is_admin);
            assert_eq!(has("cancel-delete"), status == MemberStatus::Deleting);
            assert!(html.contains("<option value=\"p2\" selected>Large</option>"));
            assert!(html.contains("<table id=\"usage\">"));
            let joined = status != MemberStatus::Deleting;
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
            nodes: vec![node_row()],
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
        assert!(html.contains("<a href=\"/admin/nodes/n1\">"));

        for certificates in [
            vec![],
            CertificateStatus::ALL
                .iter()
                .map(|s| certificate_row(*s))
                .collect(),
        ] {
            let empty = certificates.is_empty();
            let html = render(&NodePage {
                ctx: ctx(lang, true),
                node: node_row(),
                certificates,
            });
            let t = Tr::new(lang);
            assert!(html.contains("id=\"generations-n1\">41 / 42</dd>"));
            assert_eq!(html.contains("id=\"no-certificates\""), empty);
            assert_eq!(html.contains("<table id=\"certificates\">"), !empty);
            if !empty {
                assert!(html.contains(&format!(
                    "{} <span class=\"nowrap\">2100-01-01 00:00 UTC</span>",
                    t.get("certificate.state.valid")
                )));
                // Its text has an apostrophe, which is escaped: compare up to it.
                let own: String = t.get("certificate.own").chars().take(8).collect();
                assert!(html.contains(&format!("node-a.example.org <span class=\"hint\">{own}")));
                assert!(html.contains("<td>HTTP-01</td>"));
                // No node column on the node's own page.
                assert!(!html.contains("href=\"/admin/nodes/n1\">"));
            }
        }

        let html = render(&AuditPage {
            ctx: ctx(lang, true),
            entries: audit(),
            next_href: Some("/admin/audit?before=5".to_owned()),
        });
        assert!(html.contains("<table id=\"audit\">"));
        assert!(html.contains("href=\"/admin/audit?before=5\""));
    }
}

fn node_row() -> NodeRow {
    NodeRow {
        id: "n1".to_owned(),
        name: EVIL.to_owned(),
        state: NodeState::Joined,
        host_name: "node-a.example.org".to_owned(),
        addresses: "127.0.0.2".to_owned(),
        version: "0.1.0".to_owned(),
        capacity: "2 CPU".to_owned(),
        last_heartbeat: "2024-01-01 12:00:00 UTC".to_owned(),
        health: Health::Ok,
        members: 3,
        generations: "41 / 42".to_owned(),
    }
}

/// A certificate of node n1 in `status`, with a hostile error; the node's own when valid.
fn certificate_row(status: CertificateStatus) -> CertificateRow {
    let own = status == CertificateStatus::Valid;
    CertificateRow {
        node_id: "n1".to_owned(),
        node_name: EVIL.to_owned(),
        names: if own {
            "node-a.example.org".to_owned()
        } else {
            format!("example.org, {EVIL}")
        },
        own,
        challenge: CertificateChallenge::Http01,
        status,
        until: status.serves().then(|| "2100-01-01 00:00 UTC".to_owned()),
        error: Some(EVIL.to_owned()),
        retry: Some("2027-01-01 00:00 UTC".to_owned()),
        reported: "2026-12-07 03:00:00 UTC".to_owned(),
    }
}

#[test]
fn admin_dns_page() {
    for lang in Lang::ALL {
        for (error_node, created) in [(None, true), (None, false), (Some("n1".to_owned()), false)] {
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
                        state: SecondaryState::Pending,
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
