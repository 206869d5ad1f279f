//! End-to-end harness for Ruche: real Postgres, real binaries, real daemons, real clients.
//!
//! One module per thing the harness runs, each usable on its own:
//!
//! - [`process`]: children in their own process group, output captured, killed on drop;
//! - [`postgres`]: throw-away databases on the cluster `tests/run.sh` starts (`DATABASE_URL`);
//! - [`control_plane`]: the `control-plane` binary on a free loopback port;
//! - [`smtp_sink`]: an SMTP server (python3-aiosmtpd) that keeps every message for the test;
//! - [`browser`]: headless Chromium through chromedriver;
//! - [`net`]: free ports and waiting for them.
//!
//! Everything listens on 127.0.0.1 only; nothing here talks to any other address.

pub mod browser;
pub mod control_plane;
pub mod net;
pub mod postgres;
pub mod process;
pub mod smtp_sink;

pub use browser::Browser;
pub use control_plane::ControlPlane;
pub use postgres::TestDatabase;
pub use process::Process;
pub use smtp_sink::{Mail, SmtpSink};
