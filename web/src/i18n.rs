//! Languages, and the translator the pages hold.
//!
//! Each language's catalog (`crate::catalog`) holds its page furniture in a static slice sorted
//! by key, looked up with a binary search. Templates call `ctx.t.get("key")`; what the control
//! plane picks for a page (states, notices) are types naming their key (`crate::states`,
//! `crate::notice`), and why something was refused is a `Reason`, said by `Tr::reason`.
//!
//! The tests below fail when a language lacks one of English's keys or an entry is empty or
//! copied from English (tests with `translation` in their names), when a key a template or the
//! control plane uses is missing, when a key is used by nothing (`every_catalog_key_is_used`),
//! when a slice is out of order, and when a template holds a script, a style, an external
//! resource or `|safe`, or a POST form without its CSRF token.

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

    /// Keys the control plane makes the pages show: the states' and notices' (typed), and the
    /// name of every form field it reports a problem with.
    fn control_plane_keys() -> Vec<String> {
        let states = crate::states::all_keys().into_iter();
        let notices = crate::Notice::ALL.iter().map(|n| n.key());
        let fields = FIELDS.iter().map(|f| format!("field.{f}"));
        states
            .chain(notices)
            .map(str::to_owned)
            .chain(fields)
            .collect()
    }

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
        for key in control_plane_keys() {
            for lang in Lang::ALL {
                assert!(has(lang.catalog().keys, &key), "{key} missing in {lang:?}");
            }
        }
        assert!(Tr::new(Lang::En)
            .get("error.gone")
            .contains("no longer valid"));
    }

    /// A catalog holds only what something shows: a key no template, state, notice or field
    /// names is a text nobody reads (and a translator's wasted time).
    #[test]
    fn every_catalog_key_is_used() {
        let mut used = control_plane_keys();
        for (_, text) in templates() {
            used.extend(template_keys(&text));
        }
        let unused: Vec<&str> = Lang::En
            .catalog()
            .keys
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| !used.iter().any(|u| u == key))
            .collect();
        assert!(unused.is_empty(), "keys used nowhere: {unused:?}");
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
