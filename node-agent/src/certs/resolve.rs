//! The two DNS questions the certificates ask: does the world resolve a name to this node
//! (before asking the CA to check it over HTTP), and does our own name server already serve a
//! DNS-01 challenge (before telling the CA to look).
//!
//! No cache: each question is about now (a record just published, an A record just changed).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use protocol::names::DomainName;

/// Per query and server.
const TIMEOUT: Duration = Duration::from_secs(3);

pub struct Resolver(TokioResolver);

impl Resolver {
    /// Asks `servers` (UDP, then TCP), or the system's resolvers when there are none.
    pub fn new(servers: &[SocketAddr]) -> Result<Resolver, String> {
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("the system's DNS configuration cannot be read: {e}"))?
        } else {
            let servers = servers.iter().map(|a| name_server(*a)).collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.timeout = TIMEOUT;
        options.attempts = 2;
        options.try_tcp_on_error = true;
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        options.cache_size = 0;
        builder
            .build()
            .map(Resolver)
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))
    }

    /// The addresses `name` resolves to (A and AAAA, CNAMEs followed); empty when it has none.
    pub async fn addresses(&self, name: &DomainName) -> Result<Vec<IpAddr>, String> {
        let fqdn = fqdn(name.as_str())?;
        let mut out = Vec::new();
        for kind in [RecordType::A, RecordType::AAAA] {
            for data in self.ask(&fqdn, kind).await? {
                match data {
                    RData::A(a) => out.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Each TXT record at `name`, its strings joined.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = fqdn(name)?;
        Ok(self
            .ask(&fqdn, RecordType::TXT)
            .await?
            .into_iter()
            .filter_map(|data| match data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The data of the answers of `kind`; none when the name or the type has none.
    async fn ask(&self, name: &Name, kind: RecordType) -> Result<Vec<RData>, String> {
        use hickory_resolver::net::{DnsError, NetError};
        match self.0.lookup(name.clone(), kind).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == kind)
                .map(|r| r.data.clone())
                .collect()),
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Ok(Vec::new()),
            Err(e) => Err(format!("{name} {kind}: {e}")),
        }
    }
}

fn fqdn(name: &str) -> Result<Name, String> {
    Name::from_ascii(format!("{name}.")).map_err(|e| format!("{name}: {e}"))
}

fn name_server(address: SocketAddr) -> NameServerConfig {
    let connection = |protocol| {
        let mut c = ConnectionConfig::new(protocol);
        c.port = address.port();
        c
    };
    NameServerConfig::new(
        address.ip(),
        true,
        vec![
            connection(ProtocolConfig::Udp),
            connection(ProtocolConfig::Tcp),
        ],
    )
}
