//! A TCP proxy on 127.0.0.1 that injects one fault into the connections of a client (a
//! backend under test, a `migrate` process) to its server.
//!
//! Conformance cases use it through [`Harness::with_wire`](super::Harness::with_wire) to
//! lose a reply on the real wire; end-to-end tests put it between a real process and a real
//! server. It runs on plain threads, so it works inside or outside a tokio runtime.
//!
//! It forwards every connection to the upstream server and watches the bytes clients send.
//! The connection whose bytes reach the fault's [`Trigger`] (a number of bytes over all
//! connections, or a marker) gets the fault, once:
//! - [`Cut::Close`]: the server receives the bytes up to the trigger, then both sides of
//!   that connection are closed (a connection cut mid-command, typically inside a
//!   MULTIAPPEND literal: the server discards the whole command);
//! - [`Cut::Deaf`]: the client's bytes keep reaching the server for [`DEAF_FOR`], but the
//!   server's replies are dropped, then both sides are closed (the lost-reply case: the
//!   server stored what the client will never hear about);
//! - [`Cut::Swallow`]: the server receives the bytes up to the trigger; the client's later
//!   bytes and the server's replies are dropped for [`DEAF_FOR`], then both sides are
//!   closed (a lost write whose client finished sending: it cannot tell whether the
//!   server stored it, and the server did not).
//!
//! Afterwards the proxy either [`Refuse`](Afterwards::Refuse)s: it closes every other
//! connection and every new one at once (the destination is gone for the rest of the run),
//! or lets them [`Pass`](Afterwards::Pass) (the run can recover by itself).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How long a deaf connection keeps forwarding the client's bytes before it closes.
pub const DEAF_FOR: Duration = Duration::from_secs(1);

/// What happens to the connection that crosses the byte threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Close both sides right at the threshold.
    Close,
    /// Forward the client, drop the server's replies, then close.
    Deaf,
    /// Drop the client's later bytes and the server's replies, then close.
    Swallow,
}

/// What the proxy does with the other connections once the fault has happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Afterwards {
    /// Close them and every new one.
    Refuse,
    /// Keep forwarding.
    Pass,
}

/// Where in the clients' bytes the fault happens.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Never: the proxy only forwards (and counts the bytes).
    Never,
    /// After this many client→server bytes, counted over all connections.
    AfterBytes(u64),
    /// Right after the first occurrence of these bytes in a connection's client→server
    /// stream (say, a header of one particular message, mid-literal).
    AfterMarker(Bytes),
}

impl Trigger {
    /// Where in `chunk` the fault happens, if it does: `before` client bytes (over all
    /// connections) came before it, and `tail` holds this connection's last bytes (for a
    /// marker split between reads; updated here).
    fn cut_point(&self, before: u64, chunk: &[u8], tail: &mut Vec<u8>) -> Option<usize> {
        match self {
            Self::Never => None,
            &Self::AfterBytes(n) => {
                (before + chunk.len() as u64 > n).then(|| n.saturating_sub(before) as usize)
            }
            Self::AfterMarker(marker) if marker.is_empty() => Some(0),
            Self::AfterMarker(marker) => {
                let carried = tail.len();
                tail.extend_from_slice(chunk);
                let found = tail
                    .windows(marker.len())
                    .position(|w| w == marker)
                    .map(|at| (at + marker.len()).saturating_sub(carried));
                let keep = tail.len().saturating_sub(marker.len() - 1);
                tail.drain(..keep);
                found
            }
        }
    }
}

/// The one fault a proxy injects.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What happens to the connection that reaches the trigger.
    pub cut: Cut,
    /// Where in the clients' bytes it happens.
    pub at: Trigger,
    /// What happens to the other connections afterwards.
    pub afterwards: Afterwards,
}

