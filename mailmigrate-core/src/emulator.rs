//! Building blocks of the providers' in-process emulators (feature `emulator`): a TCP
//! listener for [axum] whose connections a handler can cut, so a client sees a transport
//! error instead of an HTTP answer — the "dropped request" and "lost reply" faults every
//! emulator injects — and the queue of armed faults ([`FaultQueue`]) each emulator's
//! fault hooks keep.
//!
//! ```no_run
//! use axum::extract::ConnectInfo;
//! use axum::routing::get;
//! use mailmigrate_core::emulator::{ConnKill, KillableListener};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = axum::Router::new().route(
//!     "/",
//!     get(|ConnectInfo(kill): ConnectInfo<ConnKill>| async move {
//!         kill.kill(); // the client never gets this answer
//!         "lost"
//!     }),
//! );
//! let listener = KillableListener(tokio::net::TcpListener::bind("127.0.0.1:0").await?);
//! axum::serve(listener, app.into_make_service_with_connect_info::<ConnKill>()).await?;
//! # Ok(())
//! # }
//! # let _ = run;
//! ```

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections and wraps each in a [`KillableStream`].
#[derive(Debug)]
pub struct KillableListener(pub TcpListener);

/// A TCP stream that fails every read and write once its switch is thrown: hyper then drops
/// the connection without writing a byte of the response.
#[derive(Debug)]
pub struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

/// The switch of the connection a request arrived on (axum connect info).
#[derive(Debug, Clone)]
pub struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    /// Cuts the connection: the response the handler returns is never written.
    pub fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    let _ = inner.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (KillableStream { inner, kill }, addr);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self(Arc::clone(&stream.io().kill))
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "emulator fault: connection cut",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A fault an emulator can arm: whether it acts on the connection (dropped before the
/// request is handled, or after, losing the reply) or on the answer.
pub trait ArmedFault: Clone + std::fmt::Debug + Send + 'static {
    /// Whether the fault acts on the connection rather than the answer.
    fn is_connection(&self) -> bool;
}

/// Which requests an armed fault fires on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Matching {
    /// The method (any case); `None`: every method.
    pub method: Option<String>,
    /// A fragment of the path, or the whole path when `exact`; `None`: every path.
    pub path: Option<String>,
    /// Whether `path` must be the request's path exactly.
    pub exact: bool,
    /// Matching requests let through before the fault fires.
    pub skip: usize,
}

impl Matching {
    /// Requests with `method` (empty: any) whose path contains `path` (empty: any), after
    /// `skip` of them.
    pub fn containing(method: &str, path: &str, skip: usize) -> Self {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            method: non_empty(method).map(|m| m.to_ascii_uppercase()),
            path: non_empty(path),
            exact: false,
            skip,
        }
    }

    /// Requests with `method` whose path is `path` exactly, after `skip` of them.
    pub fn exactly(method: &str, path: &str, skip: usize) -> Self {
        Self {
            exact: true,
            ..Self::containing(method, path, skip)
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| {
                if self.exact {
                    path == p
                } else {
                    path.contains(p)
                }
            })
    }
}

/// The faults armed on an emulator: each fires on the next `n` requests it matches, after
/// the ones it lets through, then disarms.
///
/// ```
/// use mailmigrate_core::emulator::{ArmedFault, FaultQueue, Matching};
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum Fault { Drop, Fail(u16) }
/// impl ArmedFault for Fault {
///     fn is_connection(&self) -> bool { matches!(self, Fault::Drop) }
/// }
/// let q = FaultQueue::default();
/// q.arm(Matching::containing("PUT", "/upload/", 1), 1, Fault::Fail(503));
/// assert_eq!(q.take(false, "PUT", "/upload/abc"), None); // the first one passes
/// assert_eq!(q.take(false, "PUT", "/upload/abc"), Some(Fault::Fail(503)));
/// assert_eq!(q.remaining(), 0);
/// q.arm(Matching::containing("", "", 0), 1, Fault::Drop);
/// assert_eq!(q.take(false, "GET", "/x"), None, "a connection fault is not an answer's");
/// assert_eq!(q.take(true, "GET", "/x"), Some(Fault::Drop));
/// ```
#[derive(Debug)]
pub struct FaultQueue<F>(Mutex<Vec<(F, Matching, usize)>>);

impl<F> Default for FaultQueue<F> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<F: ArmedFault> FaultQueue<F> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(F, Matching, usize)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Arms `fault` for `n` requests that `matching` selects (none when `n` is 0).
    pub fn arm(&self, matching: Matching, n: usize, fault: F) {
        if n > 0 {
            self.lock().push((fault, matching, n));
        }
    }

    /// Takes the first armed fault of the wanted stage (`connection` or answer) that
    /// fires on this request; a request a fault lets through counts towards its skip.
    pub fn take(&self, connection: bool, method: &str, path: &str) -> Option<F> {
        let mut armed = self.lock();
        let mut fire = None;
        for (i, (fault, m, _)) in armed.iter_mut().enumerate() {
            if fault.is_connection() != connection || !m.matches(method, path) {
                continue;
            }
            if m.skip > 0 {
                m.skip -= 1;
                continue;
            }
            fire = Some(i);
            break;
        }
        let i = fire?;
        let fault = armed[i].0.clone();
        armed[i].2 -= 1;
        if armed[i].2 == 0 {
            armed.remove(i);
        }
        Some(fault)
    }

    /// How many firings the armed faults have left: 0 once every fault has fired.
    pub fn remaining(&self) -> usize {
        self.lock().iter().map(|(_, _, n)| n).sum()
    }

    /// Disarms every pending fault.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
