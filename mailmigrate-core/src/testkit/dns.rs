//! A DNS zone served on 127.0.0.1 for tests of DNS readiness (feature `testkit-dns`):
//! authoritative answers with chosen TTLs from hickory-server, on an ephemeral port over
//! UDP and TCP — never the internet.
//!
//! ```
//! use mailmigrate_core::testkit::dns::Zone;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dns = Zone::new("acme.test").mx(10, "mx1.oldmail.test.", 300).serve().await;
//! let records = dns.checker().check_domain("acme.test").await.unwrap();
//! assert_eq!(records.mx.records[0].ttl, 300);
//! # });
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::rr::rdata::{A, CNAME, MX, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use crate::campaign::dns::DnsChecker;

/// The records of one test zone.
#[derive(Debug)]
pub struct Zone {
    domain: String,
    records: Vec<Record>,
}

impl Zone {
    /// A zone for `domain` holding only its SOA.
    pub fn new(domain: &str) -> Self {
        let mut zone = Self {
            domain: domain.trim_end_matches('.').to_owned(),
            records: Vec::new(),
        };
        let soa = SOA::new(
            zone.name("ns"),
            zone.name("hostmaster"),
            1,
            3600,
            600,
            86_400,
            60,
        );
        let apex = zone.name("");
        zone.records
            .push(Record::from_rdata(apex, 3600, RData::SOA(soa)));
        zone
    }

    /// `n` as a name: empty for the apex, relative to the zone, or absolute with a dot.
    fn name(&self, n: &str) -> Name {
        let fqdn = if n.is_empty() {
            format!("{}.", self.domain)
        } else if n.ends_with('.') {
            n.to_owned()
        } else {
            format!("{n}.{}.", self.domain)
        };
        Name::from_str(&fqdn).unwrap_or_else(|e| panic!("{fqdn:?} is not a name: {e}"))
    }

    /// Adds a record at `owner` (relative, or absolute with a trailing dot).
    #[must_use]
    pub fn with(mut self, owner: &str, ttl: u32, data: RData) -> Self {
        let owner = self.name(owner);
        self.records.push(Record::from_rdata(owner, ttl, data));
        self
    }

    /// Adds an MX record at the apex.
    #[must_use]
    pub fn mx(self, preference: u16, exchange: &str, ttl: u32) -> Self {
        let exchange = self.name(exchange);
        self.with("", ttl, RData::MX(MX::new(preference, exchange)))
    }

    /// Adds a TXT record at the apex.
    #[must_use]
    pub fn txt(self, text: &str, ttl: u32) -> Self {
        self.with("", ttl, RData::TXT(TXT::new(vec![text.to_owned()])))
    }

    /// Adds a CNAME at `owner`.
    #[must_use]
    pub fn cname(self, owner: &str, target: &str, ttl: u32) -> Self {
        let target = self.name(target);
        self.with(owner, ttl, RData::CNAME(CNAME(target)))
    }

    /// Adds an A record at `owner`.
    #[must_use]
    pub fn a(self, owner: &str, ip: Ipv4Addr, ttl: u32) -> Self {
        self.with(owner, ttl, RData::A(A(ip)))
    }

    /// Adds the `_autodiscover._tcp` SRV record pointing at `target`:443.
    #[must_use]
    pub fn autodiscover_srv(self, target: &str, ttl: u32) -> Self {
        let target = self.name(target);
        self.with(
            "_autodiscover._tcp",
            ttl,
            RData::SRV(SRV::new(0, 0, 443, target)),
        )
    }

    /// Serves the zone on 127.0.0.1 (UDP and TCP on the same ephemeral port) until the
    /// returned handle is dropped.
    ///
    /// # Panics
    /// When a record is refused or no loopback port is free for both protocols.
    pub async fn serve(self) -> RunningZone {
        let apex = self.name("");
        let mut handler: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(apex.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        for record in self.records {
            assert!(handler.upsert_mut(record, 1), "record refused by the zone");
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(apex), vec![Arc::new(handler)]);
        let mut server = Server::new(catalog);
        let (udp, tcp) = bind_pair().await;
        let address = udp.local_addr().expect("a bound socket has an address");
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 16);
        RunningZone { server, address }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await else {
            continue;
        };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if let Ok(tcp) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// A zone being served; dropping it stops the server.
pub struct RunningZone {
    server: Server<Catalog>,
    address: SocketAddr,
}

impl std::fmt::Debug for RunningZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningZone")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RunningZone {
    /// Where the zone answers.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A checker asking this server only (5 s timeout).
    ///
    /// # Panics
    /// When the resolver cannot be built.
    pub fn checker(&self) -> DnsChecker {
        let _ = &self.server;
        DnsChecker::with_nameserver(self.address)
            .expect("a resolver for a loopback nameserver")
            .with_timeout(Duration::from_secs(5))
    }
}
