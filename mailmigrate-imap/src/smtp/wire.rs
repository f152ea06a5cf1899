//! The SMTP/LMTP conversation (RFC 5321, RFC 2033): replies, commands, dot-stuffing.

use std::time::Duration;

use mailmigrate_core::{Error, ErrorKind, Operation};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// The most a reply may hold, all lines together: a server sending more is broken.
const MAX_REPLY: usize = 64 * 1024;

pub(super) const PROVIDER: &str = "smtp";

/// One reply: its code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }

    /// The EHLO/LHLO keywords, upper-case (`STARTTLS`, `AUTH PLAIN LOGIN`).
    pub(super) fn extensions(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .map(|l| l.trim().to_ascii_uppercase())
            .collect()
    }
}

pub(super) fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, message)
        .with_provider(PROVIDER)
        .with_operation(Operation::Append)
}

/// What a refusal means: 4xx passes later, 5xx does not.
fn refusal(step: &str, reply: &Reply) -> Error {
    let kind = match (step, reply.code) {
        (_, 400..=499) => ErrorKind::Unavailable,
        ("AUTH", _) | (_, 530 | 535) => ErrorKind::Unauthenticated,
        ("RCPT", 550..=553) => ErrorKind::NotFound,
        ("DATA", 552) => ErrorKind::MessageTooLarge,
        ("DATA", _) => ErrorKind::InvalidMessage,
        _ => ErrorKind::Unexpected,
    };
    let e = error(kind, format!("{step} refused: {}", reply.text()));
    if reply.code < 500 {
        e.temporary()
    } else {
        e
    }
}

/// One connection, plain or TLS.
pub(super) struct Conn<S> {
    io: BufReader<S>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(super) fn new(stream: S, timeout: Duration) -> Self {
        Self {
            io: BufReader::new(stream),
            timeout,
        }
    }

    /// The stream, for STARTTLS (nothing is buffered after the 220 reply to it).
    pub(super) fn into_inner(self) -> S {
        self.io.into_inner()
    }

    /// Reads one (possibly multi-line) reply.
    pub(super) async fn reply(&mut self) -> Result<Reply, Error> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.read_reply())
            .await
            .unwrap_or_else(|_| {
                Err(error(
                    ErrorKind::Unavailable,
                    format!("no reply within {timeout:?}"),
                )
                .temporary())
            })
    }

    async fn read_reply(&mut self) -> Result<Reply, Error> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let mut line = String::new();
            let n = self.io.read_line(&mut line).await.map_err(|e| {
                error(ErrorKind::Unavailable, format!("read failed: {e}")).temporary()
            })?;
            if n == 0 {
                return Err(
                    error(ErrorKind::Unavailable, "the server closed the connection").temporary(),
                );
            }
            total += n;
            if total > MAX_REPLY {
                return Err(error(
                    ErrorKind::Unexpected,
                    "the server's reply is too long",
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    error(
                        ErrorKind::Unexpected,
                        format!("not an SMTP reply: {line:?}"),
                    )
                })?;
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Writes raw bytes and flushes.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let timeout = self.timeout;
        let io = self.io.get_mut();
        let w = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        match tokio::time::timeout(timeout, w).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                Err(error(ErrorKind::Unavailable, format!("write failed: {e}")).temporary())
            }
            Err(_) => Err(error(
                ErrorKind::Unavailable,
                format!("write stalled for {timeout:?}"),
            )
            .temporary()),
        }
    }

    /// Sends a command line and reads the reply, which must be of class 2 or 3.
    pub(super) async fn command(&mut self, step: &str, line: &str) -> Result<Reply, Error> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        let reply = self.reply().await?;
        if reply.code >= 400 {
            return Err(refusal(step, &reply));
        }
        Ok(reply)
    }

    /// The greeting, which must be 220.
    pub(super) async fn greeting(&mut self) -> Result<(), Error> {
        let reply = self.reply().await?;
        if reply.code != 220 {
            return Err(refusal("greeting", &reply));
        }
        Ok(())
    }

    /// The message data after `DATA`'s 354, dot-stuffed, then the replies: one for SMTP,
    /// one per accepted recipient for LMTP (RFC 2033 §4.2).
    pub(super) async fn data(&mut self, message: &[u8], replies: usize) -> Result<(), Error> {
        let reply = self.command("DATA", "DATA").await?;
        if reply.code != 354 {
            return Err(refusal("DATA", &reply));
        }
        self.write(&dot_stuff(message)).await?;
        let mut first = None;
        for _ in 0..replies.max(1) {
            let reply = self.reply().await?;
            if reply.code >= 400 && first.is_none() {
                first = Some(refusal("DATA", &reply));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The message as DATA sends it: CRLF line ends, a line starting with `.` doubled, ended
/// by `.` alone on a line.
pub(super) fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Base64 (RFC 4648, with padding) for `AUTH PLAIN`.
pub(super) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(dot_stuff(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n.\r\n");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\0u\0p"), "AHUAcA==");
    }

    #[tokio::test]
    async fn multi_line_replies_and_refusals() {
        let (client, mut server) = tokio::io::duplex(4096);
        let mut c = Conn::new(client, Duration::from_secs(5));
        server
            .write_all(b"250-mx.example hello\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n550 5.1.1 no such user\r\n")
            .await
            .unwrap();
        let r = c.reply().await.unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.extensions(), ["STARTTLS", "AUTH PLAIN"]);
        let e = c.command("RCPT", "RCPT TO:<x@y>").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_temporary());
    }
}
