//! The control plane's module graph, read from its sources (in the spirit of rust-analyzer's
//! tidy tests): which module names which through `crate::`, `super::` and `self::` paths, in
//! `use` items and in code alike. `cargo test -p control-plane --test layers -- --nocapture`
//! prints the graph's cycles; a cycle outside the known ones fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path inside the crate, `""` for the crate root (`routes::admin`, `db`).
type Module = String;

/// Every module of the crate and the modules each one names.
struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl Graph {
    fn of_crate(src: &Path) -> Graph {
        let mut files = Vec::new();
        collect(src, &mut files);
        let modules: BTreeMap<Module, PathBuf> = files
            .into_iter()
            .map(|file| (module_of(src, &file), file))
            .collect();
        let known: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
        let mut edges = BTreeMap::new();
        for (module, file) in &modules {
            let code = strip(&std::fs::read_to_string(file).unwrap());
            let mut named = BTreeSet::new();
            for path in paths(&code) {
                let Some(absolute) = resolve(module, &path) else {
                    continue;
                };
                // The longest prefix that is a module: `db::domains::list` is `db::domains`.
                let mut target = absolute.as_slice();
                while !target.is_empty() && !known.contains(target.join("::").as_str()) {
                    target = &target[..target.len() - 1];
                }
                let target = target.join("::");
                if target != *module && known.contains(target.as_str()) {
                    named.insert(target);
                }
            }
            edges.insert(module.clone(), named);
        }
        Graph { edges }
    }

    /// The same graph between the crate's top-level modules (`db`, `routes`, …).
    fn top_level(&self) -> Graph {
        let top = |m: &str| m.split("::").next().unwrap_or("").to_owned();
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, tos) in &self.edges {
            let from = top(from);
            let entry = edges.entry(from.clone()).or_default();
            for to in tos {
                let to = top(to);
                if to != from {
                    entry.insert(to);
                }
            }
        }
        Graph { edges }
    }

    /// The strongly connected parts of more than one module: each is at least one cycle.
    fn cycles(&self) -> Vec<Vec<Module>> {
        // Tarjan's algorithm, iterative enough for a crate's few hundred modules.
        struct State<'a> {
            graph: &'a Graph,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            found: Vec<Vec<Module>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a str) {
            let i = s.index.len();
            s.index.insert(v, i);
            s.low.insert(v, i);
            s.stack.push(v);
            s.on_stack.insert(v);
            let graph = s.graph;
            for w in graph.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
            if s.low[v] == s.index[v] {
                let mut part = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    part.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if part.len() > 1 {
                    part.sort();
                    s.found.push(part);
                }
            }
        }
        let mut s = State {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !s.index.contains_key(v.as_str()) {
                visit(&mut s, v);
            }
        }
        s.found.sort();
        s.found
    }

    fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeSet::len).sum()
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `src/routes/admin/mod.rs` → `routes::admin`; `src/db/domains.rs` → `db::domains`;
/// `src/lib.rs` and `src/main.rs` → the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts.join("::")
}

