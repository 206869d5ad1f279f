//! Where the node agent's memory goes on a node of 1,000 members with 10 mailboxes each: the
//! heap each structure the agent keeps between two changes holds, counted by dhat (bytes asked
//! of the allocator and live blocks; glibc adds about 16 bytes a block), and the heap the
//! transient work of a full reconcile, of one mailbox change and of one heartbeat needs at its
//! peak.
//!
//! `cargo bench -p node-agent --bench memory` (or `tests/bench/memory.sh`, which keeps the
//! figures). Measures, asserts nothing.

// A benchmark panics on any failure, like a test.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use node_agent::broker::Credentials;
use node_agent::render::Renderer;
use protocol::desired::DesiredState;
use protocol::node::Heartbeat;

mod common;

#[global_allocator]
static ALLOC: Counted = Counted(dhat::Alloc);

/// dhat's allocator, also counting the live heap and its peak since [`reset_peak`]: dhat's own
/// peak runs from the start, and a change's peak lies below the full reconcile's before it.
struct Counted(dhat::Alloc);

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// The live heap now; the peak starts again from it.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

// SAFETY: every call is passed on unchanged to dhat's allocator; only counters are added.
// The workspace denies unsafe code; a benchmark's allocator is its second audited exception
// (Cargo.toml).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.0.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

/// Live heap: (bytes, blocks).
fn live() -> (usize, usize) {
    let stats = dhat::HeapStats::get();
    (stats.curr_bytes, stats.curr_blocks)
}

/// The heap `make` leaves allocated, with what it returns kept.
fn kept<T>(make: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = live();
    let value = make();
    let after = live();
    (
        value,
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    )
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let root = tempfile::tempdir().unwrap();
    let mut rows: Vec<(&str, &str, usize, usize)> = Vec::new();

    // The document as the agent holds it: parsed from what the control plane sends.
    let json = serde_json::to_vec(&common::desired(false)).unwrap();
    let (desired, bytes, blocks) =
        kept(|| Arc::new(serde_json::from_slice::<DesiredState>(&json).unwrap()));
    rows.push(("desired_document", "the desired document", bytes, blocks));
    drop(json);

    // The reconciler after a full reconcile of it, the document aside (it shares it).
    let agent = common::reconciler(root.path(), &desired);
    let ((), bytes, blocks) = kept(|| {
        agent.reconcile_shared(&desired).unwrap();
    });
    // dhat's running maximum; nothing before the reconcile came near it (the document and its
    // JSON are about 6 MiB together).
    let reconcile_peak = dhat::HeapStats::get().max_bytes;
    rows.push((
        "reconciler_kept",
        "the reconciler after a full reconcile, the document aside",
        bytes,
        blocks,
    ));

    // One mailbox added: what the change needs at its peak above what was live before it, and
    // what it allocated in all. It should grow with the change, not with the node.
    let changed = Arc::new(common::desired(true));
    let before = reset_peak();
    let allocated = dhat::HeapStats::get().total_bytes;
    agent.reconcile_shared(&changed).unwrap();
    let change_peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    let change_allocated =
        usize::try_from(dhat::HeapStats::get().total_bytes - allocated).unwrap_or(usize::MAX);
    drop(changed);

    // Its parts, each made once more on its own.
    let (credentials, bytes, blocks) = kept(|| Credentials::from_desired(&desired));
    rows.push((
        "broker_credentials",
        "of which the broker's credentials",
        bytes,
        blocks,
    ));
    drop(credentials);
    let layout = common::layout(root.path());
    let material = Arc::new(common::material(&desired));
    let (renderer, bytes, blocks) = kept(|| {
        let mut renderer = Renderer::default();
        let files = renderer.render_kept(desired.clone(), &layout, material.clone(), None);
        drop(files);
        renderer
    });
    rows.push((
        "renderer_lines",
        "of which the renderer's kept lines of every member",
        bytes,
        blocks,
    ));
    drop(renderer);

    // What the usage task keeps, and a heartbeat listing it and every DKIM key.
    let (usage, bytes, blocks) = kept(|| node_agent::usage::measure(root.path(), &desired));
    rows.push((
        "usage",
        "the mail store's usage, as measured (kept until a heartbeat took it)",
        bytes,
        blocks,
    ));
    let keys = agent.status.lock().unwrap().dkim_keys.clone();
    let heartbeat = Heartbeat {
        version: "bench".to_owned(),
        observed_generation: Some(desired.generation),
        services: vec![],
        dkim_keys: keys.to_vec(),
        usage,
        dns: None,
        certificates: None,
    };
    let (body, bytes, blocks) = kept(|| serde_json::to_vec(&heartbeat).unwrap());
    rows.push((
        "heartbeat_body",
        "a heartbeat listing every key and mailbox, as sent",
        bytes,
        blocks,
    ));
    drop((body, heartbeat));

    println!("| what (1,000 members × 10 mailboxes) | heap | blocks |");
    println!("|---|---:|---:|");
    for (_, what, bytes, blocks) in &rows {
        println!("| {what} | {:.2} MiB | {blocks} |", mib(*bytes));
    }
    println!(
        "| heap at its peak during the full reconcile (document included) | {:.2} MiB | |",
        mib(reconcile_peak)
    );
    println!(
        "| one mailbox added: heap at its peak above the heap live before it | {:.2} MiB | |",
        mib(change_peak)
    );
    println!(
        "| one mailbox added: heap allocated in all (freed or not) | {:.2} MiB | |",
        mib(change_allocated)
    );
    println!();
    for (name, _, bytes, _) in &rows {
        println!("bench: memory_{name} = {:.2} MiB", mib(*bytes));
    }
    println!(
        "bench: memory_full_reconcile_peak = {:.2} MiB",
        mib(reconcile_peak)
    );
    println!(
        "bench: memory_one_mailbox_change_peak = {:.2} MiB",
        mib(change_peak)
    );
    println!(
        "bench: memory_one_mailbox_change_allocated = {:.2} MiB",
        mib(change_allocated)
    );
}
