//! The byte stream under a session: plain TCP or rustls over TCP, with writes buffered.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The byte stream under a session: plain TCP or rustls over TCP, with writes buffered.
///
/// async-imap writes a command as tag, space, text and CRLF in four writes, then flushes;
/// unbuffered, each became its own `send` (and TLS record). Every write path here and in
/// async-imap flushes before it waits for the server, so buffering only coalesces.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(BufWriter<TcpStream>),
    Tls(Box<BufWriter<TlsStream<TcpStream>>>),
}

/// Bytes gathered before a write reaches the socket (larger literals bypass the buffer).
const WRITE_BUFFER: usize = 64 * 1024;

impl Stream {
    pub(super) fn plain(tcp: TcpStream) -> Self {
        Self::Plain(BufWriter::with_capacity(WRITE_BUFFER, tcp))
    }

    pub(super) fn tls(tls: TlsStream<TcpStream>) -> Self {
        Self::Tls(Box::new(BufWriter::with_capacity(WRITE_BUFFER, tls)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
