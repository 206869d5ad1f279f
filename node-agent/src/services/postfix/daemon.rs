//! What the engine asks of Postfix: its commands (`postfix check`, its reload, and `postmap`,
//! agent.toml's `[commands] postmap`) and its one named step, `postmap <table>`.
//!
//! A lookup table's source is data: smtpd reads the compiled table (`<table>.lmdb`) afresh in
//! each session, so a table change needs no reload, only `postmap`. When the compiled form is
//! current, only the entries that changed are put and deleted in place (`postmap -i`,
//! `postmap -d`), so a one-mailbox change costs one entry; a new table, one whose compiled form
//! is missing or older than its source, one an interrupted apply owed, and every table after a
//! refused check (sources restored, compiled form unknown) are rebuilt whole. A table is written
//! member by member, so finding the changed entries compares only the lines between the two
//! versions' common head and tail ([`table_edit`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use protocol::desired::{DesiredState, Tenant};
use protocol::dns::platform;

use crate::apply::{self, run_with_input, step, ApplyError, ServiceOutcome};
use crate::config::{Argv, Commands, ServiceCommands};
use crate::plan::{Disk, OnDisk, Plan, TableEdit};
use crate::render::{
    Files, Layout, MemberLines, MemberMaterial, Members, NodeMaterial, OnChange, Ports, RelPath,
};
use crate::services::{CommandKeys, Daemon, Phase, Service, Step, StepRun};

use super::SERVICE;

/// The step that compiles a lookup table (its argument: the source's path).
pub const POSTMAP: &str = "postmap";

pub struct Postfix;

impl Daemon for Postfix {
    fn service(&self) -> Service {
        SERVICE
    }

    fn render_member(
        &self,
        tenant: &Tenant,
        layout: &Layout,
        _material: &MemberMaterial<'_>,
    ) -> MemberLines {
        super::render_member(tenant, layout)
    }

    fn render(
        &self,
        desired: &DesiredState,
        layout: &Layout,
        material: &NodeMaterial,
        members: &Members<'_>,
        files: &mut Files,
    ) {
        super::render(desired, layout, material, members, files);
    }

    fn command_keys(&self) -> CommandKeys {
        CommandKeys {
            keys: &["postmap", "postfix.check", "postfix.reload"],
            optional: false,
        }
    }

    fn commands(&self, commands: &Commands) -> Option<ServiceCommands> {
        commands.check_and_reload(SERVICE)
    }

