//! Loopback networking helpers. Tests only ever talk to 127.0.0.0/8.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it for a socket bound to
/// port 0, which is then closed). Another process may take it before the caller binds it, which is
/// unlikely enough in a test run.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr().context("local_addr")?.port())
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("nothing listens on {addr} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
