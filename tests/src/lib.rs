//! End-to-end harness for Ruche: real Postgres, real binaries, real daemons, real clients.
//!
//! One module per thing the harness runs, each usable on its own:
//!
//! - [`process`]: children in their own process group, output captured, killed on drop;
//! - [`postgres`]: throw-away databases on the cluster `tests/run.sh` starts (`DATABASE_URL`);
//! - [`cluster`]: a private Postgres cluster a test may stop and start (`deploy/pg.sh`);
//! - [`control_plane`]: the `control-plane` binary on a free loopback port;
//! - [`node_agent`]: the `node-agent` binary, joining and reporting to a control plane;
//! - [`smtp_sink`]: an SMTP server (python3-aiosmtpd) that keeps every message for the test;
//! - [`browser`]: headless Chromium through chromedriver;
//! - [`http`]: a plain HTTP client of the portal and the API that keeps `__Host-` cookies;
//! - [`https`]: one HTTPS request, the chain verified against a given CA, the leaf returned;
//! - [`net`]: free ports and waiting for them;
//! - [`mail_node`]: a whole mail node (agent, Postfix, Dovecot, rspamd, Redis) on one 127.0.0.x;
//! - [`tls`]: a throw-away CA and server certificates (`openssl`);
//! - [`imap`], [`submission`]: real IMAP and SMTP clients that trust only the test CA;
//! - [`dkim`]: DKIM verification against a given TXT record (python3-dkim);
//! - [`knot`]: standalone Knot servers the test configures (a registrar, an external secondary);
//! - [`dns_node`]: a DNS node (agent and knotd, no mail daemons) on one 127.0.0.x;
//! - [`dns_client`]: DNS queries (hickory-proto) with DNSSEC checks, and AXFR through kdig;
//! - [`nginx`]: the nodes' web front; [`pebble`]: the ACME test CA and the world's DNS.
//!
//! Everything listens on loopback only (127.0.0.1, and 127.0.0.x for nodes); nothing here
//! talks to any other address.

pub mod browser;
pub mod cluster;
pub mod control_plane;
pub mod dkim;
pub mod dns_client;
pub mod dns_node;
pub mod http;
pub mod https;
pub mod imap;
pub mod knot;
pub mod mail_node;
pub mod net;
pub mod nginx;
pub mod node_agent;
pub mod pebble;
pub mod postgres;
pub mod process;
pub mod smtp_sink;
pub mod submission;
pub mod tls;

pub use browser::Browser;
pub use cluster::PgCluster;
pub use control_plane::ControlPlane;
pub use dns_node::DnsNode;
pub use http::HttpClient;
pub use mail_node::MailNode;
pub use postgres::TestDatabase;
pub use process::{CliOutput, Process};
pub use smtp_sink::{Mail, SmtpSink};