    fn older_journal_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[("postmap", POSTMAP)]
    }

    /// Tables whose compiled form is missing or older than their source are stale.
    fn read_disk(
        &self,
        root: &Path,
        rendered: &Files,
        on_disk: &mut OnDisk,
        stale: &mut BTreeSet<RelPath>,
    ) -> std::io::Result<()> {
        for (path, file) in tables(rendered) {
            if !on_disk.get(path).is_some_and(Disk::is_present) || file.service != SERVICE {
                continue;
            }
            let full = root.join(path.as_str());
            let compiled = full.with_file_name(format!(
                "{}.lmdb",
                full.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let source_time = std::fs::metadata(&full)?.modified()?;
            let fresh = std::fs::metadata(&compiled)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= source_time);
            if !fresh {
                stale.insert(path.clone());
            }
        }
        Ok(())
    }

    /// A changed or stale table is compiled: entry by entry when the compiled form is current
    /// and both versions can be compared, else whole.
    fn plan(
        &self,
        rendered: &Files,
        on_disk: &OnDisk,
        stale: &BTreeSet<RelPath>,
        plan: &mut Plan<'_>,
    ) {
        for (path, file) in tables(rendered) {
            let current = on_disk.get(path);
            let same = current == Some(&Disk::Rendered);
            let step = Step::new(SERVICE, POSTMAP, path.as_str());
            let edit = match current {
                // The SNI table is compiled from the files it names: always whole.
                _ if path.as_str() == super::SNI => None,
                Some(Disk::Other { contents, .. }) if !stale.contains(path) => {
                    table_edit(contents, &file.contents.bytes())
                }
                _ => None,
            };
            match edit {
                Some(edit) => {
                    plan.edits.insert(step.clone(), edit);
                    plan.steps.insert(step);
                }
                None if !same || stale.contains(path) => {
                    plan.steps.insert(step);
                }
                None => {}
            }
        }
    }

    fn run_steps(&self, phase: Phase, run: &mut StepRun<'_>) -> Result<(), ApplyError> {
        if phase != Phase::BeforeReload {
            return Ok(());
        }
        let postmap = run.commands.argv("postmap").cloned().unwrap_or_default();
        let compile = |table: &Step| {
            let database = format!("lmdb:{}", run.root.join(&table.arg).display());
            let rebuild = if table.arg == super::SNI {
                // Values are files whose contents go into the table.
                run.commands.argv_with("postmap", &["-F", &database])
            } else {
                run.commands.argv_with("postmap", &[&database])
            };
            // An edit applies only on top of the compiled form the plan saw; after a refused
            // check (sources restored) or an interrupted apply, rebuild whole.
            let edit = run
                .edits
                .get(table)
                .filter(|_| !run.restored && !run.owed.contains(table));
            match edit {
                Some(edit) => {
                    edit_table(&postmap, &database, edit).or_else(|_| apply::run(&rebuild))
                }
                None => apply::run(&rebuild),
            }
        };
        // Each table is its own file: compiled side by side, a change costs the slowest
        // `postmap` (mostly its start), not their sum.
        let tables = run.pending_named(POSTMAP);
        let results = apply::in_parallel(&tables, tables.len(), compile);
        for (table, result) in tables.into_iter().zip(results) {
            step(POSTMAP);
            run.count(POSTMAP, 1);
            match result {
                Ok(()) => {
                    run.pending.remove(&table);
                }
                Err(message) => {
                    tracing::error!(table = %table.arg, error = %message, "rebuilding a lookup table failed");
                    let message = format!("a table rebuild failed: {message}");
                    run.failed(ServiceOutcome::StepFailed(message));
                }
            }
        }
        Ok(())
    }

    fn srv_ports(&self, ports: &Ports) -> Vec<(&'static str, u16)> {
        vec![
            (platform::SUBMISSION, ports.submission),
            (platform::SUBMISSIONS, ports.submissions),
        ]
    }
}

/// Postfix's lookup tables among the rendered files.
fn tables(rendered: &Files) -> impl Iterator<Item = (&RelPath, &crate::render::File)> {
    rendered
        .iter()
        .filter(|(_, f)| f.service == SERVICE && f.on_change == OnChange::Step(POSTMAP))
}

/// The entries of a lookup table source: key (up to the first whitespace) -> line. `None` if a
/// key appears twice (the table is then rebuilt whole rather than guessed at).
fn table_entries(source: &[u8]) -> Option<BTreeMap<&str, &str>> {
    let mut entries = BTreeMap::new();
    for (key, line) in table_lines(source)? {
        if entries.insert(key?, line).is_some() {
            return None;
        }
    }
    Some(entries)
}

/// The entries of a table's source as (key, line) in file order; a line without a key gives
/// `None` as its key.
fn table_lines(source: &[u8]) -> Option<impl Iterator<Item = (Option<&str>, &str)>> {
    let text = std::str::from_utf8(source).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| (line.split_whitespace().next(), line)),
    )
}

/// The entries of a table's source in file order, when their keys are strictly increasing
/// (as the renderer writes them): then two versions compare in one pass.
fn sorted_table_entries(source: &[u8]) -> Option<Vec<(&str, &str)>> {
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for (key, line) in table_lines(source)? {
        let key = key?;
        if entries.last().is_some_and(|(last, _)| *last >= key) {
            return None;
        }
        entries.push((key, line));
    }
    Some(entries)
}

/// [`table_edit`] of two sorted sources, in one merge pass (the renderer's tables: tens of
/// thousands of lines of which one changed).
fn sorted_table_edit(old: &[(&str, &str)], new: &[(&str, &str)]) -> TableEdit {
    let mut edit = TableEdit::default();
    let (mut o, mut n) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (Some((old_key, old_line)), Some((new_key, new_line))) => match old_key.cmp(new_key) {
                std::cmp::Ordering::Equal => {
                    if old_line != new_line {
                        edit.put.push((*new_line).to_owned());
                    }
                    o.next();
                    n.next();
                }
                std::cmp::Ordering::Less => {
                    edit.delete.push((*old_key).to_owned());
                    o.next();
                }
                std::cmp::Ordering::Greater => {
                    edit.put.push((*new_line).to_owned());
                    n.next();
                }
            },
            (Some((old_key, _)), None) => {
                edit.delete.push((*old_key).to_owned());
                o.next();
            }
            (None, Some((_, new_line))) => {
                edit.put.push((*new_line).to_owned());
                n.next();
            }
            (None, None) => return edit,
        }
    }
}

