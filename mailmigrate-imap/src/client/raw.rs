//! Commands read raw, past async-imap's parser, for answers imap-proto 0.17 cannot parse
//! (`NAMESPACE`, `XLIST`), and the raw exchange under them (also `CAPABILITY` before login).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream::Stream;
use super::{Connection, Res};
use crate::error::{ImapError, Status};
use crate::model::{ListedMailbox, Namespace};

impl Connection {
    /// Sends `command` with `tag` straight onto the stream and reads the raw answer up to
    /// the tagged completion, bypassing async-imap's parser. For responses imap-proto 0.17
    /// cannot parse (an unparsable line would close the async-imap stream). Only safe when
    /// async-imap's read buffer is empty: right after login, or on a connection retired
    /// afterwards.
    async fn raw_command(&mut self, tag: &str, command: &str, limit: usize) -> Res<(bool, String)> {
        let timeout = self.timeout;
        let r = raw_exchange(self.session.get_mut(), tag, command, limit, timeout).await;
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    /// `NAMESPACE`, read raw (imap-proto 0.17 has no parser for it). Called right after login.
    pub(super) async fn raw_namespace(&mut self) -> Res<Option<Namespace>> {
        let (ok, text) = self.raw_command("mmns", "NAMESPACE", 64 * 1024).await?;
        if !ok {
            return Ok(None);
        }
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("* NAMESPACE "))
            .and_then(Namespace::parse_personal))
    }

    /// `XLIST`, read raw (imap-proto 0.17 cannot parse `* XLIST`), for servers that have it
    /// but not SPECIAL-USE. The connection is retired afterwards.
    pub(crate) async fn xlist(&mut self) -> Res<Vec<ListedMailbox>> {
        let result = self
            .raw_command("mmxl", "XLIST \"\" \"*\"", 16 * 1024 * 1024)
            .await;
        self.broken = true;
        let (ok, text) = result?;
        if !ok {
            return Err(ImapError::status(Status::No, None, Some("XLIST failed")));
        }
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("* XLIST "))
            .filter_map(ListedMailbox::parse_raw)
            .collect())
    }
}

/// Writes `tag command` on the raw stream and reads up to the tagged completion.
pub(super) async fn raw_exchange(
    stream: &mut Stream,
    tag: &str,
    command: &str,
    limit: usize,
    timeout: Duration,
) -> Res<(bool, String)> {
    let io = async {
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        stream.flush().await?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 4096];
        let done = format!("{tag} ");
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > limit {
                return Err(io::Error::other("response too long"));
            }
            if !buf.ends_with(b"\n") {
                continue;
            }
            if let Some(line) = buf
                .split(|&b| b == b'\n')
                .find(|l| l.starts_with(done.as_bytes()))
            {
                let ok = line[done.len()..].starts_with(b"OK");
                return Ok((ok, String::from_utf8_lossy(&buf).into_owned()));
            }
        }
    };
    match tokio::time::timeout(timeout, io).await {
        Err(_) => Err(ImapError::Timeout(timeout)),
        Ok(Err(e)) => Err(ImapError::io(&e)),
        Ok(Ok(v)) => Ok(v),
    }
}