impl Fault {
    /// The fault `cut` right after the first occurrence of `marker` in a connection's
    /// client bytes, later connections passing.
    pub fn after_marker(cut: Cut, marker: impl Into<Bytes>) -> Self {
        Self {
            cut,
            at: Trigger::AfterMarker(marker.into()),
            afterwards: Afterwards::Pass,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = match self.cut {
            Cut::Close => "connection closed",
            Cut::Deaf => "replies dropped",
            Cut::Swallow => "the rest of the upload and the replies dropped",
        };
        match &self.at {
            Trigger::Never => return write!(f, "no fault"),
            Trigger::AfterBytes(n) => write!(f, "{cut} after {n} client bytes")?,
            Trigger::AfterMarker(m) => {
                write!(f, "{cut} right after {:?}", String::from_utf8_lossy(m))?;
            }
        }
        match self.afterwards {
            Afterwards::Refuse => write!(f, ", then the destination refused"),
            Afterwards::Pass => write!(f, ", later connections pass"),
        }
    }
}

/// A running proxy; dropping it closes every connection.
///
/// # Examples
/// A reply lost after the request reached the server:
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use mailmigrate_core::testkit::proxy::{Cut, Fault, Proxy};
///
/// // A server that answers "OK" to everything.
/// let server = TcpListener::bind("127.0.0.1:0").unwrap();
/// let upstream = server.local_addr().unwrap();
/// std::thread::spawn(move || {
///     let (mut conn, _) = server.accept().unwrap();
///     let mut buf = [0u8; 64];
///     while conn.read(&mut buf).is_ok_and(|n| n > 0) {
///         let _ = conn.write_all(b"OK\r\n");
///     }
/// });
///
/// let proxy = Proxy::start(upstream, Fault::after_marker(Cut::Deaf, &b"STORE"[..])).unwrap();
/// let mut client = TcpStream::connect(proxy.addr()).unwrap();
/// client.write_all(b"STORE this\r\n").unwrap();
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply).unwrap(); // closed after `DEAF_FOR`
/// assert!(reply.is_empty(), "the reply was dropped");
/// assert!(proxy.tripped());
/// ```
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    fault: Fault,
    sent: AtomicU64,
    tripped: AtomicBool,
    refusing: AtomicBool,
    stopping: AtomicBool,
    /// Both sockets of every open connection, by connection number.
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
    connections: AtomicU64,
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port, forwarding to `upstream`.
    pub fn start(upstream: SocketAddr, fault: Fault) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream,
            fault,
            sent: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(&listener, &shared))
        };
        Ok(Self {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// A proxy that only forwards, counting the bytes clients send.
    pub fn counting(upstream: SocketAddr) -> io::Result<Self> {
        let fault = Fault {
            cut: Cut::Close,
            at: Trigger::Never,
            afterwards: Afterwards::Pass,
        };
        Self::start(upstream, fault)
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address clients connect to (127.0.0.1 and [`port`](Self::port)).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether the fault has happened.
    pub fn tripped(&self) -> bool {
        self.shared.tripped.load(Ordering::SeqCst)
    }

    /// Client→server bytes seen so far.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.close_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.refusing.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let _ = serve(client, &shared);
        });
    }
}

/// Forwards one connection: replies on a thread of their own, requests on this one.
fn serve(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let server = TcpStream::connect(shared.upstream)?;
    let id = shared.register(&client, &server)?;
    let deaf = Arc::new(AtomicBool::new(false));
    let replies = {
        let (from, to, deaf) = (server.try_clone()?, client.try_clone()?, Arc::clone(&deaf));
        thread::spawn(move || forward_replies(from, to, &deaf))
    };
    let result = forward_requests(&client, &server, &deaf, shared);
    close(&client, &server);
    let _ = replies.join();
    shared.open.lock().expect("proxy lock").remove(&id);
    result
}

fn forward_replies(mut server: TcpStream, mut client: TcpStream, deaf: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = server.read(&mut buf) {
        if n == 0 {
            break;
        }
        if !deaf.load(Ordering::SeqCst) && client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    close(&client, &server);
}

fn forward_requests(
    mut client: &TcpStream,
    mut server: &TcpStream,
    deaf: &AtomicBool,
    shared: &Shared,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail = Vec::new();
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 || shared.refusing.load(Ordering::SeqCst) {
            return Ok(());
        }
        let before = shared.sent.fetch_add(n as u64, Ordering::SeqCst);
        if !shared.tripped.load(Ordering::SeqCst) {
            let cut = shared.fault.at.cut_point(before, &buf[..n], &mut tail);
            if let Some(keep) = cut.filter(|_| !shared.tripped.swap(true, Ordering::SeqCst)) {
                return shared.inject(&buf[..n], keep, client, server, deaf);
            }
        }
        server.write_all(&buf[..n])?;
    }
}

impl Shared {
    /// Keeps a handle on both sockets of a new connection, so that they can be closed
    /// from elsewhere; returns the connection's number.
    fn register(&self, client: &TcpStream, server: &TcpStream) -> io::Result<u64> {
        let sockets = [client.try_clone()?, server.try_clone()?];
        let id = self.connections.fetch_add(1, Ordering::SeqCst);
        self.open.lock().expect("proxy lock").insert(id, sockets);
        Ok(id)
    }

    fn close_all(&self) {
        for [a, b] in self.open.lock().expect("proxy lock").values() {
            close(a, b);
        }
    }

    /// The fault, on the connection whose `chunk` reached the trigger after its first
    /// `keep` bytes.
    fn inject(
        &self,
        chunk: &[u8],
        keep: usize,
        client: &TcpStream,
        mut server: &TcpStream,
        deaf: &AtomicBool,
    ) -> io::Result<()> {
        match self.fault.cut {
            Cut::Close => server.write_all(&chunk[..keep.min(chunk.len())])?,
            Cut::Deaf => {
                deaf.store(true, Ordering::SeqCst);
                server.write_all(chunk)?;
                keep_reading(client, Some(server), Instant::now() + DEAF_FOR)?;
            }
            Cut::Swallow => {
                deaf.store(true, Ordering::SeqCst);
                server.write_all(&chunk[..keep.min(chunk.len())])?;
                keep_reading(client, None, Instant::now() + DEAF_FOR)?;
            }
        }
        close(client, server);
        if self.fault.afterwards == Afterwards::Refuse {
            self.refusing.store(true, Ordering::SeqCst);
            self.close_all();
        }
        Ok(())
    }
}

/// Reads the client's bytes until `deadline`, forwarding them to `server` if given.
fn keep_reading(
    mut client: &TcpStream,
    mut server: Option<&TcpStream>,
    deadline: Instant,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        client.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(server) = server.as_mut() {
                    server.write_all(&buf[..n])?;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}