/// Changed entries above which a table is rebuilt whole: `postmap -i` commits each entry on its
/// own (a thousand new members' ten thousand entries took 86 s), a rebuild takes about a second
/// for 10,000 entries.
pub const MAX_TABLE_EDIT: usize = 256;

/// What changed between two versions of a table's source, or `None` when they cannot be
/// compared entry by entry or when so much changed that a whole rebuild is cheaper.
///
/// Only the lines between the two versions' longest common head and tail are compared: a
/// table is written member by member ([`crate::render::Members`]), so one member's change is a
/// few lines in the middle, and the rest costs a byte comparison. A key never appears twice in
/// a rendered table (a domain belongs to one member), so a key in the common lines is not
/// also among the compared ones.
pub fn table_edit(old: &[u8], new: &[u8]) -> Option<TableEdit> {
    let (old, new) = differing_lines(old, new);
    let edit = match (sorted_table_entries(old), sorted_table_entries(new)) {
        (Some(old), Some(new)) => sorted_table_edit(&old, &new),
        _ => unsorted_table_edit(old, new)?,
    };
    if edit.put.len() + edit.delete.len() > MAX_TABLE_EDIT {
        return None;
    }
    Some(edit)
}

/// The lines of `old` and `new` left once their longest common head and tail of whole lines
/// are taken away.
fn differing_lines<'a>(old: &'a [u8], new: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    let same = common_head(old, new);
    // Back to the start of the line the first difference is in.
    let head = old[..same]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let (old, new) = (&old[head..], &new[head..]);
    let mut tail = common_tail(old, new);
    let starts_line =
        |text: &[u8], tail: usize| tail == text.len() || text[text.len() - tail - 1] == b'\n';
    if !(starts_line(old, tail) && starts_line(new, tail)) {
        // On to the start of the tail's first whole line.
        let common = &old[old.len() - tail..];
        tail = common
            .iter()
            .position(|b| *b == b'\n')
            .map_or(0, |i| tail - i - 1);
    }
    (&old[..old.len() - tail], &new[..new.len() - tail])
}

/// Bytes compared at once before the byte that differs is looked for: slices compare with
/// `memcmp`, much faster than byte by byte over a table's hundreds of kilobytes.
const CHUNK: usize = 256;

