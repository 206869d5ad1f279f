//! Gives the heap's free pages back to the kernel after a reconcile.
//!
//! glibc's allocator returns memory to the kernel only from the top of its heap (and large
//! blocks, which `main.rs`'s tunables put in mappings of their own). A reconcile frees many
//! small blocks in the middle of the heap (a document, members' lines, a heartbeat's keys),
//! which it keeps: measured on a node of 1,000 members × 10 mailboxes once all DKIM keys were
//! made, 35 MiB of anonymous memory, 14 MiB after one `malloc_trim(0)` (`tests/bench/mail.sh`).
//!
//! Where the agent's memory goes is counted by `tests/bench/memory.sh` (dhat; 1,000 members ×
//! 10 mailboxes): between changes it holds the desired document (3.4 MiB; mailbox ids and
//! password hashes shared with the broker's logins, not copied) and the reconciler (6.5 MiB, of
//! which each member's rendered lines 3.7 MiB and the broker's credentials 1.5 MiB); a usage
//! measurement is kept only until a heartbeat carried it. glibc kept freed blocks per thread
//! arena (150 MiB resident at idle once), so the agent runs itself once with fixed malloc
//! tunables (`main.rs`: large blocks in their own mappings, one arena) and gives free pages back
//! here after each reconcile: resident at idle about 22 MiB, 7 of them the mapped binary and
//! libraries, and 46 MiB at its highest since start (VmHWM, a spike of short-lived large buffers
//! around the 1,000-member reconcile; `tests/bench/mail.sh`).
//!
//! The one `unsafe` block of the agent (hence `unsafe_code = "deny"`, not "forbid"; the other
//! exception is a benchmark's counting allocator).

/// Returns the free pages of every arena to the kernel (`malloc_trim(0)`). Called off the
/// async thread, after something large was freed: by the reconciler's garbage thread once it
/// freed what a reconcile left, and after a heartbeat that carried usage or keys.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim(3) takes no pointer, only the padding to keep at the heap's top; it
    // locks each arena while it works, so it is safe from any thread at any time. glibc has
    // exported it since 2.0, and this is compiled only against glibc.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators return memory by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

#[cfg(test)]
mod tests {
    /// It runs, from any thread, while others allocate.
    #[test]
    fn trims_while_other_threads_allocate() {
        let busy = std::thread::spawn(|| {
            (0..10_000)
                .map(|i| vec![i as u8; 64 + i % 512])
                .filter(|v| v.len() > 100)
                .count()
        });
        for _ in 0..10 {
            super::trim();
        }
        assert!(busy.join().is_ok_and(|n| n > 0));
    }
}
