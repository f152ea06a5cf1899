//! The seam between the checks and the network: [`DnsResolver`] answers one query of one
//! name and type; [`HickoryResolver`] does it with hickory-resolver over UDP/TCP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};

/// The record types the checks ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum RecordKind {
    /// Mail exchangers.
    Mx,
    /// Text records (SPF policies among them).
    Txt,
    /// Aliases.
    Cname,
    /// Service locations.
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Cname => "CNAME",
            Self::Srv => "SRV",
            Self::A => "A",
            Self::Aaaa => "AAAA",
        })
    }
}

impl RecordKind {
    fn record_type(self) -> RecordType {
        match self {
            Self::Mx => RecordType::MX,
            Self::Txt => RecordType::TXT,
            Self::Cname => RecordType::CNAME,
            Self::Srv => RecordType::SRV,
            Self::A => RecordType::A,
            Self::Aaaa => RecordType::AAAA,
        }
    }
}

/// The data of one answered record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordData {
    /// An MX record.
    Mx {
        /// Lower is tried first.
        preference: u16,
        /// The exchanger's host name.
        exchange: String,
    },
    /// A TXT record, its strings joined.
    Txt(String),
    /// A CNAME record's target.
    Cname(String),
    /// An SRV record.
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Share among records of the same priority.
        weight: u16,
        /// The service's port.
        port: u16,
        /// The service's host.
        target: String,
    },
    /// An A or AAAA record.
    Address(IpAddr),
}

/// One answered record: its data and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawRecord {
    /// TTL in seconds, as the answer gave it.
    pub ttl: u32,
    /// The record's data.
    pub data: RecordData,
}

impl RawRecord {
    /// A record of `data` with `ttl` seconds.
    pub fn new(ttl: u32, data: RecordData) -> Self {
        Self { ttl, data }
    }
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawAnswer {
    /// Records of the asked type (never empty; an empty answer is `NoData`).
    Records(Vec<RawRecord>),
    /// The name exists without records of that type.
    NoData,
    /// The name does not exist.
    NxDomain,
}

/// Why a query got no answer at all. NXDOMAIN and empty answers are answers
/// ([`RawAnswer`]), not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No nameserver answered in time.
    #[error("no answer in time")]
    Timeout,
    /// Anything else: refused, server failure, unreachable nameserver, malformed name.
    #[error("{0}")]
    Failed(String),
}

/// Answers one DNS query: the checks' only way to the network, so a caller can point them
/// at any nameserver, or answer them without one.
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use mailmigrate_core::campaign::dns::*;
///
/// /// Knows no name at all.
/// #[derive(Debug)]
/// struct Empty;
///
/// #[async_trait]
/// impl DnsResolver for Empty {
///     async fn query(&self, _name: &str, _kind: RecordKind) -> Result<RawAnswer, QueryError> {
///         Ok(RawAnswer::NxDomain)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let records = DnsChecker::new(Arc::new(Empty)).check_domain("acme.example").await.unwrap();
/// assert_eq!(records.mx.status, AnswerStatus::NxDomain);
/// # });
/// ```
#[async_trait]
pub trait DnsResolver: Send + Sync + fmt::Debug {
    /// The records of `kind` that `name` (a fully qualified name, without the trailing dot)
    /// has.
    ///
    /// # Errors
    /// [`QueryError::Timeout`] when no nameserver answered in time, else
    /// [`QueryError::Failed`].
    async fn query(&self, name: &str, kind: RecordKind) -> Result<RawAnswer, QueryError>;
}

/// A [`DnsResolver`] backed by hickory-resolver, over UDP with TCP for truncated answers.
///
/// Its own cache is off, so each check sees the TTLs the nameserver gives at that moment
/// (a caching nameserver in between still counts its TTLs down).
pub struct HickoryResolver {
    inner: TokioResolver,
    label: String,
}

impl fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryResolver")
            .field("nameservers", &self.label)
            .finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// Asks the nameserver at `address` (UDP, and TCP for truncated answers), waiting at
    /// most `timeout` for each of two attempts.
    ///
    /// # Errors
    /// [`QueryError::Failed`] if the resolver cannot be built.
    pub fn nameserver(address: SocketAddr, timeout: Duration) -> Result<Self, QueryError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = address.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = address.port();
        let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_name_servers(vec![server]);
        let builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        Self::build(builder, timeout, address.to_string())
    }

    /// Asks the nameservers of the system's configuration (`/etc/resolv.conf` on Unix),
    /// waiting at most `timeout` for each of two attempts.
    ///
    /// # Errors
    /// [`QueryError::Failed`] if the system configuration cannot be read.
    pub fn system(timeout: Duration) -> Result<Self, QueryError> {
        let builder = TokioResolver::builder_tokio().map_err(failed)?;
        Self::build(builder, timeout, "system".to_owned())
    }

    /// Wraps a resolver the caller configured (its options, cache included, are kept).
    pub fn from_resolver(resolver: TokioResolver) -> Self {
        Self {
            inner: resolver,
            label: "caller-configured".to_owned(),
        }
    }

    fn build(
        mut builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
        timeout: Duration,
        label: String,
    ) -> Result<Self, QueryError> {
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 2;
        options.cache_size = 0;
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        Ok(Self {
            inner: builder.build().map_err(failed)?,
            label,
        })
    }
}

fn failed(e: NetError) -> QueryError {
    QueryError::Failed(e.to_string())
}

#[async_trait]
impl DnsResolver for HickoryResolver {
    async fn query(&self, name: &str, kind: RecordKind) -> Result<RawAnswer, QueryError> {
        // A fully qualified name: no search domains appended.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let wanted = kind.record_type();
        match self.inner.lookup(fqdn.as_str(), wanted).await {
            Ok(lookup) => {
                let records: Vec<RawRecord> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == wanted)
                    .filter_map(|r| Some(RawRecord::new(r.ttl, convert(&r.data)?)))
                    .collect();
                Ok(if records.is_empty() {
                    RawAnswer::NoData
                } else {
                    RawAnswer::Records(records)
                })
            }
            Err(e) if e.is_nx_domain() => Ok(RawAnswer::NxDomain),
            Err(e) if e.is_no_records_found() => Ok(RawAnswer::NoData),
            Err(NetError::Timeout) => Err(QueryError::Timeout),
            Err(NetError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(QueryError::Timeout)
            }
            Err(e) => Err(failed(e)),
        }
    }
}

fn convert(data: &RData) -> Option<RecordData> {
    Some(match data {
        RData::MX(mx) => RecordData::Mx {
            preference: mx.preference,
            exchange: mx.exchange.to_ascii(),
        },
        RData::TXT(txt) => RecordData::Txt(
            txt.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s))
                .collect(),
        ),
        RData::CNAME(cname) => RecordData::Cname(cname.0.to_ascii()),
        RData::SRV(srv) => RecordData::Srv {
            priority: srv.priority,
            weight: srv.weight,
            port: srv.port,
            target: srv.target.to_ascii(),
        },
        RData::A(a) => RecordData::Address(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => RecordData::Address(IpAddr::V6(aaaa.0)),
        _ => return None,
    })
}
