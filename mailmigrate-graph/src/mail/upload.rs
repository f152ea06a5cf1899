//! Upload sessions: one attachment of 3 to 150 MB, in chunks (\[G-ATT\]).
//!
//! `POST …/attachments/createUploadSession` answers a pre-authenticated `uploadUrl` (sent
//! no `Authorization` header) and `nextExpectedRanges`; the bytes follow in order as
//! `PUT`s with `Content-Range`, each under 4 MB; the last one answers 201. Each chunk is a
//! slice of the attachment's one decoded buffer.
//!
//! A chunk that fails in passing (5xx, a dropped connection, a lost answer, a throttle)
//! is resumed from where the session says it stands; a session that is gone (expired, or
//! completed by the chunk whose answer was lost) is told apart by counting the message's
//! attachments, and a new session starts the attachment again.

use std::time::Duration;

use futures::TryStreamExt;
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::create::Part;
use super::Graph;
use crate::client::{segment, Call};
use crate::PROVIDER;

/// Bytes per chunk: under the 4 MB a chunk may carry (\[G-ATT\], read as 4,000,000, the
/// smaller of the two readings), and a multiple of 320 KiB, the granule other Graph upload
/// sessions ask for (12 × 320 KiB = 3,932,160).
pub(super) const CHUNK: usize = 12 * 320 * 1024;

/// How many failed chunks one attachment survives (waiting 50 ms, doubling to 800 ms,
/// unless Graph says how long).
const RECOVERIES: u32 = 6;

/// An upload session's state: `createUploadSession`'s answer, a chunk's, a `GET`'s.
#[derive(Debug, Deserialize)]
struct SessionState {
    #[serde(rename = "uploadUrl")]
    upload_url: Option<String>,
    #[serde(rename = "nextExpectedRanges", default)]
    next_expected_ranges: Vec<String>,
}

impl SessionState {
    /// The first byte the session expects (`"1000-"` or `"1000"`; \[G-ATT\]).
    fn next(&self) -> Option<u64> {
        let first = self.next_expected_ranges.first()?;
        first.split('-').next()?.trim().parse().ok()
    }
}

/// What became of one chunk.
#[derive(Debug)]
enum Chunk {
    /// Taken; the session expects this byte next.
    Next(u64),
    /// The last chunk: the attachment exists.
    Done,
    /// Failed; `resumable` when the session may still be there to ask.
    Failed { error: Error, resumable: bool },
}

impl Graph {
    /// Uploads `part` to the message `id`, which has `before` attachments so far.
    ///
    /// # Errors
    /// The failure that ended the upload: a refused session or chunk, or the last of
    /// [`RECOVERIES`] failed chunks.
    pub(super) async fn upload(&self, id: &str, part: &Part, before: usize) -> Result<()> {
        let what = format!("upload attachment {:?} of message {id}", part.name);
        let (mut url, mut offset) = self.open_session(id, part, &what).await?;
        let mut recoveries = 0;
        loop {
            let error = match self.put_chunk(&url, part, offset, &what).await {
                Chunk::Done => return Ok(()),
                Chunk::Next(n) => {
                    offset = n;
                    continue;
                }
                Chunk::Failed { error, resumable } if resumable && recoveries < RECOVERIES => error,
                Chunk::Failed { error, .. } => return Err(error),
            };
            recoveries += 1;
            let wait = error
                .retry_after()
                .unwrap_or(Duration::from_millis(25 << recoveries.min(5)));
            tracing::debug!(%what, %error, ?wait, "resuming an upload session");
            tokio::time::sleep(wait).await;
            match self.session_next(&url, &what).await {
                Some(n) => offset = n,
                // Gone: completed by the chunk whose answer was lost, or expired.
                None if self.attachment_count(id).await? > before => return Ok(()),
                None => (url, offset) = self.open_session(id, part, &what).await?,
            }
        }
    }

    /// `createUploadSession` for `part`: the upload URL and the first byte it expects.
    async fn open_session(&self, id: &str, part: &Part, what: &str) -> Result<(String, u64)> {
        let call = Call::json(
            Method::POST,
            self.client.user_url(&format!(
                "/messages/{}/attachments/createUploadSession",
                segment(id)
            )),
            &part.item(),
            format!("{what}: createUploadSession"),
        );
        let session: SessionState = self.client.json(&call).await?;
        let url = session.upload_url.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{what}: createUploadSession answered no uploadUrl"),
            )
            .with_provider(PROVIDER)
        })?;
        Ok((url, session.next().unwrap_or(0)))
    }

    /// Sends the chunk of `part` from `offset` ([`CHUNK`] bytes or the rest).
    async fn put_chunk(&self, url: &str, part: &Part, offset: u64, what: &str) -> Chunk {
        let total = part.bytes.len() as u64;
        if offset >= total {
            let error = Error::new(
                ErrorKind::Unexpected,
                format!("{what}: the session expects byte {offset} of {total}"),
            )
            .with_provider(PROVIDER);
            return Chunk::Failed {
                error,
                resumable: false,
            };
        }
        let end = (offset + CHUNK as u64).min(total);
        // [G-ATT] PUT application/octet-stream, Content-Range bytes {start}-{end}/{total},
        // to the pre-authenticated URL: no Authorization header.
        let call = Call::bytes(
            Method::PUT,
            url.to_owned(),
            "application/octet-stream",
            part.bytes.slice(offset as usize..end as usize),
            format!("{what}: bytes {offset}-{}", end - 1),
        )
        .preauthenticated()
        .with_header(
            "Content-Range",
            format!("bytes {offset}-{}/{total}", end - 1),
        );
        let answer = match self.client.send(&call).await {
            Ok(a) => a,
            // The chunk may or may not have arrived: the session knows.
            Err(error) => {
                return Chunk::Failed {
                    error,
                    resumable: true,
                }
            }
        };
        if answer.status == StatusCode::CREATED {
            return Chunk::Done;
        }
        if answer.status.is_success() {
            let next = answer
                .json::<SessionState>(&call.what)
                .ok()
                .and_then(|s| s.next());
            return match next {
                Some(n) if n > offset => Chunk::Next(n),
                None => Chunk::Next(end),
                Some(n) => Chunk::Failed {
                    error: Error::new(
                        ErrorKind::Unexpected,
                        format!("{}: the session went back to byte {n}", call.what),
                    )
                    .with_provider(PROVIDER),
                    resumable: true,
                },
            };
        }
        // 404: the session expired; 416: not the byte it expected; 429 and 5xx in passing.
        let resumable = matches!(answer.status.as_u16(), 404 | 416 | 429 | 500..=599);
        Chunk::Failed {
            error: answer.error(&call),
            resumable,
        }
    }

    /// Where the session stands (`GET uploadUrl`); `None` when it is gone or cannot say.
    async fn session_next(&self, url: &str, what: &str) -> Option<u64> {
        let call = Call::get(url.to_owned(), format!("{what}: session state")).preauthenticated();
        let answer = self.client.send(&call).await.ok()?;
        if !answer.status.is_success() {
            return None;
        }
        answer.json::<SessionState>(&call.what).ok()?.next()
    }

    /// How many attachments the message `id` has.
    async fn attachment_count(&self, id: &str) -> Result<usize> {
        let call = Call::get(
            self.client
                .user_url(&format!("/messages/{}/attachments?$select=id", segment(id))),
            format!("list attachments of message {id}"),
        );
        let items: Vec<Value> = self.client.items(call).try_collect().await?;
        Ok(items.len())
    }
}
