//! Building blocks of the providers' in-process emulators (feature `emulator`): a TCP
//! listener for [axum] whose connections a handler can cut, so a client sees a transport
//! error instead of an HTTP answer — the "dropped request" and "lost reply" faults every
//! emulator injects.
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
