//! Answers read at wire speed into a spool, then read back at the reader's speed.
//!
//! A listing of a whole collection is consumed as slowly as the engine takes changes (it
//! fetches and writes a batch between two reads), but a server does not wait: Radicale
//! closes a connection left unread for 30 s. So the body of a listing is read as fast as
//! it arrives into a [`Spool`] — memory up to [`IN_MEMORY`] bytes, then an anonymous
//! temporary file (unlinked on creation, gone when closed, in the system's temporary
//! directory: `TMPDIR`) — and the connection goes back to the pool. The listing parses the
//! spool afterwards, one response at a time, so what it holds stays bounded either way.

use std::io::{self, SeekFrom};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use mailmigrate_core::{Error, ErrorKind};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufReader, BufWriter};

use crate::http::{causes, unavailable, Body, PROVIDER};

/// The most bytes of an answer kept in memory; a longer one is spooled to a file.
pub(crate) const IN_MEMORY: usize = 256 << 10;

/// The buffer of the spool file, for writing and for reading back.
const FILE_BUFFER: usize = 64 << 10;

/// Why an answer could not be spooled.
#[derive(Debug)]
pub(crate) enum SpoolError {
    /// The transport failed before the answer ended (the connection closed early, a read
    /// timed out).
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// The answer is longer than the cap (the cap, in bytes).
    TooLong(u64),
    /// The spool file could not be created, written or read back (a full disk).
    Disk(io::Error),
}

impl SpoolError {
    /// The core error of a failure to spool the answer to `what` ("REPORT /u/c/"):
    /// a transport failure is `Unavailable` and temporary (the listing is a read, asking
    /// again is safe); an answer over the cap is `Unexpected`, and so is a disk failure,
    /// both permanent (asking again fails the same way until someone acts).
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            Self::Transport(e) => unavailable(
                what,
                format!("the answer broke off: {}", causes(&*e)),
                false,
            ),
            Self::TooLong(max) => Error::new(
                ErrorKind::Unexpected,
                format!("the answer to {what} is longer than {max} bytes"),
            )
            .with_provider(PROVIDER),
            Self::Disk(e) => Error::new(
                ErrorKind::Unexpected,
                format!("the temporary file spooling the answer to {what} failed: {e}"),
            )
            .with_provider(PROVIDER)
            .with_source(e),
        }
    }
}

/// Where the bytes read so far are.
#[derive(Debug)]
enum Spool {
    /// In memory, at most [`IN_MEMORY`] bytes.
    Memory(Vec<u8>),
    /// In an anonymous temporary file.
    File(BufWriter<tokio::fs::File>),
}

impl Spool {
    /// Adds `chunk`, moving to a file when memory would hold more than [`IN_MEMORY`].
    async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Self::Memory(held) = self {
            if held.len() + chunk.len() <= IN_MEMORY {
                held.extend_from_slice(chunk);
                return Ok(());
            }
            let mut file = BufWriter::with_capacity(FILE_BUFFER, temp_file().await?);
            file.write_all(held).await?;
            *self = Self::File(file);
        }
        if let Self::File(file) = self {
            file.write_all(chunk).await?;
        }
        Ok(())
    }

    /// The bytes written, to read from the start.
    async fn into_body(self) -> io::Result<Body> {
        match self {
            Self::Memory(held) => Ok(Box::pin(io::Cursor::new(held))),
            Self::File(mut file) => {
                file.flush().await?;
                let mut file = file.into_inner();
                file.seek(SeekFrom::Start(0)).await?;
                Ok(Box::pin(BufReader::with_capacity(FILE_BUFFER, file)))
            }
        }
    }
}

/// An anonymous temporary file (no name on disk: nothing is left behind, whatever ends
/// the process).
async fn temp_file() -> io::Result<tokio::fs::File> {
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(io::Error::other)??;
    Ok(tokio::fs::File::from_std(file))
}

/// Reads `chunks` to their end into a spool of at most `max` bytes, and returns it to read
/// from the start.
///
/// # Errors
/// [`SpoolError::Transport`] when a chunk fails, [`SpoolError::TooLong`] past `max`
/// bytes, [`SpoolError::Disk`] when the spool file fails.
pub(crate) async fn spool<S, E>(chunks: S, max: u64) -> Result<Body, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut chunks = std::pin::pin!(chunks);
    let mut spool = Spool::Memory(Vec::new());
    let mut len = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| SpoolError::Transport(e.into()))?;
        len += chunk.len() as u64;
        if len > max {
            return Err(SpoolError::TooLong(max));
        }
        spool.write(&chunk).await.map_err(SpoolError::Disk)?;
    }
    spool.into_body().await.map_err(SpoolError::Disk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use tokio::io::AsyncReadExt;

    /// The bytes of `n` chunks of `size` bytes, each chunk filled with its number.
    fn chunks(n: usize, size: usize) -> Vec<io::Result<Bytes>> {
        (0..n)
            .map(|i| Ok(Bytes::from(vec![b'a' + (i % 26) as u8; size])))
            .collect()
    }

    async fn read_back(body: Body) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = body;
        body.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn returns_every_byte_in_memory_or_from_a_file() {
        // Small: stays in memory; large: goes to a file, across the switch point.
        for (n, size) in [(3, 100), (1, IN_MEMORY), (40, 10_000), (3, IN_MEMORY)] {
            let want: Vec<u8> = chunks(n, size)
                .into_iter()
                .flat_map(|c| c.unwrap().to_vec())
                .collect();
            let body = spool(stream::iter(chunks(n, size)), u64::MAX)
                .await
                .unwrap();
            assert_eq!(read_back(body).await, want, "{n} chunks of {size}");
        }
        let empty = spool(stream::iter(chunks(0, 1)), 0).await.unwrap();
        assert!(read_back(empty).await.is_empty());
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused() {
        let e = spool(stream::iter(chunks(10, 1000)), 9_999)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, SpoolError::TooLong(9_999)), "{e:?}");
        let e = e.into_error("REPORT /u/c/");
        assert_eq!(e.kind(), ErrorKind::Unexpected);
        assert!(!e.is_temporary());
        assert!(e.to_string().contains("REPORT /u/c/"), "{e}");
        // Exactly the cap is read.
        assert!(spool(stream::iter(chunks(10, 1000)), 10_000).await.is_ok());
    }

    #[tokio::test]
    async fn a_broken_transport_is_temporary_and_names_the_request() {
        let mut parts = chunks(2, IN_MEMORY);
        parts.push(Err(io::Error::other(
            "end of file before message length reached",
        )));
        let e = spool(stream::iter(parts), u64::MAX).await.err().unwrap();
        assert!(matches!(e, SpoolError::Transport(_)), "{e:?}");
        let e = e.into_error("PROPFIND /u/c/");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());
        let text = e.to_string();
        assert!(
            text.contains("PROPFIND /u/c/") && text.contains("end of file"),
            "{text}"
        );
    }

    #[test]
    fn a_disk_failure_is_permanent_and_keeps_its_cause() {
        let full = io::Error::new(io::ErrorKind::StorageFull, "No space left on device");
        let e = SpoolError::Disk(full).into_error("REPORT /u/c/");
        assert_eq!(e.kind(), ErrorKind::Unexpected);
        assert!(!e.is_temporary());
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
