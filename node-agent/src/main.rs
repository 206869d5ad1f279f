//! `node-agent`: see `node_agent::cli` for the commands. It first runs itself again, once, with
//! glibc's malloc tunables (below; where the memory goes: `node_agent::heap`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use node_agent::cli::{execute, Cli};
use tracing_subscriber::EnvFilter;

/// glibc's allocator settings for the agent. glibc keeps what a thread's arena freed and raises
/// its mmap threshold to the largest block freed, so after a few argon2id checks (19 MiB each)
/// and whole-node renders on the blocking threads an idle agent held about 150 MiB it no longer
/// used (heaptrack: 25 MiB live at the same time). A fixed threshold keeps every large block in
/// its own mapping, given back when freed, and one arena holds the rest: the agent allocates
/// on a few threads that seldom run at once (reconcile, key maker, broker), and what one thread
/// freed in its own arena stayed resident, unusable by the others (`tests/bench/mail.sh`, 1,000
/// members × 10 mailboxes: 28.6 MiB resident at idle with two arenas, 25.0 with one, no change
/// in the time per change).
const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.arena_max=1";

/// The allocator reads its tunables from the environment before `main`; setting them in process
/// would need `mallopt`, another unsafe call beside `heap.rs`'s one: the agent runs itself
/// again, once, with them set. If that fails it goes on as it is. Not under a preloaded library (a
/// profiler such as heaptrack, or another allocator): that library owns the allocator, and
/// heaptrack loses what the process does after it runs itself again.
fn with_malloc_tunables() {
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.mmap_threshold") || std::env::var_os("LD_PRELOAD").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = if current.is_empty() {
        MALLOC_TUNABLES.to_owned()
    } else {
        format!("{current}:{MALLOC_TUNABLES}")
    };
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    eprintln!("node-agent: could not run again with glibc's malloc tunables ({err}); going on");
}

fn main() -> ExitCode {
    with_malloc_tunables();
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    // One thread is plenty for an agent that sends a request every few seconds.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("node-agent: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("node-agent: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