/// How many bytes `a` and `b` share at their start.
fn common_head(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many bytes `a` and `b` share at their end.
fn common_tail(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + CHUNK <= n && a[n - i - CHUNK..n - i] == b[n - i - CHUNK..n - i] {
        i += CHUNK;
    }
    let (a, b) = (&a[..n - i], &b[..n - i]);
    i + a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// [`table_edit`] of sources in any order (one written by hand, or by an older agent).
fn unsorted_table_edit(old: &[u8], new: &[u8]) -> Option<TableEdit> {
    let old = table_entries(old)?;
    let new = table_entries(new)?;
    let put: Vec<String> = new
        .iter()
        .filter(|(key, line)| old.get(*key) != Some(*line))
        .map(|(_, line)| (*line).to_owned())
        .collect();
    let delete: Vec<String> = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .map(|key| (*key).to_owned())
        .collect();
    Some(TableEdit { put, delete })
}

/// `argv` with `extra` arguments appended.
fn with(argv: &Argv, extra: &[&str]) -> Argv {
    let mut argv = argv.clone();
    argv.extend(extra.iter().map(|a| (*a).to_owned()));
    argv
}

/// Puts and deletes the entries of `edit` in the compiled table `database`, in place.
fn edit_table(postmap: &Argv, database: &str, edit: &TableEdit) -> Result<(), String> {
    if !edit.put.is_empty() {
        // -i: incremental, entries from stdin; -r: replace an existing key's value.
        let input = edit.put.join("\n") + "\n";
        run_with_input(&with(postmap, &["-i", "-r", database]), input.as_bytes())?;
    }
    if !edit.delete.is_empty() {
        // -d -: the keys to delete come from stdin. Exit status 1 means "not found", which is
        // fine for a key that is gone already.
        let input = edit.delete.join("\n") + "\n";
        match run_with_input(&with(postmap, &["-d", "-", database]), input.as_bytes()) {
            Ok(()) => {}
            Err(message) if message.contains("exit status: 1") => {}
            Err(message) => return Err(message),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn a_table_edit_holds_only_what_changed() {
        let old = b"# rendered\na@x x/a/\nb@x x/b/\nc@x x/c/\n";
        let new = b"# rendered\na@x x/a/\nb@x elsewhere/\nd@x x/d/\n";
        let edit = table_edit(old, new).unwrap();
        assert_eq!(edit.put, ["b@x elsewhere/", "d@x x/d/"]);
        assert_eq!(edit.delete, ["c@x"]);
        // A duplicated key among the lines that differ cannot be edited entry by entry.
        assert_eq!(table_edit(b"a x\na y\n", b"a z\n"), None);
    }

    proptest::proptest! {
        /// The one-pass comparison of sorted sources finds what the keyed one finds, whatever
        /// the two versions hold.
        #[test]
        fn sorted_sources_compare_as_keyed_ones(
            old in proptest::collection::btree_map("[a-e]{1,3}", "[x-z]{1,2}", 0..30),
            new in proptest::collection::btree_map("[a-e]{1,3}", "[x-z]{1,2}", 0..30),
        ) {
            let source = |m: &BTreeMap<String, String>| -> Vec<u8> {
                m.iter().map(|(k, v)| format!("{k} {v}\n")).collect::<String>().into_bytes()
            };
            let (old, new) = (source(&old), source(&new));
            let sorted = sorted_table_edit(
                &sorted_table_entries(&old).unwrap(),
                &sorted_table_entries(&new).unwrap(),
            );
            proptest::prop_assert_eq!(Some(sorted), unsorted_table_edit(&old, &new));
        }
    }

    /// Tables written member by member: only the lines between the common head and tail are
    /// compared, whatever their order.
    #[test]
    fn only_the_lines_between_the_common_head_and_tail_are_compared() {
        let member =
            |m: &str, n: usize| -> String { (0..n).map(|i| format!("u{i}@{m} OK\n")).collect() };
        let table = |middle: &str| -> Vec<u8> {
            format!(
                "# header\n{}{middle}{}",
                member("z.example", 40),
                member("a.example", 40)
            )
            .into_bytes()
        };
        let old = table(&member("m.example", 3));
        let new = table(&member("m.example", 4));
        let (o, n) = differing_lines(&old, &new);
        assert!(o.is_empty());
        assert_eq!(n, b"u3@m.example OK\n");
        let edit = table_edit(&old, &new).unwrap();
        assert_eq!(edit.put, ["u3@m.example OK"]);
        assert!(edit.delete.is_empty());
        let edit = table_edit(&new, &old).unwrap();
        assert!(edit.put.is_empty());
        assert_eq!(edit.delete, ["u3@m.example"]);
        // A difference inside a line takes the whole line, at either end.
        let (o, n) = differing_lines(b"a 1\nb 22\nc 3\n", b"a 1\nb 2\nc 3\n");
        assert_eq!((o, n), (&b"b 22\n"[..], &b"b 2\n"[..]));
        let (o, n) = differing_lines(b"a 1\nxb 2\n", b"a 1\nb 2\n");
        assert_eq!((o, n), (&b"xb 2\n"[..], &b"b 2\n"[..]));
        let (o, n) = differing_lines(b"b 2\n", b"a 1\nb 2\n");
        assert_eq!((o, n), (&b""[..], &b"a 1\n"[..]));
        let (o, n) = differing_lines(b"a 1", b"a 12");
        assert_eq!((o, n), (&b"a 1"[..], &b"a 12"[..]));
    }

    proptest::proptest! {
        /// Comparing only the differing lines finds what comparing every key finds, for
        /// tables without a repeated key.
        #[test]
        fn the_differing_lines_give_the_edit_every_key_gives(
            head in proptest::collection::btree_map("[a-c]{1,2}", "[x-z]{1,2}", 0..8),
            old in proptest::collection::btree_map("[d-f]{1,2}", "[x-z]{1,2}", 0..8),
            new in proptest::collection::btree_map("[d-f]{1,2}", "[x-z]{1,2}", 0..8),
            tail in proptest::collection::btree_map("[g-i]{1,2}", "[x-z]{1,2}", 0..8),
        ) {
            let lines = |m: &BTreeMap<String, String>| -> String {
                m.iter().map(|(k, v)| format!("{k} {v}\n")).collect()
            };
            let source = |middle: &BTreeMap<String, String>| -> Vec<u8> {
                format!("{}{}{}", lines(&tail), lines(middle), lines(&head)).into_bytes()
            };
            let (old, new) = (source(&old), source(&new));
            let edit = table_edit(&old, &new);
            proptest::prop_assert_eq!(edit, unsorted_table_edit(&old, &new));
        }
    }

    proptest::proptest! {
        /// The chunked comparisons count what a byte-by-byte one counts.
        #[test]
        fn common_head_and_tail_count_the_shared_bytes(
            shared in proptest::collection::vec(0u8..3, 0..600),
            a in proptest::collection::vec(0u8..3, 0..600),
            b in proptest::collection::vec(0u8..3, 0..600),
        ) {
            let (x, y) = ([&shared[..], &a].concat(), [&shared[..], &b].concat());
            let head = x.iter().zip(&y).take_while(|(p, q)| p == q).count();
            proptest::prop_assert_eq!(common_head(&x, &y), head);
            let (x, y) = ([&a[..], &shared].concat(), [&b[..], &shared].concat());
            let tail = x.iter().rev().zip(y.iter().rev()).take_while(|(p, q)| p == q).count();
            proptest::prop_assert_eq!(common_tail(&x, &y), tail);
        }
    }

    /// Sources out of key order (a hand edit) are still compared, entry by entry.
    #[test]
    fn an_unsorted_source_is_compared_by_key() {
        let edit = table_edit(b"b@x 2\na@x 1\n", b"a@x 1\nb@x 3\n").unwrap();
        assert_eq!(edit.put, ["b@x 3"]);
        assert!(edit.delete.is_empty());
    }

    /// A change of many entries rebuilds the table instead of putting them one by one.
    #[test]
    fn a_large_change_rebuilds_the_table_whole() {
        let lines = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| format!("u{i}@x x/u{i}/\n"))
                .collect::<String>()
                .into_bytes()
        };
        let small = table_edit(&lines(10), &lines(10 + MAX_TABLE_EDIT)).unwrap();
        assert_eq!(small.put.len(), MAX_TABLE_EDIT);
        assert_eq!(table_edit(&lines(10), &lines(11 + MAX_TABLE_EDIT)), None);
        assert_eq!(table_edit(&lines(11 + MAX_TABLE_EDIT), &lines(10)), None);
    }

    /// With Debian's postmap: an edit changes exactly the entries it names, in place.
    #[test]
    fn edits_a_real_lmdb_table_in_place() {
        if !Path::new("/usr/sbin/postmap").exists() {
            eprintln!("postmap is not installed (package postfix-lmdb): skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.cf"), "").unwrap();
        let postmap: Argv = vec![
            "/usr/sbin/postmap".into(),
            "-c".into(),
            dir.path().display().to_string(),
        ];
        let source = dir.path().join("mailboxes");
        std::fs::write(&source, "a@x x/a/\nb@x x/b/\nc@x x/c/\n").unwrap();
        let database = format!("lmdb:{}", source.display());
        apply::run(&with(&postmap, &[&database])).unwrap();
        let edit = table_edit(
            b"a@x x/a/\nb@x x/b/\nc@x x/c/\n",
            b"a@x x/a/\nb@x moved/\nd@x x/d/\n",
        )
        .unwrap();
        edit_table(&postmap, &database, &edit).unwrap();
        let query = |key: &str| {
            let out = Command::new("/usr/sbin/postmap")
                .args([
                    "-c",
                    &dir.path().display().to_string(),
                    "-q",
                    key,
                    &database,
                ])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        assert_eq!(query("a@x"), "x/a/");
        assert_eq!(query("b@x"), "moved/");
        assert_eq!(query("c@x"), "");
        assert_eq!(query("d@x"), "x/d/");
        // Deleting a key that is already gone is not an error.
        let again = TableEdit {
            put: vec![],
            delete: vec!["c@x".into()],
        };
        edit_table(&postmap, &database, &again).unwrap();
    }
}
