//! Reconcile cost on a node holding 1,000 members with 10 mailboxes each (10,000 mailboxes,
//! 1,000 domains, an alias per domain): render only; a full reconcile onto an empty root; and a
//! one-mailbox change against a root that holds the rest. Real `postmap` (lmdb) rebuilds the
//! changed tables when Postfix is installed; the daemons' checks and reloads are `true` here
//! (their cost is the daemons', measured end to end in tests/bench/mail.sh).
//!
//! A node's name server with 1,000 zones: one member record changed (one zone file rewritten,
//! checked by the real `kzonecheck` when Knot is installed; `knotc` is `true`).
//!
//! The agent's whole work for one mailbox change (`Reconciler::reconcile`: its material, render,
//! plan, apply, and the bookkeeping after it: the applied state saved, the broker's credentials,
//! the sweep of what left the node) at 100 and at 10,000 mailboxes, DKIM keys already on disk;
//! and for one record changed in one of 1,000 zones, each the zone of a member's domain.
//!
//! `cargo bench -p node-agent --bench reconcile`; figures in tests/bench/README.md.

// A benchmark panics on any failure, like a test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use node_agent::apply::{apply, read_disk, Target};
use node_agent::plan::plan;
use node_agent::render;
use node_agent::saved::Saved;
use protocol::desired::DesiredState;

mod common;

use common::{commands, desired, desired_with, dns_desired, layout, material, reconciler};
use common::{MAILBOXES, MEMBERS};

/// render + read the disk + plan + apply, as `Reconciler::reconcile` does.
fn reconcile(root: &Path, saved: &Saved, desired: &DesiredState) -> usize {
    let layout = layout(root);
    let rendered = render::render(desired, &layout, &material(desired));
    let (on_disk, stale) = read_disk(root, &rendered).unwrap();
    let plan = plan(&rendered, &on_disk, &stale);
    let commands = commands(root);
    let target = Target {
        root,
        commands: &commands,
        saved,
    };
    apply(&target, &plan, &on_disk, || None).unwrap().written
}

fn benches(c: &mut Criterion) {
    let base = desired(false);
    let changed = desired(true);
    let mut group = c.benchmark_group("reconcile_10k_mailboxes");
    group.sample_size(10);

    group.bench_function("render", |b| {
        let root = tempfile::tempdir().unwrap();
        let layout = layout(root.path());
        let material = material(&base);
        b.iter(|| render::render(&base, &layout, &material).len());
    });

    group.bench_function("full_onto_empty_root", |b| {
        b.iter_batched(
            || (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()),
            |(root, state)| reconcile(root.path(), &Saved::new(state.path()), &base),
            BatchSize::PerIteration,
        );
    });

    group.bench_function("one_mailbox_added", |b| {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        reconcile(root.path(), &saved, &base);
        let mut flip = false;
        b.iter(|| {
            // Alternate between the two states: each iteration is one mailbox added or removed.
            flip = !flip;
            reconcile(root.path(), &saved, if flip { &changed } else { &base })
        });
    });

    group.bench_function("nothing_changed", |b| {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let saved = Saved::new(state.path());
        reconcile(root.path(), &saved, &base);
        b.iter(|| {
            let written = reconcile(root.path(), &saved, &base);
            assert_eq!(written, 0);
        });
    });
    group.finish();

    let base = dns_desired(false);
    let changed = dns_desired(true);
    let mut group = c.benchmark_group("reconcile_1000_zones");
    group.sample_size(10);
    // Set up once: the first reconcile checks 1,000 zone files (criterion calls the closure
    // below once per sample).
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let saved = Saved::new(state.path());
    reconcile(root.path(), &saved, &base);
    let mut flip = false;
    group.bench_function("one_record_changed", |b| {
        b.iter(|| {
            // Alternate: each iteration adds or removes one record in one zone.
            flip = !flip;
            let written = reconcile(root.path(), &saved, if flip { &changed } else { &base });
            assert_eq!(written, 1);
        });
    });
    group.finish();
}

/// The agent's whole work per change, at 100 and at 10,000 mailboxes; and for one record
/// changed with 1,000 zones (each member's domain a zone of this node's).
fn agent_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent_one_mailbox_added");
    group.sample_size(10);
    for members in [10, MEMBERS] {
        let docs = [desired_with(members, false), desired_with(members, true)];
        agent_case(
            &mut group,
            &format!("{}_mailboxes", members * MAILBOXES),
            docs,
        );
    }
    group.finish();
    let mut group = c.benchmark_group("agent_one_record_changed");
    group.sample_size(10);
    let with_zones = |extra_record| DesiredState {
        dns: dns_desired(extra_record).dns,
        ..desired(false)
    };
    agent_case(
        &mut group,
        "1000_zones",
        [with_zones(false), with_zones(true)],
    );
    group.finish();
}

/// One agent alternating between `docs`, each change at a new generation.
fn agent_case(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    docs: [DesiredState; 2],
) {
    // The second document shares every member but the changed one with the first, as the
    // document a delta leads to does in the agent ([`DesiredState::apply`]).
    let [first, second] = docs;
    let second = first.apply(&first.delta_to(&second)).unwrap();
    let docs = [first, second];
    let root = tempfile::tempdir().unwrap();
    let agent = reconciler(root.path(), &docs[0]);
    agent.reconcile(&docs[0]).unwrap();
    let mut generation = 1;
    group.bench_function(name, |b| {
        b.iter_batched(
            || {
                // Alternate: each iteration makes the change or takes it back, at a new
                // generation, shared with the agent as the poller shares it.
                generation += 1;
                let mut desired = docs[(generation % 2) as usize].clone();
                desired.generation = generation;
                std::sync::Arc::new(desired)
            },
            |desired| agent.reconcile_shared(&desired).unwrap().written,
            BatchSize::PerIteration,
        );
    });
}

criterion_group!(reconcile_benches, benches, agent_benches);
criterion_main!(reconcile_benches);