/// The code without comments, string and character literals (replaced by spaces), so that a
/// path in a doc comment or a message is not an import.
fn strip(code: &str) -> String {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i] == '/' && bytes.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if bytes[i] == '*' && bytes.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&out) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while bytes.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if bytes.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < bytes.len() {
                if bytes[j] == '"' && (0..hashes).all(|k| bytes.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\''
            && (bytes.get(i + 2) == Some(&'\'')
                || (next == Some('\\') && bytes[i + 1..].iter().take(12).any(|&b| b == '\'')))
        {
            // A character literal ('a', '\n', '\u{..}'), not a lifetime.
            i += 1;
            while i < bytes.len() && bytes[i] != '\'' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(out: &str) -> bool {
    out.chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Every path that starts with `crate`, `super` or `self`, with `use` groups expanded:
/// `crate::{db, dns::{a, b}}` is `crate::db`, `crate::dns::a`, `crate::dns::b`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = matches!(tokens[i].as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).is_some_and(|t| t == "::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts {
            let (trees, end) = tree(&tokens, i, Vec::new());
            found.extend(trees);
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// The paths of the use tree at `tokens[i]`, each prefixed by `prefix`; and where it ends.
fn tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                let mut all = Vec::new();
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        Some("}") => return (all, i + 1),
                        Some(",") => i += 1,
                        None => return (all, i),
                        _ => {
                            let (trees, end) = tree(tokens, i, prefix.clone());
                            all.extend(trees);
                            i = end;
                        }
                    }
                }
            }
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(t.to_owned());
                i += 1;
                if tokens.get(i).is_some_and(|t| t == "::") {
                    i += 1;
                } else {
                    return (vec![prefix], i);
                }
            }
            // `*`, `<` (turbofish) or anything else ends the path.
            _ => return (vec![prefix], i),
        }
    }
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// The absolute module path `path` (starting with `crate`, `super` or `self`) names from
/// `module`.
fn resolve(module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn graph() -> Graph {
    Graph::of_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// The import cycles that are left: none (issue 12 untied the last). A cycle among modules
/// fails [`layer_cycles_only_shrink`]; should one ever have to be tolerated for a while, it is
/// listed here, and the list may only shrink.
const KNOWN_CYCLES: &[&[&str]] = &[];

/// Prints the module graph's cycles and counts (`-- --nocapture`), and fails when a cycle is
/// not within one of [`KNOWN_CYCLES`].
#[test]
fn layer_cycles_only_shrink() {
    let graph = graph();
    let top = graph.top_level();
    let cycles = graph.cycles();
    let top_cycles = top.cycles();
    for part in &cycles {
        println!("cycle among modules: {}", part.join(", "));
    }
    for part in &top_cycles {
        println!("cycle among top-level modules: {}", part.join(", "));
    }
    println!(
        "modules {}, edges {}, cyclic parts {} ({} modules in them); top level: modules {}, edges {}, cyclic parts {} ({} in them)",
        graph.edges.len(),
        graph.edge_count(),
        cycles.len(),
        cycles.iter().map(Vec::len).sum::<usize>(),
        top.edges.len(),
        top.edge_count(),
        top_cycles.len(),
        top_cycles.iter().map(Vec::len).sum::<usize>(),
    );
    // The reader found the crate: the routes name the model, a child names its parent.
    assert!(graph.edges.len() > 50, "the crate's modules were not found");
    assert!(graph.edges["routes::api"].contains("routes"));
    assert!(graph.edges["workers::listener"].contains("workers"));
    for part in &cycles {
        let known = KNOWN_CYCLES
            .iter()
            .any(|k| part.iter().all(|m| k.contains(&m.as_str())));
        assert!(
            known,
            "a new import cycle: {} (layers must point one way; see ARCHITECTURE.md)",
            part.join(" <-> ")
        );
    }
}

/// The top-level layers, lowest first: a module of one imports none of a higher one. `model`
/// (pure types) ← `config` ← `error` ← `db` (the store) ← `services` (use cases) ← `dns` (the DNS
/// rounds) ← the edges (`routes`, `cli`, `workers`, `startup`), which may import one another.
const ORDER: &[&str] = &["model", "config", "error", "db", "services", "dns"];
const EDGES: &[&str] = &["routes", "cli", "workers", "startup"];

/// Fails when a module imports a layer above its own in [`ORDER`] (or any edge).
#[test]
fn layer_order_is_kept_where_it_holds() {
    let graph = graph();
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let rank = |m: &str| {
        let t = top(m);
        ORDER
            .iter()
            .position(|l| *l == t)
            .or_else(|| EDGES.contains(&t.as_str()).then_some(ORDER.len()))
    };
    let mut wrong = Vec::new();
    for (from, to) in &graph.edges {
        let Some(low) = rank(from) else { continue };
        if low >= ORDER.len() {
            continue;
        }
        for target in to {
            if rank(target).is_some_and(|high| high > low) {
                wrong.push(format!("{from} -> {target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order (ARCHITECTURE.md):\n{}",
        wrong.join("\n")
    );
}

#[cfg(test)]
mod parser {
    use super::*;

    #[test]
    fn use_groups_expand() {
        let code = strip("use crate::{db, dns::{topology, verify}};\nlet x = super::super::a::b(\"crate::no\"); // crate::no\n");
        let found = paths(&code);
        let text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
        assert_eq!(
            text,
            [
                "crate::db",
                "crate::dns::topology",
                "crate::dns::verify",
                "super::super::a::b"
            ]
        );
        assert_eq!(
            resolve("routes::api::admin", &found[3]),
            Some(vec!["routes".to_owned(), "a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn a_cycle_is_found() {
        let mut edges = BTreeMap::new();
        for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")] {
            edges
                .entry(from.to_owned())
                .or_insert_with(BTreeSet::new)
                .insert(to.to_owned());
        }
        edges.entry("d".to_owned()).or_insert_with(BTreeSet::new);
        let graph = Graph { edges };
        assert_eq!(graph.cycles(), vec![vec!["a", "b", "c"]]);
    }
}

/// The model and the store's rows are not the API's schema (the API's own types,
/// `routes::api::schema`, are made from them), and the model is pure: no module of `model`
/// names sqlx, axum or utoipa, no module of `db` names utoipa or axum.
#[test]
fn layer_model_and_store_name_no_framework_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (layer, forbidden) in [
        ("model", &["sqlx", "axum", "utoipa"][..]),
        ("db", &["axum", "utoipa"][..]),
    ] {
        let mut files = Vec::new();
        collect(&src.join(layer), &mut files);
        assert!(files.len() > 5, "the {layer} modules were not found");
        for file in files {
            let code = strip(&std::fs::read_to_string(&file).unwrap_or_default());
            for name in forbidden {
                if code.contains(&format!("{name}::")) {
                    wrong.push(format!("{} names {name}", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
